"""tiger16 stills, each vectorized on its own with 16 colours: PSNR against the white-composited source,
SVG size and seconds per image, for each `--layering` (docs/vectorize.md, "tiger16").

    .venv/bin/python benchmarks/bench_tiger16_stills.py [--layering overlap stacked cutout]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from vectorwan.frames import read_frames
from vectorwan.vector.pipeline import TraceOptions, VectorizeOptions, vectorize_clip

TIGER16 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tiger16" / "train"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layering", nargs="+", default=["overlap", "stacked", "cutout"])
    args = ap.parse_args()
    if not TIGER16.is_dir():
        print(f"{TIGER16}: not found")
        return 2
    images = sorted(TIGER16.glob("*.png"))
    print("| `--layering` | PSNR mean | min | SVG kB mean | s / image |\n|---|---:|---:|---:|---:|")
    for lay in args.layering:
        scores, sizes, t0 = [], [], time.perf_counter()
        for path in images:
            res = vectorize_clip(read_frames(path).frames, 16, VectorizeOptions(
                colors=16, jobs=1, trace=TraceOptions(layering=lay)))
            scores.append(res.fidelity[0]["psnr"])
            sizes.append(res.fidelity[0]["bytes"] / 1000)
        sec = (time.perf_counter() - t0) / len(images)
        print(f"| {lay} | {np.mean(scores):.2f} | {min(scores):.2f} | {np.mean(sizes):.0f} | {sec:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
