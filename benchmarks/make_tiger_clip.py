"""A real-content test clip for the vectorizer, made from ../shared/data/tiger16: three of the tiger
stickers on white, one sliding across, one turning and growing, one cross-fading into another, over
81 frames at 512×640 (H×W), 16 fps, encoded as H.264 like a generated clip (issue #18).

    .venv/bin/python benchmarks/make_tiger_clip.py runs/bench_tiger/tiger_81x512x640.mp4
    .venv/bin/python benchmarks/bench_vectorize.py --clip runs/bench_tiger/tiger_81x512x640.mp4 --ext .json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

TIGER16 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tiger16" / "train"


def sticker(name: str, side: int) -> Image.Image:
    return Image.open(TIGER16 / name).convert("RGBA").resize((side, side), Image.LANCZOS)


def tiger_clip(frames: int = 81, height: int = 512, width: int = 640) -> np.ndarray:
    """uint8 frames×height×width×3: a slide, a turn with a scale, and a cross-fade."""
    if not TIGER16.is_dir():
        raise SystemExit(f"{TIGER16}: not found; this clip is made from ../shared/data/tiger16")
    side = height // 2
    slide, turn, fade_a, fade_b = (sticker(n, side) for n in ("01.png", "05.png", "09.png", "12.png"))
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        u = t / max(frames - 1, 1)
        canvas = Image.new("RGBA", (width, height), (255, 255, 255, 255))
        # slides left to right along the bottom
        canvas.alpha_composite(slide, (int(round(-side * 0.2 + u * (width - side * 0.6))), height - side))
        # turns ±25° and grows from 0.7 to 1.1 at the top right
        s = 0.7 + 0.4 * u
        turned = turn.resize((int(side * s), int(side * s)), Image.LANCZOS).rotate(
            25 * np.sin(2 * np.pi * u), resample=Image.BICUBIC, expand=True)
        canvas.alpha_composite(turned, (width - turned.width - 10, 10))
        # cross-fades from one sticker to another, top left, between frames 30 and 50, as a video editor's
        # dissolve does: the two composited frames mixed (mixing the stickers' straight RGBA instead darkens
        # where one is transparent, by the colour its transparent pixels happen to hold)
        w = float(np.clip((t - 30) / 20, 0, 1))
        with_a, with_b = canvas.copy(), canvas.copy()
        with_a.alpha_composite(fade_a, (10, 10))
        with_b.alpha_composite(fade_b, (10, 10))
        canvas = Image.blend(with_a, with_b, w)
        out[t] = np.asarray(canvas.convert("RGB"))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the clip to write (.mp4: H.264)")
    ap.add_argument("--frames", type=int, default=81)
    args = ap.parse_args(argv)
    from vectorwan.frames import write_frames

    write_frames(Path(args.out), tiger_clip(args.frames), fps=16.0)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
