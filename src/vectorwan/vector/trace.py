"""Shape layer: quantised frames → vector paths, one group per palette colour.

Each frame is upscaled (``scale``, bilinear) before it is quantised, so an anti-aliased edge
becomes a sub-pixel boundary rather than a ring of in-between colours; the SVG is scaled back
to the source size. Each colour layer is traced on its own with vtracer (binary mode); its mask
(:func:`layer_masks`) runs a little under the colours above it in the stacking order ("overlap"), so
no seam can open between neighbouring colours. ("stacked" puts every colour above it in the mask too,
"cutout" traces each colour's own pixels.)

Pure functions: :func:`trace_frame` (image + palette → SVG text) and :func:`render_svg`
(SVG text → pixels) are what other modules (e.g. the evaluator) should reuse.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections import OrderedDict
from dataclasses import asdict, dataclass, field, replace

import cv2
import numpy as np
from PIL import Image

from vectorwan.colour import to_lab
from vectorwan.frames import composite
from vectorwan.vector.palette import TRANSPARENT, Palette, Quantizer, hex_color, stacking_order

WHITE = (255, 255, 255)


@dataclass(frozen=True)
class TraceOptions:
    """Tracing settings. ``scale`` is the upscale factor used for quantising and tracing."""

    scale: int = 2
    mode: str = "polygon"  # vtracer: "polygon" (straight segments) or "spline" (curves)
    layering: str = "overlap"  # "overlap" / "stacked" (no seams) or "cutout" (each colour its own pixels); layer_masks
    filter_speckle: int = 4  # vtracer: drop clusters smaller than this² (traced pixels)
    corner_threshold: int = 60
    length_threshold: float = 4.0
    splice_threshold: int = 45
    max_iterations: int = 10
    path_precision: int = 1  # decimals of traced coordinates (traced pixels: 0.05 source px at scale 2)
    inset: float = 0.3  # move outlines this many traced pixels towards the fill (see inset_path)
    alpha_threshold: int = 128  # alpha ≥ this is opaque
    soft_alpha_min: int = 16  # alpha in [this, threshold) is opaque when it reads as a colour over the matte
    tolerance: float = 0.25  # the size/fidelity knob (source px): a shape moved within this mean outline distance
    # of an earlier one reuses that one's trace, moved (animate.py); 0: only identical shapes

    def vtracer_kwargs(self) -> dict:
        return dict(colormode="binary", mode=self.mode, filter_speckle=self.filter_speckle,
                    corner_threshold=self.corner_threshold, length_threshold=self.length_threshold,
                    splice_threshold=self.splice_threshold, max_iterations=self.max_iterations,
                    path_precision=self.path_precision)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class TracedPath:
    d: str  # path data in traced (upscaled) pixels, relative to (tx, ty)
    tx: float
    ty: float
    bbox: tuple[float, float, float, float]  # x0, y0, x1, y1 in source pixels
    shape: int = -1  # stable shape id within its layer (set by tracking)
    lin: tuple[float, float] | None = None  # (s·cos r, s·sin r): drawn rotated and scaled, then moved by (tx, ty)

    def transform(self) -> str:
        if self.lin is None or (abs(self.lin[0] - 1) < 1e-7 and abs(self.lin[1]) < 1e-7):
            return f"translate({_fmt(self.tx)},{_fmt(self.ty)})"
        a, b = self.lin
        return f"matrix({_fmt(a, 6)} {_fmt(b, 6)} {_fmt(-b, 6)} {_fmt(a, 6)} {_fmt(self.tx)} {_fmt(self.ty)})"


@dataclass
class TracedFrame:
    """One frame's paths: ``layers[i]`` holds the paths of palette colour *i* (stacking order)."""

    width: int
    height: int
    scale: int
    layers: list[list[TracedPath]] = field(default_factory=list)

    @property
    def path_count(self) -> int:
        return sum(len(l) for l in self.layers)


