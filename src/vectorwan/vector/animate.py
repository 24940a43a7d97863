"""Motion layer: pieces tracked across frames become segments, each one trace moved by transform keyframes.

A *piece* is one object's mask in one colour layer in one frame (:func:`.trace.object_pieces`), at the
traced resolution, with what is seen of it (the colour's own pixels) and where it may be drawn (its own
pixels and those of the colours above). Per layer, each piece is matched to a piece of the previous
frame (bounding-box overlap, then nearest centre: :func:`.track.match_boxes`). A matched piece continues
that track's current *segment* when the segment's key piece, moved by a similarity transform (translation,
rotation, uniform scale, from the two pieces' image moments; for a piece cut by the frame's edge, from its
velocity, refined on what the frame shows), draws it within the tolerance:

    error = |seen pixels it leaves out| + |pixels it draws where the colour may not be|
            ────────────────────────────────────────────────────────────────────────── ≤ tolerance
                               length of the seen outline

the mean distance between the outlines, in pixels, with no difference anywhere thicker than
2 × LOCAL × the tolerance. Otherwise the piece starts a new segment and is its key. Only keys are
traced. Each segment's per-frame transforms are then thinned to the keyframes that linear interpolation
reproduces within the tolerance (time-wise Douglas-Peucker), so a constant motion costs two keyframes and
a player interpolates between them, also between source frames.

An animation is therefore: per colour layer, segments; a segment is a static path (its key's trace), the
frames it is shown in, an anchor (its key's centroid) and position / rotation / scale keyframes. The
Lottie and animated-SVG writers (:mod:`.export`) and the per-frame views (:meth:`Animation.frame`,
what fidelity renders) all read this one structure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from vectorwan.vector.trace import TracedFrame, TracedPath
from vectorwan.vector.track import match_boxes

LOCAL = 2.0  # a difference thicker than 2 × LOCAL × the tolerance anywhere is a changed part, not a move
MIN_ANISOTROPY = 0.12  # below this, a piece's orientation from its moments is noise (near round)


@dataclass
class Piece:
    """One object's mask in one colour layer in one frame: boolean crops at ``(x0, y0)`` (traced px)."""

    x0: int
    y0: int
    mask: np.ndarray  # what is traced and drawn
    own: np.ndarray | None = None  # what is seen of it: the colour's own pixels (default: the mask)
    allowed: np.ndarray | None = None  # where it may be drawn: own or under a colour above (default: the mask)
    area: float = 0.0
    cx: float = 0.0  # centroid of ``allowed``, pixel-index coordinates of the whole frame
    cy: float = 0.0
    theta: float = 0.0  # orientation of the major axis (radians)
    aniso: float = 0.0  # 0 round .. 1 a line
    boundary: int = 0  # the outline's length (pixel edges)
    gyration: float = 0.0  # mean squared distance of its pixels from the centroid

    def __post_init__(self):
        if self.own is None:
            self.own = self.mask
        if self.allowed is None:
            self.allowed = self.mask
        # the motion is measured on where the colour may be (it and the colours above: the object's
        # silhouette from this layer up), which holds still on the object while the colour's own pixels,
        # an anti-aliasing fringe say, do not
        m = cv2.moments(self.allowed.view(np.uint8), binaryImage=True)
        self.area = float(m["m00"])
        if self.area > 0:
            self.cx = self.x0 + m["m10"] / self.area
            self.cy = self.y0 + m["m01"] / self.area
            a, b, c = m["mu20"], m["mu02"], m["mu11"]
            self.theta = 0.5 * math.atan2(2 * c, a - b)
            self.aniso = math.hypot(a - b, 2 * c) / max(a + b, 1e-12)
            self.gyration = (a + b) / self.area
        o = self.own
        # the outline's length: pixel edges between the shape and the rest (a 1-px line has two sides)
        self.boundary = int(np.count_nonzero(o[:, 1:] != o[:, :-1]) + np.count_nonzero(o[1:] != o[:-1])
                            + np.count_nonzero(o[[0, -1]]) + np.count_nonzero(o[:, [0, -1]]))

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        h, w = self.mask.shape
        return (self.x0, self.y0, self.x0 + w, self.y0 + h)


