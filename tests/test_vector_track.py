import numpy as np

from vectorwan.vector.pipeline import VectorizeOptions, vectorize_clip
from vectorwan.vector.synth import simple_clip
from vectorwan.vector.track import bbox_iou, match_boxes


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
    # each moving shape is one trace, moved: one segment for all 8 frames
    assert res.tracking["mean_segment_length"] == 8.0
