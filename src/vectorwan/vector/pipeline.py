"""Clip → palette → traced frames → tracked shapes → fidelity, in memory (no files).

:func:`vectorize_clip` is the whole layer-wise pipeline: colour (one palette locked over the
clip), shape (per-colour tracing of each frame, in parallel over frames) and motion (stable
shape ids). :func:`vectorwan.vector.files.vectorize_file` reads a file and writes the result;
tests and other modules can call this directly.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from vectorwan.colour import to_lab
from vectorwan.frames import evenly_spaced
from vectorwan.vector import fidelity
from vectorwan.vector.palette import (AUTO_MAX_COLORS, TRANSPARENT, Palette, Quantizer, detect_background, fit_palette,
                                      sample_colors, stacking_order)
from vectorwan.vector.trace import (WHITE, TraceCache, TracedFrame, TraceOptions, label_frame, render_svg, split_alpha,
                                    svg_document, trace_labels)
from vectorwan.vector.track import TrackStats, assign_shape_ids

BACKGROUND_MODES = ("auto", "transparent", "layer", "none")
ORDERS = ("luminance", "area", "greedy")
MAX_TRACE_SIDE = 8192  # upscaled trace size limit; the scale is lowered to stay under it


@dataclass
class VectorizeOptions:
    colors: int | None = None  # palette size; None = automatic
    max_colors: int = AUTO_MAX_COLORS
    order: str = "luminance"
    background: str = "auto"
    trace: TraceOptions = field(default_factory=TraceOptions)
    fidelity: bool = True
    jobs: int = 0  # 0 = one per CPU core (at most 8)
    seed: int = 0
    fit_on: str = "auto"  # palette fitted on "all" opaque pixels or on "solid" ones (no anti-aliasing
    # blends); auto: solid when the palette size is automatic, all when it is given


@dataclass
class VectorizeResult:
    palette: Palette
    frames: list[TracedFrame]
    labels: np.ndarray  # T×H×W uint8 palette indices at source size (255 = transparent)
    fps: float
    width: int
    height: int
    has_alpha: bool
    background_rect: bool  # the background is kept as its own bottom layer
    matte: tuple[int, int, int]  # colour the transparent parts are judged against
    fidelity: list[dict]
    tracking: TrackStats
    trace: TraceOptions
    seconds: dict

    def locked_frames(self) -> np.ndarray:
        """Palette-locked raster frames: RGBA (alpha 0/255) for an RGBA source, else RGB over the matte."""
        colors = np.vstack([self.palette.colors, np.zeros((256 - len(self.palette), 3), np.uint8)])
        rgb = colors[self.labels]
        transparent = self.labels == TRANSPARENT
        if self.has_alpha:
            alpha = np.where(transparent, 0, 255).astype(np.uint8)
            return np.concatenate([rgb, alpha[..., None]], -1)
        rgb[transparent] = self.matte
        return rgb

    def summary(self) -> dict:
        out = fidelity.summarize(self.fidelity, len(self.palette)) if self.fidelity else {
            "frames": len(self.frames), "palette_size": len(self.palette)}
        out["paths_total"] = int(sum(f.path_count for f in self.frames))
        return out


# ----------------------------------------------------------------------------- palette
def build_palette(frames: np.ndarray, opts: VectorizeOptions) -> Palette:
    """One palette for the clip, in stacking order, plus the detected background colour."""
    t = len(frames)
    rgb_frames, opaque = [], []
    has_alpha = frames.shape[-1] == 4
    for f in frames[evenly_spaced(t, 16)]:
        rgb, a = split_alpha(f)
        rgb_frames.append(rgb)
        opaque.append(a >= opts.trace.alpha_threshold if a is not None else np.ones(rgb.shape[:2], bool))
    rgb_frames, opaque = np.stack(rgb_frames), np.stack(opaque)
    bg = None
    if not has_alpha and opts.background != "none":
        bg = detect_background(rgb_frames)
    k = opts.colors
    if bg is not None:
        # the background colour is kept exactly; the others are fitted on everything else
        de = np.linalg.norm(to_lab(rgb_frames) - to_lab(np.asarray(bg, np.uint8)), axis=-1)
        opaque &= de > 6.0
        k = None if k is None else k - 1
    skip = opts.fit_on == "solid" or (opts.fit_on == "auto" and k is None)
    colors, weights = sample_colors(rgb_frames, opaque, seed=opts.seed, skip_blends=skip)
    if len(colors):
        if k is None:
            pal = fit_palette(colors, weights, None, max_colors=opts.max_colors - (bg is not None), seed=opts.seed)
        else:
            pal = fit_palette(colors, weights, max(k, 1), seed=opts.seed)
    else:
        pal = np.zeros((0, 3), np.uint8)
    if bg is not None:
        bgc = np.asarray(bg, np.uint8)[None]
        pal = np.vstack([pal[np.linalg.norm(to_lab(pal) - to_lab(bgc), axis=-1) >= 1.0], bgc]) if len(pal) else bgc
    if len(pal) == 0:  # fully transparent clip: one colour so that the palette is never empty
        pal = np.array([[0, 0, 0]], np.uint8)
    order = stacking_order(pal)
    if opts.order != "luminance":
        sample = np.stack([label_frame(f, Palette(pal, background=bg), scale=1, background=opts.background,
                                       opts=opts.trace)
                           for f in frames[evenly_spaced(t, 4)]])
        order = stacking_order(pal, sample, opts.order)
    return Palette(pal[order], background=bg, order=opts.order)


# ----------------------------------------------------------------------------- per-frame work
_STATE: dict = {}


def _die_with_parent(parent: int) -> None:
    """Linux: this worker gets SIGTERM when the process that started it dies, even by SIGKILL, so a
    killed `vectorize` leaves no workers behind (elsewhere: a no-op)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(state: dict, worker_process: bool = True, parent: int | None = None) -> None:
    if worker_process:  # parallelism comes from the processes: one OpenCV thread each
        import cv2

        cv2.setNumThreads(1)
        if parent is not None:
            _die_with_parent(parent)
    _STATE.clear()
    _STATE.update(state)
    _STATE["quantizer"] = Quantizer(state["palette"].colors)
    _STATE["cache"] = TraceCache()


