"""The toy world of issue #6: procedural flat-shape clips with ground truth, and the
automatic checks (dominant colour, shape, motion) that score generated clips against a prompt.
"""

from vectorwan.toy.world import (
    COLOURS, MOTIONS, SHAPES, TEMPLATE, ToyClip, all_prompts, caption, make_dataset, parse_caption, render_clip,
)

__all__ = ["COLOURS", "MOTIONS", "SHAPES", "TEMPLATE", "ToyClip", "all_prompts", "caption", "make_dataset",
           "parse_caption", "render_clip"]
