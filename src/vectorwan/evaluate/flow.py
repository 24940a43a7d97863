"""Optical flow for the temporal metrics: OpenCV DIS on luminance, forward and backward.

Conventions. ``flow[y, x] = (dx, dy)`` maps a pixel x of frame A to x + flow(x) in frame B,
so that A(x) ≈ B(x + flow(x)) (what ``cv2.DISOpticalFlow.calc(A, B)`` returns).
:func:`warp` samples B at x + flow(x), i.e. brings B back onto A's grid.

Flow is computed on frames downscaled so that their longer side is at most ``max_side``
(default 384 px, area interpolation): DIS on 768² frames costs ~3× more and the warping
error of flat-colour animation is dominated by edges that survive the downscale. Every
magnitude reported outside this module is converted back to native pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
from tqdm.auto import tqdm

DEFAULT_MAX_SIDE = 384
TOP_FRACTION = 0.05  # VBench dynamic degree: mean of the top 5 % flow magnitudes
EDGE_LEVELS = 4.0  # grey levels per px: pixels with a larger luminance gradient carry motion
FLAT_GRAD = 1.0  # ΔE/px (after a σ = 1 px blur): below this a pixel is inside a flat fill
FLAT_MARGIN = 2.0  # px added to the pair's motion when keeping flat pixels away from edges
PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def to_rgb(frames: np.ndarray, background=(255, 255, 255)) -> np.ndarray:
    """uint8 T×H×W×{3,4} (or one H×W×{3,4} frame) → RGB, alpha composited over ``background``."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.shape[-1] not in (3, 4) or frames.ndim not in (3, 4):
        raise ValueError(f"frames must be uint8 [T×]H×W×3|4, got {frames.dtype} {frames.shape}")
    if frames.shape[-1] == 3:
        return frames
    a = frames[..., 3:4].astype(np.float32) / 255.0
    out = frames[..., :3].astype(np.float32) * a + np.asarray(background, np.float32) * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def analysis_size(h: int, w: int, max_side: int | None) -> tuple[int, int]:
    """(h, w) scaled down (never up) so that max(h, w) ≤ max_side; 0/None keeps the size."""
    if not max_side or max(h, w) <= max_side:
        return h, w
    s = max_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-resize every frame of T×H×W×C to ``size`` = (h, w) (no-op when equal)."""
    h, w = size
    if frames.shape[1:3] == (h, w):
        return frames
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])


def luminance(frames_rgb: np.ndarray) -> np.ndarray:
    """Rec.601 luma (what OpenCV's RGB2GRAY computes): uint8 T×H×W from uint8 T×H×W×3."""
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames_rgb])


def make_dis(preset: str = "medium") -> cv2.DISOpticalFlow:
    if preset not in PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; use one of {sorted(PRESETS)}")
    return cv2.DISOpticalFlow_create(PRESETS[preset])


def dis_flow(a: np.ndarray, b: np.ndarray, dis: cv2.DISOpticalFlow | None = None) -> np.ndarray:
    """Dense flow from grey frame ``a`` to ``b`` (uint8 H×W): float32 H×W×2, a(x) ≈ b(x + flow)."""
    dis = dis or make_dis()
    return dis.calc(np.ascontiguousarray(a), np.ascontiguousarray(b), None)


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    gx.flags.writeable = gy.flags.writeable = False
    return gx, gy


def warp(img: np.ndarray, flow: np.ndarray, nearest: bool = False) -> np.ndarray:
    """Sample ``img`` at x + flow(x): Ŵ(x) = img(x + flow(x)), bilinear (or nearest).

    Samples falling outside the frame replicate the border; :func:`occlusion_mask` marks them
    invalid so they never enter a metric.
    """
    h, w = flow.shape[:2]
    gx, gy = _grid(h, w)
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return cv2.remap(img, mx, my, interp, borderMode=cv2.BORDER_REPLICATE)


