"""Does a clip show the character? An identity score against its reference stills.

numpy / OpenCV only (no torch). Frames are uint8 T×H×W×3, H×W×3 or RGBA (composited over
white); the references are the character's stills (RGBA or RGB), summarised once by
:func:`reference_signature`. Per frame, the object is :func:`vectorwan.toy.checks.foreground`
(pixels far from white, largest blob, holes filled), so a clip and its references are
measured the same way.

Palette (per frame t)
    The interior pixels (the mask eroded past the outline, 2 px at 64 px) are quantised to a
    fixed list of bins: ``dark`` (Lab L < 35: stripes and outline), else the nearest, in Lab
    with lightness half-weighted, of ``orange`` (the body colour, or brown: orange
    half-mixed with the stripe colour, which is what anti-aliasing, blur and mp4 chroma
    subsampling make of the orange between stripes), red, yellow, green, blue, purple (the
    world's other colours), or ``other`` when the nearest is farther than ``OTHER_DIST``.
    With ``h_t`` the frame's normalised bin histogram and ``h_ref`` the mean of the
    references' histograms (about 0.57 orange, 0.43 dark),
    ``palette_t = Σ_b min(h_t[b], h_ref[b])`` (histogram intersection, in [0, 1]). The body
    orange is the world's orange, so what sets the character apart is the share of dark
    stripe pixels inside its body: an unstriped orange shape keeps only ``h_ref[orange]``.

Silhouette (per frame t)
    The mask is centred at its centroid and scaled isotropically so its area is that of a
    ``SIDE`` × ``SIDE`` square on a ``GRID`` × ``GRID`` canvas (bilinear, so the canonical
    mask is soft). ``silhouette_t = max_r Σ min(m_t, m_r) / Σ max(m_t, m_r)`` (soft IoU with
    the best-matching reference r): independent of position and size, not of orientation or
    aspect ratio. It is the weaker cue (a world circle or square still reaches about 0.86
    against the character's 0.92-0.95, a triangle about 0.67): blobs overlap a lot once
    centred and scaled; the palette carries most of the separation.

Clip scores
    ``score_t = palette_t × silhouette_t`` (both must hold for the character to be there);
    ``palette``, ``silhouette`` and ``score`` are the means over frames of the per-frame
    values, a frame with no foreground counting 0 (a blank clip scores 0 everywhere, and a
    clip showing the character in half its frames about half its full score).
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from vectorwan.colour import to_lab
from vectorwan.toy.character import CHARACTER_PALETTE
from vectorwan.toy.checks import DARK_L, foreground, lab_sqdist, rgb_frames
from vectorwan.toy.world import COLOURS

BINS: tuple[str, ...] = ("orange", "dark", "red", "yellow", "green", "blue", "purple", "other")
_BODY = CHARACTER_PALETTE["body"]
_STRIPE = CHARACTER_PALETTE["stripe"]
_BROWN = tuple(round((a + b) / 2) for a, b in zip(_BODY, _STRIPE))
_PROTOS = {"orange": _BODY, "brown": _BROWN, **{k: v for k, v in COLOURS.items() if k != "orange"}}
# brown counts as orange: blur, chroma subsampling (mp4) and anti-aliasing turn the orange
# between stripes brownish, and a separate bin made the score depend on the coding
_PROTO_BIN = np.array([BINS.index("orange" if k == "brown" else k) for k in _PROTOS])
_PROTO_LAB = to_lab(np.asarray(list(_PROTOS.values()), np.uint8))
OTHER_DIST = 45.0  # weighted Lab distance past which a pixel is none of the listed colours
GRID = 40  # canonical silhouette canvas side
SIDE = 16.0  # canonical silhouette: area of a SIDE × SIDE square


def _interior(mask: np.ndarray) -> np.ndarray:
    k = max(1, round(2 * mask.shape[0] / 64))
    inner = cv2.erode(mask.astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)).astype(bool)
    return inner if inner.sum() >= 4 else mask  # tiny objects: the whole mask


def palette_histogram(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """float64 (len(BINS),): the normalised bin histogram of one frame's interior (zeros if empty)."""
    out = np.zeros(len(BINS))
    if not mask.any():
        return out
    lab = to_lab(rgb[_interior(mask)])
    dark = lab[:, 0] < DARK_L
    rest = lab[~dark]
    out[BINS.index("dark")] = dark.sum()
    if len(rest):
        d = np.sqrt(lab_sqdist(rest, _PROTO_LAB))
        near = d.argmin(1)
        far = d.min(1) > OTHER_DIST
        out[BINS.index("other")] = far.sum()
        out += np.bincount(_PROTO_BIN[near[~far]], minlength=len(BINS))
    return out / out.sum()


