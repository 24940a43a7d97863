"""Identity and shape over time: palette drift, colour-layer IoU, distance to references.

Frames are Lab float32 at analysis resolution (see :mod:`.flow`). Colour layers are the
pixels nearest to each colour of one clip-wide palette (k-means on colours pooled from
sampled frames), so layer k means the same colour in every frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from vectorwan.colour import lab_to_rgb, sqdist, to_lab, unit_rgb_to_lab
from vectorwan.evaluate.flow import ClipFlow, analysis_size, colour_gradient, warp
from vectorwan.evaluate.style import EDGE_GRAD, palette
from vectorwan.frames import evenly_spaced

PALETTE_K = 8
MIN_LAYER_SHARE = 0.005  # layers smaller than this (in both frames) are left out of the IoU mean
MIN_PALETTE_SHARE = 0.01  # clip-palette colours explaining less than this are dropped (AA blends)
MERGE_DE = 10.0  # clip-palette colours closer than this are one layer
SIGNATURE_SIDE = 256  # reference comparisons run on frames downscaled to this side
ORIENT_BINS = 8
MAG_EDGES = (EDGE_GRAD, 20.0, 40.0, 80.0)  # ΔE/px bin edges of the edge-magnitude axis


# ---------------------------------------------------------------- palettes over time
def palette_distance(p: tuple[np.ndarray, np.ndarray], q: tuple[np.ndarray, np.ndarray]) -> float:
    """Symmetric weighted chamfer ΔE between palettes P = {(p_i, w_i)} and Q = {(q_j, v_j)}:

        d(P, Q) = ½ [ Σ_i w_i min_j ‖p_i − q_j‖ + Σ_j v_j min_i ‖q_j − p_i‖ ]

    (weights = pixel shares). Each colour is matched to its nearest counterpart, so a
    palette whose colours each move by δ ΔE is at distance δ; a colour present in one frame
    only costs its share × its distance to the nearest surviving colour.
    """
    (pc, pw), (qc, qw) = p, q
    if len(pc) == 0 or len(qc) == 0:
        return float("nan")
    d = np.sqrt(sqdist(np.asarray(pc, np.float64), np.asarray(qc, np.float64)))
    return float(0.5 * ((pw * d.min(1)).sum() / pw.sum() + (qw * d.min(0)).sum() / qw.sum()))


def frame_palettes(lab: np.ndarray, k: int = PALETTE_K, stride: int = 3) -> list[tuple[np.ndarray, np.ndarray]]:
    """k-colour palette (centres, shares) of every frame, on every ``stride``-th pixel."""
    return [palette(f[::stride, ::stride], k) for f in lab]


def palette_drift(palettes: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Palette drift: d(P_t, P_0) (long range) and d(P_t, P_{t−1}) (frame to frame), ΔE.

    Clip values: ``palette_drift_first`` = mean_t d(P_t, P_0) over t ≥ 1,
    ``palette_drift_max`` = max_t d(P_t, P_0), ``palette_drift_step`` = mean_t d(P_t, P_{t−1}).
    """
    first = [palette_distance(p, palettes[0]) for p in palettes[1:]]
    step = [palette_distance(palettes[i], palettes[i - 1]) for i in range(1, len(palettes))]
    return {
        "palette_drift_first": float(np.mean(first)),
        "palette_drift_max": float(np.max(first)),
        "palette_drift_step": float(np.mean(step)),
        "per_frame": {"palette_drift_first": [0.0] + first, "palette_drift_step": [0.0] + step},
    }


# ---------------------------------------------------------------- colour layers
def clip_palette(lab: np.ndarray, k: int = PALETTE_K, n_frames: int = 8,
                 min_share: float = MIN_PALETTE_SHARE) -> np.ndarray:
    """One palette (≤ k colours) for the whole clip: k-means on the pooled 2-ΔE histograms of
    ``n_frames`` evenly sampled frames; colours whose share is below ``min_share`` (anti-aliasing
    blends between fills, see :func:`blend_colours`) are dropped, so their pixels join the
    nearest real fill, and colours
    closer than ``MERGE_DE`` are merged (share-weighted), so that a fill whose colour jitters
    from frame to frame stays one layer."""
    pooled = np.concatenate([lab[i, ::2, ::2].reshape(-1, 3) for i in evenly_spaced(len(lab), n_frames)])
    c, share = merge_close(*palette(pooled, k))
    keep = (share >= min_share) & ~blend_colours(c, share)
    return (c[keep] if keep.any() else c[np.argmax(share)][None]).astype(np.float32)


