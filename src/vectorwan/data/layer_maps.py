"""Per-item layer maps for the layer-wise vector losses: shape, colour and motion, at latent resolution.

Made once per item from the frames the VAE encodes (``data.load.load_sample``), cached beside
the latents (``cache.py``), read by ``train.losses``. Pure numpy/OpenCV: arrays in, arrays out.

Every map is ``F'×h×w`` (latent frames × latent rows × latent columns), each cell standing for
an ``s×s`` pixel block (s = H / h) of the pixel frames that latent frame encodes (Wan's VAE:
latent frame 0 = pixel frame 0, latent frame k = pixel frames 4k−3 … 4k):

* ``silhouette``: the fraction of the cell's pixels that are foreground: alpha ≥ 128 for an
  item with transparency; otherwise pixels further than ΔE 10 from the background colour (the
  solid border colour found by ``vector.palette.detect_background``; with none, every pixel);
* ``outline``: the fraction that are outline pixels: the silhouette's edge (a 3×3 morphological
  gradient of the foreground: 1 px either side) or a dark stroke (foreground, luminance < 80);
* ``region`` (int16): the cell's majority colour region, an index into one palette fitted on the
  item's foreground (``vector.palette.fit_palette``, automatic size, anti-aliasing pixels left
  out: the vectorizer's own palette); −1 where the majority is background;
* ``purity``: the fraction of the cell's pixels in that region;
* ``motion`` (``(F'−1)×h×w``; empty for a still): the fraction of the cell's pixels that change
  (any channel by > 24 levels, or foreground ↔ background) between the last pixel frames of
  latent frames k−1 and k.

Fractions are averaged over the pixel frames of each latent frame (the representative frame —
the group's last — for ``region``, ``purity`` and ``motion``).
"""

from __future__ import annotations

import cv2
import numpy as np

from vectorwan.colour import to_lab
from vectorwan.vector.palette import ColourMemo, Quantizer, detect_background, fit_palette, sample_colors, unpack_rgb

NAMES = ("silhouette", "outline", "region", "purity", "motion")
VERSION = 1  # bump when a definition changes: cached maps are keyed by it
ALPHA_FG = 128
BACKGROUND_DE = 10.0
DARK_LUMA = 80.0
CHANGE_LEVELS = 24


def frame_groups(n_frames: int, n_latent: int) -> list[list[int]]:
    """The pixel frames each latent frame encodes (causal VAE: frame 0 alone, then groups of t)."""
    if n_latent == 1:
        return [list(range(n_frames))]
    t = (n_frames - 1) // (n_latent - 1)
    if t < 1 or 1 + t * (n_latent - 1) != n_frames:
        raise ValueError(f"{n_frames} pixel frames do not map onto {n_latent} latent frames")
    return [[0]] + [list(range(1 + (k - 1) * t, 1 + k * t)) for k in range(1, n_latent)]


def foreground(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """bool F×H×W: opaque pixels, or (no transparency) pixels away from the solid background."""
    if (alpha < 255).any():
        return alpha >= ALPHA_FG
    bg = detect_background(rgb)
    if bg is None:
        return np.ones(rgb.shape[:3], bool)
    lab_bg = to_lab(np.array(bg, np.uint8)).astype(np.float32)

    def away(codes: np.ndarray) -> np.ndarray:  # 1 where a colour is further than ΔE 10 from the background
        return np.linalg.norm(to_lab(unpack_rgb(codes)).astype(np.float32) - lab_bg, axis=-1) > BACKGROUND_DE

    memo = ColourMemo(away)  # per distinct colour: flat-colour frames hold few
    return np.stack([memo(frame) == 1 for frame in rgb])


def outline_pixels(rgb: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """bool F×H×W: the silhouette's edge (1 px either side) and the dark strokes inside it."""
    kernel = np.ones((3, 3), np.uint8)
    edge = np.stack([cv2.morphologyEx(f.astype(np.uint8), cv2.MORPH_GRADIENT, kernel) > 0 for f in fg])
    gray = np.stack([cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in rgb])  # Rec. 601 luma
    return edge | (fg & (gray < DARK_LUMA))


def _pool(x: np.ndarray, s: int) -> np.ndarray:
    """Mean over s×s blocks of the last two axes."""
    *lead, h, w = x.shape
    return x.reshape(*lead, h // s, s, w // s, s).mean(axis=(-3, -1))


def _majority(labels: np.ndarray, s: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(majority label, its share) of every s×s block of an H×W label map with values 0..k−1."""
    h, w = labels.shape
    blocks = labels.reshape(h // s, s, w // s, s).transpose(0, 2, 1, 3).reshape(h // s, w // s, s * s)
    counts = np.stack([(blocks == i).sum(-1) for i in range(k)], -1)
    return counts.argmax(-1), counts.max(-1) / float(s * s)


def layer_maps(rgb: np.ndarray, alpha: np.ndarray, latent_shape) -> dict[str, np.ndarray]:
    """The maps of one item (see the module docstring). ``rgb`` uint8 F×H×W×3 (composited),
    ``alpha`` uint8 F×H×W, ``latent_shape`` (C, F', h, w) or (F', h, w)."""
    n_lat, h, w = (int(v) for v in tuple(latent_shape)[-3:])
    n, hh, ww = rgb.shape[:3]
    s = hh // h
    if s < 1 or s * h != hh or s * w != ww:
        raise ValueError(f"frames {hh}×{ww} are not a whole multiple of latents {h}×{w}")
    groups = frame_groups(n, n_lat)
    rep = [g[-1] for g in groups]
    fg = foreground(rgb, alpha)
    line = outline_pixels(rgb, fg)

    colors = fit_palette(*sample_colors(rgb, fg)) if fg.any() else np.zeros((0, 3), np.uint8)
    k = len(colors)
    quant = Quantizer(colors) if k else None
    region = np.empty((n_lat, h, w), np.int16)
    purity = np.empty((n_lat, h, w), np.float32)
    for j, f in enumerate(rep):
        labels = quant(rgb[f]).astype(np.int64) if quant else np.zeros((hh, ww), np.int64)
        labels[~fg[f]] = k  # background: label k
        idx, share = _majority(labels, s, k + 1)
        region[j] = np.where(idx == k, -1, idx)
        purity[j] = share

    changed = []
    for a, b in zip(rep[:-1], rep[1:]):
        diff = np.abs(rgb[b].astype(np.int16) - rgb[a].astype(np.int16)).max(-1) > CHANGE_LEVELS
        changed.append(diff | (fg[a] != fg[b]))
    motion = _pool(np.stack(changed).astype(np.float32), s) if changed else np.zeros((0, h, w), np.float32)

    def per_latent(x: np.ndarray) -> np.ndarray:
        pooled = _pool(x.astype(np.float32), s)
        return np.stack([pooled[g].mean(0) for g in groups]).astype(np.float32)

    return {"silhouette": per_latent(fg), "outline": per_latent(line), "region": region, "purity": purity,
            "motion": motion.astype(np.float32), "palette": colors}