def canonical_mask(mask: np.ndarray) -> np.ndarray:
    """float32 GRID×GRID: the mask centred at its centroid, scaled to a fixed area (zeros if empty)."""
    ys, xs = np.nonzero(mask)
    if not len(xs):
        return np.zeros((GRID, GRID), np.float32)
    s = SIDE / np.sqrt(len(xs))
    c = (GRID - 1) / 2.0
    m = np.array([[s, 0.0, c - s * xs.mean()], [0.0, s, c - s * ys.mean()]], np.float32)
    src = mask.astype(np.float32)
    if s < 0.5:  # strong shrinking: smooth first so bilinear sampling does not alias
        src = cv2.GaussianBlur(src, (0, 0), 0.5 / s)
    return cv2.warpAffine(src, m, (GRID, GRID), flags=cv2.INTER_LINEAR, borderValue=0.0)


def _frames(frames) -> list[np.ndarray]:
    """RGB uint8 H×W×3 frames from an array or a list of arrays (sizes may differ between items)."""
    items = frames if isinstance(frames, (list, tuple)) else [frames]
    return [f for item in items for f in rgb_frames(np.asarray(item))]


def reference_signature(stills: Iterable[np.ndarray] | np.ndarray) -> dict:
    """Summarise the character's reference stills (RGBA or RGB, each H×W×C or T×H×W×C).

    ``{"histogram": float64 (len(BINS),), "masks": float32 R×GRID×GRID, "n": R}``: the mean
    palette histogram and the canonical masks of the stills that have a foreground.
    """
    rgb = _frames(stills)
    masks = [foreground(f)[0] for f in rgb]
    keep = [t for t in range(len(rgb)) if masks[t].any()]
    if not keep:
        raise ValueError("no reference still has a foreground")
    hist = np.mean([palette_histogram(rgb[t], masks[t]) for t in keep], axis=0)
    canon = np.stack([canonical_mask(masks[t]) for t in keep])
    return {"histogram": hist, "masks": canon, "n": len(keep)}


def identity_score(frames: np.ndarray, refs: dict) -> dict:
    """``{"palette", "silhouette", "score"}`` in [0, 1] of a clip (or still) against ``refs``."""
    rgb = _frames(frames)
    masks = [foreground(f)[0] for f in rgb]
    ref_hist, ref_masks = refs["histogram"], refs["masks"]
    pal, sil = np.zeros(len(rgb)), np.zeros(len(rgb))
    for t in range(len(rgb)):
        if not masks[t].any():
            continue
        pal[t] = np.minimum(palette_histogram(rgb[t], masks[t]), ref_hist).sum()
        m = canonical_mask(masks[t])[None]
        inter = np.minimum(m, ref_masks).sum(axis=(1, 2))
        union = np.maximum(m, ref_masks).sum(axis=(1, 2))
        sil[t] = float((inter / np.maximum(union, 1e-6)).max())
    return {"palette": _mean01(pal), "silhouette": _mean01(sil), "score": _mean01(pal * sil)}


def _mean01(x: np.ndarray) -> float:
    return float(np.clip(x.mean(), 0.0, 1.0)) if len(x) else 0.0