# ----------------------------------------------------------------------------- labelling
def split_alpha(frame: np.ndarray, matte=WHITE) -> tuple[np.ndarray, np.ndarray | None]:
    """H×W×3|4 uint8 → (RGB composited over ``matte``, alpha or None)."""
    if frame.shape[-1] == 3:
        return frame, None
    a = frame[..., 3:4].astype(np.float32) / 255.0
    rgb = frame[..., :3].astype(np.float32) * a + np.asarray(matte, np.float32) * (1.0 - a)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8), frame[..., 3]


def upscale(img: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (w * scale, h * scale), interpolation=cv2.INTER_LINEAR)


def border_background(labels: np.ndarray, index: int) -> np.ndarray:
    """Pixels of palette colour ``index`` connected (8-way) to the frame border."""
    m = (labels == index).astype(np.uint8)
    n, cc = cv2.connectedComponents(m, connectivity=8)
    if n <= 1:
        return np.zeros(labels.shape, bool)
    edge = np.unique(np.concatenate([cc[0], cc[-1], cc[:, 0], cc[:, -1]]))
    edge = edge[edge > 0]
    return np.isin(cc, edge)


def label_frame(frame: np.ndarray, palette: Palette, quantizer: Quantizer | None = None, *,
                scale: int = 1, background: str = "transparent", matte=WHITE,
                opts: TraceOptions | None = None) -> np.ndarray:
    """Quantise one frame (upscaled by ``scale``) to palette indices; transparent → 255.

    Transparent pixels: alpha below the threshold (RGBA input; half-transparent pixels count as
    opaque where they read as a palette colour over ``matte``), or, when the palette has a
    detected solid background colour and ``background`` is not "none", the region of that
    colour connected to the frame border.
    """
    opts = opts or TraceOptions()
    q = quantizer or Quantizer(palette.colors)
    rgb, alpha = split_alpha(frame, matte)
    rgb = upscale(rgb, scale)
    labels = q(rgb)
    if alpha is not None:
        a = upscale(alpha, scale)
        opaque = a >= opts.alpha_threshold
        soft = (a >= opts.soft_alpha_min) & ~opaque
        if soft.any():
            # keep a half-transparent pixel only when it reads as a palette colour over the matte
            px = rgb[soft]
            d_pal = q.distance(px, labels[soft])
            d_matte = np.linalg.norm(to_lab(px) - to_lab(np.asarray(matte, np.uint8)), axis=-1)
            opaque[soft] = d_pal < d_matte
        labels[~opaque] = TRANSPARENT
    elif palette.background is not None and background in ("auto", "transparent", "layer"):
        bg = np.flatnonzero((palette.colors == np.asarray(palette.background, np.uint8)).all(1))
        if len(bg):
            labels[border_background(labels, int(bg[0]))] = TRANSPARENT
    return labels


# ----------------------------------------------------------------------------- tracing
_PATH_RE = re.compile(r'<path d="([^"]*)" fill="[^"]*" transform="translate\(([-\d.e]+),([-\d.e]+)\)"\s*/>')
_NUM_TABLE = str.maketrans("MLCZmlcz,", "         ")


def path_numbers(d: str) -> np.ndarray:
    """All coordinates of a vtracer path (absolute M/L/C/Z commands) as an N×2 array."""
    nums = np.array(d.translate(_NUM_TABLE).split(), np.float64)
    return nums.reshape(-1, 2)


