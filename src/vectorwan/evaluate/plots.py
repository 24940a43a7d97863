"""Small, dependency-free charts drawn with Pillow (no matplotlib): line charts of per-frame
curves, a scatter of warping error against motion, and labelled contact-sheet rows."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]


def _font(size: int = 12):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi] (first ≤ lo, last ≥ hi)."""
    if not np.isfinite(lo) or not np.isfinite(hi):
        return [0.0, 1.0]
    if hi - lo < 1e-12:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, v = [], start
    while len(ticks) < 30:
        ticks.append(round(v, 12))
        if v >= hi - 1e-12 * max(1.0, abs(hi)):
            break
        v += step
    return ticks


def _fmt(v: float) -> str:
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000 or a < 0.01:
        return f"{v:.1e}"
    return f"{v:.3g}"


def line_chart(series: list[tuple[str, list[float]]], title: str, xlabel: str = "frame",
               size: tuple[int, int] = (640, 220), colors: list[tuple[int, int, int]] | None = None) -> np.ndarray:
    """Line chart of several series (label, values; NaN = gap) → uint8 H×W×3."""
    w, h = size
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    f, fs = _font(12), _font(11)
    left, right, top, bottom = 58, 12, 24, 30
    d.text((left, 5), title, fill=(0, 0, 0), font=f)
    vals = np.concatenate([np.asarray(v, float) for _, v in series if len(v)]) if series else np.zeros(0)
    vals = vals[np.isfinite(vals)]
    lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 1.0)
    yt = nice_ticks(lo, hi)
    lo, hi = min(yt[0], lo), max(yt[-1], hi)
    n = max((len(v) for _, v in series), default=1)
    xt = nice_ticks(0, max(n - 1, 1), 6)
    xt = [x for x in xt if 0 <= x <= max(n - 1, 1)]
    pw, ph = w - left - right, h - top - bottom

    def px(i, v):
        return left + pw * i / max(n - 1, 1), top + ph * (1 - (v - lo) / (hi - lo or 1))

    d.rectangle([left, top, left + pw, top + ph], outline=(120, 120, 120))
    for t in yt:
        _, y = px(0, t)
        d.line([left, y, left + pw, y], fill=(232, 232, 232))
        d.text((4, y - 6), _fmt(t), fill=(60, 60, 60), font=fs)
    for t in xt:
        x, _ = px(t, lo)
        d.line([x, top + ph, x, top + ph + 3], fill=(120, 120, 120))
        d.text((x - 6, top + ph + 5), f"{int(t)}", fill=(60, 60, 60), font=fs)
    d.text((left + pw - 40, h - 14), xlabel, fill=(60, 60, 60), font=fs)
    colors = colors or PALETTE
    lx = max(left + int(d.textlength(title, font=f)) + 24,
             w - right - sum(30 + int(d.textlength(lab, font=fs)) for lab, _ in series))
    for k, (label, v) in enumerate(series):
        c = colors[k % len(colors)]
        v = np.asarray(v, float)
        seg = []
        for i, y in enumerate(v):
            if np.isfinite(y):
                seg.append(px(i, y))
            else:
                if len(seg) > 1:
                    d.line(seg, fill=c, width=2)
                seg = []
        if len(seg) > 1:
            d.line(seg, fill=c, width=2)
        elif len(seg) == 1:
            x, y = seg[0]
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=c)
        d.line([lx, 12, lx + 14, 12], fill=c, width=3)
        d.text((lx + 18, 5), label, fill=(0, 0, 0), font=fs)
        lx += 26 + int(d.textlength(label, font=fs))
    return np.asarray(img)


