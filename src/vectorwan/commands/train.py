"""`vectorwan train CONFIG [--resume] [--set k=v]...`"""

from __future__ import annotations

import os

from vectorwan.commands._config_args import add_config_arguments, load


def add_arguments(p) -> None:
    add_config_arguments(p)
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in OUTPUT_DIR/checkpoints")
    p.add_argument("--no-report", action="store_true", help="skip the dataset report")


def run(args) -> int:
    from vectorwan.data.report import dataset_report  # numpy, PIL: not for --help
    from vectorwan.train.loop import train  # torch

    cfg = load(args)
    if not args.no_report and os.environ.get("RANK", "0") == "0":
        print("\n".join(dataset_report(cfg.data.path, cfg.data.trigger)))
    summary = train(cfg, resume=args.resume)
    if summary["is_main"]:
        what = f"LoRA on {summary['lora_modules']} modules" if summary["mode"] == "lora" else "full fine-tune"
        print(f"{summary['weights']}  ({what}, {summary['steps']} steps, final loss {summary['final_loss']:.4f})")
    return 0
