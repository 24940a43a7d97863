"""``vectorwan vectorize INPUT --out OUT``: a clip or an image → layered vector animation.

OUT by extension: ``.svg`` (one frame, or an animated SVG for a clip), ``.json`` (Lottie),
``.lottie`` (dotLottie) or a folder (one SVG per frame, ``palette.json`` and ``manifest.json``). The work, the checks
and the writing are :func:`vectorwan.vector.files.vectorize_file`; this verb parses and prints.
"""

from __future__ import annotations

import argparse
import sys
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="a video, a folder of frames or an image")
    p.add_argument("--out", required=True,
                   help="output: .svg (frame or animated SVG), .json (Lottie), .lottie (dotLottie) or a folder (SVG per frame)")
    p.add_argument("--colors", type=int, default=None, metavar="K",
                   help="palette size for the whole clip (2..64; default: automatic)")
    p.add_argument("--max-colors", type=int, default=32, metavar="N",
                   help="upper bound for the automatic palette size (default 32)")
    p.add_argument("--background", choices=("auto", "transparent", "layer", "none"), default="auto",
                   help="solid background: auto/transparent = removed, layer = kept as its own bottom layer, "
                        "none = traced like any colour (RGBA input: alpha decides)")
    p.add_argument("--order", choices=("luminance", "area", "greedy"), default="luminance",
                   help="stacking order of colour layers (default: light at the bottom, dark outlines on top)")
    p.add_argument("--mode", choices=("polygon", "spline"), default="polygon",
                   help="path kind: polygon (default: smaller files, closer fit) or spline (Bézier curves)")
    p.add_argument("--layering", choices=("overlap", "stacked", "cutout"), default="overlap",
                   help="overlap (default): each colour runs a little under the ones above it (no seams, each edge "
                        "drawn once); stacked: each layer holds every colour above it; cutout: each colour its own pixels")
    p.add_argument("--scale", type=int, default=2, metavar="S",
                   help="trace at S× the source size, scaled back in the SVG (1..4, default 2)")
    p.add_argument("--speckle", type=int, default=4, metavar="PX",
                   help="drop specks smaller than PX² traced pixels (0..64, default 4)")
    p.add_argument("--tolerance", type=float, default=0.25, metavar="PX",
                   help="size vs fidelity: a shape whose outline lies within PX pixels (mean) of an earlier shape "
                        "moved, turned or scaled reuses that one's path, animated (0..3; default 0.25; "
                        "0: only identical shapes)")
    p.add_argument("--fps", type=float, default=None, help="frame rate (default: the clip's; 16 for a folder)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="use only the first N frames")
    p.add_argument("--deflicker-out", default=None, metavar="X.mp4",
                   help="also write the palette-locked frames as a video / gif / webp / folder")
    p.add_argument("--manifest", default=None, metavar="PATH",
                   help="where to write the manifest (default: OUT/manifest.json or OUT + .manifest.json)")
    p.add_argument("--no-fidelity", action="store_true", help="skip rendering frames back for the fidelity report")
    p.add_argument("--jobs", type=int, default=0, metavar="N", help="worker processes (default: one per core, ≤ 8)")


def run(args) -> int:
    from vectorwan.vector.files import summary_line, vectorize_file  # numpy, OpenCV: not for --help
    from vectorwan.vector.pipeline import TraceOptions, VectorizeOptions

    t_start = time.perf_counter()
    opts = VectorizeOptions(
        colors=args.colors, max_colors=args.max_colors, order=args.order, background=args.background,
        trace=TraceOptions(scale=args.scale, mode=args.mode, layering=args.layering, filter_speckle=args.speckle,
                           tolerance=args.tolerance),
        fidelity=not args.no_fidelity, jobs=args.jobs)
    result, files = vectorize_file(args.input, args.out, opts, deflicker=args.deflicker_out, manifest=args.manifest,
                                   max_frames=args.max_frames, fps=args.fps)
    print(summary_line(result, files, time.perf_counter() - t_start))
    return 0


if __name__ == "__main__":  # pragma: no cover
    from vectorwan.cli import main

    sys.exit(main(["vectorize", *sys.argv[1:]]))
