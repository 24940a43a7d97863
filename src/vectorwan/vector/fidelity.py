"""Fidelity report: how close the vector frames are to their source.

Each frame's SVG is rendered back (cairosvg) and compared with the source frame composited
over the same background: PSNR and SSIM, plus path count and bytes; the summary adds the
palette size and how much the path count varies over time (a flicker indicator for shapes).
"""

from __future__ import annotations

import cv2
import numpy as np


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio (dB) between two uint8 images; 100 for identical images."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 100.0 if mse <= 1e-10 else float(10.0 * np.log10(255.0 ** 2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004; Gaussian window σ=1.5), mean over channels."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for ch in range(a.shape[-1]):
        x, y = a[..., ch], b[..., ch]
        blur = lambda z: cv2.GaussianBlur(z, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT)  # noqa: E731
        mx, my = blur(x), blur(y)
        sxx = blur(x * x) - mx * mx
        syy = blur(y * y) - my * my
        sxy = blur(x * y) - mx * my
        m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
        vals.append(float(m.mean()))
    return float(np.mean(vals))


def frame_metrics(rendered: np.ndarray, source: np.ndarray) -> dict:
    """PSNR and SSIM of a rendered frame against its source (both uint8 H×W×3)."""
    return {"psnr": round(psnr(rendered, source), 3), "ssim": round(ssim(rendered, source), 5)}


def _stats(x) -> dict:
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return {}
    return {"mean": round(float(x.mean()), 4), "min": round(float(x.min()), 4), "max": round(float(x.max()), 4)}


def summarize(per_frame: list[dict], palette_size: int) -> dict:
    """Clip-level summary of per-frame records (keys psnr, ssim, paths, bytes)."""
    out: dict = {"frames": len(per_frame), "palette_size": int(palette_size)}
    for key in ("psnr", "ssim", "paths", "bytes"):
        vals = [r[key] for r in per_frame if r.get(key) is not None]
        if vals:
            out[key] = _stats(vals)
    paths = np.array([r["paths"] for r in per_frame if "paths" in r], np.float64)
    if paths.size:
        mean = paths.mean()
        out["path_count_variation"] = {
            "std": round(float(paths.std()), 4),
            "cv": round(float(paths.std() / mean), 4) if mean > 0 else 0.0,
            "mean_abs_change": round(float(np.abs(np.diff(paths)).mean()), 4) if paths.size > 1 else 0.0,
        }
    out["bytes_total"] = int(sum(r.get("bytes", 0) for r in per_frame))
    return out
