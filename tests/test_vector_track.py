import numpy as np

from vectorwan.vector.pipeline import VectorizeOptions, vectorize_clip
from vectorwan.vector.synth import simple_clip
from vectorwan.vector.trace import TracedFrame, TracedPath
from vectorwan.vector.track import assign_shape_ids, bbox_iou, match_boxes


def test_bbox_iou():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    assert np.allclose(bbox_iou(a, b), [[1.0, 50 / 150, 0.0]])


def test_match_boxes_by_overlap_then_by_distance():
    prev = np.array([[0, 0, 10, 10], [50, 50, 60, 60]])
    cur = np.array([[52, 50, 62, 60], [30, 0, 40, 10], [100, 100, 101, 101]])
    m = match_boxes(prev, cur)
    assert m[0] == 1  # overlaps the second old box
    assert 1 not in m  # 20 px away from a 10 px box: too far to be the same shape
    assert 2 not in m
    m = match_boxes(prev, cur, max_shift=3.0)
    assert m[1] == 0  # allowed with a larger shift


def _frame(boxes_per_layer):
    fr = TracedFrame(100, 100, 1, [[] for _ in boxes_per_layer])
    for li, boxes in enumerate(boxes_per_layer):
        fr.layers[li] = [TracedPath("M0,0 L1,0 L1,1 Z", b[0], b[1], tuple(b)) for b in boxes]
    return fr


def test_assign_shape_ids_follows_moving_shapes_and_new_ones():
    frames = [
        _frame([[(0, 0, 10, 10), (50, 50, 70, 70)]]),
        _frame([[(52, 50, 72, 70), (3, 0, 13, 10)]]),  # listed in the other order, both moved
        _frame([[(6, 0, 16, 10), (54, 50, 74, 70), (90, 90, 95, 95)]]),
    ]
    stats = assign_shape_ids(frames)
    ids = [{(round(p.bbox[0])): p.shape for p in f.layers[0]} for f in frames]
    assert ids[0] == {0: 0, 50: 1}
    assert ids[1] == {3: 0, 52: 1}
    assert ids[2] == {6: 0, 54: 1, 90: 2}
    assert stats.shapes_per_layer == [3]
    # paths are sorted by id inside a layer, so each keeps its place in the file
    assert [p.shape for p in frames[1].layers[0]] == [0, 1]


def test_layer_and_shape_ids_stable_while_shapes_move():
    frames = simple_clip(8, 96)  # the red ball slides right, the blue square slides down
    res = vectorize_clip(frames, 8, VectorizeOptions(jobs=1, fidelity=False))
    pal = res.palette.hex
    for li, axis in ((pal.index("#e0413a"), 0), (pal.index("#3a6fd8"), 1)):
        ids = [sorted(p.shape for p in fr.layers[li]) for fr in res.frames]
        assert all(x == ids[0] for x in ids), ids  # the same shapes, with the same ids, in every frame
        moves = []
        for sid in ids[0]:
            c = [next((p.bbox[axis] + p.bbox[axis + 2]) / 2 for p in fr.layers[li] if p.shape == sid)
                 for fr in res.frames]
            moves.append(np.ptp(c))
        assert max(moves) > 10  # ... while one of them moved by more than 10 px
    assert res.tracking.mean_track_length == 8.0