def _moved(key: Piece, piece: Piece, rot: float, s: float, at: tuple[float, float],
           frame: tuple[int, int] | None):
    """``key``'s mask turned by ``rot`` and scaled by ``s`` about its centroid, which goes to ``at``, and
    ``piece``'s own and allowed pixels, on one canvas that holds both; what falls outside ``frame`` (W, H)
    is cut off, as a player cuts it. Returns (moved key, piece's own, piece's allowed, canvas origin)."""
    c, sn = s * math.cos(rot), s * math.sin(rot)
    lin = np.array([[c, -sn], [sn, c]])
    kh, kw = key.mask.shape
    corners = (np.array([[0, 0], [kw, 0], [0, kh], [kw, kh]]) + (key.x0 - key.cx, key.y0 - key.cy)) @ lin.T + at
    px0, py0, px1, py1 = piece.bbox
    x0, y0 = math.floor(min(px0, corners[:, 0].min())) - 2, math.floor(min(py0, corners[:, 1].min())) - 2
    x1, y1 = math.ceil(max(px1, corners[:, 0].max())) + 2, math.ceil(max(py1, corners[:, 1].max())) + 2
    if frame is not None:
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, frame[0]), min(y1, frame[1])
    shift = lin @ np.array([key.x0 - key.cx, key.y0 - key.cy]) + np.array([at[0] - x0, at[1] - y0])
    size = (max(x1 - x0, 1), max(y1 - y0, 1))
    moved = cv2.warpAffine(key.mask.view(np.uint8) * np.uint8(255), np.hstack([lin, shift[:, None]]), size,
                           flags=cv2.INTER_LINEAR) > 127
    h, w = piece.mask.shape
    own, allowed = np.zeros((size[1], size[0]), bool), np.zeros((size[1], size[0]), bool)
    own[piece.y0 - y0:piece.y0 - y0 + h, piece.x0 - x0:piece.x0 - x0 + w] = piece.own
    allowed[piece.y0 - y0:piece.y0 - y0 + h, piece.x0 - x0:piece.x0 - x0 + w] = piece.allowed
    return moved, own, allowed, (x0, y0)


def boundary_error(key: Piece, piece: Piece, rot: float, s: float, tolerance: float,
                   at: tuple[float, float] | None = None, frame: tuple[int, int] | None = None) -> float:
    """How far ``key`` moved (rotation ``rot``, scale ``s`` about its centroid, which goes to ``at``, by
    default ``piece``'s centroid; inside ``frame`` (W, H) if given) is from drawing ``piece``: the pixels it
    leaves out of what is seen of the piece, or draws where the piece's colour may not be (not its own and
    not under a colour above), over the length of the seen outline: the mean outline distance in pixels.
    Infinite where those pixels anywhere form a blob thicker than 2 × LOCAL × the tolerance (a part that
    appeared or vanished, which a mean over a long outline hides)."""
    moved, own, allowed, _ = _moved(key, piece, rot, s, at or (piece.cx, piece.cy), frame)
    diff = (own & ~moved) | (moved & ~allowed)
    # half the thickness of the thickest difference: beyond LOCAL × the tolerance, a part changed
    if cv2.distanceTransform(diff.view(np.uint8), cv2.DIST_L2, 3).max() > LOCAL * tolerance:
        return math.inf
    return float(np.count_nonzero(diff)) / max(piece.boundary, 1)


def clipped_position(key: Piece, piece: Piece, rot: float, s: float, guess: tuple[float, float],
                     frame: tuple[int, int]) -> tuple[float, float]:
    """Where ``key``'s centroid goes when ``piece`` is the part of it that the frame shows (a shape entering
    or leaving): from ``guess``, moved until the visible part of the moved key has ``piece``'s centroid."""
    at = guess
    for _ in range(3):
        moved, _, _, (x0, y0) = _moved(key, piece, rot, s, at, frame)
        m = cv2.moments(moved.view(np.uint8), binaryImage=True)
        if m["m00"] <= 0:
            return guess
        at = (at[0] + piece.cx - (x0 + m["m10"] / m["m00"]), at[1] + piece.cy - (y0 + m["m01"] / m["m00"]))
    return at