def _vtrace(crop_fg: np.ndarray, opts: TraceOptions) -> list[tuple[str, float, float, tuple]]:
    """vtracer on a boolean crop → [(d, tx, ty, (x0, y0, x1, y1))] in crop pixels."""
    import vtracer

    ok, buf = cv2.imencode(".bmp", np.where(crop_fg, 0, 255).astype(np.uint8))
    if not ok:  # pragma: no cover - OpenCV always encodes BMP
        raise RuntimeError("could not encode mask")
    svg = vtracer.convert_raw_image_to_svg(buf.tobytes(), img_format="bmp", **opts.vtracer_kwargs())
    out = []
    for d, tx, ty in _PATH_RE.findall(svg):
        d = d.strip()
        if opts.inset:
            d, pts = inset_path(d, opts.inset, ndigits=opts.path_precision,
                                frame=(float(tx), float(ty), crop_fg.shape[1], crop_fg.shape[0]))
        else:
            pts = path_numbers(d)
        if len(pts) < 3:
            continue  # degenerate (a lone pixel when speckle filtering is off)
        tx, ty = float(tx), float(ty)
        lo, hi = pts.min(0), pts.max(0)
        out.append((d, tx, ty, (lo[0] + tx, lo[1] + ty, hi[0] + tx, hi[1] + ty)))
    return out


_CMD_RE = re.compile(r"[MLC]")
_CMD_POINTS = {"M": 1, "L": 1, "C": 3}


def inset_path(d: str, amount: float, ndigits: int = 2,
               frame: tuple[float, float, float, float] | None = None) -> tuple[str, np.ndarray]:
    """Move a vtracer path (absolute M/L/C/Z) ``amount`` pixels towards its fill.

    vtracer's outlines run through the outer corners of the pixel staircase, so every traced
    shape comes out a fraction of a pixel fatter than its pixels; measured on anti-aliased
    shapes, an inset of ~0.3 traced pixels removes that bias. Each point (for curves: each
    point of the control polygon) moves along the bisector of its neighbours' left normals;
    outlines and holes have opposite windings, so the one rule shrinks the fill of both.
    ``frame`` = (x offset of the path, y offset, width, height) of the traced image: points on
    its border stay there (the image edge is not an edge of the shape).
    Returns the new path data and all its points (N×2).
    """
    subs, pts_all = [], []
    for chunk in d.split("Z"):
        cmds = _CMD_RE.findall(chunk)
        p = np.array(chunk.translate(_NUM_TABLE).split(), np.float64).reshape(-1, 2)
        if len(p) == 0:
            continue
        if len(p) >= 3:
            n_next = _left_normals(np.roll(p, -1, 0) - p)
            n_prev = _left_normals(p - np.roll(p, 1, 0))
            bis = n_prev + n_next
            norm = np.linalg.norm(bis, axis=1, keepdims=True)
            bis = np.where(norm > 1e-9, bis / np.maximum(norm, 1e-9), n_next)
            cos = np.maximum((bis * n_next).sum(1, keepdims=True), 0.3)  # cap the miter at sharp corners
            moved = p + bis * (amount / cos)
            if frame is not None:
                ox, oy, fw, fh = frame
                on_x = (np.abs(p[:, 0] + ox) < 1e-6) | (np.abs(p[:, 0] + ox - fw) < 1e-6)
                on_y = (np.abs(p[:, 1] + oy) < 1e-6) | (np.abs(p[:, 1] + oy - fh) < 1e-6)
                moved[on_x, 0] = p[on_x, 0]
                moved[on_y, 1] = p[on_y, 1]
            p = moved
        p = np.round(p, ndigits)
        pts_all.append(p)
        flat = [f"{v:g}" for v in p.ravel().tolist()]
        parts, k = [], 0
        for c in cmds:
            n = _CMD_POINTS[c]
            parts.append(c + " ".join(flat[2 * k: 2 * (k + n)]))
            k += n
        subs.append(" ".join(parts) + " Z")
    pts = np.concatenate(pts_all) if pts_all else np.zeros((0, 2))
    return " ".join(subs), pts


def _left_normals(e: np.ndarray) -> np.ndarray:
    length = np.linalg.norm(e, axis=1, keepdims=True)
    e = e / np.where(length > 0, length, 1.0)
    return np.stack([-e[:, 1], e[:, 0]], 1)


def mask_key(crop: np.ndarray) -> tuple:
    """A boolean crop's identity by content: its shape and a hash of its pixels."""
    return crop.shape, hashlib.blake2b(np.packbits(crop).tobytes(), digest_size=16).digest()


