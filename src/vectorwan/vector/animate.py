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
traced.

A piece can also be a whole *object* (``Piece.labels``: all its colours, one motion), compared colour by
colour over all its colours' outlines (the pipeline tracks both ways and keeps the one with less outline
to trace). Objects get more: a pattern search (:func:`_search`) when moments and the last motion fail, and
several tracks' keys drawn together where objects overlap and are labelled as one (:func:`group_difference`).
Any piece UPGRADE× larger than its key becomes the key when it draws the segment so far (:func:`_upgrade`). Each segment's per-frame transforms are then thinned to the keyframes that linear interpolation
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

from vectorwan.vector.palette import TRANSPARENT
from vectorwan.vector.trace import TracedFrame, TracedPath
from vectorwan.vector.track import match_boxes

LOCAL = 2.0  # a difference thicker than 2 × LOCAL × the tolerance anywhere is a changed part, not a move
MIN_ANISOTROPY = 0.12  # below this, a piece's orientation from its moments is noise (near round)
UPGRADE = 1.1  # a piece this much larger than its segment's key becomes the key, if it draws the frames so far


@dataclass
class Piece:
    """One object's mask in one colour layer in one frame: boolean crops at ``(x0, y0)`` (traced px)."""

    x0: int
    y0: int
    mask: np.ndarray | None  # what is traced and drawn (default: the opaque pixels of ``labels``)
    own: np.ndarray | None = None  # what is seen of it: the colour's own pixels (default: the mask)
    allowed: np.ndarray | None = None  # where it may be drawn: own or under a colour above (default: the mask)
    labels: np.ndarray | None = None  # a whole object: palette indices (TRANSPARENT outside it), compared as such
    area: float = 0.0
    cx: float = 0.0  # centroid of ``allowed``, pixel-index coordinates of the whole frame
    cy: float = 0.0
    theta: float = 0.0  # orientation of the major axis (radians)
    aniso: float = 0.0  # 0 round .. 1 a line
    boundary: int = 0  # the outline's length (pixel edges)
    gyration: float = 0.0  # mean squared distance of its pixels from the centroid

    def __post_init__(self):
        if self.mask is None:
            self.mask = self.labels != TRANSPARENT
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
        o = self.own if self.labels is None else self.labels
        # the outline's length: pixel edges between the shape and the rest (a 1-px line has two sides); for
        # an object, between any two colours
        self.boundary = int(np.count_nonzero(o[:, 1:] != o[:, :-1]) + np.count_nonzero(o[1:] != o[:-1])
                            + np.count_nonzero(self.own[[0, -1]]) + np.count_nonzero(self.own[:, [0, -1]]))

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        h, w = self.mask.shape
        return (self.x0, self.y0, self.x0 + w, self.y0 + h)


def _moved(key: Piece, piece: Piece, rot: float, s: float, at: tuple[float, float],
           frame: tuple[int, int] | None):
    """``key``'s mask turned by ``rot`` and scaled by ``s`` about its centroid, which goes to ``at``, and
    ``piece``'s own and allowed pixels, on one canvas that holds both; what falls outside ``frame`` (W, H)
    is cut off, as a player cuts it. Returns (moved key, piece's own, piece's allowed, canvas origin)."""
    m, (x0, y0), size = _placement(key, piece, rot, s, at, frame)
    moved = cv2.warpAffine(key.mask.view(np.uint8) * np.uint8(255), m, size, flags=cv2.INTER_LINEAR) > 127
    h, w = piece.mask.shape
    own, allowed = np.zeros((size[1], size[0]), bool), np.zeros((size[1], size[0]), bool)
    own[piece.y0 - y0:piece.y0 - y0 + h, piece.x0 - x0:piece.x0 - x0 + w] = piece.own
    allowed[piece.y0 - y0:piece.y0 - y0 + h, piece.x0 - x0:piece.x0 - x0 + w] = piece.allowed
    return moved, own, allowed, (x0, y0)


def _moved_labels(key: Piece, piece: Piece, rot: float, s: float, at: tuple[float, float],
                  frame: tuple[int, int] | None):
    """Objects: ``key``'s labels moved as in :func:`_moved` (nearest colour) and ``piece``'s, on one canvas."""
    m, (x0, y0), size = _placement(key, piece, rot, s, at, frame)
    moved = cv2.warpAffine(key.labels, m, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=TRANSPARENT)
    h, w = piece.labels.shape
    seen = np.full((size[1], size[0]), TRANSPARENT, np.uint8)
    seen[piece.y0 - y0:piece.y0 - y0 + h, piece.x0 - x0:piece.x0 - x0 + w] = piece.labels
    return moved, seen