def blend_colours(lab_centres: np.ndarray, share: np.ndarray, tol: float = 6.0) -> np.ndarray:
    """Which palette colours are anti-aliasing blends of two larger ones (bool per colour).

    In sRGB (where renderers blend), colour p is a blend of a and b when, with
    α = clip((p − b)·(a − b) / ‖a − b‖², 0, 1), 0.1 < α < 0.9 and
    ‖p − (α a + (1 − α) b)‖ < 0.1 ‖a − b‖ + ``tol`` levels, and p's share is below both.
    """
    rgb = lab_to_rgb(np.asarray(lab_centres).reshape(-1, 3))
    n = len(rgb)
    out = np.zeros(n, bool)
    for k in range(n):
        for i in range(n):
            for j in range(i + 1, n):
                if k in (i, j) or share[k] >= min(share[i], share[j]):
                    continue
                a, b, p = rgb[i], rgb[j], rgb[k]
                ab = a - b
                nab = float(ab @ ab)
                if nab < 1e-6:
                    continue
                alpha = float(np.clip((p - b) @ ab / nab, 0.0, 1.0))
                if 0.1 < alpha < 0.9 and np.linalg.norm(p - (alpha * a + (1 - alpha) * b)) < 0.1 * np.sqrt(nab) + tol:
                    out[k] = True
    return out


def merge_close(c: np.ndarray, share: np.ndarray, de: float = MERGE_DE) -> tuple[np.ndarray, np.ndarray]:
    """Repeatedly merge the closest pair of colours while it is closer than ``de`` ΔE
    (share-weighted mean). Returns the merged (centres, shares)."""
    c, share = [np.asarray(x, np.float64).copy() for x in (c, share)]
    while len(c) > 1:
        d = np.sqrt(sqdist(c, c))
        np.fill_diagonal(d, np.inf)
        i, j = np.unravel_index(np.argmin(d), d.shape)
        if d[i, j] >= de:
            break
        w = share[i] + share[j]
        c[i] = (c[i] * share[i] + c[j] * share[j]) / max(w, 1e-12)
        share[i] = w
        c, share = np.delete(c, j, 0), np.delete(share, j)
    return c, share


def assign_layers(lab: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Label map (uint8 H×W): index of the nearest palette colour (ΔE) of each Lab pixel."""
    px = lab.reshape(-1, 3).astype(np.float32)
    c = centres.astype(np.float32)
    d = (c * c).sum(1)[None, :] - 2.0 * px @ c.T
    return np.argmin(d, 1).astype(np.uint8).reshape(lab.shape[:2])


def layer_lut(centres: np.ndarray, bits: int = 6) -> np.ndarray:
    """Lookup table RGB (``bits`` per channel, bin centres) → nearest palette colour in Lab."""
    n = 1 << bits
    v = ((np.arange(n) + 0.5) * (256 / n)).astype(np.float32) / 255.0
    grid = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(1, -1, 3)
    lab = unit_rgb_to_lab(grid)
    return assign_layers(lab, centres).ravel()


def assign_layers_rgb(rgb: np.ndarray, lut: np.ndarray, bits: int = 6) -> np.ndarray:
    """Label map of uint8 RGB frame(s) through a :func:`layer_lut` (RGB quantised to ``bits``)."""
    s = 8 - bits
    r, g, b = (rgb[..., i] >> s for i in range(3))
    key = (r.astype(np.int32) << (2 * bits)) | (g.astype(np.int32) << bits) | b
    return lut[key]


def layer_iou(a: np.ndarray, b: np.ndarray, k: int, valid: np.ndarray | None = None,
              min_share: float = MIN_LAYER_SHARE) -> float:
    """Mean IoU over colour layers: IoU_k = |A_k ∩ B_k| / |A_k ∪ B_k| (on ``valid`` pixels).

    Layers covering less than ``min_share`` of the pixels in both maps are skipped; every other
    layer counts equally, so a small shape weighs as much as the background. NaN if none.
    """
    if valid is not None:
        a, b = a[valid], b[valid]
    a, b = a.ravel().astype(np.int64), b.ravel().astype(np.int64)
    if a.size == 0:
        return float("nan")
    conf = np.bincount(a * k + b, minlength=k * k).reshape(k, k)
    inter = np.diag(conf).astype(float)
    na, nb = conf.sum(1), conf.sum(0)
    union = na + nb - inter
    keep = (np.maximum(na, nb) >= min_share * a.size) & (union > 0)
    return float((inter[keep] / union[keep]).mean()) if keep.any() else float("nan")


def layer_area_drift(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Total-variation distance between layer area shares: ½ Σ_k |s_k(a) − s_k(b)| (0..1).

    Unchanged by translation or rotation of a shape, so it isolates growth/shrinking and
    colour swaps from motion."""
    sa = np.bincount(a.ravel(), minlength=k) / a.size
    sb = np.bincount(b.ravel(), minlength=k) / b.size
    return float(0.5 * np.abs(sa - sb).sum())


def layer_metrics(labels: np.ndarray, flow: ClipFlow, k: int) -> dict:
    """Colour-layer stability of a clip (T×h×w label maps, flows of the same size).

    - ``layer_iou_warp``: mean_t IoU(layers_t, layers_{t+1} warped onto t by the forward
      flow, nearest sampling), on non-occluded pixels — shape wobble lowers it;
    - ``layer_iou_first``: mean_t IoU(layers_0, layers_t), no warping — long-range drift of
      the composition (also lowered by motion: read it beside the motion column);
    - ``layer_area_drift``: mean_t ½ Σ_k |s_k(t) − s_k(0)| (motion-invariant).
    """
    warp_iou = [layer_iou(labels[t], warp(labels[t + 1], flow.fwd[t], nearest=True), k, flow.valid[t])
                for t in range(len(labels) - 1)]
    first = [layer_iou(labels[0], labels[t], k) for t in range(1, len(labels))]
    area = [layer_area_drift(labels[0], labels[t], k) for t in range(1, len(labels))]
    return {
        "layer_iou_warp": _nanmean(warp_iou),
        "layer_iou_first": _nanmean(first),
        "layer_area_drift": float(np.mean(area)),
        "per_pair": {"layer_iou_warp": warp_iou},
        "per_frame": {"layer_iou_first": [1.0] + first, "layer_area_drift": [0.0] + area},
    }


def identity_metrics(lab: np.ndarray, flow: ClipFlow, k: int = PALETTE_K, rgb: np.ndarray | None = None) -> dict:
    """Palette drift and colour-layer metrics of one clip (Lab frames at analysis size).

    With ``rgb`` (the same frames as uint8 RGB) pixels are assigned to layers through a
    6-bit RGB lookup table (≤ 2 levels of quantisation error, ~10× faster)."""
    pd = palette_drift(frame_palettes(lab, k))
    centres = clip_palette(lab, k)
    if rgb is not None:
        lut = layer_lut(centres)
        labels = np.stack([assign_layers_rgb(f, lut) for f in rgb])
    else:
        labels = np.stack([assign_layers(f, centres) for f in lab])
    lm = layer_metrics(labels, flow, len(centres))
    out = {k_: v for k_, v in pd.items() if k_ != "per_frame"}
    out.update({k_: v for k_, v in lm.items() if not k_.startswith("per_")})
    out["per_frame"] = {**pd["per_frame"], **lm["per_frame"]}
    out["per_pair"] = lm["per_pair"]
    return out


# ---------------------------------------------------------------- references
def edge_signature(lab: np.ndarray) -> np.ndarray:
    """Edge-structure histogram of a Lab image, normalised to sum 1.

    Bin 0: share of non-edge pixels (|∇Lab| ≤ 10 ΔE/px); then 8 orientation bins (luminance
    gradient direction mod π) × 4 magnitude bins (10–20, 20–40, 40–80, > 80 ΔE/px) of edge
    pixels. Content-agnostic: it captures how much edge there is, how hard and which way.
    """
    g = colour_gradient(lab)
    L = np.ascontiguousarray(lab[..., 0])
    gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3)
    ang = np.mod(np.arctan2(gy, gx), np.pi)
    e = g > MAG_EDGES[0]
    ob = np.minimum((ang[e] / np.pi * ORIENT_BINS).astype(int), ORIENT_BINS - 1)
    mb = np.searchsorted(np.asarray(MAG_EDGES[1:]), g[e], side="right")
    h = np.bincount(ob * len(MAG_EDGES) + mb, minlength=ORIENT_BINS * len(MAG_EDGES)).astype(float)
    out = np.concatenate([[float((~e).sum())], h])
    return out / out.sum()