class TraceCache:
    """Traced shapes by pixel content, so a shape that holds still (or moves by whole pixels) is traced
    once. Bounded, least recently used out first."""

    def __init__(self, max_entries: int = 20_000):
        self.max_entries = max_entries
        self._d: OrderedDict = OrderedDict()
        self.hits = self.misses = 0

    def get(self, crop: np.ndarray, opts: TraceOptions):
        key = (*mask_key(crop), opts)
        val = self._d.get(key)
        if val is not None:
            self._d.move_to_end(key)
            self.hits += 1
            return val
        self.misses += 1
        val = _vtrace(crop, opts)
        self._d[key] = val
        if len(self._d) > self.max_entries:
            self._d.popitem(last=False)
        return val


MAX_PIECES = 400  # more separate pieces than this in one layer: trace the layer in one vtracer call
BLOCK = 4  # pieces are found on a BLOCK×-coarser grid


def mask_pieces(mask: np.ndarray, min_pixels: int = 1, block: int = BLOCK):
    """Split a mask into groups of nearby shapes: [(x0, y0, crop bool array)] with disjoint pixels.

    Shapes are grouped by 8-connectivity of the mask pooled over ``block``×``block`` cells (cheap,
    and a crop then holds one or a few shapes); groups with fewer than ``min_pixels`` are dropped.
    """
    hh, ww = mask.shape
    ph, pw = -hh % block, -ww % block
    m = np.pad(mask, ((0, ph), (0, pw))) if ph or pw else mask
    gh, gw = m.shape[0] // block, m.shape[1] // block
    counts = cv2.resize(m.astype(np.float32), (gw, gh), interpolation=cv2.INTER_AREA) * (block * block)
    n, cc, stats, _ = cv2.connectedComponentsWithStats((counts > 0).astype(np.uint8), connectivity=8)
    if n <= 1:
        return []
    pixels = np.bincount(cc.ravel(), weights=counts.ravel(), minlength=n) + 0.5
    keep = [lab for lab in range(1, n) if pixels[lab] >= min_pixels]
    if len(keep) > MAX_PIECES:
        ys, xs = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
        y0, y1 = max(int(ys[0]) - 1, 0), min(int(ys[-1]) + 2, hh)
        x0, x1 = max(int(xs[0]) - 1, 0), min(int(xs[-1]) + 2, ww)
        return [(x0, y0, mask[y0:y1, x0:x1])]
    out = []
    for lab in keep:
        cx, cy, cw, ch = (int(v) for v in stats[lab, :4])
        y0, y1 = max(cy * block - 1, 0), min((cy + ch) * block + 1, hh)
        x0, x1 = max(cx * block - 1, 0), min((cx + cw) * block + 1, ww)
        crop = mask[y0:y1, x0:x1]
        if n > 2:  # other groups may reach into this box: keep only this group's cells
            own = cc[np.ix_(np.arange(y0, y1) // block, np.arange(x0, x1) // block)] == lab
            crop = crop & own
        # tighten to the pixels (+1 margin), so that a shape moved by whole pixels gives the same crop
        rows, cols = np.flatnonzero(crop.any(1)), np.flatnonzero(crop.any(0))
        ty0, tx0 = max(y0 + int(rows[0]) - 1, 0), max(x0 + int(cols[0]) - 1, 0)
        ty1, tx1 = min(y0 + int(rows[-1]) + 2, hh), min(x0 + int(cols[-1]) + 2, ww)
        out.append((tx0, ty0, crop[ty0 - y0:ty1 - y0, tx0 - x0:tx1 - x0]))
    return out


def object_pieces(labels: np.ndarray, n_colors: int, layering: str = "overlap", min_pixels: int = 1):
    """Yield (layer, x0, y0, mask, own, allowed) for every colour layer of every object: an object is a group
    of nearby opaque shapes (:func:`mask_pieces` of the opaque pixels), its piece of a layer is that layer's
    mask inside it, tight (+1 pixel); in the same crop, ``own`` is the colour's own pixels (what is seen of
    it) and ``allowed`` where it may be drawn (its own pixels and those of the colours above it). All layers of one object move together, so
    each is tracked whole."""
    opaque = labels != TRANSPARENT
    for ox, oy, region in mask_pieces(opaque, min_pixels):
        h, w = region.shape
        sub = labels[oy:oy + h, ox:ox + w]
        for i, mask in layer_masks(sub, n_colors, layering):
            mask &= region
            own = (sub == i) & region
            if np.count_nonzero(mask) < min_pixels or not own.any():
                continue
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            y0, x0 = max(int(rows[0]) - 1, 0), max(int(cols[0]) - 1, 0)
            y1, x1 = min(int(rows[-1]) + 2, h), min(int(cols[-1]) + 2, w)
            allowed = region[y0:y1, x0:x1] & (sub[y0:y1, x0:x1] >= i) & (sub[y0:y1, x0:x1] != TRANSPARENT)
            yield i, ox + x0, oy + y0, mask[y0:y1, x0:x1], own[y0:y1, x0:x1], allowed


def trace_mask(mask: np.ndarray, opts: TraceOptions | None = None, *, scale: int = 1,
               cache: TraceCache | None = None) -> list[TracedPath]:
    """Trace a boolean mask with vtracer; returns paths in mask pixels (bbox in mask/scale).

    The mask is cut into groups of nearby shapes, each traced on its own tight crop: vtracer's
    cost grows with the image it is given, and a group seen before comes from ``cache``.
    """
    opts = opts or TraceOptions()
    out = []
    for x0, y0, crop in mask_pieces(mask, max(opts.filter_speckle, 1) ** 2):
        paths = cache.get(crop, opts) if cache is not None else _vtrace(crop, opts)
        for d, tx, ty, (bx0, by0, bx1, by1) in paths:
            out.append(TracedPath(d, round(tx + x0, 4), round(ty + y0, 4),
                                  ((bx0 + x0) / scale, (by0 + y0) / scale, (bx1 + x0) / scale, (by1 + y0) / scale)))
    return out


LAYERINGS = ("overlap", "stacked", "cutout")
OVERLAP = 5  # traced px by which a colour runs under the colours above it ("overlap" layering)
_OVERLAP_DISK = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * OVERLAP + 1, 2 * OVERLAP + 1))


