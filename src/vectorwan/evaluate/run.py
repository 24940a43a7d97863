"""Clip files → ``report.json`` / ``report.md`` / plots: the library behind ``vectorwan eval``.

:func:`evaluate_clips` checks the request, scores every clip (and its baseline) with
:func:`~vectorwan.evaluate.pipeline.evaluate_frames`, aggregates, compares and writes the report.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence

from vectorwan import __version__
from vectorwan.errors import UserError
from vectorwan.evaluate.compare import MOTION_FLOOR, aggregate, compare
from vectorwan.evaluate.flow import to_rgb
from vectorwan.evaluate.identity import signature
from vectorwan.evaluate.pipeline import Options, evaluate_frames
from vectorwan.evaluate.report import check_report_folder, thumbnails, write_report
from vectorwan.evaluate.temporal import NET_WINDOW_S
from vectorwan.frames import IMAGE_EXTS, read_frames


def _note(msg: str) -> None:
    print(f"vectorwan eval: note: {msg}", file=sys.stderr)


def evaluate_clips(videos: Sequence[str | Path], out: str | Path, *, baseline: Sequence[str | Path] | None = None,
                   reference: str | Path | None = None, prompt_file: str | Path | None = None,
                   options: Options | None = None, max_frames: int | None = None, fps: float | None = None,
                   motion_tolerance: float = 1.5, bootstrap: int = 2000, seed: int = 0, plots: bool = True,
                   note: Callable[[str], None] = _note) -> tuple[dict, dict[str, Path]]:
    """Score ``videos`` (against ``baseline``, one per clip, when given) and write the report into ``out``.

    ``reference``: folder of reference images (or one image) for palette/edge distance;
    ``prompt_file``: one prompt per line, one line per clip; ``max_frames`` / ``fps``: how clips
    are read; ``motion_tolerance``, ``bootstrap``, ``seed``: the paired comparison; ``note``:
    called with a line for each clip scored on style only. Returns the report and the paths
    of ``report.json`` / ``report.md`` (keys ``json``, ``md``).
    """
    opts = options or Options()
    baseline = list(baseline) if baseline is not None else None
    _check(videos, out, baseline, opts, max_frames, fps, motion_tolerance, bootstrap)
    prompts = read_prompts(prompt_file, len(videos)) if prompt_file else [None] * len(videos)
    refs = read_references(reference) if reference else None

    def one(path, prompt):
        clip = read_frames(path, max_frames=max_frames, fps=fps)
        r = evaluate_frames(clip.frames, clip.fps, opts, refs)
        r = {"source": str(path), "prompt": prompt, **r}
        if r["skipped"]:
            note(f"{path}: {r['skipped']}; reporting style metrics only")
        return r, thumbnails(to_rgb(clip.frames))

    cands, thumbs_c = zip(*[one(v, pr) for v, pr in zip(videos, prompts)])
    bases, thumbs_b = zip(*[one(v, pr) for v, pr in zip(baseline, prompts)]) if baseline else ((), ())
    cands, bases = list(cands), list(bases)
    rep = {
        "tool": "vectorwan eval",
        "version": __version__,
        "settings": {"flow_side": opts.flow_side, "preset": opts.preset, "style_frames": opts.style_frames,
                     "trace_frames": opts.trace_frames, "motion_tolerance": motion_tolerance,
                     "motion_floor_px": MOTION_FLOOR, "net_window_s": NET_WINDOW_S,
                     "bootstrap": bootstrap, "seed": seed,
                     "reference": None if reference is None else str(reference)},
        "clips": cands,
        "baselines": bases or None,
        "aggregate": {"candidates": aggregate(cands), "baselines": aggregate(bases) if bases else None},
        "comparison": compare(cands, bases, bootstrap, seed, motion_tolerance) if bases else None,
    }
    paths = write_report(out, rep, list(thumbs_c), list(thumbs_b), plots=plots)
    return rep, paths


def summary_line(rep: dict, paths: dict[str, Path], seconds: float) -> str:
    """One line: where the report went and, with baselines, the headline improvement."""
    n = len(rep["clips"]) + len(rep["baselines"] or [])
    msg = f"wrote {paths['md']} and {paths['json']} ({n} clip(s), {seconds:.1f} s)"
    head = rep["comparison"]["headline"] if rep["comparison"] else None
    if head and head["value"] is not None:
        lo, hi = head["ci"]
        msg += f"; temporal-consistency improvement {100 * head['value']:+.1f} % (95 % CI {100 * lo:+.1f} … {100 * hi:+.1f})"
    return msg


def _check(videos, out, baseline, opts: Options, max_frames, fps, motion_tolerance, bootstrap) -> None:
    """Fail before minutes of work on the other clips."""
    if baseline is not None and len(baseline) != len(videos):
        raise UserError(f"--baseline has {len(baseline)} clip(s) but {len(videos)} VIDEO(s) were given; "
                        "give one baseline per clip, in the same order")
    for name, v, lo in (("--flow-size", opts.flow_side, 0), ("--style-frames", opts.style_frames, 1),
                        ("--trace-frames", opts.trace_frames, 0), ("--bootstrap", bootstrap, 1)):
        if v < lo:
            raise UserError(f"{name} must be ≥ {lo}, got {v}")
    if opts.flow_side and opts.flow_side < 32:
        raise UserError(f"--flow-size {opts.flow_side} is too small for optical flow; use ≥ 32 or 0 for native")
    if max_frames is not None and max_frames < 1:
        raise UserError(f"--max-frames must be ≥ 1, got {max_frames}")
    if motion_tolerance < 1:
        raise UserError(f"--motion-tolerance must be ≥ 1, got {motion_tolerance}")
    if fps is not None and fps <= 0:
        raise UserError(f"--fps must be > 0, got {fps}")
    for v in list(videos) + list(baseline or []):
        if not Path(v).exists():
            raise UserError(f"{v}: no such file or folder; check the path")
    check_report_folder(out)


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
    p = Path(path)
    if not p.exists():
        raise UserError(f"--reference {p}: no such file or folder; check the path")
    files = [p] if p.is_file() else sorted(f for f in p.iterdir()
                                           if f.suffix.lower() in IMAGE_EXTS and not f.name.startswith("."))
    if not files:
        raise UserError(f"--reference {p}: holds no images ({', '.join(sorted(IMAGE_EXTS))})")
    return [signature(to_rgb(read_frames(f, max_frames=1).frames)[0]) for f in files]
