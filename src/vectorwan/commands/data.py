"""`vectorwan data CONFIG`: read every item, print the dataset report, fail on bad files."""

from __future__ import annotations

from vectorwan.commands._config_args import add_config_arguments, load


def add_arguments(p) -> None:
    add_config_arguments(p)


def print_report(cfg) -> None:
    from vectorwan.data.dataset import discover
    from vectorwan.data.report import build_report

    ds = discover(cfg.data.path)
    print("\n".join(build_report(ds, cfg.data.trigger).lines(ds)))


def run(args) -> int:
    print_report(load(args))
    return 0