def _enclosed(mask: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """The holes of ``mask`` (4-connected, not touching the border) that hold only ``allowed`` pixels."""
    n, cc = cv2.connectedComponents((~mask).view(np.uint8), connectivity=4)
    bad = np.bincount(cc[~allowed & ~mask].ravel(), minlength=n) > 0
    bad[np.unique(np.concatenate([cc[0], cc[-1], cc[:, 0], cc[:, -1]]))] = True
    bad[0] = True
    return ~bad[cc] & ~mask


def layer_masks(labels: np.ndarray, n_colors: int, layering: str = "overlap"):
    """Yield (index, mask) per palette colour that has pixels in ``labels``.

    * ``overlap``: the colour's own pixels, run OVERLAP pixels under the colours above it in the stacking
      order, and its holes filled where they hold only colours above it: no seam can open between
      neighbours (the lower colour shows under the upper one's anti-aliased edge, never the background),
      and each edge is drawn where it is seen, not once per layer below it.
    * ``stacked``: every opaque pixel whose colour sits at this one or above (each outline is repeated in
      every layer beneath it).
    * ``cutout``: each colour's own pixels only (hairline seams between neighbours).
    """
    if layering not in LAYERINGS:
        raise ValueError(f"layering must be one of {LAYERINGS}, got {layering!r}")
    present = np.bincount(labels.ravel(), minlength=256)
    opaque = labels != TRANSPARENT
    for i in range(n_colors):
        if present[i] == 0:
            continue
        if layering == "cutout":
            yield i, labels == i
        elif layering == "stacked":
            yield i, opaque & (labels >= i)
        else:
            own = labels == i
            above = opaque & (labels > i)
            mask = own | (cv2.dilate(own.view(np.uint8), _OVERLAP_DISK).view(bool) & above)
            yield i, mask | _enclosed(mask, above)


def trace_labels(labels: np.ndarray, n_colors: int, opts: TraceOptions | None = None, *,
                 scale: int = 1, cache: TraceCache | None = None) -> TracedFrame:
    """Trace every colour layer of a label map (already at the traced resolution)."""
    opts = opts or TraceOptions()
    h, w = labels.shape
    frame = TracedFrame(w // scale, h // scale, scale, [[] for _ in range(n_colors)])
    for i, mask in layer_masks(labels, n_colors, opts.layering):
        frame.layers[i] = trace_mask(mask, opts, scale=scale, cache=cache)
    return frame


# ----------------------------------------------------------------------------- SVG text
def _fmt(v: float, digits: int = 4) -> str:
    out = f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return "0" if out == "-0" else out


def frame_body(frame: TracedFrame, palette: Palette, *, id_prefix: str = "", indent: str = "") -> str:
    """The colour-layer groups of one frame (no <svg> wrapper)."""
    lines = []
    for i, paths in enumerate(frame.layers):
        if not paths:
            continue
        lines.append(f'{indent}<g id="{id_prefix}layer{i:02d}" class="layer" data-layer="{i}" '
                     f'fill="{hex_color(palette.colors[i])}">')
        for p in paths:
            sid = f' data-shape="{p.shape}"' if p.shape >= 0 else ""
            lines.append(f'{indent} <path{sid} transform="{p.transform()}" d="{p.d}"/>')
        lines.append(f"{indent}</g>")
    return "\n".join(lines)


def scale_attr(scale: int) -> str:
    return "" if scale == 1 else f' transform="scale({_fmt(1.0 / scale)})"'


def svg_document(frame: TracedFrame, palette: Palette, *, background_rect: bool = False) -> str:
    """A standalone SVG for one traced frame."""
    w, h = frame.width, frame.height
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h}" '
             f'viewBox="0 0 {w} {h}">']
    if background_rect and palette.background is not None:
        parts.append(f'<rect id="background" width="{w}" height="{h}" fill="{hex_color(palette.background)}"/>')
    parts.append(f'<g id="shapes"{scale_attr(frame.scale)}>')
    body = frame_body(frame, palette)
    if body:
        parts.append(body)
    parts.append("</g>\n</svg>\n")
    return "\n".join(parts)


