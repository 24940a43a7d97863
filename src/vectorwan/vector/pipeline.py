"""Clip → palette → pieces → tracked segments → traced keys → animation → fidelity, in memory (no files).

:func:`vectorize_clip` is the whole layer-wise pipeline, in phases (each timed in ``seconds``): colour
(one palette locked over the clip), *label* (every frame quantised at the traced scale and cut into
pieces: one per colour layer per object; in parallel over frames), *track* (per colour layer, pieces
matched over frames into segments, each a key moved by transforms: :mod:`.animate`; in parallel over
layers), *trace* (each distinct key traced once; in parallel), and *fidelity* (each frame as written,
rendered back; in parallel). :func:`vectorwan.vector.files.vectorize_file` reads a file and writes the
result; tests and other modules can call this directly.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import signal
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from vectorwan.colour import to_lab
from vectorwan.frames import evenly_spaced
from vectorwan.vector import fidelity
from vectorwan.vector.palette import (AUTO_MAX_COLORS, TRANSPARENT, Palette, Quantizer, detect_background, fit_palette,
                                      sample_colors, stacking_order)
from vectorwan.vector.animate import LOCAL, Animation, Piece, Segment, finish, track_layer
from vectorwan.vector.trace import (WHITE, TraceCache, TracedFrame, TracedPath, TraceOptions, label_frame, mask_key,
                                    mask_pieces, object_pieces, render_svg, split_alpha, svg_document, trace_mask)

BACKGROUND_MODES = ("auto", "transparent", "layer", "none")
ORDERS = ("luminance", "area", "greedy")
RESAMPLE = 1.0  # source px: how much an object's details change when it is resampled (see _track)
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
    frames: list[TracedFrame]  # each frame as written (views of the animation)
    animation: Animation
    labels: np.ndarray  # T×H×W uint8 palette indices at source size (255 = transparent)
    fps: float
    width: int
    height: int
    has_alpha: bool
    background_rect: bool  # the background is kept as its own bottom layer
    matte: tuple[int, int, int]  # colour the transparent parts are judged against
    fidelity: list[dict]
    tracking: dict  # shapes, segments (= traces), keyframes, mean segment length
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


# ----------------------------------------------------------------------------- the phases' work
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


def _label(frame: np.ndarray):
    """One frame → its palette indices at source size and, at the traced scale, its objects (groups of nearby
    opaque shapes: (x0, y0, shape, zlib-packed labels, TRANSPARENT outside)) and, per colour layer, their
    pieces (bit-packed)."""
    s = _STATE
    palette, opts, trace = s["palette"], s["options"], s["trace"]
    q = s["quantizer"]
    labels_hi = label_frame(frame, palette, q, scale=trace.scale, background=opts.background, opts=trace)
    min_pixels = max(trace.filter_speckle, 1) ** 2
    objects, pieces = [], [[] for _ in range(len(palette))]
    for x0, y0, region in mask_pieces(labels_hi != TRANSPARENT, min_pixels):
        h, w = region.shape
        crop = np.where(region, labels_hi[y0:y0 + h, x0:x0 + w], TRANSPARENT).astype(np.uint8)
        objects.append((x0, y0, crop.shape, zlib.compress(crop.tobytes(), 1)))
        for i, px, py, *masks in object_pieces(crop, len(palette), trace.layering, min_pixels):
            pieces[i].append((x0 + px, y0 + py, masks[0].shape, *map(np.packbits, masks)))
    labels = labels_hi if trace.scale == 1 else label_frame(frame, palette, q, scale=1,
                                                             background=opts.background, opts=trace)
    return labels, objects, pieces


def _unpack(x0, y0, shape, packed) -> Piece:
    return Piece(x0, y0, None, labels=np.frombuffer(zlib.decompress(packed), np.uint8).reshape(shape))


def _unpack_bits(x0, y0, shape, *bits) -> Piece:
    return Piece(x0, y0, *(np.unpackbits(b, count=shape[0] * shape[1]).reshape(shape).view(bool) for b in bits))


def _layer_crops(key: Piece, n_colors: int, trace: TraceOptions):
    """A key object's masks per colour layer, tight (:func:`.trace.object_pieces`): [(layer, x0, y0, mask)]."""
    return [(i, key.x0 + x0, key.y0 + y0, mask) for i, x0, y0, mask, *_ in
            object_pieces(key.labels, n_colors, trace.layering, max(trace.filter_speckle, 1) ** 2)]


def _track(per_frame: list[list[Piece]], trace: TraceOptions, size: tuple[int, int]) -> list[Segment]:
    """Objects tracked over the frames (:func:`.animate.track_layer`): segments, each a key moved."""
    h, w = size
    tol = trace.tolerance * trace.scale
    # an object resampled at another scale or turn differs by up to a pixel in its details (a whisker, a
    # highlight): a difference thicker than that, and LOCAL × the tolerance, is a part that changed
    local = (LOCAL * trace.tolerance + RESAMPLE) * trace.scale if trace.tolerance > 0 else 0.0
    return track_layer(-1, per_frame, tol, (w * trace.scale, h * trace.scale), local)


def _track_colour(layer: int, per_frame: list) -> list[Segment]:
    """One colour layer's pieces of the objects tracked on their own (in a worker)."""
    trace, (h, w) = _STATE["trace"], _STATE["size"]
    return track_layer(layer, [[_unpack_bits(*p) for p in ps] for ps in per_frame], trace.tolerance * trace.scale,
                       (w * trace.scale, h * trace.scale))


