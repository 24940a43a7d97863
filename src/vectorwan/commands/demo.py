"""`vectorwan demo`: the whole workflow on the embedded tiny model (CPU, a few minutes)."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--steps", type=int, default=300, help="LoRA training steps")
    p.add_argument("--data", help="dataset folder (default: ../shared/data/tiger16 if present, else a drawn one)")


def run(args) -> int:
    from vectorwan.demo import run_demo

    run_demo(args.out, steps=args.steps, data=args.data)
    return 0
