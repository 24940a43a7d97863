"""The size/fidelity knob of `vectorwan vectorize --reuse F` on toy clips: Lottie size and PSNR
(mean and min over frames, against the source) for several F.

    .venv/bin/python benchmarks/bench_reuse.py [--reuse 0 0.02 0.05 0.1]

Prints a markdown table (docs/vectorize.md, `--reuse`).
"""

from __future__ import annotations

import argparse
import json

from vectorwan.toy.world import render_clip
from vectorwan.vector.export import lottie_document
from vectorwan.vector.pipeline import TraceOptions, VectorizeOptions, vectorize_clip

CLIPS = [("orange", "circle", "moving right", 3), ("purple", "circle", "moving down", 2),
         ("blue", "square", "moving up", 5)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reuse", type=float, nargs="+", default=[0.0, 0.02, 0.05, 0.1])
    args = ap.parse_args()
    print("| clip | `--reuse` | Lottie | PSNR mean (min) |\n|---|---|---|---|")
    for colour, shape, motion, seed in CLIPS:
        frames = render_clip(colour, shape, motion, seed=seed).frames
        for reuse in args.reuse:
            r = vectorize_clip(frames, 16, VectorizeOptions(jobs=1, trace=TraceOptions(reuse=reuse)))
            size = len(json.dumps(lottie_document(r.frames, r.palette, 16), separators=(",", ":")))
            p = r.summary()["psnr"]
            print(f"| {colour} {shape} {motion} ({len(frames)} frames) | {reuse:g} | {size / 1000:.1f} kB "
                  f"| {p['mean']:.2f} ({p['min']:.2f}) dB |")


if __name__ == "__main__":
    main()