def scatter(points: list[tuple[str, float, float, int]], title: str, xlabel: str, ylabel: str,
            size: tuple[int, int] = (480, 320)) -> np.ndarray:
    """Scatter of (label, x, y, colour index) with a legend of the colour groups → uint8 H×W×3."""
    w, h = size
    img = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(img)
    f, fs = _font(12), _font(11)
    left, right, top, bottom = 58, 14, 24, 34
    d.text((left, 5), title, fill=(0, 0, 0), font=f)
    pts = [(lab, x, y, c) for lab, x, y, c in points if np.isfinite(x) and np.isfinite(y)]
    xs = [p[1] for p in pts] or [0.0, 1.0]
    ys = [p[2] for p in pts] or [0.0, 1.0]
    xt, yt = nice_ticks(min(0.0, min(xs)), max(xs)), nice_ticks(min(0.0, min(ys)), max(ys))
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    pw, ph = w - left - right, h - top - bottom

    def px(x, y):
        return left + pw * (x - x0) / (x1 - x0 or 1), top + ph * (1 - (y - y0) / (y1 - y0 or 1))

    d.rectangle([left, top, left + pw, top + ph], outline=(120, 120, 120))
    for t in yt:
        _, y = px(x0, t)
        d.line([left, y, left + pw, y], fill=(232, 232, 232))
        d.text((4, y - 6), _fmt(t), fill=(60, 60, 60), font=fs)
    for t in xt:
        x, _ = px(t, y0)
        d.line([x, top + ph, x, top + ph + 3], fill=(120, 120, 120))
        d.text((x - 8, top + ph + 5), _fmt(t), fill=(60, 60, 60), font=fs)
    d.text((left + pw - 6 - int(d.textlength(xlabel, font=fs)), h - 14), xlabel, fill=(60, 60, 60), font=fs)
    d.text((left + 4, top + 2), ylabel, fill=(60, 60, 60), font=fs)
    for lab, x, y, c in pts:
        X, Y = px(x, y)
        col = PALETTE[c % len(PALETTE)]
        d.ellipse([X - 4, Y - 4, X + 4, Y + 4], fill=col)
        d.text((X + 5, Y - 6), lab, fill=col, font=fs)
    return np.asarray(img)


def interval_chart(rows: list[tuple[str, float, list[float]]], title: str, width: int = 560,
                   row_h: int = 22) -> np.ndarray:
    """A forest plot: one row per (label, value, [lo, hi]), a dot and its interval, with the zero line
    → uint8 H×W×3."""
    left, right, top = 130, 16, 24
    h = top + row_h * max(len(rows), 1) + 22
    img = Image.new("RGB", (width, h), "white")
    d = ImageDraw.Draw(img)
    f, fs = _font(12), _font(11)
    d.text((6, 5), title, fill=(0, 0, 0), font=f)
    vals = [x for _, v, ci in rows for x in (v, *ci) if np.isfinite(x)] or [0.0]
    ticks = nice_ticks(min(0.0, min(vals)), max(0.0, max(vals)))
    x0, x1 = ticks[0], ticks[-1]
    pw = width - left - right

    def px(x):
        return left + pw * (x - x0) / (x1 - x0 or 1)

    bottom = top + row_h * max(len(rows), 1)
    for t in ticks:
        d.line([px(t), top, px(t), bottom], fill=(120, 120, 120) if t == 0 else (232, 232, 232))
        d.text((px(t) - 8, bottom + 4), _fmt(t), fill=(60, 60, 60), font=fs)
    for i, (label, v, (lo, hi)) in enumerate(rows):
        y = top + row_h * i + row_h // 2
        col = PALETTE[i % len(PALETTE)]
        d.text((6, y - 7), label[:20], fill=(0, 0, 0), font=fs)
        if np.isfinite(lo) and np.isfinite(hi):
            d.line([px(lo), y, px(hi), y], fill=col, width=2)
            for x in (lo, hi):
                d.line([px(x), y - 4, px(x), y + 4], fill=col, width=2)
        if np.isfinite(v):
            d.ellipse([px(v) - 4, y - 4, px(v) + 4, y + 4], fill=col)
    return np.asarray(img)


def stack(images: list[np.ndarray], pad: int = 6) -> np.ndarray:
    """Stack RGB images vertically on white, left-aligned."""
    w = max(i.shape[1] for i in images)
    h = sum(i.shape[0] for i in images) + pad * (len(images) - 1)
    out = np.full((h, w, 3), 255, np.uint8)
    y = 0
    for i in images:
        out[y:y + i.shape[0], :i.shape[1]] = i
        y += i.shape[0] + pad
    return out


def label_row(img: np.ndarray, text: str, height: int = 18) -> np.ndarray:
    """Put a one-line caption above an RGB image."""
    cap = Image.new("RGB", (img.shape[1], height), "white")
    ImageDraw.Draw(cap).text((4, 3), text, fill=(0, 0, 0), font=_font(12))
    return np.concatenate([np.asarray(cap), img], 0)