@dataclass
class Segment:
    """One key trace shown from ``start`` for ``len(motion)`` frames, moved by ``motion``.

    ``motion[k]`` is frame ``start + k``'s transform of the key: (x, y, rotation rad, scale), where
    (x, y) is where the key's centroid goes, in traced pixel-index coordinates."""

    layer: int
    shape: int
    start: int
    key: Piece | None
    motion: list[tuple[float, float, float, float]] = field(default_factory=list)
    paths: list[TracedPath] = field(default_factory=list)  # the key's trace (traced px)
    anchor: tuple[float, float] = (0.0, 0.0)  # the key's centroid, source px
    keys: list[tuple[int, float, float, float, float]] = field(default_factory=list)  # (t, x, y, deg, s)

    @property
    def end(self) -> int:
        return self.start + len(self.motion)

    def at(self, t: float) -> tuple[float, float, float, float]:
        """(x, y, degrees, scale) at frame ``t`` (source px), interpolated linearly as the players do."""
        ks = self.keys
        if t <= ks[0][0]:
            return ks[0][1:]
        for a, b in zip(ks, ks[1:]):
            if t <= b[0]:
                u = (t - a[0]) / (b[0] - a[0])
                return tuple(x + u * (y - x) for x, y in zip(a[1:], b[1:]))
        return ks[-1][1:]



def _touches(piece: Piece, frame: tuple[int, int] | None) -> bool:
    x0, y0, x1, y1 = piece.bbox
    return frame is not None and (x0 <= 1 or y0 <= 1 or x1 >= frame[0] - 1 or y1 >= frame[1] - 1)


def track_layer(layer: int, frames: list[list[Piece]], tolerance: float,
                frame: tuple[int, int] | None = None) -> list[Segment]:
    """Segments of one colour layer from its pieces per frame (``tolerance``: traced px; ``frame``: the
    traced frame's (W, H), so that a shape entering or leaving it is still one shape moved)."""
    segments: list[Segment] = []
    tracks: list[tuple[Segment, Piece]] = []  # alive at t-1: (current segment, last piece)
    next_id = 0
    for t, pieces in enumerate(frames):
        prev = np.array([p.bbox for _, p in tracks], np.float64).reshape(-1, 4)
        cur = np.array([p.bbox for p in pieces], np.float64).reshape(-1, 4)
        matched = match_boxes(prev, cur)
        alive = []
        for j, piece in enumerate(pieces):
            if j in matched:
                seg, last = tracks[matched[j]]
                key = seg.key
                lx, ly, last_rot, last_s = seg.motion[-1]
                cands = []  # (rotation, scale, where the key's centroid goes)
                if _touches(piece, frame) or _touches(key, frame):  # partly outside: its moments are not its own
                    vx, vy = (lx - seg.motion[-2][0], ly - seg.motion[-2][1]) if len(seg.motion) > 1 else (0, 0)
                    cands.append((last_rot, last_s, clipped_position(key, piece, last_rot, last_s,
                                                                     (lx + vx, ly + vy), frame)))
                else:
                    # the scale from the radii of gyration (right for outline rings too, unlike the areas)
                    s = math.sqrt(piece.gyration / max(key.gyration, 1e-9))
                    cands.append((last_rot, s, (piece.cx, piece.cy)))
                    if key.aniso >= MIN_ANISOTROPY and piece.aniso >= MIN_ANISOTROPY:
                        r = piece.theta - key.theta
                        r += math.pi * round((last_rot - r) / math.pi)  # the branch nearest the last rotation
                        if abs(r - last_rot) > 1e-3:
                            cands.append((r, s, (piece.cx, piece.cy)))
                errs = [boundary_error(key, piece, r, s, tolerance, at, frame) for r, s, at in cands]
                k = int(np.argmin(errs))
                if errs[k] <= tolerance:
                    r, s, at = cands[k]
                    seg.motion.append((at[0], at[1], r, s))
                    alive.append((seg, piece))
                    continue
                shape = seg.shape
            else:
                shape, next_id = next_id, next_id + 1
            seg = Segment(layer, shape, t, piece, [(piece.cx, piece.cy, 0.0, 1.0)])
            segments.append(seg)
            alive.append((seg, piece))
        tracks = alive
    return segments


