"""The config arguments shared by train / cache / data."""

from __future__ import annotations

from vectorwan.config import load_config


def add_config_arguments(p) -> None:
    p.add_argument("config", help="TOML config (see configs/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.max_steps=10 (repeatable)")


def load(args):
    return load_config(args.config, args.overrides)
