"""Automatic checks of a clip against a toy-world prompt (numpy / OpenCV only, no torch).

* foreground: pixels far from white, largest blob, holes filled;
* colour: the per-pixel nearest palette colour (in Lab, lightness half-weighted) voted over
  the shape's interior (the mask eroded past the outline, dark pixels dropped);
* shape: median over frames of the fill ratio = contour area / minimum-area rectangle
  (triangle ≈ 0.5, circle ≈ π/4, square ≈ 1), cut at 0.65 and 0.87 (digitised
  circles measure 0.76-0.84, squares 0.91-1.0 after mp4 coding);
* motion: centroid displacement, first frame → last frame; under ``STILL_PX`` (scaled with
  the frame size) is "staying still", else the dominant axis gives the direction.

All take RGB(A) uint8 T×H×W×C frames (any size; RGBA is composited over white).
"""

from __future__ import annotations

from collections import defaultdict

import cv2
import numpy as np

from vectorwan.colour import to_lab
from vectorwan.frames import composite
from vectorwan.toy.world import COLOURS, MOTIONS, SHAPES, parse_caption

FG_DIST = 60  # a pixel is foreground when some channel is this far below white
DARK_L = 35.0  # Lab lightness under which an interior pixel counts as outline
STILL_PX = 4.0  # at 64 px; travel in the world is >= 14 px
FILL_CUTS = (0.65, 0.87)  # triangle | circle | square (measured: 0.48-0.56 | 0.76-0.84 | 0.91-1.0)
NONE = "none"  # the answer when nothing is found


def rgb_frames(frames: np.ndarray) -> np.ndarray:
    """uint8 T×H×W×3 from RGB(A) T×H×W×C or one H×W×C frame (RGBA composited over white)."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] not in (3, 4):
        raise ValueError(f"frames must be uint8 T×H×W×3|4, got {frames.dtype} {frames.shape}")
    if frames.shape[-1] == 4:

        frames = composite(frames)
    return frames


def _clean(mask: np.ndarray) -> np.ndarray:
    """Largest 8-connected blob of one frame's mask, holes filled."""
    m = mask.astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return np.zeros(mask.shape, bool)
    big = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    m = (lab == big).astype(np.uint8)
    contours, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(m)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def foreground(frames: np.ndarray) -> np.ndarray:
    """bool T×H×W: the main object per frame (pixels far from white, largest blob, filled)."""
    rgb = rgb_frames(frames)
    far = (255 - rgb.min(axis=-1).astype(np.int16)) > FG_DIST
    return np.stack([_clean(f) for f in far])


LAB_WEIGHTS = np.array([0.5, 1.0, 1.0], np.float32)  # toy colour distance: lightness half-weighted


