"""Vector style of single frames: palette, flatness, edge crispness, vectorizability.

Colour distances are CIE76 ΔE (Euclidean in CIE L*a*b*, sRGB/D65). Palettes are fitted with
a deterministic weighted k-means on a histogram of the frame's colours binned on a 2-ΔE Lab
grid (each bin is represented by the mean of its pixels), so results do not change between
runs or machines.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from vectorwan.colour import kmeans_palette, sqdist, to_lab
from vectorwan.evaluate.flow import analysis_size, colour_gradient
from vectorwan.frames import evenly_spaced
from vectorwan.vector.fidelity import psnr, ssim  # one definition for eval and vectorize

HIST_CELL = 2.0  # ΔE size of the Lab histogram bins
COMPACT_DE = 10.0  # a pixel is "explained" by a palette colour within this ΔE
EDGE_GRAD = 10.0  # ΔE/px: colour gradient above this is an edge
FLAT_GRAD = 2.0  # ΔE/px: non-edge pixels below this are flat
EDGE_DILATE = 2  # px of dilation around edges excluded from the flatness count
PROFILE_RADIUS = 6.0  # px each side of an edge sampled for the transition width
PROFILE_STEP = 0.25
MIN_EDGE_CONTRAST = 8.0  # L* units between the two sides of an edge profile
MAX_EDGE_POINTS = 2000
TRACE_MAX_SIDE = 384  # frames are traced for vectorizability at this size at most


# ---------------------------------------------------------------- palettes
def lab_histogram(lab: np.ndarray, cell: float = HIST_CELL) -> tuple[np.ndarray, np.ndarray]:
    """Bin Lab pixels (…×3) on a ``cell``-ΔE grid → (bin means K×3 float32, pixel counts K).

    L in [0, 100], a and b clipped to [−128, 128). Large images use a dense bincount over the
    grid (no sort), small ones a sort.
    """
    px = lab.reshape(-1, 3).astype(np.float32, copy=False)
    nl, nab = int(np.ceil(101.0 / cell)) + 1, int(np.ceil(256.0 / cell))
    ql = np.clip((px[:, 0] / cell).astype(np.int32), 0, nl - 1)
    qa = np.clip(((px[:, 1] + 128.0) / cell).astype(np.int32), 0, nab - 1)
    qb = np.clip(((px[:, 2] + 128.0) / cell).astype(np.int32), 0, nab - 1)
    key = (ql * nab + qa) * nab + qb
    size = nl * nab * nab
    if len(key) * 8 < size:
        _, key, cnt = np.unique(key, return_inverse=True, return_counts=True)
        key, size = key.ravel(), len(cnt)
        nz = slice(None)
    else:
        counts = np.bincount(key, minlength=size)
        nz = np.nonzero(counts)[0]
        cnt = counts[nz]
    cnt = cnt.astype(np.float64)
    means = np.stack([np.bincount(key, px[:, c], size)[nz] for c in range(3)], 1) / cnt[:, None]
    return means.astype(np.float32), cnt


def palette(lab: np.ndarray, k: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` colours that best summarise a Lab image (k-means on its 2-ΔE histogram).

    Returns (centres k×3 in Lab, share of pixels nearest to each).
    """
    pts, cnt = lab_histogram(lab)
    return kmeans_palette(pts, cnt, k, seed=seed)


