"""The motion layer: pieces matched across frames as one trace moved by transform keyframes (animate.py)."""

import math

import cv2
import numpy as np
import pytest

from vectorwan.vector.animate import Piece, boundary_error, thin, track_layer
from vectorwan.vector.fidelity import psnr
from vectorwan.vector.pipeline import TraceOptions, VectorizeOptions, vectorize_clip
from vectorwan.vector.synth import render_clip, simple_scene_svg
from vectorwan.vector.trace import render_svg, svg_document


def _ellipse(cx, cy, deg, s=1.0, size=160, axes=(40, 16), notch=False):
    """An anti-aliased ellipse rasterised at 8× and thresholded: a shape moved, turned and scaled."""
    k = 8
    img = np.zeros((size * k, size * k), np.uint8)
    cv2.ellipse(img, (round(cx * k), round(cy * k)), (round(axes[0] * s * k), round(axes[1] * s * k)), deg, 0, 360,
                255, -1)
    if notch:
        cv2.circle(img, (round((cx + 30 * s) * k), round(cy * k)), 6 * k, 0, -1)
    small = cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA) >= 128
    rows, cols = np.flatnonzero(small.any(1)), np.flatnonzero(small.any(0))
    y0, x0 = rows[0] - 1, cols[0] - 1
    return Piece(int(x0), int(y0), small[y0:rows[-1] + 2, x0:cols[-1] + 2])


def test_boundary_error_is_small_for_a_moved_shape_and_large_for_another_shape():
    key = _ellipse(60.3, 70.1, 10)
    assert boundary_error(key, key, 0.0, 1.0, 1.0) == 0.0
    moved = _ellipse(91.7, 64.6, 10)  # moved by a fraction of a pixel too: a different raster
    assert boundary_error(key, moved, 0.0, 1.0, 1.0) < 0.6
    turned = _ellipse(80, 80, 40, 1.2)
    err_right = boundary_error(key, turned, math.radians(30), 1.2, 1.0)
    assert err_right < 0.6
    assert boundary_error(key, turned, 0.0, 1.2, 1.0) > 3 * err_right  # the wrong rotation is far off
    # a part that vanished (a notch 12 px across) is a changed shape, however long the outline
    assert boundary_error(key, _ellipse(60.3, 70.1, 10, notch=True), 0.0, 1.0, 1.0) == math.inf


def test_a_turning_growing_shape_is_one_segment_with_the_true_rotation_and_scale():
    angles = [10 + 3 * t for t in range(10)]
    scales = [1 + 0.02 * t for t in range(10)]
    frames = [[_ellipse(60 + 2.3 * t, 80 - 1.1 * t, a, s)] for t, (a, s) in enumerate(zip(angles, scales))]
    (seg,) = track_layer(0, frames, tolerance=1.0)
    assert seg.start == 0 and seg.end == 10
    # the key is the view 1.1× the first (frame 5), the most detailed seen when it was chosen: the motion is
    # that view's, turned and scaled, and it draws every frame
    assert seg.key is frames[5][0]
    rot = [math.degrees(m[2]) for m in seg.motion]
    assert np.allclose(rot, np.array(angles) - angles[5], atol=1.0), rot
    assert np.allclose([m[3] for m in seg.motion], np.array(scales) / scales[5], rtol=0.01)
    assert np.allclose([m[0] for m in seg.motion], [frames[t][0].cx for t in range(10)], atol=0.5)
    assert all(boundary_error(seg.key, frames[t][0], m[2], m[3], 1.0, m[:2]) <= 1.0
               for t, m in enumerate(seg.motion))


def test_a_shape_that_changes_starts_a_new_segment_of_the_same_track():
    frames = [[_ellipse(60 + 2 * t, 80, 10, notch=t >= 3)] for t in range(6)]
    segs = track_layer(0, frames, tolerance=1.0)
    assert [(s.start, s.end, s.shape) for s in segs] == [(0, 3, 0), (3, 6, 0)]
    # with no tolerance, only an identical raster continues a segment: moved by whole pixels, yes; by
    # fractions of one, no
    assert len(track_layer(0, frames, tolerance=0.0)) == 2
    frames = [[_ellipse(60 + 2.3 * t, 80, 10)] for t in range(6)]
    assert len(track_layer(0, frames, tolerance=0.0)) == 6 and len(track_layer(0, frames, tolerance=1.0)) == 1