def _placement(key: Piece, piece: Piece, rot: float, s: float, at: tuple[float, float],
               frame: tuple[int, int] | None):
    """The affine matrix that moves ``key`` onto a canvas holding both, the canvas's origin and size."""
    m = _matrix(key, rot, s, at)
    bx0, by0, bx1, by1 = _moved_box(key, m)
    px0, py0, px1, py1 = piece.bbox
    x0, y0 = math.floor(min(px0, bx0)) - 2, math.floor(min(py0, by0)) - 2
    x1, y1 = math.ceil(max(px1, bx1)) + 2, math.ceil(max(py1, by1)) + 2
    if frame is not None:
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, frame[0]), min(y1, frame[1])
    m[:, 2] -= (x0, y0)
    return m, (x0, y0), (max(x1 - x0, 1), max(y1 - y0, 1))


def _difference(key: Piece, piece: Piece, rot: float, s: float, at, frame) -> np.ndarray:
    """Where ``key`` moved draws ``piece`` wrongly: for objects, every pixel whose colour differs."""
    if key.labels is not None and piece.labels is not None:
        moved, seen = _moved_labels(key, piece, rot, s, at, frame)
        return (moved != seen) & ((moved != TRANSPARENT) | (seen != TRANSPARENT))
    moved, own, allowed, _ = _moved(key, piece, rot, s, at, frame)
    return (own & ~moved) | (moved & ~allowed)


def boundary_error(key: Piece, piece: Piece, rot: float, s: float, tolerance: float,
                   at: tuple[float, float] | None = None, frame: tuple[int, int] | None = None,
                   local: float | None = None) -> float:
    """How far ``key`` moved (rotation ``rot``, scale ``s`` about its centroid, which goes to ``at``, by
    default ``piece``'s centroid; inside ``frame`` (W, H) if given) is from drawing ``piece``: the pixels it
    leaves out of what is seen of the piece, or draws where the piece's colour may not be (not its own and
    not under a colour above), over the length of the seen outline: the mean outline distance in pixels.
    Infinite where those pixels anywhere form a blob thicker than 2 × LOCAL × the tolerance (a part that
    appeared or vanished, which a mean over a long outline hides; ``local`` sets another limit on that half
    thickness). Objects (pieces with ``labels``) are compared colour by colour, over every colour's outline."""
    return _outline_error(_difference(key, piece, rot, s, at or (piece.cx, piece.cy), frame), piece, tolerance,
                          local)


def _outline_error(diff: np.ndarray, piece: Piece, tolerance: float, local: float | None,
                   judged: np.ndarray | None = None) -> float:
    """``diff``'s pixels over ``piece``'s outline length; infinite where the difference (or its ``judged``
    part) is anywhere thicker than 2 × ``local`` (default LOCAL × the tolerance): a part changed."""
    part = diff if judged is None else judged
    if cv2.distanceTransform(part.view(np.uint8), cv2.DIST_L2, 3).max() > (LOCAL * tolerance if local is None
                                                                            else local):
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
    seen: list[Piece] = field(default_factory=list, repr=False)  # while tracking: the piece of each frame

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


def _meets(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _matrix(key: Piece, rot: float, s: float, at: tuple[float, float]) -> np.ndarray:
    """The 2×3 affine matrix that turns ``key`` by ``rot`` and scales it by ``s`` about its centroid, which
    goes to ``at`` (frame coordinates)."""
    c, sn = s * math.cos(rot), s * math.sin(rot)
    lin = np.array([[c, -sn], [sn, c]])
    shift = lin @ np.array([key.x0 - key.cx, key.y0 - key.cy]) + np.asarray(at, np.float64)
    return np.hstack([lin, shift[:, None]])


def _moved_box(key: Piece, m: np.ndarray) -> tuple[float, float, float, float]:
    kh, kw = key.mask.shape
    q = np.array([[0, 0, 1], [kw, 0, 1], [0, kh, 1], [kw, kh, 1]], np.float64) @ m.T
    return float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max())


