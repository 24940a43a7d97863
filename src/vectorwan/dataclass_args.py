"""Dataclass fields that are also command-line flags: an option is declared once, in the dataclass.

``flag(default, help=..., **argparse_kw)`` makes the field and keeps argparse's keywords in its
metadata; ``add_arguments(parser, cls)`` adds one argument per such field, in field order, and
``from_args(cls, args)`` builds the dataclass back from the parsed namespace. Fields made with
plain ``field`` (or none) are not flags. Imports nothing heavy (verbs call it at parser build).
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING

KEY = "flag"


def flag(default=MISSING, **argparse_kw):
    """A dataclass field that is also a flag ``--name-with-dashes`` (positional without a default).

    The flag's type follows the default: ``bool`` → ``store_true``, ``list`` → ``nargs="+"``,
    else ``type(default)``; ``argparse_kw`` (help, metavar, choices...) go to ``add_argument``.
    """
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata={KEY: argparse_kw})
    return dataclasses.field(default=default, metadata={KEY: argparse_kw})


def _default(f: dataclasses.Field):
    return f.default_factory() if f.default is MISSING else f.default


def add_arguments(parser, cls) -> None:
    """Add a flag to ``parser`` for every :func:`flag` field of dataclass ``cls``."""
    for f in dataclasses.fields(cls):
        if KEY not in f.metadata:
            continue
        kw = dict(f.metadata[KEY])
        if f.default is MISSING and f.default_factory is MISSING:
            parser.add_argument(f.name, **kw)
            continue
        default = _default(f)
        if isinstance(default, bool):
            kw = {"action": "store_true", **kw}
        elif isinstance(default, list):
            kw = {"nargs": "+", **kw}
        else:
            kw = {"type": type(default), **kw}
        parser.add_argument("--" + f.name.replace("_", "-"), default=default, **kw)


def from_args(cls, args):
    """``cls`` from a namespace parsed with :func:`add_arguments` (other fields keep their defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if KEY in f.metadata}
    return cls(**{k: list(v) if isinstance(v, list) else v for k, v in values.items()})
