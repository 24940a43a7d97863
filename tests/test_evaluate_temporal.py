"""Calibration of the temporal metrics on synthetic flat-colour animations (issue #4)."""

import numpy as np
import pytest

from vectorwan.errors import UserError
from vectorwan.evaluate import flow as fl
from vectorwan.evaluate.pipeline import Options, evaluate_frames
from vectorwan.evaluate.synthetic import shapes_clip
from vectorwan.evaluate.temporal import compose, dynamic_degree, require_frames, top_mean, vbench_flicker_score

FAST = Options(style_frames=1, trace_frames=0)


def temporal(frames, fps=8.0):
    return evaluate_frames(frames, fps, FAST)["temporal"]


def test_static_clip_has_zero_warping_error_and_unit_flicker_score():
    t = temporal(shapes_clip(t=10, size=96, motion="static"))
    assert t["e_warp"] == pytest.approx(0.0, abs=1e-9)
    assert t["e_warp_a"] == pytest.approx(0.0, abs=1e-6)
    assert t["flicker"] == pytest.approx(0.0, abs=1e-6)
    assert t["vbench_flicker"] == pytest.approx(1.0, abs=1e-9)
    assert t["motion_px"] < 0.05 and t["static"] and not t["dynamic"]
    assert t["valid"] > 0.99


def test_pure_translation_has_near_zero_warping_error_and_right_motion():
    v = np.hypot(6, 3)  # 6 px right, 3 px down per frame
    t = temporal(shapes_clip(t=12, size=128, motion="translate", speed=6))
    noisy = temporal(shapes_clip(t=12, size=128, motion="translate", speed=6, noise=4))
    assert t["e_warp"] < 1e-4  # RMS < 2.6 grey levels, at edges only
    assert t["e_warp"] < noisy["e_warp"] / 10
    assert t["motion_top5_px"] == pytest.approx(v, rel=0.15)  # top 5 % normal flow ≈ |w|
    assert 0.4 * v < t["motion_px"] < v  # mean normal flow ≈ (2/π)|w|


@pytest.mark.parametrize("speed, fps, dynamic", [(1, 8, False), (6, 8, True), (1, 16, False), (2, 16, True)])
def test_dynamic_degree_follows_vbench_threshold(speed, fps, dynamic):
    # 128 px frames: VBench threshold 6·128/256 = 3 px between frames sampled at ~8 fps,
    # so at 16 fps (stride 2) 2 px/frame moves 2·|(2, 1)| ≈ 4.5 px per sampled pair.
    t = temporal(shapes_clip(t=17, size=128, motion="translate", speed=speed), fps=fps)
    assert t["dynamic"] is dynamic
    assert t["dynamic_detail"]["stride"] == (2 if fps == 16 else 1)
    assert t["dynamic_detail"]["threshold_px"] == pytest.approx(3.0)


def test_noise_worsens_warping_error_and_flicker_monotonically():
    rs = [temporal(shapes_clip(t=10, size=96, motion="translate", speed=2, noise=a)) for a in (0, 3, 8, 20)]
    for key in ("e_warp", "e_warp_L", "flicker"):
        v = [r[key] for r in rs]
        assert all(a < b for a, b in zip(v, v[1:])), (key, v)
    fs = [r["vbench_flicker"] for r in rs]
    assert all(a > b for a, b in zip(fs, fs[1:])), fs


def test_isoluminant_colour_change_shows_in_lab_chroma_channels():
    f = np.full((6, 64, 64, 3), 128, np.uint8)
    # two colours of (nearly) equal luma, swapped every other frame inside a square
    a, b = np.array([180, 100, 128]), np.array([96, 145, 134])
    for i in range(6):
        f[i, 16:48, 16:48] = a if i % 2 else b
    t = temporal(f)
    assert t["e_warp_a"] > 20 * max(t["e_warp_L"], 1e-3)


def test_single_frame_raises_one_line_user_error():
    with pytest.raises(UserError, match="at least 2 frames") as e:
        require_frames(1, source="x.png")
    assert "\n" not in str(e.value)
    r = evaluate_frames(shapes_clip(t=1, size=64), 8.0, FAST)
    assert r["temporal"] is None and r["identity"] is None and "2 frames" in r["skipped"]
    assert r["style"]["compact8"] > 0.9  # still styled


def test_warp_and_occlusion_on_known_shift():
    rng = np.random.default_rng(0)
    img = rng.random((40, 50)).astype(np.float32)
    shifted = np.roll(img, 3, axis=1)  # content moved 3 px right
    fwd = np.zeros((40, 50, 2), np.float32)
    fwd[..., 0] = 3.0
    back = fl.warp(shifted, fwd)
    assert np.allclose(back[:, :47], img[:, :47])
    valid = fl.occlusion_mask(fwd, -fwd)
    assert valid[:, :47].all() and not valid[:, 47:].any()  # leaving the frame = occluded
    assert not fl.occlusion_mask(fwd, fwd).any()  # inconsistent forward/backward


def test_compose_chains_flows():
    f1 = np.zeros((20, 20, 2), np.float32)
    f1[..., 0] = 2
    f2 = np.zeros((20, 20, 2), np.float32)
    f2[..., 1] = 1
    c = compose(np.stack([f1, f2]))
    assert np.allclose(c[..., 0], 2) and np.allclose(c[..., 1], 1)


def test_vbench_flicker_formula_and_top_mean():
    f = np.zeros((3, 4, 4, 3), np.uint8)
    f[1] = 51
    assert vbench_flicker_score(f) == pytest.approx((255 - 51) / 255)
    assert top_mean(np.arange(100.0)) == pytest.approx(97.0)
    assert top_mean(np.zeros(0)) == 0.0


def test_dynamic_degree_needs_two_frames():
    with pytest.raises(UserError):
        dynamic_degree(np.zeros((1, 32, 32), np.uint8), 16.0)


def test_net_motion_ignores_jitter_but_keeps_steady_motion():
    steady = temporal(shapes_clip(t=17, size=128, motion="translate", speed=2), fps=16)
    wobbly = temporal(shapes_clip(t=17, size=128, motion="static", wobble=2.0), fps=16)
    assert steady["net_window"] == 8
    assert steady["motion_net_px"] == pytest.approx(steady["motion_px"], rel=0.1)
    assert wobbly["motion_net_px"] < 0.35 * wobbly["motion_px"]
