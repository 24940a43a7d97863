"""Synthetic flat-colour animations with known answers, for calibration tests and benchmarks.

Three anti-aliased shapes (circle, rotating square, triangle) over a plain background, with
optional motion and optional defects whose amount is a single number: per-frame noise,
palette jitter, shape wobble, photographic texture. Deterministic for a given ``seed``.
"""

from __future__ import annotations

import cv2
import numpy as np

BACKGROUND = (236, 232, 222)
COLOURS = ((214, 58, 48), (36, 110, 190), (246, 190, 32))
SHIFT = 4  # cv2 fixed-point bits: sub-pixel positions
MOTIONS = ("static", "translate", "rotate", "scale")


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x * (1 << SHIFT))), int(round(y * (1 << SHIFT)))


def shapes_clip(t: int = 16, size: int | tuple[int, int] = 128, motion: str = "translate", speed: float = 2.0,
                noise: float = 0.0, palette_jitter: float = 0.0, wobble: float = 0.0, texture: float = 0.0,
                seed: int = 0, antialias: bool = True) -> np.ndarray:
    """uint8 T×H×W×3 clip.

    motion: ``static``; ``translate`` (every shape moves ``speed`` px/frame right and
    ``speed``/2 down); ``rotate`` (the square turns ``speed`` degrees/frame); ``scale`` (the
    circle's radius grows ``speed``/4 px/frame). Defects: ``noise`` = std of i.i.d. Gaussian
    noise per frame (RGB levels); ``palette_jitter`` = per-frame random colour offset of each
    shape (RGB levels, same direction pattern for every amount); ``wobble`` = per-frame
    random displacement of every vertex / the radius (px); ``texture`` = amplitude of
    static photographic-like texture (smooth shading + grain, RGB levels).
    """
    if motion not in MOTIONS:
        raise ValueError(f"motion must be one of {MOTIONS}")
    h, w = (size, size) if isinstance(size, int) else size
    s = min(h, w) / 128.0
    rng = np.random.default_rng(seed)
    jit = rng.normal(size=(t, 3, 3))
    wob = rng.normal(size=(t, 3, 8))
    tex = None
    if texture:
        lo = cv2.GaussianBlur(rng.normal(size=(h, w, 3)).astype(np.float32), (0, 0), 6 * s)
        hi = cv2.GaussianBlur(rng.normal(size=(h, w, 3)).astype(np.float32), (0, 0), 0.8)
        tex = texture * (lo / lo.std() + hi / hi.std())
    line = cv2.LINE_AA if antialias else cv2.LINE_8
    out = np.empty((t, h, w, 3), np.uint8)
    for i in range(t):
        f = np.empty((h, w, 3), np.uint8)
        f[:] = BACKGROUND
        dx, dy = (speed * i, speed * i / 2) if motion == "translate" else (0.0, 0.0)
        col = [np.clip(np.array(c, float) + palette_jitter * jit[i, k], 0, 255) for k, c in enumerate(COLOURS)]
        col = [tuple(int(round(v)) for v in c) for c in col]
        # circle
        r = 22 * s + (speed * i / 4 if motion == "scale" else 0) + wobble * wob[i, 0, 0]
        cv2.circle(f, _pt(38 * s + dx, 42 * s + dy), int(round(max(r, 1) * (1 << SHIFT))), col[0], -1, line, SHIFT)
        # square, rotating about its centre
        ang = np.deg2rad(speed * i if motion == "rotate" else 0.0)
        cx, cy, half = 88 * s + dx, 40 * s + dy, 18 * s
        corners = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        pts = corners @ rot.T + [cx, cy] + wobble * wob[i, 1].reshape(4, 2)
        cv2.fillPoly(f, [np.array([_pt(*p) for p in pts], np.int32)], col[1], line, SHIFT)
        # triangle
        tri = np.array([[24, 112], [64, 78], [104, 110]], float) * s + [dx, dy] + wobble * wob[i, 2, :6].reshape(3, 2)
        cv2.fillPoly(f, [np.array([_pt(*p) for p in tri], np.int32)], col[2], line, SHIFT)
        if tex is not None or noise:
            g = f.astype(np.float32)
            if tex is not None:
                g += tex
            if noise:
                g += noise * np.random.default_rng(seed * 100003 + i).normal(size=g.shape).astype(np.float32)
            f = np.clip(np.rint(g), 0, 255).astype(np.uint8)
        out[i] = f
    return out
