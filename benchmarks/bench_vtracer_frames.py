"""The reference point for docs/vectorize.md: vtracer 0.6 with its default settings (colour mode, spline,
stacked) on every frame of a clip on its own, as a per-frame flipbook. Prints its total SVG bytes, its
PSNR against the source (each frame's SVG rendered with cairosvg, the same render as vectorize's fidelity
report) and its time on one process.

    .venv/bin/python benchmarks/bench_vtracer_frames.py runs/bench_tiger/tiger_81x512x640.mp4

python-lottie's own raster tracer (lottie.parsers.raster) could not be run here: it needs the
glaxnimate module, whose only wheel is for CPython 3.13 and links KDE Frameworks 6 (not in Debian 12).
"""

from __future__ import annotations

import argparse
import sys
import time

import cv2
import numpy as np

from vectorwan.frames import read_frames
from vectorwan.vector.fidelity import psnr
from vectorwan.vector.trace import render_svg


def main() -> int:
    import vtracer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip")
    args = ap.parse_args()
    frames = read_frames(args.clip).frames
    h, w = frames.shape[1:3]
    total, scores, t_trace = 0, [], 0.0
    for f in frames:
        ok, png = cv2.imencode(".png", cv2.cvtColor(f[..., :3], cv2.COLOR_RGB2BGR))
        t0 = time.perf_counter()
        svg = vtracer.convert_raw_image_to_svg(png.tobytes(), img_format="png")
        t_trace += time.perf_counter() - t0
        total += len(svg.encode())
        scores.append(psnr(render_svg(svg, w, h, background=(255, 255, 255)), f[..., :3]))
    print(f"| per-frame vtracer (defaults) | {len(frames)} frames | {total / 1e6:.2f} MB of SVG | "
          f"{np.mean(scores):.2f} ({min(scores):.2f}) dB | {t_trace:.1f} s tracing, 1 process |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
