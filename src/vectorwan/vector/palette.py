"""Colour layer: one palette for a whole clip, and fast quantisation to it.

The palette is chosen once (weighted k-means in CIELAB over pixels sampled from several
frames) and every frame is quantised to the same colours, so a colour can neither drift nor
flicker between frames. When the palette size is automatic, anti-aliasing pixels (blends of
two neighbours) are left out of the fit: they are edges, not colours of their own, and the
renderer's anti-aliasing draws them again from the traced outlines.

Everything here is pure numpy/OpenCV: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from vectorwan.colour import lloyd_step, to_lab, weighted_kmeans
from vectorwan.frames import evenly_spaced

MAX_COLORS = 64
AUTO_MAX_COLORS = 32
TRANSPARENT = 255  # label value of a transparent pixel (so a palette holds at most 254 colours)


# ----------------------------------------------------------------------------- colour codes
def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 ...×3 → int32 codes r<<16 | g<<8 | b."""
    rgb = np.asarray(rgb, np.uint8)
    return (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]


def unpack_rgb(codes: np.ndarray) -> np.ndarray:
    codes = np.asarray(codes, np.int64)
    return np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], -1).astype(np.uint8)


def luminance(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb, np.float64) @ np.array([0.299, 0.587, 0.114])


def hex_color(rgb) -> str:
    r, g, b = (int(v) for v in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


# ----------------------------------------------------------------------------- quantisation
class ColourMemo:
    """``fn`` (packed colours → uint8 values < 255) of every pixel, memoised per RGB value.

    A flat-colour frame holds few distinct colours, so a lazily filled 2^24 lookup table makes
    the call a gather: only colours never seen before reach ``fn``.
    """

    UNSET = TRANSPARENT

    def __init__(self, fn):
        self.fn = fn
        self._lut: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 ...×3 → uint8 values of the same leading shape."""
        if self._lut is None:
            self._lut = np.full(1 << 24, self.UNSET, np.uint8)
        codes = pack_rgb(rgb[..., :3])
        out = self._lut[codes]
        miss = out == self.UNSET
        if miss.any():
            new = np.unique(codes[miss])
            self._lut[new] = self.fn(new)
            out[miss] = self._lut[codes[miss]]
        return out


class Quantizer:
    """Nearest palette colour for every pixel, memoised per RGB value.

    ``space="rgb"`` (default) measures in sRGB, where renderers blend anti-aliased edges
    linearly, so an edge pixel goes to the colour that covers most of it; ``space="lab"``
    measures in CIELAB (the space the palette is fitted in). Measured with the default
    pipeline: equal on tiger16 (30.82 vs 30.81 dB), sRGB ahead by 1.1–1.6 dB on transparent
    synthetic clips and 0.3 dB on an H.264 one, CIELAB ahead by 0.2–0.6 dB on white ones.
    Quantisation is memoised per RGB value (:class:`ColourMemo`): only colours never seen
    before are measured.
    """

    def __init__(self, colors: np.ndarray, space: str = "rgb"):
        self.colors = np.asarray(colors, np.uint8).reshape(-1, 3)
        if not 1 <= len(self.colors) < TRANSPARENT:
            raise ValueError(f"palette must hold 1..{TRANSPARENT - 1} colours, got {len(self.colors)}")
        if space not in ("rgb", "lab"):
            raise ValueError(f"space must be 'rgb' or 'lab', got {space!r}")
        self.space = space
        self._lab = to_lab(self.colors).astype(np.float32)
        self._ref = self._convert(self.colors)
        self._ref_sq = (self._ref ** 2).sum(1)
        self._memo = ColourMemo(self.nearest_codes)

    def _convert(self, rgb: np.ndarray) -> np.ndarray:
        rgb = np.asarray(rgb, np.uint8).reshape(-1, 3)
        return to_lab(rgb).astype(np.float32) if self.space == "lab" else rgb.astype(np.float32)

    def nearest_codes(self, codes: np.ndarray) -> np.ndarray:
        """Exact nearest palette index for packed colours (no memo)."""
        x = self._convert(unpack_rgb(codes))
        d = self._ref_sq[None, :] - 2.0 * x @ self._ref.T
        return d.argmin(1).astype(np.uint8)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """uint8 H×W×3 → uint8 H×W palette indices."""
        return self._memo(rgb)

    def distance(self, rgb: np.ndarray, index: np.ndarray) -> np.ndarray:
        """ΔE (CIE76) between pixels and the given palette entries."""
        lab = to_lab(rgb)
        return np.linalg.norm(lab - self._lab[index], axis=-1)


# ----------------------------------------------------------------------------- sampling
def blend_mask(rgb: np.ndarray, min_step: float = 24.0, tol: float = 0.2, margin: float = 6.0,
               end_gap: float = 0.15) -> np.ndarray:
    """Anti-aliasing pixels: colours that sit between two opposite neighbours.

    For neighbours a and b on opposite sides of p (left/right, up/down, both diagonals; one
    and two pixels away) that differ by at least ``min_step`` levels, p is a blend when

    * it lies on the segment: p ≈ a + α·(b − a), 0.08 < α < 0.92, residual ≤ ``tol``·|b − a|
      (linear anti-aliasing), or
    * it lies inside the box spanned by a and b in Y/Cb/Cr (± ``margin``), at least
      ``end_gap``·|b − a| from both (edges of 4:2:0 video, whose chroma is smeared).

    Flat pixels, texture and thin lines (darker or lighter than both sides) are not blends.
    """
    rgb = np.ascontiguousarray(rgb[..., :3])
    h, w = rgb.shape[:2]
    out = np.zeros((h, w), bool)
    if h < 5 or w < 5:
        return out
    # only pixels near an edge can be blends: test those alone (a few % of a flat-colour frame)
    edge = np.zeros((h, w), np.uint8)
    for dst, d in ((edge[:, :-1], cv2.absdiff(rgb[:, 1:], rgb[:, :-1])), (edge[:-1], cv2.absdiff(rgb[1:], rgb[:-1]))):
        c = cv2.split(d)
        dst |= cv2.max(cv2.max(c[0], c[1]), c[2]) >= 4
    edge = cv2.dilate(edge, np.ones((5, 5), np.uint8))
    edge[:2], edge[-2:], edge[:, :2], edge[:, -2:] = 0, 0, 0, 0
    idx = np.flatnonzero(edge)
    if len(idx) == 0:
        return out
    x = rgb.reshape(-1, 3).astype(np.float32)
    y = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb).reshape(-1, 3).astype(np.float32)
    p, py = x[idx], y[idx]
    hit = np.zeros(len(idx), bool)
    for r in (1, 2):
        for da, db in ((-r * w, r * w), (-r, r), (-r * w - r, r * w + r), (-r * w + r, r * w - r)):
            a, b = x[idx + da], x[idx + db]
            d = b - a
            dd = (d * d).sum(-1)
            alpha = ((p - a) * d).sum(-1) / np.maximum(dd, 1e-6)
            res = p - a - alpha[:, None] * d
            on_line = (alpha > 0.08) & (alpha < 0.92) & ((res * res).sum(-1) <= (tol ** 2) * dd)
            ya, yb = y[idx + da], y[idx + db]
            in_box = ((py >= np.minimum(ya, yb) - margin) & (py <= np.maximum(ya, yb) + margin)).all(-1)
            gap = (end_gap ** 2) * ((yb - ya) ** 2).sum(-1)
            in_box &= (((py - ya) ** 2).sum(-1) >= gap) & (((py - yb) ** 2).sum(-1) >= gap)
            hit |= (dd >= min_step ** 2) & (on_line | in_box)
    out.ravel()[idx[hit]] = True
    return out


def sample_colors(frames_rgb: np.ndarray, opaque: np.ndarray | None = None, *, max_frames: int = 16,
                  max_pixels: int = 400_000, skip_blends: bool = True,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colours and their pixel counts over evenly sampled frames.

    ``frames_rgb``: T×H×W×3 uint8; ``opaque``: T×H×W bool (pixels that will be traced).
    ``skip_blends``: leave anti-aliasing pixels out (see :func:`blend_mask`).
    Returns (colors U×3 uint8, weights U float64).
    """
    t = len(frames_rgb)
    idx = evenly_spaced(t, max_frames)
    picked = []
    for i in idx:
        f = frames_rgb[i]
        m = np.ones(f.shape[:2], bool) if opaque is None else opaque[i]
        if skip_blends:
            m = m & ~blend_mask(f)
        picked.append(f[m])
    pix = np.concatenate(picked) if picked else np.zeros((0, 3), np.uint8)
    if len(pix) == 0:
        return np.zeros((0, 3), np.uint8), np.zeros(0)
    if len(pix) > max_pixels:  # an even subsample, starting at a seeded offset
        step = len(pix) / max_pixels
        start = np.random.default_rng(seed).random() * step
        pix = pix[(start + step * np.arange(max_pixels)).astype(np.int64)]
    codes, counts = np.unique(pack_rgb(pix), return_counts=True)
    return unpack_rgb(codes), counts.astype(np.float64)


def _cluster_colors(colors: np.ndarray, w: np.ndarray, assign: np.ndarray, k: int) -> np.ndarray:
    """Weighted mean RGB of each cluster (exact for clusters of one flat colour)."""
    sw = np.bincount(assign, weights=w, minlength=k)
    out = np.zeros((k, 3))
    for ch in range(3):
        out[:, ch] = np.bincount(assign, weights=w * colors[:, ch], minlength=k) / np.maximum(sw, 1e-12)
    keep = sw > 0
    return np.clip(np.rint(out[keep]), 0, 255).astype(np.uint8)


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    order = np.argsort(x, kind="stable")
    cw = np.cumsum(w[order])
    return float(x[order][min(int(np.searchsorted(cw, q * cw[-1])), len(x) - 1)])


AUTO_SIZES = (2, 3, 4, 5, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64)


def fit_palette(colors: np.ndarray, weights: np.ndarray, k: int | None = None, *,
                max_colors: int = AUTO_MAX_COLORS, target_delta_e: float = 3.0, quantile: float = 0.99,
                merge_delta_e: float = 5.0, seed: int = 0) -> np.ndarray:
    """Choose palette colours (uint8 K×3) from weighted distinct colours.

    ``k`` given: min(k, distinct colours) colours (k-means in CIELAB).
    ``k`` None: grow the size until ``quantile`` of the pixels (by weight) lie within ΔE
    ``target_delta_e`` of their colour, or until a bigger palette only splits colours into
    near-duplicates (centres closer than ``merge_delta_e``, merged), at most ``max_colors``.
    """
    colors = np.asarray(colors, np.uint8)
    if len(colors) == 0:
        return np.zeros((0, 3), np.uint8)
    lab = to_lab(colors).astype(np.float64)
    if k is not None:
        c, assign = weighted_kmeans(lab, weights, k, seed=seed)
        return _dedupe(_cluster_colors(colors, weights, assign, len(c)))
    sizes = [s for s in AUTO_SIZES if s < max_colors] + [max_colors]
    best = None
    for kk in sizes:
        c, assign = weighted_kmeans(lab, weights, kk, seed=seed)
        c, assign = _merge_close(lab, weights, c, assign, merge_delta_e)
        best = (c, assign)
        err = np.sqrt(((lab - c[assign]) ** 2).sum(1))
        if (kk >= len(colors) or len(c) < kk
                or weighted_quantile(err, weights, quantile) <= target_delta_e):
            break
    c, assign = best
    return _cluster_colors(colors, weights, assign, len(c))


def _merge_close(lab: np.ndarray, w: np.ndarray, centres: np.ndarray, assign: np.ndarray, min_delta_e: float):
    """Merge centres closer than ``min_delta_e`` (the heavier one stays), then reassign."""
    mass = np.bincount(assign, weights=w, minlength=len(centres))
    kept: list[int] = []
    for i in np.argsort(-mass, kind="stable"):
        if mass[i] <= 0:
            continue
        if all(np.linalg.norm(centres[i] - centres[j]) >= min_delta_e for j in kept):
            kept.append(int(i))
    c = centres[sorted(kept)]
    for _ in range(3):
        assign, c = lloyd_step(lab, w, c)
    return c, assign


def _dedupe(colors: np.ndarray, min_delta_e: float = 1.0) -> np.ndarray:
    lab = to_lab(colors)
    keep: list[int] = []
    for i in range(len(colors)):
        if all(np.linalg.norm(lab[i] - lab[j]) >= min_delta_e for j in keep):
            keep.append(i)
    return colors[keep]


# ----------------------------------------------------------------------------- stacking order
def boundary_length(mask: np.ndarray) -> int:
    return int((mask[1:] != mask[:-1]).sum() + (mask[:, 1:] != mask[:, :-1]).sum())


def stacking_order(colors: np.ndarray, labels: np.ndarray | None = None, how: str = "luminance") -> np.ndarray:
    """Bottom-to-top order of palette colours, fixed for the whole clip.

    ``luminance``: light colours at the bottom, dark (outlines) on top.
    ``area``: colours covering most pixels at the bottom (needs ``labels``, a T×H×W sample).
    ``greedy``: bottom-up, each step removes the colour whose removal leaves the remaining
    union with the shortest boundary (fewest, simplest stacked shapes; needs ``labels``).
    """
    k = len(colors)
    lum = luminance(colors)
    if how == "luminance" or labels is None or k <= 1:
        return np.argsort(-lum, kind="stable")
    counts = np.bincount(labels[labels != TRANSPARENT].ravel(), minlength=k)[:k]
    if how == "area":
        return np.lexsort((-lum, -counts))
    if how != "greedy":
        raise ValueError(f"unknown stacking order {how!r}")
    rest = [c for c in np.argsort(-lum, kind="stable") if counts[c] > 0]
    bottom: list[int] = []
    while len(rest) > 1:
        costs = []
        for c in rest:
            others = np.isin(labels, [d for d in rest if d != c])
            costs.append(sum(boundary_length(m) for m in others))
        j = int(np.argmin(costs))
        bottom.append(rest.pop(j))
    bottom += rest
    bottom += [c for c in range(k) if c not in bottom]
    return np.array(bottom)


# ----------------------------------------------------------------------------- the palette
@dataclass
class Palette:
    """Colours in stacking order: index 0 is the bottom layer, the last one is on top."""

    colors: np.ndarray  # uint8 K×3
    background: tuple[int, int, int] | None = None  # solid background colour, when one was detected
    order: str = "luminance"
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.colors)

    @property
    def hex(self) -> list[str]:
        return [hex_color(c) for c in self.colors]

    def to_json(self) -> dict:
        return {
            "size": len(self.colors),
            "colors": self.hex,
            "rgb": self.colors.astype(int).tolist(),
            "order": self.order,
            "stacking": "index 0 is the bottom layer",
            "background": hex_color(self.background) if self.background is not None else None,
            **self.meta,
        }


def detect_background(frames_rgb: np.ndarray, *, max_frames: int = 16, tol: float = 6.0,
                      min_share: float = 0.9) -> tuple[int, int, int] | None:
    """A solid background colour if ≥ ``min_share`` of border pixels (over sampled frames)
    lie within ΔE ``tol`` of their median colour, else None."""
    t = len(frames_rgb)
    idx = evenly_spaced(t, max_frames)
    border = []
    for i in idx:
        f = frames_rgb[i]
        border += [f[0], f[-1], f[:, 0], f[:, -1]]
    b = np.concatenate(border)
    med = np.median(b, axis=0).round().astype(np.uint8)
    codes, counts = np.unique(pack_rgb(b), return_counts=True)
    mode = unpack_rgb(codes[np.argmax(counts)])
    ref = mode if np.linalg.norm(to_lab(mode) - to_lab(med)) < tol else med
    de = np.linalg.norm(to_lab(b) - to_lab(ref), axis=-1)
    if (de <= tol).mean() < min_share:
        return None
    return tuple(int(v) for v in ref)