def thin(motion: list[tuple[float, float, float, float]], radius: float, eps: float) -> list[int]:
    """Indices of the keyframes that linear interpolation needs to stay within ``eps`` px of ``motion``
    everywhere (a rotation or scale error counts at ``radius``): Douglas-Peucker over time."""
    v = np.asarray(motion, np.float64)
    n = len(v)
    if n <= 2:
        return list(range(n))
    keep = {0, n - 1}
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        u = (np.arange(a + 1, b) - a)[:, None] / (b - a)
        lerp = v[a] + u * (v[b] - v[a])
        d = v[a + 1:b] - lerp
        err = np.hypot(d[:, 0], d[:, 1]) + radius * (np.abs(d[:, 2]) + np.abs(d[:, 3]))
        i = int(np.argmax(err))
        if err[i] > eps:
            m = a + 1 + i
            keep.add(m)
            stack += [(a, m), (m, b)]
    return sorted(keep)


def finish(seg: Segment, scale: int, eps: float) -> None:
    """Set the segment's anchor and thinned keyframes (source px, continuous coordinates: pixel centres
    at +0.5), and drop its key's pixels."""
    key = seg.key
    seg.anchor = ((key.cx + 0.5) / scale, (key.cy + 0.5) / scale)
    motion = [((x + 0.5) / scale, (y + 0.5) / scale, r, s) for x, y, r, s in seg.motion]  # source px
    idx = thin(motion, 0.5 * math.hypot(*key.mask.shape) / scale, eps)
    seg.keys = [(seg.start + k, round(motion[k][0], 3), round(motion[k][1], 3), round(math.degrees(motion[k][2]), 3),
                 round(motion[k][3], 5)) for k in idx]
    seg.key = None


@dataclass
class Animation:
    """Every segment of a clip, by colour layer (stacking order)."""

    width: int
    height: int
    scale: int
    n_frames: int
    n_layers: int
    segments: list[Segment]

    def layer_segments(self, layer: int) -> list[Segment]:
        return [s for s in self.segments if s.layer == layer and s.paths]

    def frame(self, t: int) -> TracedFrame:
        """Frame ``t`` as it is written: every segment shown at ``t`` with its transform there, as one
        matrix per path (traced px)."""
        fr = TracedFrame(self.width, self.height, self.scale, [[] for _ in range(self.n_layers)])
        sc = self.scale
        for seg in self.segments:
            if not (seg.start <= t < seg.end) or not seg.paths:
                continue
            x, y, deg, s = seg.at(t)
            r = math.radians(deg)
            a, b = s * math.cos(r), s * math.sin(r)
            ax, ay = seg.anchor[0] * sc, seg.anchor[1] * sc
            for p in seg.paths:
                # x' = (x, y)·sc + sR (q + (tx, ty) − anchor·sc), q the path's own coordinates
                qx, qy = p.tx - ax, p.ty - ay
                e, f = a * qx - b * qy + x * sc, b * qx + a * qy + y * sc
                fr.layers[seg.layer].append(TracedPath(p.d, e, f, _moved_bbox(p.bbox, seg, (x, y, r, s)),
                                                       seg.shape, (a, b)))
        for paths in fr.layers:
            paths.sort(key=lambda p: p.shape)
        return fr

    def stats(self) -> dict:
        segs = [s for s in self.segments if s.paths]
        tracks = {(s.layer, s.shape) for s in segs}
        return {"shapes": len(tracks), "segments": len(segs),
                "keyframes": int(sum(len(s.keys) for s in segs)),
                "mean_segment_length": round(float(np.mean([len(s.motion) for s in segs])), 3) if segs else 0.0}


def _moved_bbox(bbox, seg: Segment, xyrs) -> tuple[float, float, float, float]:
    """The bounding box (source px) of ``bbox`` moved by the segment's transform."""
    x, y, r, s = xyrs
    ax, ay = seg.anchor
    cs = np.array([[bbox[0], bbox[1]], [bbox[2], bbox[1]], [bbox[0], bbox[3]], [bbox[2], bbox[3]]]) - (ax, ay)
    rot = np.array([[math.cos(r), -math.sin(r)], [math.sin(r), math.cos(r)]]) * s
    q = cs @ rot.T + (x, y)
    return (float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max()))