def lab_sqdist(lab: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Squared toy colour distances (Lab scaled by ``LAB_WEIGHTS``) between N×3 and K×3: N×K."""
    return (((lab[:, None, :] - ref[None]) * LAB_WEIGHTS) ** 2).sum(-1)


_PALETTE_NAMES = list(COLOURS)
_PALETTE_LAB = to_lab(np.asarray(list(COLOURS.values()), np.uint8))


def colour_votes(frames: np.ndarray, masks: np.ndarray | None = None) -> dict[str, int]:
    """Interior pixels per nearest palette colour, over all frames."""
    rgb = rgb_frames(frames)
    masks = foreground(rgb) if masks is None else masks
    size = rgb.shape[1]
    k = max(1, int(round(2 * size / 64)))
    kernel = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
    inner = np.stack([cv2.erode(m.astype(np.uint8), kernel).astype(bool) for m in masks])
    if inner.sum() < 4:  # tiny shapes: fall back to the whole mask
        inner = masks
    px = rgb[inner]
    if not len(px):
        return {}
    lab = to_lab(px)
    lab = lab[lab[:, 0] > DARK_L]  # drop outline pixels
    if not len(lab):
        return {}
    d = lab_sqdist(lab, _PALETTE_LAB)
    counts = np.bincount(d.argmin(1), minlength=len(_PALETTE_NAMES))
    return {n: int(c) for n, c in zip(_PALETTE_NAMES, counts) if c}


def dominant_colour(frames: np.ndarray, masks: np.ndarray | None = None) -> str:
    votes = colour_votes(frames, masks)
    return max(votes, key=votes.get) if votes else NONE


def fill_ratios(masks: np.ndarray) -> np.ndarray:
    """Per frame: contour area / minimum-area-rectangle area (NaN for empty frames)."""
    out = []
    for m in masks:
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if not contours:
            out.append(np.nan)
            continue
        c = max(contours, key=cv2.contourArea)
        (_, _), (w, h), _ = cv2.minAreaRect(c)
        area = cv2.contourArea(c)
        out.append(area / (w * h) if w * h > 4 else np.nan)
    return np.asarray(out, np.float64)


def shape_of(frames: np.ndarray, masks: np.ndarray | None = None) -> str:
    masks = foreground(frames) if masks is None else masks
    r = fill_ratios(masks)
    r = r[np.isfinite(r)]
    if not len(r):
        return NONE
    ratio = float(np.median(r))
    return SHAPES[2] if ratio < FILL_CUTS[0] else SHAPES[0] if ratio < FILL_CUTS[1] else SHAPES[1]


def centroids(masks: np.ndarray) -> np.ndarray:
    """float T×2 (x, y) per frame, NaN where the mask is empty."""
    out = np.full((len(masks), 2), np.nan)
    for t, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if len(xs):
            out[t] = xs.mean() + 0.5, ys.mean() + 0.5
    return out


def motion_of(frames: np.ndarray, masks: np.ndarray | None = None) -> str:
    rgb = rgb_frames(frames)
    masks = foreground(rgb) if masks is None else masks
    c = centroids(masks)
    ok = np.isfinite(c[:, 0])
    if ok.sum() < 2:
        return NONE
    c = c[ok]
    dx, dy = c[-1] - c[0]
    if np.hypot(dx, dy) < STILL_PX * rgb.shape[2] / 64.0:
        return "staying still"
    if abs(dx) >= abs(dy):
        return "moving right" if dx > 0 else "moving left"
    return "moving down" if dy > 0 else "moving up"


def _prompt(prompt) -> tuple[str, str, str]:
    if isinstance(prompt, str):
        return parse_caption(prompt)
    colour, shape, motion = prompt
    return colour, shape, motion


def score_clip(frames: np.ndarray, prompt) -> dict:
    """Check a clip against a prompt (caption text or (colour, shape, motion))."""
    colour, shape, motion = _prompt(prompt)
    rgb = rgb_frames(frames)
    masks = foreground(rgb)
    got = {"colour": dominant_colour(rgb, masks), "shape": shape_of(rgb, masks), "motion": motion_of(rgb, masks)}
    return {
        "colour": colour, "shape": shape, "motion": motion,
        "got_colour": got["colour"], "got_shape": got["shape"], "got_motion": got["motion"],
        "colour_ok": got["colour"] == colour, "shape_ok": got["shape"] == shape, "motion_ok": got["motion"] == motion,
    }


ATTRS = ("colour", "shape", "motion")


def accuracy_table(results: list[dict]) -> dict:
    """Overall accuracy per attribute, all three at once, and per attribute value.

    ``{"n", "colour", "shape", "motion", "all", "per_value": {"colour": {"red": acc, ...}, ...}}``
    """
    n = len(results)
    table: dict = {"n": n}
    for a in ATTRS:
        table[a] = sum(bool(r[f"{a}_ok"]) for r in results) / n if n else 0.0
    table["all"] = sum(all(r[f"{a}_ok"] for a in ATTRS) for r in results) / n if n else 0.0
    per: dict = {}
    for a, vocab in zip(ATTRS, (COLOURS, SHAPES, MOTIONS)):
        hits, tot = defaultdict(int), defaultdict(int)
        for r in results:
            tot[r[a]] += 1
            hits[r[a]] += bool(r[f"{a}_ok"])
        per[a] = {v: hits[v] / tot[v] for v in vocab if tot[v]}
    table["per_value"] = per
    return table


def format_table(table: dict) -> list[str]:
    """Human-readable lines of an :func:`accuracy_table`."""
    lines = [f"clips {table['n']}: colour {table['colour']:.3f}  shape {table['shape']:.3f}  "
             f"motion {table['motion']:.3f}  all three {table['all']:.3f}"]
    for a in ATTRS:
        vals = table["per_value"].get(a, {})
        if vals:
            lines.append(f"  {a:6s} " + "  ".join(f"{v} {acc:.2f}" for v, acc in vals.items()))
    return lines