def test_thinning_keeps_the_keyframes_linear_interpolation_needs():
    steady = [(2.0 * t, 5.0, 0.0, 1.0) for t in range(20)]
    assert thin(steady, 10.0, 0.1) == [0, 19]
    kink = [(2.0 * min(t, 10), 5.0, 0.0, 1.0) for t in range(20)]
    assert thin(kink, 10.0, 0.1) == [0, 10, 19]
    turn = [(0.0, 0.0, 0.01 * t, 1.0) for t in range(10)] + [(0.0, 0.0, 0.09, 1.0)] * 10
    assert thin(turn, 100.0, 0.5) == [0, 9, 19]  # a rotation error counts at the shape's radius
    assert thin(turn, 1.0, 0.5) == [0, 19]


@pytest.mark.parametrize("mode", ["polygon", "spline"])
def test_the_turning_shape_of_a_scene_is_one_path_turned_by_keyframes_and_frames_stay_faithful(mode):
    clip = render_clip(simple_scene_svg, 9, 96)  # the triangle turns, the ball and the square slide
    res = vectorize_clip(clip, 12, VectorizeOptions(jobs=1, trace=TraceOptions(mode=mode)))
    anim = res.animation
    assert all(s.start == 0 and s.end == 9 for s in anim.segments)  # every shape: one trace for the clip
    turning = [s for s in anim.segments if any(abs(k[3]) > 5 for k in s.keys)]
    assert turning and all(len(s.keys) < 9 for s in turning)
    assert all(r["psnr"] >= 30 for r in res.fidelity), [round(r["psnr"], 2) for r in res.fidelity]
    # fidelity renders the frames as written: the per-frame view is what the views' SVG draws
    t = 5
    img = render_svg(svg_document(res.frames[t], res.palette), 96, 96, background=res.matte)
    assert psnr(img, clip[t]) == pytest.approx(res.fidelity[t]["psnr"], abs=1e-3)


def test_a_shape_leaving_the_frame_is_still_one_shape_moved():
    """A shape sliding out across the right edge: what the frame shows of it shrinks, but it is the same
    shape moved (a player cuts it off at the edge), so one segment, moving at its own speed."""
    size = 160
    frames = []
    for t in range(8):
        p = _ellipse(120 + 6.3 * t, 80, 10, size=size * 2)
        cut = p.mask[:, :max(size - p.x0, 0)]  # what a 160-px frame shows
        frames.append([Piece(p.x0, p.y0, cut)])
    segs = track_layer(0, frames, tolerance=1.0, frame=(size, 160 * 2))
    assert len(segs) == 1, [(s.start, s.end) for s in segs]
    xs = [m[0] for m in segs[0].motion]
    assert np.allclose(np.diff(xs), 6.3, atol=0.4), xs
    # without the frame's size the cut-off shape looks like a shape that changes
    assert len(track_layer(0, frames, tolerance=1.0)) > 1


def _object(cx, cy, size=200):
    """A two-colour object (a disk of colour 0 with an off-centre spot of colour 1), as palette labels."""
    k = 8
    big = np.full((size * k, size * k), 255, np.uint8)
    cv2.circle(big, (round(cx * k), round(cy * k)), 30 * k, 0, -1)
    cv2.circle(big, (round((cx + 12) * k), round((cy - 8) * k)), 9 * k, 1, -1)
    return cv2.resize(big, (size, size), interpolation=cv2.INTER_NEAREST)


def _pieces(labels):
    from vectorwan.vector.trace import mask_pieces
    out = []
    for x0, y0, region in mask_pieces(labels != 255):
        h, w = region.shape
        out.append(Piece(x0, y0, None, labels=np.where(region, labels[y0:y0 + h, x0:x0 + w], 255).astype(np.uint8)))
    return out


def test_objects_that_overlap_while_they_pass_stay_one_segment_each():
    """Two objects moving towards each other overlap for some frames and are labelled as one object
    there: each track's key, moved on, explains it together with the other's, so no frame is re-keyed."""
    frames = []
    for t in range(12):
        a, b = _object(40 + 5.3 * t, 100), _object(160 - 5.1 * t, 104)
        frames.append(_pieces(np.where(b != 255, np.maximum(a, b) * (a != 255) + b * (a == 255), a)))
    assert min(len(f) for f in frames) == 1  # they do merge
    segs = track_layer(0, frames, tolerance=1.0, local=2.5)
    assert len(segs) == 2, [(s.start, s.end) for s in segs]
    xs = sorted(([m[0] for m in s.motion] for s in segs), key=lambda v: v[0])
    assert np.allclose(np.diff(xs[0]), 5.3, atol=0.5) and np.allclose(np.diff(xs[1]), -5.1, atol=0.5), xs