def occlusion_mask(fwd: np.ndarray, bwd: np.ndarray, motion_boundaries: bool = True) -> np.ndarray:
    """Pixels of frame t whose flow is trustworthy (True = non-occluded), after Ruder et al. 2016.

    With w = fwd(x) (t → t+1) and ŵ = bwd(x + w) (t+1 → t, sampled where x lands), x is
    occluded when the forward–backward check fails:

        |w + ŵ|² > 0.01 (|w|² + |ŵ|²) + 0.5

    or (``motion_boundaries``) when it lies on a motion boundary:

        |∇u|² + |∇v|² > 0.01 |w|² + 0.002

    or when x + w leaves the frame.
    """
    h, w = fwd.shape[:2]
    bw = warp(bwd, fwd)
    fx, fy, bx, by = fwd[..., 0], fwd[..., 1], bw[..., 0], bw[..., 1]
    f2 = fx * fx + fy * fy
    sx, sy = fx + bx, fy + by
    cons = sx * sx + sy * sy <= 0.01 * (f2 + bx * bx + by * by) + 0.5
    gx, gy = _grid(h, w)
    tx, ty = gx + fx, gy + fy
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    valid = cons & inside
    if motion_boundaries:  # central differences, as in Ruder et al.
        k = np.array([[-0.5, 0.0, 0.5]], np.float32)
        grad2 = np.zeros((h, w), np.float32)
        for c in range(2):
            ch = np.ascontiguousarray(fwd[..., c])
            gxc = cv2.filter2D(ch, cv2.CV_32F, k, borderType=cv2.BORDER_REPLICATE)
            gyc = cv2.filter2D(ch, cv2.CV_32F, k.T, borderType=cv2.BORDER_REPLICATE)
            grad2 += gxc * gxc + gyc * gyc
        valid &= grad2 <= 0.01 * f2 + 0.002
    return valid


def normal_flow(flow: np.ndarray, gray: np.ndarray, edge: float = EDGE_LEVELS) -> np.ndarray:
    """|w·n| on the edge pixels of ``gray`` (the frame the flow starts from), 1-D float32.

    n = ∇I/|∇I| (3×3 Sobel / 8), edge pixels: |∇I| > ``edge`` grey levels per pixel. Along an
    edge only the motion across it is observable (aperture problem); on flat-colour frames
    DIS fills the along-edge component by guesswork (3× too large in calibration), so every
    motion statistic uses this normal component. For a translation w, edges of all
    orientations give mean |w·n| ≈ (2/π)|w| and a top 5 % ≈ |w|.
    """
    g = gray.astype(np.float32)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    mag = np.sqrt(gx * gx + gy * gy)
    e = mag > edge
    if not e.any():
        return np.zeros(0, np.float32)
    return np.abs(flow[..., 0][e] * gx[e] + flow[..., 1][e] * gy[e]) / mag[e]


def top_mean(values: np.ndarray, fraction: float = TOP_FRACTION) -> float:
    """Mean of the largest ``fraction`` of ``values`` (VBench's per-pair motion score); 0 if empty."""
    v = np.asarray(values, np.float32).ravel()
    if v.size == 0:
        return 0.0
    k = max(1, int(v.size * fraction))
    return float(np.partition(v, v.size - k)[-k:].mean())


def colour_gradient(lab: np.ndarray) -> np.ndarray:
    """|∇Lab| in ΔE per pixel: sqrt(Σ_c (∂x C)² + (∂y C)²) with 3×3 Sobel / 8."""
    g2 = np.zeros(lab.shape[:2], np.float32)
    for c in range(3):
        ch = np.ascontiguousarray(lab[..., c])
        gx = cv2.Sobel(ch, cv2.CV_32F, 1, 0, ksize=3) / 8.0
        gy = cv2.Sobel(ch, cv2.CV_32F, 0, 1, ksize=3) / 8.0
        g2 += gx * gx + gy * gy
    return np.sqrt(g2)


