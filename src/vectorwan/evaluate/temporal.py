"""Temporal consistency: warping error, flicker and motion, from DIS flow.

All functions take frames already at analysis resolution (see :mod:`.flow`) unless named
otherwise; motion magnitudes are returned in *native* pixels per frame (× ``flow.scale``).
"""

from __future__ import annotations

import cv2
import numpy as np

from vectorwan.errors import UserError
from vectorwan.evaluate.flow import ClipFlow, dis_flow, make_dis, normal_flow, top_mean, warp  # noqa: F401

VBENCH_TARGET_FPS = 8.0  # VBench samples frames at ~8 fps before computing flow
STATIC_FACTOR = 1.0 / 12.0  # static ⇔ mean top-5 % magnitude < thres/12 (0.5 px at 256 px)


def require_frames(n: int, what: str = "temporal metrics", source: str = "") -> None:
    """Raise a one-line :class:`UserError` when a clip has fewer than 2 frames."""
    if n < 2:
        where = f"{source}: " if source else ""
        raise UserError(f"{where}{what} need at least 2 frames, got {n}; give a clip, not a still")


def stack_channels(rgb: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame as (RGB float32 scaled to [0, 1], Lab float32), the inputs of :func:`pair_errors`."""
    x = rgb.astype(np.float32)
    x *= np.float32(1.0 / 255.0)
    return x, np.ascontiguousarray(lab, dtype=np.float32)


def pair_errors(x_t: tuple[np.ndarray, np.ndarray], x_t1: tuple[np.ndarray, np.ndarray], fwd: np.ndarray,
                valid: np.ndarray) -> dict[str, float]:
    """Warping residuals of one pair (t, t+1) over the non-occluded pixels M of frame t.

    ``x_t``, ``x_t1``: frames from :func:`stack_channels`. With Ŵ = frame t+1 warped onto t
    by the forward flow and N = Σ M:

    - ``e_warp``   = 1/(3N) Σ_x M(x) ‖V_t(x) − Ŵ(x)‖²   (RGB scaled to [0, 1]; Lai et al. 2018)
    - ``e_warp_L|a|b`` = 1/N Σ_x M(x) (C_t(x) − Ĉ(x))²   per CIE Lab channel C (units²)
    - ``flicker``  = 1/N Σ_x M(x) |L_t(x) − L̂(x)|       flow-compensated luminance change (L*)
    - ``flicker_global`` = |1/N Σ_x M(x) (L_t(x) − L̂(x))|  global brightness pumping (L*)
    - ``valid``    = N / (h·w)                           share of pixels that entered the means

    With no valid pixel every value is NaN.
    """
    n = int(np.count_nonzero(valid))
    out = {"valid": n / valid.size}
    if n == 0:
        out.update({k: float("nan") for k in ("e_warp", "e_warp_L", "e_warp_a", "e_warp_b", "flicker", "flicker_global")})
        return out
    mask = valid.view(np.uint8) if valid.dtype == bool else (valid > 0).astype(np.uint8)
    (rgb_t, lab_t), (rgb_t1, lab_t1) = x_t, x_t1
    out["e_warp"] = cv2.norm(rgb_t, warp(rgb_t1, fwd), cv2.NORM_L2SQR, mask) / (3.0 * n)
    d = lab_t - warp(lab_t1, fwd)
    sq = cv2.mean(d * d, mask)
    out["e_warp_L"], out["e_warp_a"], out["e_warp_b"] = (float(v) for v in sq[:3])
    dl = np.ascontiguousarray(d[..., 0])
    out["flicker"] = cv2.norm(dl, cv2.NORM_L1, mask) / n
    out["flicker_global"] = abs(cv2.mean(dl, mask)[0])
    return out


def vbench_flicker_score(frames_rgb: np.ndarray) -> float:
    """VBench ``temporal_flickering``: (255 − mean_t mean_x,c |F_t − F_{t+1}|) / 255, native frames.

    1 for a perfectly static clip; only meaningful for clips that are static (VBench applies it
    to static prompts only): the report shows it next to the ``static`` flag.
    """
    require_frames(len(frames_rgb), "the flicker score")
    frames_rgb = np.ascontiguousarray(frames_rgb)
    diffs = [float(np.mean(cv2.mean(cv2.absdiff(frames_rgb[i], frames_rgb[i + 1]))[:frames_rgb.shape[-1]]))
             for i in range(len(frames_rgb) - 1)]
    return float((255.0 - np.mean(diffs)) / 255.0)


def compose(flows: np.ndarray) -> np.ndarray:
    """Chain consecutive flows: w_{a→c}(x) = w_{a→b}(x) + w_{b→c}(x + w_{a→b}(x))."""
    out = flows[0].copy()
    for f in flows[1:]:
        out += warp(f, out)
    return out


NET_WINDOW_S = 0.5  # seconds over which net motion is measured


def net_motion(flows: np.ndarray, gray: np.ndarray, window: int) -> list[float]:
    """Net motion per frame over non-overlapping windows of ``window`` frames (analysis px).

    For windows [a, a+W]: mean over edge pixels of frame a of |w_{a→a+W}·n| / W, with the
    window flow composed from consecutive flows (:func:`compose`). A steady motion of v
    px/frame keeps its value; zero-mean jitter of amplitude j adds only ~j/W, so this is the
    motion that consistency is compared at (per-frame ``motion_px`` counts jitter too).
    """
    n = len(flows)
    window = max(1, min(window, n))
    out = []
    for a in range(0, n - window + 1, window):
        nf = normal_flow(compose(flows[a:a + window]), gray[a])
        out.append(float(nf.mean()) / window if nf.size else 0.0)
    return out


def dynamic_degree(gray: np.ndarray, fps: float, scale: float = 1.0, flows: np.ndarray | None = None,
                   preset: str = "medium", top5: np.ndarray | None = None) -> dict:
    """DIS-based dynamic degree, VBench's rule with DIS in place of RAFT (so not identical to VBench).

    Frames are sampled every s = max(1, round(fps/8)) frames (~8 fps). For each sampled pair,
    score = mean of the top 5 % normal-flow magnitudes |w·n| over edge pixels (see
    :func:`normal_flow`; VBench takes |w| over all pixels, which DIS cannot give reliably on
    flat colour). With m = min(h, w) of the analysed frames,
    thres = 6·m/256 and need = max(1, round(4·n/16)) for n sampled frames, the clip is
    *dynamic* when at least ``need`` pairs have score > thres. ``flows`` (consecutive forward
    flows) and ``top5`` (their scores, s = 1) are reused: for s > 1 the flow i → i+s is their
    composition w(x) = w₁(x) + w₂(x + w₁(x)) + … (:func:`compose`), which saves DIS calls.
    ``static`` = mean score < thres/12 (0.5 px on a 256-px frame). Scores are returned in
    native pixels (× ``scale``).
    """
    require_frames(len(gray), "the dynamic degree")
    stride = max(1, int(round(fps / VBENCH_TARGET_FPS)))
    idx = list(range(0, len(gray), stride))
    if len(idx) < 2:
        idx = [0, len(gray) - 1]
    if stride == 1 and top5 is not None and len(top5) == len(gray) - 1:
        scores = [float(x) for x in top5]
    elif flows is not None:
        scores = [top_mean(normal_flow(compose(flows[i:j]), gray[i])) for i, j in zip(idx[:-1], idx[1:])]
    else:
        dis = make_dis(preset)
        scores = [top_mean(normal_flow(dis_flow(gray[i], gray[j], dis), gray[i])) for i, j in zip(idx[:-1], idx[1:])]
    m = min(gray.shape[1:3])
    thres = 6.0 * m / 256.0
    need = max(1, int(round(4 * len(idx) / 16.0)))
    moving = sum(s > thres for s in scores)
    return {
        "dynamic": bool(moving >= need),
        "pairs_moving": int(moving),
        "pairs_needed": need,
        "pairs": len(scores),
        "stride": stride,
        "threshold_px": thres * scale,
        "score_px": [s * scale for s in scores],
        "static": bool(np.mean(scores) < thres * STATIC_FACTOR),
    }


def temporal_metrics(rgb: np.ndarray, lab: np.ndarray, gray: np.ndarray, flow: ClipFlow, fps: float,
                     native_rgb: np.ndarray | None = None, preset: str = "medium") -> dict:
    """All temporal metrics of one clip (analysis-resolution ``rgb``/``lab``/``gray``).

    Returns clip means (over pairs) and per-pair curves:
    ``e_warp``, ``e_warp_L/a/b``, ``flicker``, ``flicker_global``, ``valid``, ``motion_px``
    (mean normal flow |w·n| over edge pixels, native px/frame, see :func:`normal_flow`),
    ``motion_rel`` (= motion_px / native min side), ``motion_net_px`` (net motion over
    ~0.5 s windows, jitter removed, see :func:`net_motion`), ``motion_top5_px`` and ``dynamic`` (see
    :func:`dynamic_degree`), and ``vbench_flicker`` on ``native_rgb`` (or ``rgb``).
    """
    require_frames(len(rgb))
    per = {k: [] for k in ("e_warp", "e_warp_L", "e_warp_a", "e_warp_b", "flicker", "flicker_global", "valid")}
    motion, top = [], []
    nxt = stack_channels(rgb[0], lab[0])
    for t in range(len(rgb) - 1):
        cur, nxt = nxt, stack_channels(rgb[t + 1], lab[t + 1])
        e = pair_errors(cur, nxt, flow.fwd[t], flow.valid[t])
        for k in per:
            per[k].append(e[k])
        if flow.motion is not None:
            m, tp = flow.motion[t]
        else:
            nf = normal_flow(flow.fwd[t], gray[t])
            m, tp = (float(nf.mean()) if nf.size else 0.0), top_mean(nf)
        motion.append(float(m) * flow.scale)
        top.append(float(tp) * flow.scale)
    dyn = dynamic_degree(gray, fps, flow.scale, flows=flow.fwd, preset=preset,
                         top5=None if flow.motion is None else flow.motion[:, 1])
    window = max(2, int(round(fps * NET_WINDOW_S)))
    net = net_motion(flow.fwd, gray, window)
    out = {k: _nanmean(v) for k, v in per.items()}
    if flow.flat is not None:
        out["flat_share"] = float(np.mean(flow.flat))
    out.update({
        "motion_px": float(np.mean(motion)),
        "motion_rel": float(np.mean(motion)) / (min(gray.shape[1:3]) * flow.scale),
        "motion_top5_px": float(np.mean(top)),
        "motion_net_px": float(np.mean(net)) * flow.scale,
        "net_window": min(window, len(flow.fwd)),
        "dynamic": dyn["dynamic"],
        "static": dyn["static"],
        "vbench_flicker": vbench_flicker_score(native_rgb if native_rgb is not None else rgb),
        "dynamic_detail": {k: v for k, v in dyn.items() if k not in ("dynamic", "static")},
        "per_pair": {**per, "motion_px": motion, "motion_top5_px": top},
    })
    return out


def _nanmean(v) -> float:
    a = np.asarray(v, float)
    a = a[np.isfinite(a)]
    return float(a.mean()) if a.size else float("nan")