def _outline(units) -> int:
    """How much outline the keys of ``units`` ((segment, [(layer, x0, y0, mask)])) have to trace."""
    return sum(int(np.count_nonzero(m[:, 1:] != m[:, :-1]) + np.count_nonzero(m[1:] != m[:-1]))
               for _, masks in units for *_, m in masks)


def _trace_key(crop: np.ndarray) -> list[TracedPath]:
    """A key's paths in its crop's pixels (cut into nearby shapes, each traced once per process)."""
    return trace_mask(crop, _STATE["trace"], cache=_STATE["cache"])


def _metrics(t: int, svg: str, frame: np.ndarray) -> dict:
    h, w = frame.shape[:2]
    rendered = render_svg(svg, w, h, background=_STATE["matte"])
    return {"frame": t, **fidelity.frame_metrics(rendered, split_alpha(frame, _STATE["matte"])[0])}


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

    state = {"palette": palette, "options": opts, "trace": trace, "size": (h, w), "matte": matte}
    jobs = _jobs(opts.jobs, n)
    seconds = {"palette": round(t_palette, 3)}
    with contextlib.ExitStack() as stack:
        if jobs == 1:
            _init_worker(state, worker_process=False)
            run = lambda fn, *its: list(map(fn, *its))  # noqa: E731
        else:
            # spawn, not fork: a forked child can inherit OpenCV's thread pool mid-lock and hang
            ex = stack.enter_context(ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"),
                                                         initializer=_init_worker,
                                                         initargs=(state, True, os.getpid())))

            def run(fn, *its):
                size = len(its[0])
                return list(ex.map(fn, *its, chunksize=max(1, size // (jobs * 4))))

        def phase(name, fn, *its):
            t0 = time.perf_counter()
            out = run(fn, *its)
            seconds[name] = round(time.perf_counter() - t0, 3)
            return out

        labelled = phase("label", _label, list(frames))
        labels = np.stack([lab for lab, *_ in labelled])
        t0 = time.perf_counter()
        per_layer = [[pieces[li] for *_, pieces in labelled] for li in range(len(palette))]
        per_frame = [[_unpack(*o) for o in objs] for _, objs, _ in labelled]
        del labelled
        objects = _track(per_frame, trace, (h, w))
        units = [(seg, _layer_crops(seg.key, len(palette), trace)) for seg in objects]
        # shapes that move on their own inside one object (a ball over the ground it touches) re-key the
        # object; tracked colour by colour instead, each colour's piece moves on its own: the one with less
        # outline to trace is kept. The colour layers in parallel, the biggest first so the workers finish together
        sizes = [sum(len(ps) for ps in layer) for layer in per_layer]
        order = sorted(range(len(palette)), key=lambda li: -sizes[li])
        colours = [seg for segs in run(_track_colour, order, [per_layer[li] for li in order]) for seg in segs]
        by_colour = [(seg, [(seg.layer, seg.key.x0, seg.key.y0, seg.key.mask)]) for seg in colours]
        if _outline(by_colour) < _outline(units):
            units = by_colour
        seconds["track"] = round(time.perf_counter() - t0, 3)
        del per_frame, per_layer
        # trace each key's colour layers; each distinct mask once (a piece that holds still is the same crop)
        keys: dict[tuple, int] = {}
        crops, seg_layers = [], []
        for seg, masks in units:
            layers = []
            for li, x0, y0, mask in masks:
                k = keys.setdefault(mask_key(mask), len(crops))
                if k == len(crops):
                    crops.append(mask)
                layers.append((li, x0, y0, k))
            seg_layers.append(layers)
        traces = phase("trace", _trace_key, crops)
        segments = []
        sc = trace.scale
        ids: dict[tuple, int] = {}
        for (seg, _), layers in zip(units, seg_layers):
            finish(seg, sc, trace.tolerance)
            # shape ids over the clip: an object's track, or a colour layer's track (numbered per layer)
            seg.shape = ids.setdefault((seg.layer, seg.shape), len(ids))
            for li, x0, y0, k in layers:
                paths = [TracedPath(p.d, round(p.tx + x0, 4), round(p.ty + y0, 4),
                                    ((p.bbox[0] + x0) / sc, (p.bbox[1] + y0) / sc,
                                     (p.bbox[2] + x0) / sc, (p.bbox[3] + y0) / sc)) for p in traces[k]]
                if paths:  # each colour layer of the object: the object's motion, that colour's paths
                    segments.append(replace(seg, layer=li, paths=paths))
        segments.sort(key=lambda g: (g.layer, g.start, g.shape))
        animation = Animation(w, h, trace.scale, n, len(palette), segments)
        views = [animation.frame(t) for t in range(n)]
        docs = [svg_document(v, palette, background_rect=background_rect) for v in views]
        metrics = (phase("fidelity", _metrics, list(range(n)), docs, list(frames)) if opts.fidelity
                   else [{"frame": t} for t in range(n)])
    for m, fr, doc in zip(metrics, views, docs):
        m["paths"] = fr.path_count
        m["bytes"] = len(doc.encode("utf-8"))
    stats = animation.stats()
    seconds.update({"jobs": jobs, "total": round(time.perf_counter() - t_all, 3)})
    return VectorizeResult(palette=palette, frames=views, animation=animation, labels=labels, fps=float(fps),
                           width=w, height=h, has_alpha=has_alpha, background_rect=background_rect, matte=matte,
                           fidelity=metrics if opts.fidelity else [], tracking=stats, trace=trace, seconds=seconds)