def group_difference(moves: list[tuple[Piece, float, float, tuple[float, float]]], piece: Piece,
                     frame: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    """Objects: where several keys, each moved (key, rotation, scale, centroid), drawn together as the colour
    layers draw them (at each pixel the colour highest in the stacking order), differ from ``piece``: what
    one object shows when two tracked ones overlap. Returns (difference, where two or more keys draw)."""
    ms = [_matrix(k, r, sc, at) for k, r, sc, at in moves]
    boxes = np.array([_moved_box(k, m) for (k, *_), m in zip(moves, ms)] + [piece.bbox])
    x0, y0 = math.floor(boxes[:, 0].min()) - 2, math.floor(boxes[:, 1].min()) - 2
    x1, y1 = math.ceil(boxes[:, 2].max()) + 2, math.ceil(boxes[:, 3].max()) + 2
    if frame is not None:
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, frame[0]), min(y1, frame[1])
    size = (max(x1 - x0, 1), max(y1 - y0, 1))
    drawn = np.zeros((size[1], size[0]), np.uint8)  # palette index + 1; 0 = nothing
    count = np.zeros((size[1], size[0]), np.uint8)
    for (k, *_), m in zip(moves, ms):
        m = m - np.array([[0, 0, x0], [0, 0, y0]])
        lab = cv2.warpAffine(k.labels, m, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                             borderValue=TRANSPARENT)
        np.maximum(drawn, lab + np.uint8(1), out=drawn)  # TRANSPARENT (255) + 1 wraps to 0
        count += lab != TRANSPARENT
    seen = np.zeros_like(drawn)
    h, w = piece.labels.shape  # a piece lies inside the frame, so inside the canvas
    seen[piece.y0 - y0:piece.y0 - y0 + h, piece.x0 - x0:piece.x0 - x0 + w] = piece.labels + np.uint8(1)
    return drawn != seen, count > 1


def _group_error(moves, piece: Piece, frame, tolerance: float, local: float | None) -> float:
    """:func:`boundary_error` for several keys drawn together; where they overlap, the colour layers decide
    which colour shows, not the motion, so no part is judged changed there (the mean still counts it)."""
    diff, overlap = group_difference(moves, piece, frame)
    return _outline_error(diff, piece, tolerance, local, judged=diff & ~overlap)


def _explain_merged(segs: list[Segment], piece: Piece, tolerance: float, frame, local):
    """Transforms for several tracks' keys that together draw ``piece`` (tracked objects that overlap, so
    that they are labelled as one) within the tolerance, or None: each continues its motion (constant
    velocity), then each in turn is nudged by a pattern search with the others held."""
    moves = []
    for seg in segs:
        last = seg.motion[-1]
        prev = seg.motion[-2] if len(seg.motion) > 1 else last
        x, y, r, s = (2 * a - b for a, b in zip(last, prev))
        moves.append([seg.key, r, s, (x, y)])
    if _group_error(moves, piece, frame, tolerance, local) <= tolerance:
        return moves
    for _ in range(2):
        for i in range(len(moves)):
            def cost(r, sc, at):
                trial = moves[:i] + [[moves[i][0], r, sc, at]] + moves[i + 1:]
                return int(np.count_nonzero(group_difference(trial, piece, frame)[0]))
            moves[i][1:] = _search(cost, *moves[i][1:], radius=0.5 * math.hypot(*moves[i][0].mask.shape),
                                   steps=(0.5, 0.25), iterations=4)
        if _group_error(moves, piece, frame, tolerance, local) <= tolerance:
            return moves
    return None


def _search(cost, rot: float, s: float, at: tuple[float, float], radius: float, steps=(1.0, 0.5, 0.25),
            iterations: int = 8):
    """Pattern search for the (rotation, scale, centroid) of least ``cost`` from a start: steps of ``steps``
    px in position, and of as much at ``radius`` in rotation and scale, coarse to fine."""
    best = cost(rot, s, at)
    radius = max(radius, 1.0)
    for step in steps:
        for _ in range(iterations):
            improved = False
            for dx, dy, dr, ds in ((step, 0, 0, 0), (-step, 0, 0, 0), (0, step, 0, 0), (0, -step, 0, 0),
                                   (0, 0, step / radius, 0), (0, 0, -step / radius, 0),
                                   (0, 0, 0, step / radius), (0, 0, 0, -step / radius)):
                cand = (rot + dr, s * (1 + ds), (at[0] + dx, at[1] + dy))
                c = cost(*cand)
                if c < best:
                    best, (rot, s, at), improved = c, cand, True
            if not improved:
                break
    return [rot, s, at]


def _refine(key: Piece, piece: Piece, rot: float, s: float, at: tuple[float, float],
            frame: tuple[int, int] | None) -> tuple[float, float, tuple[float, float]]:
    """The transform near (``rot``, ``s``, ``at``) whose moved key differs from ``piece`` in the fewest
    pixels (:func:`_search`). For objects only: a single colour's piece may be drawn anywhere under the
    colours above it, so a search on its mask drifts off the shape (on a lossy webp clip it cost 2.5 dB)."""
    r, sc, a = _search(lambda r, sc, a: int(np.count_nonzero(_difference(key, piece, r, sc, a, frame))),
                       rot, s, at, 0.5 * math.hypot(*key.mask.shape))
    return r, sc, a


