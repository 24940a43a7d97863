"""Evaluate one clip: frames in, one dict of metrics out (the unit the report is built from)."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np

from vectorwan.colour import to_lab
from vectorwan.evaluate import flow as fl
from vectorwan.evaluate.identity import identity_metrics, reference_metrics
from vectorwan.evaluate.style import style_metrics
from vectorwan.evaluate.temporal import temporal_metrics

MIN_FLOW_SIDE = 16  # DIS needs a few pyramid levels: smaller frames get no temporal metrics


@dataclass
class Options:
    """Knobs of an evaluation (the defaults are what the report states)."""

    flow_side: int = fl.DEFAULT_MAX_SIDE  # analysis size for flow/temporal/identity (0 = native)
    preset: str = "medium"  # DIS preset
    style_frames: int = 6  # frames sampled for the style metrics
    trace_frames: int = 3  # of which traced for vectorizability
    palette_k: int = 8


@contextlib.contextmanager
def _timed(timing: dict, key: str):
    t0, c0 = time.perf_counter(), time.process_time()
    yield
    timing[key] = {"wall_s": round(time.perf_counter() - t0, 3), "cpu_s": round(time.process_time() - c0, 3)}


def evaluate_frames(frames: np.ndarray, fps: float, opts: Options | None = None,
                    refs: list[dict] | None = None) -> dict:
    """All metrics of one clip (uint8 T×H×W×3|4; alpha composited over white).

    Returns ``{"frames", "size", "fps", "analysis_size", "style", "temporal", "identity",
    "reference", "skipped", "timing"}``; ``temporal``/``identity`` are None for a single
    frame (``skipped`` says why), ``reference`` is None without references.
    """
    opts = opts or Options()
    timing: dict = {}
    rgb = fl.to_rgb(frames)
    t, h, w = rgb.shape[:3]
    out: dict = {"frames": int(t), "size": [int(w), int(h)], "fps": float(fps)}
    with _timed(timing, "style"):
        out["style"] = style_metrics(rgb, opts.style_frames, opts.trace_frames)
    ah, aw = fl.analysis_size(h, w, opts.flow_side)
    out["analysis_size"] = [aw, ah]
    out["temporal"] = out["identity"] = None
    if t < 2:
        out["skipped"] = f"temporal and identity metrics need at least 2 frames, got {t}"
    elif min(ah, aw) < MIN_FLOW_SIDE:
        out["skipped"] = (f"temporal and identity metrics need frames of at least {MIN_FLOW_SIDE} px, "
                          f"got {w}×{h}")
    else:
        out["skipped"] = None
        with _timed(timing, "prepare"):
            small = fl.resize_frames(rgb, (ah, aw))
            scale = max(h, w) / max(ah, aw)
            gray = fl.luminance(small)
            lab = to_lab(small)
        with _timed(timing, "flow"):
            flows = fl.clip_flows(gray, scale, opts.preset, lab=lab)
        with _timed(timing, "temporal"):
            out["temporal"] = temporal_metrics(small, lab, gray, flows, fps, native_rgb=rgb, preset=opts.preset)
        with _timed(timing, "identity"):
            out["identity"] = identity_metrics(lab, flows, opts.palette_k, rgb=small)
        del flows, lab, small
    out["reference"] = None
    if refs:
        with _timed(timing, "reference"):  # every frame (≤ 256 px each: ~10 ms a frame)
            out["reference"] = reference_metrics(rgb, refs)
    out["timing"] = timing
    return out