def trace_frame(image: np.ndarray, palette: Palette | np.ndarray, opts: TraceOptions | None = None,
                **overrides) -> str:
    """Pure trace: one RGB/RGBA uint8 image + palette → SVG text of the same size.

    ``palette`` is a :class:`Palette` (colours in stacking order) or a K×3 uint8 array (then
    stacked by luminance). Keyword overrides update ``opts``, e.g. ``scale=1, mode="polygon"``.
    """

    opts = replace(opts or TraceOptions(), **overrides)
    if not isinstance(palette, Palette):
        colors = np.asarray(palette, np.uint8).reshape(-1, 3)
        palette = Palette(colors[stacking_order(colors)])
    labels = label_frame(image, palette, scale=opts.scale, opts=opts)
    return svg_document(trace_labels(labels, len(palette), opts, scale=opts.scale), palette)


# ----------------------------------------------------------------------------- rendering
def render_svg(svg: str | bytes, width: int, height: int, background=None) -> np.ndarray:
    """Rasterise SVG text with cairosvg: uint8 H×W×4 RGBA, or H×W×3 over ``background``."""
    import cairosvg

    data = svg.encode("utf-8") if isinstance(svg, str) else svg
    png = cairosvg.svg2png(bytestring=data, output_width=width, output_height=height)
    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    if background is None:
        return rgba

    return composite(rgba[None], background)[0]
