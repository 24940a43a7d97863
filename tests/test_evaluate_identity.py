"""Identity and shape metrics: palette drift, colour-layer IoU, reference distances."""

import numpy as np
import pytest

from vectorwan.colour import to_lab
from vectorwan.evaluate.identity import (assign_layers, assign_layers_rgb, blend_colours, clip_palette,
                                         edge_distance, edge_signature, layer_area_drift, layer_iou, layer_lut,
                                         merge_close, palette_distance, reference_metrics, signature)
from vectorwan.evaluate.pipeline import Options, evaluate_frames
from vectorwan.evaluate.synthetic import shapes_clip

FAST = Options(style_frames=1, trace_frames=0)


def identity(**kw):
    return evaluate_frames(shapes_clip(t=12, size=96, motion="translate", speed=2, **kw), 8.0, FAST)["identity"]


def test_palette_jitter_raises_palette_drift_monotonically():
    v = [identity(palette_jitter=a)["palette_drift_first"] for a in (0, 4, 10, 25)]
    assert all(a < b for a, b in zip(v, v[1:])), v
    assert v[0] < 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_shape_wobble_lowers_warped_layer_iou_monotonically(seed):
    rs = [identity(wobble=a, seed=seed) for a in (0, 0.5, 1.5, 4)]
    iou = [r["layer_iou_warp"] for r in rs]
    area = [r["layer_area_drift"] for r in rs]
    assert iou[0] > 0.99
    assert all(a > b for a, b in zip(iou, iou[1:])), iou
    assert all(a < b for a, b in zip(area, area[1:])), area


def test_static_clip_is_perfectly_stable():
    r = evaluate_frames(shapes_clip(t=6, size=64, motion="static"), 8.0, FAST)["identity"]
    assert r["palette_drift_first"] == pytest.approx(0.0, abs=1e-6)
    assert r["layer_iou_warp"] == 1.0 and r["layer_iou_first"] == 1.0 and r["layer_area_drift"] == 0.0


def test_palette_distance_is_the_matched_shift():
    p = (np.array([[50.0, 0, 0], [80, 20, -20]]), np.array([0.7, 0.3]))
    q = (p[0] + [3.0, 0, 4.0], p[1])  # every colour moved by ΔE 5
    assert palette_distance(p, p) == 0.0
    assert palette_distance(p, q) == pytest.approx(5.0)
    assert palette_distance(p, q) == pytest.approx(palette_distance(q, p))


def test_layer_iou_and_area_drift_on_toy_maps():
    a = np.zeros((10, 10), np.uint8)
    a[:, 5:] = 1
    b = np.zeros((10, 10), np.uint8)
    b[:, 6:] = 1
    # layer 0: 50 ∩ 60 → 50/60; layer 1: 40/50
    assert layer_iou(a, b, 2) == pytest.approx((50 / 60 + 40 / 50) / 2)
    assert layer_iou(a, a, 2) == 1.0
    assert layer_area_drift(a, b, 2) == pytest.approx(0.1)


def test_blends_and_close_colours_do_not_make_layers():
    red, white = np.array([[[1.0, 0, 0]]], np.float32), np.array([[[1.0, 1, 1]]], np.float32)
    pink = (red + white) / 2
    lab = np.concatenate([to_lab((x * 255).astype(np.uint8)) for x in (red, white, pink)], 0).reshape(-1, 3)
    assert blend_colours(lab, np.array([0.5, 0.45, 0.05])).tolist() == [False, False, True]
    c, s = merge_close(np.array([[50.0, 0, 0], [52, 1, 0], [90, 0, 0]]), np.array([0.3, 0.2, 0.5]))
    assert len(c) == 2 and s.sum() == pytest.approx(1.0)
    clip = to_lab(shapes_clip(t=3, size=96, motion="static"))
    assert len(clip_palette(clip)) == 4  # background + three fills, no anti-aliasing blends


def test_lut_assignment_matches_exact_assignment():
    rgb = shapes_clip(t=1, size=64, motion="static")[0]
    lab = to_lab(rgb)
    c = clip_palette(lab[None])
    exact = assign_layers(lab, c)
    fast = assign_layers_rgb(rgb, layer_lut(c))
    assert (exact == fast).mean() > 0.99


def test_reference_distance_is_zero_to_itself_and_larger_to_other_styles():
    flat = shapes_clip(t=1, size=96, motion="static")[0]
    tex = shapes_clip(t=1, size=96, motion="static", texture=30)[0]
    refs = [signature(flat)]
    same = reference_metrics([flat], refs)
    other = reference_metrics([tex], refs)
    assert same["ref_palette_de"] == pytest.approx(0.0, abs=1e-6) and same["ref_edge_dist"] == 0.0
    assert other["ref_palette_de"] > 3 and other["ref_edge_dist"] > 0.2
    h = edge_signature(to_lab(flat))
    assert h.sum() == pytest.approx(1.0) and edge_distance(h, h) == 0.0
    # nearest of several references is picked
    two = reference_metrics([tex], [signature(flat), signature(tex)])
    assert two["per_frame"]["nearest_ref"] == [1]