def _process_frame(t: int, frame: np.ndarray):
    s = _STATE
    palette, opts, trace = s["palette"], s["options"], s["trace"]
    q = s["quantizer"]
    labels_hi = label_frame(frame, palette, q, scale=trace.scale, background=opts.background, opts=trace)
    traced = trace_labels(labels_hi, len(palette), trace, scale=trace.scale, cache=s["cache"])
    labels = labels_hi if trace.scale == 1 else label_frame(frame, palette, q, scale=1,
                                                             background=opts.background, opts=trace)
    metrics = {"frame": t, "paths": traced.path_count}
    if opts.fidelity:
        svg = svg_document(traced, palette, background_rect=s["background_rect"])
        h, w = frame.shape[:2]
        rendered = render_svg(svg, w, h, background=s["matte"])
        metrics.update(fidelity.frame_metrics(rendered, split_alpha(frame, s["matte"])[0]))
    return traced, labels, metrics


def _jobs(requested: int, n: int) -> int:
    if requested and requested > 0:
        return max(1, min(requested, n))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - non-Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8, n))


def vectorize_clip(frames: np.ndarray, fps: float, options: VectorizeOptions | None = None) -> VectorizeResult:
    """Run the whole pipeline on T×H×W×3|4 uint8 frames."""
    opts = options or VectorizeOptions()
    if opts.background not in BACKGROUND_MODES:
        raise ValueError(f"background must be one of {BACKGROUND_MODES}")
    if opts.order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    t_all = time.perf_counter()
    n, h, w = frames.shape[:3]
    trace = opts.trace
    if max(h, w) * trace.scale > MAX_TRACE_SIDE:
        trace = replace(trace, scale=max(1, MAX_TRACE_SIDE // max(h, w)))
    has_alpha = frames.shape[-1] == 4

    t0 = time.perf_counter()
    palette = build_palette(frames, opts)
    t_palette = time.perf_counter() - t0
    background_rect = palette.background is not None and opts.background == "layer"
    matte = tuple(palette.background) if (palette.background is not None and not has_alpha) else WHITE

    state = {"palette": palette, "options": opts, "trace": trace,
             "background_rect": background_rect, "matte": matte}
    jobs = _jobs(opts.jobs, n)
    t0 = time.perf_counter()
    if jobs == 1:
        _init_worker(state, worker_process=False)
        results = [_process_frame(i, frames[i]) for i in range(n)]
    else:

        # spawn, not fork: a forked child can inherit OpenCV's thread pool mid-lock and hang
        chunk = max(1, n // (jobs * 4))  # contiguous runs of frames: the trace cache sees neighbours
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                 initargs=(state, True, os.getpid())) as ex:
            results = list(ex.map(_process_frame, range(n), frames, chunksize=chunk))
    t_frames = time.perf_counter() - t0

    traced = [r[0] for r in results]
    labels = np.stack([r[1] for r in results])
    metrics = [r[2] for r in results]
    t0 = time.perf_counter()
    stats = assign_shape_ids(traced)
    t_track = time.perf_counter() - t0
    for m, fr in zip(metrics, traced):
        m["bytes"] = len(svg_document(fr, palette, background_rect=background_rect).encode("utf-8"))
    return VectorizeResult(palette=palette, frames=traced, labels=labels, fps=float(fps), width=w, height=h,
                           has_alpha=has_alpha, background_rect=background_rect, matte=matte,
                           fidelity=metrics if opts.fidelity else [], tracking=stats, trace=trace,
                           seconds={"palette": round(t_palette, 3), "frames": round(t_frames, 3),
                                    "tracking": round(t_track, 3), "jobs": jobs,
                                    "total": round(time.perf_counter() - t_all, 3)})
