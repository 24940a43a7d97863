"""Colour maths shared by vectorize, evaluate and the toy world (numpy/OpenCV, no torch).

* :func:`to_lab` (uint8), :func:`unit_rgb_to_lab` (float 0..1) and :func:`lab_to_rgb`:
  sRGB ↔ CIE L*a*b* (D65, sRGB gamma) with OpenCV's float conversion: L in 0..100, ΔE the
  Euclidean distance (CIE76); it approximates the CIE formula to 0.53 ΔE at most (0.16 on
  average over all 2^24 colours), and a round trip to within 1.3 levels;
* :func:`sqdist`: pairwise squared Euclidean distances;
* :func:`weighted_kmeans`: deterministic weighted k-means (k-means++ seeding from the
  heaviest point, Lloyd steps), and :func:`kmeans_palette`, its centres with weight shares.
"""

from __future__ import annotations

import cv2
import numpy as np

LAB_CHUNK = 1 << 18  # pixels per OpenCV call in to_lab (bounds its float32 scratch copy)
PALETTE_TOL = 1e-3  # centre movement at which kmeans_palette stops


# ----------------------------------------------------------------------------- colour space
def _rows(x: np.ndarray) -> np.ndarray:
    """...×3 as an image of rows (OpenCV is fastest on long rows): [T×]H×W×3 → (T·H)×W×3, N×3 → 1×N×3."""
    return x.reshape(-1, x.shape[-2], 3) if x.ndim > 2 else x.reshape(1, -1, 3)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (...×3; other dtypes are cast to uint8) → CIE L*a*b* float32 of the same shape."""
    rgb = np.asarray(rgb, np.uint8)
    if rgb.size == 0:
        return np.zeros(rgb.shape, np.float32)
    rows = _rows(rgb)
    out = np.empty(rows.shape, np.float32)
    step = max(1, LAB_CHUNK // rows.shape[1])
    for s in range(0, len(rows), step):
        x = rows[s:s + step].astype(np.float32)
        x /= np.float32(255.0)
        out[s:s + step] = cv2.cvtColor(x, cv2.COLOR_RGB2Lab)
    return out.reshape(rgb.shape)


def unit_rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB float in 0..1 (...×3) → CIE L*a*b* float32 of the same shape."""
    x = np.asarray(rgb, np.float32)
    return cv2.cvtColor(_rows(x), cv2.COLOR_RGB2Lab).reshape(x.shape)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (...×3) → sRGB float64 in 0..255, not rounded (OpenCV clips to the gamut)."""
    lab = np.asarray(lab, np.float32)
    rgb = cv2.cvtColor(_rows(lab), cv2.COLOR_Lab2RGB)
    return rgb.reshape(lab.shape).astype(np.float64) * 255.0


# ----------------------------------------------------------------------------- distances
def sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of ``a`` (N×D) and ``b`` (K×D): N×K, ≥ 0."""
    return np.maximum((a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :], 0.0)


# ----------------------------------------------------------------------------- k-means
def kmeans_pp(points: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeds (≤ k×D; fewer when all weight sits on the seeds already): the heaviest
    point first (stable across runs), then points drawn with probability ∝ weight × D²."""
    centres = [points[int(np.argmax(weights))]]
    d2 = ((points - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = weights * d2
        if p.sum() <= 0:
            break
        i = int(rng.choice(len(points), p=p / p.sum()))
        centres.append(points[i])
        d2 = np.minimum(d2, ((points - points[i]) ** 2).sum(1))
    return np.array(centres)


def lloyd_step(points: np.ndarray, weights: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One Lloyd step: (labels = nearest centre per point, the weighted means of those clusters;
    a centre that gets no weight stays where it was)."""
    labels = np.argmin(sqdist(points, centres), 1)
    sw = np.bincount(labels, weights, len(centres))
    new = np.stack([np.bincount(labels, weights * points[:, j], len(centres)) for j in range(points.shape[1])], 1)
    keep = sw > 0
    new[keep] /= sw[keep, None]
    new[~keep] = centres[~keep]
    return labels, new


def weighted_kmeans(points: np.ndarray, weights: np.ndarray, k: int, *, iters: int = 25, seed: int = 0,
                    tol: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic weighted k-means: :func:`kmeans_pp` seeds, then up to ``iters`` Lloyd steps.

    Stops when the labels no longer change (``tol`` None) or when no centre moves more than
    ``tol`` (``np.allclose(new, old, atol=tol)``). Returns (centres k'×D float64, labels N):
    the labels are those of the last step, i.e. the assignment the centres are the means of
    (each point's nearest centre once the labels have converged). k' = min(max(k, 1), N).
    """
    pts = np.asarray(points, np.float64)
    w = np.asarray(weights, np.float64)
    if len(pts) == 0:
        return np.zeros((0, pts.shape[-1])), np.zeros(0, np.int64)
    c = kmeans_pp(pts, w, min(k, len(pts)), np.random.default_rng(seed))
    labels = None
    for _ in range(iters):
        new_labels, new = lloyd_step(pts, w, c)
        if tol is None and labels is not None and np.array_equal(new_labels, labels):
            break
        labels, done = new_labels, tol is not None and np.allclose(new, c, atol=tol)
        c = new
        if done:
            break
    if labels is None:
        labels = np.argmin(sqdist(pts, c), 1)
    return c, labels


def kmeans_palette(points: np.ndarray, weights: np.ndarray, k: int, iters: int = 25,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """:func:`weighted_kmeans` stopped at a centre movement of ``PALETTE_TOL``, with each
    centre's share of the total weight (points go to their nearest final centre).

    Returns (centres k'×3, shares k'); k' = min(k, number of points), no centre for k = 0.
    """
    w = np.asarray(weights, np.float64)
    if k == 0 or len(w) == 0:
        return np.zeros((0, 3)), np.zeros(0)
    pts = np.asarray(points, np.float64)
    c, _ = weighted_kmeans(pts, w, k, iters=iters, seed=seed, tol=PALETTE_TOL)
    share = np.bincount(np.argmin(sqdist(pts, c), 1), w, len(c)) / w.sum()
    return c, share
