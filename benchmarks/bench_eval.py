"""Benchmark ``vectorwan eval`` on an 81-frame 768×768 clip (Wan 2.1's default length and size).

    .venv/bin/python benchmarks/bench_eval.py [--frames 81] [--size 768] [--repeat 1] [--baseline]
    .venv/bin/python benchmarks/bench_eval.py --sample-report DIR   # a small demo report

Generates a synthetic flat-colour animation (3 shapes translating, rotating and scaling),
writes it as an H.264 mp4 at 16 fps, then times the whole CLI in a fresh process
(``python -m vectorwan eval CLIP --out DIR``: start-up, decoding, flow, metrics, report,
plots). Target: ≤ 15 s on 2 CPU cores. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_clip(frames: int, size: int, seed: int = 0, wobble: float = 0.0) -> np.ndarray:
    from vectorwan.evaluate.synthetic import shapes_clip

    a = shapes_clip(t=frames, size=size, motion="translate", speed=size / 256, wobble=wobble, seed=seed)
    b = shapes_clip(t=frames, size=size, motion="rotate", speed=2.0, wobble=wobble, seed=seed)
    # left half translating shapes, right half rotating: both motions in one clip
    return np.concatenate([a[:, :, : size // 2], b[:, :, size // 2:]], axis=2)


def sample_report(root: Path) -> int:
    """Three prompts, candidate = clean animation, baseline = the same with wobble, palette
    jitter and grain (what an unstable model does); plus references and a prompt file."""
    from vectorwan.evaluate.synthetic import shapes_clip
    from vectorwan.frames import write_frames

    root.mkdir(parents=True, exist_ok=True)
    specs = [("translate", 2.0, "three shapes sliding right, flat vector style"),
             ("rotate", 3.0, "a blue square spinning, flat vector style"),
             ("scale", 2.0, "a red ball growing, flat vector style")]
    cands, bases = [], []
    for i, (motion, speed, _) in enumerate(specs):
        kw = dict(t=33, size=256, motion=motion, speed=speed, seed=i)
        cands.append(write_frames(root / "clips" / f"candidate_{i}.mp4", shapes_clip(**kw), fps=16))
        bases.append(write_frames(root / "clips" / f"baseline_{i}.mp4",
                                  shapes_clip(**kw, wobble=1.0, palette_jitter=5, noise=2), fps=16))
    (root / "clips" / "prompts.txt").write_text("".join(p + "\n" for *_, p in specs))
    write_frames(root / "clips" / "refs" / "ref_0.png", shapes_clip(t=1, size=256, motion="static"))
    cmd = [sys.executable, "-m", "vectorwan", "eval", *map(str, cands), "--baseline", *map(str, bases),
           "--reference", str(root / "clips" / "refs"), "--prompt-file", str(root / "clips" / "prompts.txt"),
           "--out", str(root / "report")]
    print("command:", " ".join(cmd))
    r = subprocess.run(cmd)
    print("report:", root / "report" / "report.md")
    return r.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=81)
    ap.add_argument("--size", type=int, default=768)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--baseline", action="store_true", help="also pass a (wobblier) baseline clip")
    ap.add_argument("--keep", metavar="DIR", help="keep the clip and report here instead of a temp folder")
    ap.add_argument("--sample-report", metavar="DIR", help="instead: write a small candidate-vs-baseline demo report")
    a = ap.parse_args()
    if a.sample_report:
        return sample_report(Path(a.sample_report))
    from vectorwan.frames import write_frames

    root = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_eval_"))
    root.mkdir(parents=True, exist_ok=True)
    clip = write_frames(root / "clip.mp4", make_clip(a.frames, a.size), fps=16)
    cmd = [sys.executable, "-m", "vectorwan", "eval", str(clip), "--out", str(root / "report")]
    if a.baseline:
        base = write_frames(root / "baseline.mp4", make_clip(a.frames, a.size, wobble=1.5), fps=16)
        cmd[5:5] = ["--baseline", str(base)]
    print("cores:", len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count())
    print("command:", " ".join(cmd))
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if r.returncode:
            print(r.stdout, r.stderr, file=sys.stderr)
            return r.returncode
        print(r.stdout.strip())
    print(f"{a.frames} frames {a.size}x{a.size}: " + ", ".join(f"{t:.2f} s" for t in times)
          + f" (best {min(times):.2f} s; target ≤ 15 s)")
    if a.keep:
        print("output:", root)
    else:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
