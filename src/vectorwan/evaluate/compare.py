"""Candidate vs baseline: paired statistics, bootstrap CIs and the headline number.

Clip i of the candidates is paired with clip i of the baselines (same prompt and seed).
Every confidence interval is a percentile bootstrap over pairs (resampling pairs with
replacement, fixed seed), so it is reproducible and assumes nothing about distributions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metric:
    section: str  # "temporal" | "style" | "identity" | "reference"
    key: str
    label: str
    better: str | None  # "lower" | "higher" | None (context, e.g. motion)
    fmt: str = "{:.3f}"
    scale: float = 1.0  # shown as value × scale in report.md (JSON keeps raw values)


METRICS: list[Metric] = [
    Metric("temporal", "e_warp", "E_warp ×10³", "lower", "{:.3f}", 1e3),
    Metric("temporal", "e_warp_L", "E_warp L*", "lower", "{:.2f}"),
    Metric("temporal", "e_warp_a", "E_warp a*", "lower", "{:.2f}"),
    Metric("temporal", "e_warp_b", "E_warp b*", "lower", "{:.2f}"),
    Metric("temporal", "flicker", "flicker (L*)", "lower", "{:.3f}"),
    Metric("temporal", "flicker_global", "global flicker (L*)", "lower", "{:.3f}"),
    Metric("temporal", "vbench_flicker", "VBench flicker", "higher", "{:.4f}"),
    Metric("temporal", "motion_px", "motion (px/frame)", None, "{:.2f}"),
    Metric("temporal", "motion_net_px", "net motion (px/frame)", None, "{:.2f}"),
    Metric("temporal", "motion_top5_px", "motion top-5 % (px)", None, "{:.2f}"),
    Metric("temporal", "valid", "non-occluded share", None, "{:.3f}"),
    Metric("style", "compact8", "compactness@8", "higher", "{:.3f}"),
    Metric("style", "compact16", "compactness@16", "higher", "{:.3f}"),
    Metric("style", "colours_eff", "effective colours", "lower", "{:.1f}"),
    Metric("style", "flatness", "flatness", "higher", "{:.3f}"),
    Metric("style", "edge_width_px", "edge width (px)", "lower", "{:.2f}"),
    Metric("style", "vec_psnr", "vector PSNR (dB)", "higher", "{:.2f}"),
    Metric("style", "vec_ssim", "vector SSIM", "higher", "{:.3f}"),
    Metric("style", "paths_per_mp", "paths / MP", "lower", "{:.0f}"),
    Metric("identity", "palette_drift_first", "palette drift vs first (ΔE)", "lower", "{:.2f}"),
    Metric("identity", "palette_drift_step", "palette drift step (ΔE)", "lower", "{:.2f}"),
    Metric("identity", "layer_iou_warp", "layer IoU warped", "higher", "{:.3f}"),
    Metric("identity", "layer_iou_first", "layer IoU vs first", "higher", "{:.3f}"),
    Metric("identity", "layer_area_drift", "layer area drift", "lower", "{:.4f}"),
    Metric("reference", "ref_palette_de", "palette ΔE to reference", "lower", "{:.2f}"),
    Metric("reference", "ref_edge_dist", "edge distance to reference", "lower", "{:.3f}"),
]

MOTION_TOLERANCE = 1.5  # pairs are "at matched motion" when their motion ratio is within [1/1.5, 1.5]
MOTION_FLOOR = 0.5  # px/frame (native): slower net motion counts as this, i.e. all near-static clips match


def metric_value(result: dict, m: Metric) -> float:
    """The value of metric ``m`` in one clip's result (NaN when absent or skipped)."""
    sec = result.get(m.section)
    v = sec.get(m.key) if isinstance(sec, dict) else None
    return float(v) if isinstance(v, (int, float)) and v is not None else float("nan")


