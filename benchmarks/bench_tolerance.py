"""The size/fidelity knob of `vectorwan vectorize --tolerance PX`: Lottie and animated-SVG size, segments
(= traces) and PSNR (mean and min over frames, against the source) for several tolerances, on toy clips or,
with --clip, on one clip (e.g. benchmarks/make_tiger_clip.py's), with the wall time of each run.

    .venv/bin/python benchmarks/bench_tolerance.py [--tolerance 0 0.25 0.5 1]
    .venv/bin/python benchmarks/bench_tolerance.py --clip runs/bench_tiger/tiger_81x512x640.mp4 --jobs 2

Prints a markdown table (docs/vectorize.md, `--tolerance`).
"""

from __future__ import annotations

import argparse
import json
import os
import time

from vectorwan.frames import read_frames
from vectorwan.toy.world import render_clip
from vectorwan.vector.export import animated_svg, lottie_document
from vectorwan.vector.pipeline import TraceOptions, VectorizeOptions, vectorize_clip

CLIPS = [("orange", "circle", "moving right", 3), ("purple", "circle", "moving down", 2),
         ("blue", "square", "moving up", 5)]


def _kb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1000:.1f} kB"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tolerance", type=float, nargs="+", default=[0.0, 0.25, 0.5, 1.0])
    ap.add_argument("--clip", default=None)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--layering", default="overlap")
    args = ap.parse_args()
    if args.clip:
        c = read_frames(args.clip)
        clips = [(os.path.basename(args.clip), c.frames, c.fps)]
    else:
        clips = [(f"{colour} {shape} {motion}", render_clip(colour, shape, motion, seed=seed).frames, 16.0)
                 for colour, shape, motion, seed in CLIPS]
    print("| clip | `--tolerance` | Lottie | animated SVG | segments | PSNR mean (min) | wall |\n"
          "|---|---|---|---|---|---|---|")
    for name, frames, fps in clips:
        for tol in args.tolerance:
            t0 = time.perf_counter()
            r = vectorize_clip(frames, fps, VectorizeOptions(jobs=args.jobs, trace=TraceOptions(
                tolerance=tol, layering=args.layering)))
            lottie = len(json.dumps(lottie_document(r.animation, r.palette, fps), separators=(",", ":")))
            svg = len(animated_svg(r.animation, r.palette, fps).encode())
            wall = time.perf_counter() - t0
            p = r.summary()["psnr"]
            print(f"| {name} ({len(frames)} frames) | {tol:g} | {_kb(lottie)} | {_kb(svg)} | "
                  f"{r.tracking['segments']} | {p['mean']:.2f} ({p['min']:.2f}) dB | {wall:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
