"""``vectorwan eval``: measure temporal consistency, vector style and identity of clips.

    vectorwan eval VIDEO... [--baseline VIDEO...] [--reference DIR] [--prompt-file F] --out DIR

Writes DIR/report.json (every number, per clip and aggregated), DIR/report.md and
DIR/plots/*.png. Runs on CPU with numpy + OpenCV; no model weights are downloaded. The work
is :func:`vectorwan.evaluate.run.evaluate_clips`; this verb parses and prints.
"""

from __future__ import annotations

import argparse
import time


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("videos", nargs="+", metavar="VIDEO",
                   help="clips to evaluate: mp4/webm/gif/webp/png or a folder of frames")
    p.add_argument("--baseline", nargs="+", metavar="VIDEO", default=None,
                   help="baseline clips, one per VIDEO in the same order (same prompt/seed)")
    p.add_argument("--reference", metavar="DIR", default=None,
                   help="folder of reference images (e.g. the training images) for palette/edge distance")
    p.add_argument("--prompt-file", metavar="F", default=None,
                   help="text file with one prompt per line, one line per VIDEO (labels the report)")
    p.add_argument("--out", metavar="DIR", required=True, help="output folder for report.json/report.md/plots")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="read at most N frames per clip")
    p.add_argument("--fps", type=float, default=None, help="frame rate of folders of frames (default 16)")
    p.add_argument("--flow-size", type=int, default=384, metavar="PX",
                   help="longest side for flow and temporal/identity metrics (0 = native; default 384)")
    p.add_argument("--preset", choices=["ultrafast", "fast", "medium"], default="medium", help="DIS preset")
    p.add_argument("--style-frames", type=int, default=6, metavar="N", help="frames sampled for style metrics")
    p.add_argument("--trace-frames", type=int, default=3, metavar="N",
                   help="of those, frames traced with vtracer for vectorizability (0 = skip)")
    p.add_argument("--motion-tolerance", type=float, default=1.5, metavar="TAU",
                   help="pairs count as matched motion when their motion ratio is within [1/TAU, TAU]")
    p.add_argument("--bootstrap", type=int, default=2000, metavar="B", help="bootstrap resamples for CIs")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")


def run(args) -> int:
    from vectorwan.evaluate.pipeline import Options  # OpenCV: not for --help
    from vectorwan.evaluate.run import evaluate_clips, summary_line

    t0 = time.perf_counter()
    opts = Options(flow_side=args.flow_size, preset=args.preset, style_frames=args.style_frames,
                   trace_frames=args.trace_frames)
    rep, paths = evaluate_clips(args.videos, args.out, baseline=args.baseline, reference=args.reference,
                                prompt_file=args.prompt_file, options=opts, max_frames=args.max_frames, fps=args.fps,
                                motion_tolerance=args.motion_tolerance, bootstrap=args.bootstrap, seed=args.seed,
                                plots=not args.no_plots)
    print(summary_line(rep, paths, time.perf_counter() - t0))
    return 0
