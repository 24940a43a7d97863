"""`vectorwan demo`: the whole workflow on the shipped toy base (CPU, a few minutes)."""

from __future__ import annotations


def add_arguments(p) -> None:
    p.add_argument("--out", default="runs/demo", help="output folder")
    p.add_argument("--steps", type=int, default=None, help="LoRA training steps (default: configs/toy_character.toml)")
    p.add_argument("--data", help="dataset folder (default: the toy character's 16 stills, written into OUT/data)")
    p.add_argument("--trigger", default="", help="trigger word of --data")


def run(args) -> int:
    from vectorwan.demo import run_demo

    run_demo(args.out, steps=args.steps, data=args.data, trigger=args.trigger)
    return 0