def edge_distance(h1: np.ndarray, h2: np.ndarray) -> float:
    """Total-variation distance ½ ‖h₁ − h₂‖₁ between two edge signatures (0 = same, 1 = disjoint)."""
    return float(0.5 * np.abs(h1 - h2).sum())


def signature(rgb: np.ndarray, k: int = PALETTE_K) -> dict:
    """Palette and edge signature of an RGB image, computed at ``SIGNATURE_SIDE`` px at most."""
    h, w = analysis_size(*rgb.shape[:2], SIGNATURE_SIDE)
    if (h, w) != rgb.shape[:2]:
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    lab = to_lab(rgb)
    return {"palette": palette(lab, k), "edges": edge_signature(lab)}


def reference_metrics(frames_rgb: list[np.ndarray] | np.ndarray, refs: list[dict]) -> dict:
    """Distance of each frame to the nearest reference image (``refs`` from :func:`signature`).

    ``ref_palette_de``  = mean_f min_r d(P_f, P_r)   (palette chamfer ΔE, :func:`palette_distance`)
    ``ref_edge_dist``   = mean_f min_r ½‖h_f − h_r‖₁  (:func:`edge_distance`)
    plus the per-frame values and the index of the nearest reference by palette.
    """
    pal, edg, near = [], [], []
    for f in frames_rgb:
        s = signature(f)
        dp = [palette_distance(s["palette"], r["palette"]) for r in refs]
        de = [edge_distance(s["edges"], r["edges"]) for r in refs]
        pal.append(float(np.min(dp)))
        edg.append(float(np.min(de)))
        near.append(int(np.argmin(dp)))
    return {"ref_palette_de": float(np.mean(pal)), "ref_edge_dist": float(np.mean(edg)),
            "per_frame": {"ref_palette_de": pal, "ref_edge_dist": edg, "nearest_ref": near}}


def _nanmean(v) -> float:
    a = np.asarray(v, float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")
