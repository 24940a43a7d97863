"""``vectorwan eval``: measure temporal consistency, vector style and identity of clips.

    vectorwan eval VIDEO... [--baseline VIDEO...] [--reference DIR] [--prompt-file F] --out DIR

Writes DIR/report.json (every number, per clip and aggregated), DIR/report.md and
DIR/plots/*.png. Runs on CPU with numpy + OpenCV; no model weights are downloaded.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vectorwan.errors import UserError


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


def _check_args(a) -> None:
    if a.baseline is not None and len(a.baseline) != len(a.videos):
        raise UserError(f"--baseline has {len(a.baseline)} clip(s) but {len(a.videos)} VIDEO(s) were given; "
                        "give one baseline per clip, in the same order")
    for name, v, lo in (("--flow-size", a.flow_size, 0), ("--style-frames", a.style_frames, 1),
                        ("--trace-frames", a.trace_frames, 0), ("--bootstrap", a.bootstrap, 1)):
        if v < lo:
            raise UserError(f"{name} must be ≥ {lo}, got {v}")
    if a.flow_size and a.flow_size < 32:
        raise UserError(f"--flow-size {a.flow_size} is too small for optical flow; use ≥ 32 or 0 for native")
    if a.max_frames is not None and a.max_frames < 1:
        raise UserError(f"--max-frames must be ≥ 1, got {a.max_frames}")
    if a.motion_tolerance < 1:
        raise UserError(f"--motion-tolerance must be ≥ 1, got {a.motion_tolerance}")
    if a.fps is not None and a.fps <= 0:
        raise UserError(f"--fps must be > 0, got {a.fps}")
    for v in list(a.videos) + list(a.baseline or []):
        if not Path(v).exists():  # fail before minutes of work on the other clips
            raise UserError(f"{v}: no such file or folder; check the path")
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder; give a folder path")


def read_prompts(path: str | Path, n: int) -> list[str]:
    """One prompt per non-empty line; the count must match the number of clips."""
    p = Path(path)
    try:
        lines = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{p}: cannot read prompt file ({e.__class__.__name__}); give a UTF-8 text file") from None
    lines = [ln for ln in lines if ln]
    if len(lines) != n:
        raise UserError(f"{p}: has {len(lines)} prompt line(s) for {n} clip(s); give one prompt per VIDEO")
    return lines


def read_references(path: str | Path) -> list[dict]:
    """Signatures of the reference images in a folder (or of one image)."""
    from vectorwan.evaluate.flow import to_rgb
    from vectorwan.evaluate.identity import signature
    from vectorwan.frames import IMAGE_EXTS, read_frames

    p = Path(path)
    if not p.exists():
        raise UserError(f"--reference {p}: no such file or folder; check the path")
    files = [p] if p.is_file() else sorted(f for f in p.iterdir()
                                           if f.suffix.lower() in IMAGE_EXTS and not f.name.startswith("."))
    if not files:
        raise UserError(f"--reference {p}: holds no images ({', '.join(sorted(IMAGE_EXTS))})")
    return [signature(to_rgb(read_frames(f, max_frames=1).frames)[0]) for f in files]


def _note(msg: str) -> None:
    print(f"vectorwan eval: note: {msg}", file=sys.stderr)


def run(args) -> int:
    _check_args(args)
    import vectorwan
    from vectorwan.evaluate.compare import MOTION_FLOOR, aggregate, compare
    from vectorwan.evaluate.temporal import NET_WINDOW_S
    from vectorwan.evaluate.flow import to_rgb
    from vectorwan.evaluate.pipeline import Options, evaluate_frames
    from vectorwan.evaluate.report import thumbnails, write_report
    from vectorwan.frames import read_frames

    t0 = time.perf_counter()
    prompts = read_prompts(args.prompt_file, len(args.videos)) if args.prompt_file else [None] * len(args.videos)
    refs = read_references(args.reference) if args.reference else None
    opts = Options(flow_side=args.flow_size, preset=args.preset, style_frames=args.style_frames,
                   trace_frames=args.trace_frames)

    def one(path, prompt):
        clip = read_frames(path, max_frames=args.max_frames, fps=args.fps)
        r = evaluate_frames(clip.frames, clip.fps, opts, refs)
        r = {"source": str(path), "prompt": prompt, **r}
        if r["skipped"]:
            _note(f"{path}: {r['skipped']}; reporting style metrics only")
        return r, thumbnails(to_rgb(clip.frames))

    cands, thumbs_c = zip(*[one(v, pr) for v, pr in zip(args.videos, prompts)])
    bases, thumbs_b = (zip(*[one(v, pr) for v, pr in zip(args.baseline, prompts)]) if args.baseline else ((), ()))
    cands, bases = list(cands), list(bases)
    rep = {
        "tool": "vectorwan eval",
        "version": getattr(vectorwan, "__version__", None),
        "settings": {"flow_side": args.flow_size, "preset": args.preset, "style_frames": args.style_frames,
                     "trace_frames": args.trace_frames, "motion_tolerance": args.motion_tolerance,
                     "motion_floor_px": MOTION_FLOOR, "net_window_s": NET_WINDOW_S,
                     "bootstrap": args.bootstrap, "seed": args.seed, "reference": args.reference},
        "clips": cands,
        "baselines": bases or None,
        "aggregate": {"candidates": aggregate(cands), "baselines": aggregate(bases) if bases else None},
        "comparison": compare(cands, bases, args.bootstrap, args.seed, args.motion_tolerance) if bases else None,
    }
    paths = write_report(args.out, rep, list(thumbs_c), list(thumbs_b), plots=not args.no_plots)
    dt = time.perf_counter() - t0
    head = rep["comparison"]["headline"] if rep["comparison"] else None
    msg = f"wrote {paths['md']} and {paths['json']} ({len(cands) + len(bases)} clip(s), {dt:.1f} s)"
    if head and head["value"] is not None:
        lo, hi = head["ci"]
        msg += f"; temporal-consistency improvement {100 * head['value']:+.1f} % (95 % CI {100 * lo:+.1f} … {100 * hi:+.1f})"
    print(msg)
    return 0
