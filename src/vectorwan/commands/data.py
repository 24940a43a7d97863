"""`vectorwan data CONFIG`: read every item, print the dataset report, fail on bad files."""

from __future__ import annotations

from vectorwan.commands._config_args import add_config_arguments, load


def add_arguments(p) -> None:
    add_config_arguments(p)


def run(args) -> int:
    from vectorwan.data.report import dataset_report  # numpy, PIL: not for --help

    cfg = load(args)
    print("\n".join(dataset_report(cfg.data.path, cfg.data.trigger)))
    return 0