def _upgrade(seg: Segment, piece: Piece, r: float, s: float, at: tuple[float, float], tolerance: float,
             frame, local) -> bool:
    """Make ``piece`` (drawn by the segment's key turned by ``r``, scaled by ``s``, centred at ``at``) the
    segment's key when it draws every frame of the segment so far within the tolerance: the most detailed
    view of a growing shape is kept, not the first."""
    c, sn = math.cos(-r) / s, math.sin(-r) / s
    ox, oy = piece.cx - at[0], piece.cy - at[1]
    kx, ky = c * ox - sn * oy, sn * ox + c * oy  # the piece's centroid in the old key's frame, from its centroid
    if any(seen is None for seen in seg.seen):  # drawn together with another object: not checked alone
        return False
    motion = []
    for (x, y, rf, sf), seen in zip(seg.motion, seg.seen):
        cf, sf_ = sf * math.cos(rf), sf * math.sin(rf)
        m = (x + cf * kx - sf_ * ky, y + sf_ * kx + cf * ky, rf - r, sf / s)
        if boundary_error(piece, seen, m[2], m[3], tolerance, m[:2], frame, local) > tolerance:
            return False
        motion.append(m)
    seg.key, seg.motion = piece, motion
    return True


def track_layer(layer: int, frames: list[list[Piece]], tolerance: float,
                frame: tuple[int, int] | None = None, local: float | None = None) -> list[Segment]:
    """Segments of one colour layer (or of whole objects: pieces with ``labels``) from its pieces per frame
    (``tolerance``: traced px; ``frame``: the traced frame's (W, H), so that a shape entering or leaving it
    is still one shape moved; ``local``: see :func:`boundary_error`). When neither the pieces' moments nor
    the last motion draw a piece within the tolerance, a pattern search near the best of them is tried
    before a new segment starts; a piece UPGRADE× larger than its key becomes the key if it draws the
    segment's frames so far."""
    segments: list[Segment] = []
    tracks: list[tuple[Segment, tuple]] = []  # alive at t-1: (current segment, where it was: a bbox)
    next_id = 0
    for t, pieces in enumerate(frames):
        prev = np.array([box for _, box in tracks], np.float64).reshape(-1, 4)
        cur = np.array([p.bbox for p in pieces], np.float64).reshape(-1, 4)
        matched = match_boxes(prev, cur)
        alive, claimed = [], set(matched.values())
        for j, piece in enumerate(pieces):
            # objects that overlap are labelled as one: explained by all the tracks it meets that no other
            # piece took, each key moved on
            near = [i for i, (seg, box) in enumerate(tracks) if seg.key.labels is not None and piece.labels is not None
                    and (matched.get(j) == i or i not in claimed) and _meets(box, piece.bbox)]
            if len(near) >= 2:
                moves = _explain_merged([tracks[i][0] for i in near], piece, tolerance, frame, local)
                if moves is not None:
                    for i, (key, r, sc, at) in zip(near, moves):
                        seg = tracks[i][0]
                        seg.motion.append((at[0], at[1], r, sc))
                        seg.seen.append(None)
                        alive.append((seg, _moved_box(key, _matrix(key, r, sc, at))))
                        claimed.add(i)
                    continue
            if j in matched:
                seg, _ = tracks[matched[j]]
                key = seg.key
                lx, ly, last_rot, last_s = seg.motion[-1]
                cands = []  # (rotation, scale, where the key's centroid goes)
                clipped = _touches(piece, frame) or _touches(key, frame)
                if clipped:  # partly outside: its moments are not its own
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
                errs = [boundary_error(key, piece, r, s, tolerance, at, frame, local) for r, s, at in cands]
                k = int(np.argmin(errs))
                if errs[k] > tolerance and tolerance > 0 and piece.labels is not None:  # objects: see _refine
                    cands.append(_refine(key, piece, *cands[k], frame))
                    r, s, at = cands[-1]
                    errs.append(boundary_error(key, piece, r, s, tolerance, at, frame, local))
                    k = int(np.argmin(errs))
                if errs[k] <= tolerance:
                    r, s, at = cands[k]
                    seg.motion.append((at[0], at[1], r, s))
                    seg.seen.append(piece)
                    if s >= UPGRADE and not clipped:
                        _upgrade(seg, piece, r, s, at, tolerance, frame, local)
                    alive.append((seg, piece.bbox))
                    continue
                shape = seg.shape
            else:
                shape, next_id = next_id, next_id + 1
            seg = Segment(layer, shape, t, piece, [(piece.cx, piece.cy, 0.0, 1.0)], seen=[piece])
            segments.append(seg)
            alive.append((seg, piece.bbox))
        tracks = alive
    for seg in segments:
        seg.seen = []
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
        """Shapes (tracks), segments (= keys traced), their keyframes and mean length, the colour layers'
        copies of a segment counted once."""
        segs = list({(s.shape, s.start): s for s in self.segments if s.paths}.values())
        return {"shapes": len({s.shape for s in segs}), "segments": len(segs),
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
