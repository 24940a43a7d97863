"""The toy world: procedural flat-shape clips with ground truth (:mod:`~vectorwan.toy.world`), the
automatic checks that score generated clips against a prompt (:mod:`~vectorwan.toy.checks`), the
character task, and the stages that build the shipped toy base (``--model toy``).

Import the submodules themselves; the package imports nothing, so ``vectorwan --help`` stays quick.
"""