def bootstrap_ci(stat, n: int, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of a statistic over ``n`` paired samples.

    ``stat`` is vectorised: it takes an index matrix (``n_boot`` × n, each row a resample of
    range(n) with replacement) and returns ``n_boot`` values; NaN resamples are dropped.
    Returns (lo, hi) = the (1 − level)/2 and (1 + level)/2 quantiles; NaN if nothing is finite.
    """
    rng = np.random.default_rng(seed)
    with np.errstate(divide="ignore", invalid="ignore"):
        vals = np.asarray(stat(rng.integers(0, n, (n_boot, n))), float)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return float("nan"), float("nan")
    a = (1.0 - level) / 2.0
    return float(np.quantile(vals, a)), float(np.quantile(vals, 1.0 - a))


def _ratio_of_means(c: np.ndarray, b: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """c[idx].mean(-1) / b[idx].mean(-1) − 1, NaN where the baseline mean is 0."""
    cm, bm = c[idx].mean(-1), b[idx].mean(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.abs(bm) > 1e-12, cm / bm - 1.0, np.nan)


def paired(cand: list[float], base: list[float], better: str | None, n_boot: int = 2000, seed: int = 0) -> dict:
    """Paired comparison of one metric over clips.

    With c_i, b_i the candidate and baseline values of pair i (pairs with a NaN dropped):
    ``diff`` = mean_i (c_i − b_i) with a bootstrap CI; ``rel`` = mean c / mean b − 1 (ratio of
    means) with a bootstrap CI; ``wins``/``losses``/``ties``: pairs where the candidate is
    better/worse/equal in the metric's direction (``better``).
    """
    c, b = np.asarray(cand, float), np.asarray(base, float)
    ok = np.isfinite(c) & np.isfinite(b)
    c, b = c[ok], b[ok]
    n = int(c.size)
    out = {"n": n, "cand_mean": _mean(c), "base_mean": _mean(b), "diff": float("nan"),
           "diff_ci": [float("nan")] * 2, "rel": float("nan"), "rel_ci": [float("nan")] * 2,
           "wins": 0, "losses": 0, "ties": 0, "better": better}
    if n == 0:
        return out
    d = c - b
    out["diff"] = float(d.mean())
    out["diff_ci"] = list(bootstrap_ci(lambda i: d[i].mean(-1), n, n_boot, seed))
    out["rel"] = float(_ratio_of_means(c, b, np.arange(n)))
    out["rel_ci"] = list(bootstrap_ci(lambda i: _ratio_of_means(c, b, i), n, n_boot, seed))
    if better:
        sign = -1.0 if better == "lower" else 1.0
        s = np.sign(d * sign)
        tie = np.isclose(c, b, rtol=1e-9, atol=1e-12)
        out["wins"], out["losses"], out["ties"] = int(((s > 0) & ~tie).sum()), int(((s < 0) & ~tie).sum()), int(tie.sum())
    return out


def headline(e_cand: list[float], e_base: list[float], m_cand: list[float], m_base: list[float],
             tolerance: float = MOTION_TOLERANCE, n_boot: int = 2000, seed: int = 0) -> dict:
    """Temporal-consistency improvement: relative reduction of E_warp versus the baseline at
    matched motion.

    Pairs are matched when r_i = max(m_c,i, f) / max(m_b,i, f) ∈ [1/τ, τ] (m = net motion
    ``motion_net_px``, i.e. jitter does not count as motion; f = ``MOTION_FLOOR`` px,
    τ = ``tolerance``). Over the matched set M:

        improvement = 1 − Σ_{i∈M} E_warp(c_i) / Σ_{i∈M} E_warp(b_i)

    (> 0: the candidate's warping error is lower). 95 % CI by bootstrap over M. ``value`` is
    None when no pair is matched or the baseline error is 0.
    """
    ec, eb, mc, mb = (np.asarray(x, float) for x in (e_cand, e_base, m_cand, m_base))
    ok = np.isfinite(ec) & np.isfinite(eb) & np.isfinite(mc) & np.isfinite(mb)
    r = np.maximum(mc, MOTION_FLOOR) / np.maximum(mb, MOTION_FLOOR)
    matched = ok & (r >= 1.0 / tolerance) & (r <= tolerance)
    out = {"definition": "improvement = 1 − Σ E_warp(candidate) / Σ E_warp(baseline) over pairs at matched motion",
           "tolerance": tolerance, "pairs": int(ok.sum()), "matched": int(matched.sum()),
           "excluded": [int(i) for i in np.nonzero(ok & ~matched)[0]], "motion_ratio": [float(x) for x in r],
           "value": None, "ci": None, "reason": None}
    if not matched.any():
        out["reason"] = "no pair at matched motion" if ok.any() else "no pair with temporal metrics"
        return out
    c, b = ec[matched], eb[matched]
    if b.sum() <= 0:
        out["reason"] = "baseline warping error is 0 on the matched pairs"
        return out
    stat = lambda i: -_ratio_of_means(c, b, i)  # noqa: E731  (1 − Σc/Σb = −(mean c / mean b − 1))
    out["value"] = float(stat(np.arange(len(c)))) + 0.0  # + 0.0: no "-0.0 %"
    out["ci"] = [v + 0.0 for v in bootstrap_ci(stat, len(c), n_boot, seed)]
    return out


def aggregate(results: list[dict]) -> dict:
    """Per metric over clips: n, mean, median, std, min, max (NaNs ignored)."""
    out = {}
    for m in METRICS:
        v = np.array([metric_value(r, m) for r in results], float)
        v = v[np.isfinite(v)]
        if v.size:
            out[m.key] = {"n": int(v.size), "mean": float(v.mean()), "median": float(np.median(v)),
                          "std": float(v.std()), "min": float(v.min()), "max": float(v.max())}
    return out


def compare(cands: list[dict], bases: list[dict], n_boot: int = 2000, seed: int = 0,
            tolerance: float = MOTION_TOLERANCE) -> dict:
    """Paired statistics of every metric plus the headline (see :func:`headline`)."""
    val = lambda rs, key, sec="temporal": [metric_value(r, Metric(sec, key, "", None)) for r in rs]  # noqa: E731
    per_metric = {m.key: paired([metric_value(r, m) for r in cands], [metric_value(r, m) for r in bases],
                                m.better, n_boot, seed) for m in METRICS}
    per_metric = {k: v for k, v in per_metric.items() if v["n"] > 0}
    head = headline(val(cands, "e_warp"), val(bases, "e_warp"), val(cands, "motion_net_px"),
                    val(bases, "motion_net_px"), tolerance, n_boot, seed)
    return {"headline": head, "metrics": per_metric}


def _mean(a: np.ndarray) -> float:
    return float(a.mean()) if a.size else float("nan")