def colour_edges(lab: np.ndarray, thresh: float = FLAT_GRAD) -> np.ndarray:
    """Pixels that are not inside a flat fill: |∇Lab| > ``thresh`` ΔE/px after a σ = 1 px blur
    (:func:`colour_gradient`, all three channels, so isoluminant edges count)."""
    return colour_gradient(cv2.GaussianBlur(lab, (0, 0), 1.0)) > thresh


def flat_interior(edges_t: np.ndarray, edges_t1: np.ndarray, radius: float) -> np.ndarray:
    """Pixels farther than ``radius`` px from every edge of frame t and of frame t+1."""
    free = (~(edges_t | edges_t1)).astype(np.uint8)
    if not free.any():
        return np.zeros(free.shape, bool)
    return cv2.distanceTransform(free, cv2.DIST_L2, 3) > radius


@dataclass
class ClipFlow:
    """Flows of a clip at analysis resolution.

    ``fwd[t]`` maps frame t → t+1, ``valid[t]`` is the mask of frame-t pixels that enter the
    warping metrics for that pair, ``flat[t]`` the share of them handled by the flat-fill rule
    (see :func:`clip_flows`), ``motion[t]`` = (mean, top-5 % mean) of the normal flow
    :func:`normal_flow` of the DIS flow, ``scale`` = native px per analysis px (≥ 1).
    """

    fwd: np.ndarray  # float32 (T-1)×h×w×2
    valid: np.ndarray  # bool (T-1)×h×w
    scale: float
    flat: np.ndarray | None = None  # float (T-1,)
    motion: np.ndarray | None = None  # (T-1)×2: mean and top-5 % normal flow per pair (analysis px)


PROGRESS_PAIRS = 500  # a clip this long (tens of seconds of flow) shows a progress bar


def clip_flows(gray: np.ndarray, scale: float = 1.0, preset: str = "medium",
               lab: np.ndarray | None = None) -> ClipFlow:
    """Forward and backward DIS flow for every consecutive pair of grey frames (T×h×w uint8).

    Only the forward flow and the validity mask are kept. valid = non-occluded by the
    forward–backward check (:func:`occlusion_mask`).

    Flat-fill rule (with ``lab``, the same frames in Lab): inside a flat fill motion is
    unobservable, and a 1-level change of a fill's brightness makes DIS invent motion that
    fails the forward–backward check — so a flickering fill would be declared "occluded" and
    vanish from the warping error. Pixels farther than r = top5(|w·n|) + 2 px from every
    colour edge of frames t and t+1 (:func:`colour_edges`) cannot have been crossed by an
    edge, so they keep their fill: their flow is set to 0 and they are valid.
    """
    t, h, w = gray.shape
    dis = make_dis(preset)
    n = max(t - 1, 0)
    fwd = np.empty((n, h, w, 2), np.float32)
    valid = np.empty((n, h, w), bool)
    flat = np.zeros(n)
    motion = np.zeros((n, 2))
    edges = [colour_edges(x) for x in lab] if lab is not None else None
    for i in tqdm(range(n), desc="eval: flow", unit="pair", disable=n < PROGRESS_PAIRS, leave=False):
        f = dis_flow(gray[i], gray[i + 1], dis)
        b = dis_flow(gray[i + 1], gray[i], dis)
        v = occlusion_mask(f, b)
        nf = normal_flow(f, gray[i])
        motion[i] = (float(nf.mean()) if nf.size else 0.0), top_mean(nf)
        if edges is not None:
            r = motion[i, 1] + FLAT_MARGIN
            m = flat_interior(edges[i], edges[i + 1], r)
            np.multiply(f, (~m)[..., None], out=fwd[i])
            np.logical_or(v, m, out=valid[i])
            flat[i] = np.count_nonzero(m) / m.size
        else:
            fwd[i] = f
            valid[i] = v
    return ClipFlow(fwd, valid, float(scale), flat, motion)