def palette_compactness(lab: np.ndarray, k: int = 8, de: float = COMPACT_DE, refine: int = 3,
                        hist: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Share of pixels within ΔE ``de`` of the nearest of the best ``k`` colours.

    compactness_k = (1/N) Σ_x [min_j ‖Lab(x) − c_j‖ ≤ de]. The colours c_j come from k-means and
    are then refined ``refine`` times by re-centring each on its inliers (pixels within ``de``),
    which raises the share the palette explains. 1 for a flat image with ≤ k fills; low for
    photographic texture. ``hist`` = a precomputed :func:`lab_histogram` of ``lab``.
    """
    pts, cnt = hist if hist is not None else lab_histogram(lab)
    c, _ = kmeans_palette(pts, cnt, k)
    for _ in range(refine):
        d2 = sqdist(pts.astype(np.float64), c)
        lab_ = np.argmin(d2, 1)
        inl = d2[np.arange(len(pts)), lab_] <= de * de
        for j in range(len(c)):
            m = inl & (lab_ == j)
            if m.any():
                c[j] = (pts[m] * cnt[m, None]).sum(0) / cnt[m].sum()
    d = np.sqrt(sqdist(pts.astype(np.float64), c).min(1))
    return float(cnt[d <= de].sum() / cnt.sum())


def effective_colours(lab: np.ndarray, hist: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Effective number of colours: exp(H), H = −Σ_b p_b ln p_b over 2-ΔE Lab bins b.

    Equals n for n equally frequent colours; anti-aliasing pixels barely count (tiny p_b).
    """
    _, cnt = hist if hist is not None else lab_histogram(lab)
    p = cnt / cnt.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


# ---------------------------------------------------------------- gradients and edges
def flatness(lab: np.ndarray, edge: float = EDGE_GRAD, flat: float = FLAT_GRAD,
             dilate: int = EDGE_DILATE) -> dict[str, float]:
    """Flat fills: share of non-edge pixels whose colour gradient is below ``flat``.

    E = {x : |∇Lab(x)| > edge} dilated by ``dilate`` px; flatness = |{x ∉ E : |∇Lab(x)| < flat}| / |∁E|
    (0 if every pixel is near an edge). Also returns ``edge_density`` = |{|∇Lab| > edge}| / N.
    """
    g = colour_gradient(lab)
    e = g > edge
    density = float(e.mean())
    if dilate > 0:
        e = cv2.dilate(e.astype(np.uint8), np.ones((2 * dilate + 1,) * 2, np.uint8)) > 0
    rest = ~e
    val = float((g[rest] < flat).mean()) if rest.any() else 0.0
    return {"flatness": val, "edge_density": density}


def edge_widths(lab: np.ndarray, max_points: int = MAX_EDGE_POINTS, radius: float = PROFILE_RADIUS,
                step: float = PROFILE_STEP, min_contrast: float = MIN_EDGE_CONTRAST) -> np.ndarray:
    """10–90 % transition widths (px) of luminance profiles taken across edges.

    Edge points: Canny on L* (thresholds 20/50 on L*·2.55), sampled evenly up to
    ``max_points``. At each, L* is sampled (bilinear) along the gradient direction n at
    offsets s ∈ [−radius, radius] every ``step`` px. With p₀, p₁ the means of the outer
    4 samples each side, profiles with |p₁ − p₀| < ``min_contrast`` are dropped; the rest are
    normalised, u(s) = (L(s) − p₀)/(p₁ − p₀), and width = step · #{s : 0.1 < u(s) < 0.9}
    (the distance between the 10 % and 90 % crossings for a monotone profile). A hard,
    aliased step measures ≈ 0.8 px, a Gaussian blur of σ px ≈ 2.56 σ.
    """
    L = np.ascontiguousarray(lab[..., 0]).astype(np.float32)
    g8 = np.clip(L * 2.55, 0, 255).astype(np.uint8)
    edges = cv2.Canny(g8, 20, 50, L2gradient=True)
    ys, xs = np.nonzero(edges)
    if len(ys) == 0:
        return np.zeros(0, np.float32)
    if len(ys) > max_points:
        sel = evenly_spaced(len(ys), max_points)
        ys, xs = ys[sel], xs[sel]
    sm = cv2.GaussianBlur(L, (0, 0), 1.0)
    gx = cv2.Sobel(sm, cv2.CV_32F, 1, 0, ksize=3)[ys, xs]
    gy = cv2.Sobel(sm, cv2.CV_32F, 0, 1, ksize=3)[ys, xs]
    n = np.hypot(gx, gy)
    ok = n > 1e-6
    ys, xs, gx, gy, n = ys[ok], xs[ok], gx[ok], gy[ok], n[ok]
    if len(ys) == 0:
        return np.zeros(0, np.float32)
    nx, ny = gx / n, gy / n
    s = np.arange(-radius, radius + step / 2, step, dtype=np.float32)
    mx = (xs[:, None] + nx[:, None] * s[None, :]).astype(np.float32)
    my = (ys[:, None] + ny[:, None] * s[None, :]).astype(np.float32)
    prof = cv2.remap(L, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    p0 = prof[:, :4].mean(1)
    p1 = prof[:, -4:].mean(1)
    c = p1 - p0
    keep = np.abs(c) >= min_contrast
    if not keep.any():
        return np.zeros(0, np.float32)
    u = (prof[keep] - p0[keep, None]) / c[keep, None]
    return (((u > 0.1) & (u < 0.9)).sum(1) * step).astype(np.float32)


def edge_crispness(lab: np.ndarray) -> dict[str, float]:
    """Median and 90th percentile of :func:`edge_widths` (px; NaN when the frame has no edges)."""
    w = edge_widths(lab)
    if w.size == 0:
        return {"edge_width_px": float("nan"), "edge_width_p90_px": float("nan"), "edge_points": 0}
    return {"edge_width_px": float(np.median(w)), "edge_width_p90_px": float(np.percentile(w, 90)),
            "edge_points": int(w.size)}


# ---------------------------------------------------------------- vectorizability
def trace_and_render(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    """Trace an RGB frame to SVG with vtracer and render it back with cairosvg.

    Returns (rendered RGB uint8 of the same size, composited over white; number of SVG paths).
    vtracer runs with its defaults (colour, stacked, spline). This is the one place to swap
    in the shared tracer of :mod:`vectorwan.vector` later.
    """
    import cairosvg
    import vtracer

    h, w = rgb.shape[:2]
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=1)
    svg = vtracer.convert_raw_image_to_svg(buf.getvalue(), img_format="png", colormode="color",
                                           hierarchical="stacked", mode="spline")
    png = cairosvg.svg2png(bytestring=svg.encode("utf-8"), output_width=w, output_height=h,
                           background_color="white")
    with Image.open(io.BytesIO(png)) as im:
        out = np.asarray(im.convert("RGB"), dtype=np.uint8)
    if out.shape[:2] != (h, w):
        out = cv2.resize(out, (w, h), interpolation=cv2.INTER_AREA)
    return out, svg.count("<path")


def vectorizability(rgb: np.ndarray, max_side: int = TRACE_MAX_SIDE) -> dict[str, float]:
    """Trace → render → compare: ``vec_psnr`` (dB), ``vec_ssim``, ``paths_per_mp``.

    The frame is first area-downscaled to ``max_side`` (tracing photographic texture at 768 px
    takes seconds); paths per megapixel are counted at that traced size.
    """
    h, w = analysis_size(*rgb.shape[:2], max_side)
    img = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != rgb.shape[:2] else rgb
    out, n = trace_and_render(np.ascontiguousarray(img))
    return {"vec_psnr": psnr(img, out), "vec_ssim": ssim(img, out), "paths_per_mp": n / (h * w / 1e6)}


# ---------------------------------------------------------------- per frame / per clip
def frame_style(rgb: np.ndarray, lab: np.ndarray | None = None, trace: bool = True) -> dict[str, float]:
    """Every style metric of one RGB frame (``trace`` adds the slower vectorizability)."""
    lab = to_lab(rgb) if lab is None else lab
    hist = lab_histogram(lab)
    out = {
        "compact8": palette_compactness(lab, 8, hist=hist),
        "compact16": palette_compactness(lab, 16, hist=hist),
        "colours_eff": effective_colours(lab, hist=hist),
    }
    out.update(flatness(lab))
    out.update(edge_crispness(lab))
    if trace:
        out.update(vectorizability(rgb))
    return out


def sample_indices(t: int, n: int) -> list[int]:
    """``n`` frame indices spread evenly over 0..t−1, first and last included (a list, never empty)."""
    return evenly_spaced(max(t, 1), max(n, 1)).tolist()


def style_metrics(frames_rgb: np.ndarray, n_frames: int = 6, n_trace: int = 3) -> dict:
    """Style metrics on ``n_frames`` evenly sampled native frames (vectorizability on
    ``n_trace`` of them); clip value = mean over the sampled frames (NaNs ignored)."""
    idx = sample_indices(len(frames_rgb), n_frames)
    tidx = set(sample_indices(len(frames_rgb), n_trace)) if n_trace > 0 else set()
    tidx = {min(idx, key=lambda i: abs(i - j)) for j in tidx}
    per = [frame_style(frames_rgb[i], trace=i in tidx) for i in idx]
    keys = list(dict.fromkeys(k for p in per for k in p))
    out = {}
    for k in keys:
        v = np.array([p[k] for p in per if k in p], float)
        v = v[np.isfinite(v)]
        out[k] = float(v.mean()) if v.size else float("nan")
    out["edge_points"] = int(out.get("edge_points", 0) * len(per))
    out["frames"] = idx
    out["traced_frames"] = sorted(tidx)
    return out
