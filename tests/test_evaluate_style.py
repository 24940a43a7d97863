"""Calibration of the vector-style metrics: flat anti-aliased art vs photographic texture."""

import cv2
import numpy as np
import pytest

from vectorwan.colour import kmeans_palette, to_lab
from vectorwan.evaluate.style import (edge_widths, effective_colours, flatness, frame_style, lab_histogram,
                                      palette, palette_compactness, psnr, sample_indices, ssim, style_metrics)
from vectorwan.evaluate.synthetic import shapes_clip


@pytest.fixture(scope="module")
def flat_and_textured():
    flat = shapes_clip(t=1, size=128, motion="static")[0]
    tex = shapes_clip(t=1, size=128, motion="static", texture=30)[0]
    return frame_style(flat), frame_style(tex)


def test_flat_image_scores_far_higher_on_palette_compactness(flat_and_textured):
    f, t = flat_and_textured
    assert f["compact8"] > 0.97 and f["compact16"] > 0.99
    assert t["compact8"] < 0.5 and t["compact16"] < 0.7
    assert f["colours_eff"] < 6 < 100 < t["colours_eff"]


def test_flat_image_scores_far_higher_on_vectorizability(flat_and_textured):
    f, t = flat_and_textured
    assert f["vec_ssim"] > 0.9 > 0.75 > t["vec_ssim"]
    assert f["vec_psnr"] > t["vec_psnr"] + 3
    assert f["paths_per_mp"] * 20 < t["paths_per_mp"]


def test_flat_image_is_flat_and_textured_is_not(flat_and_textured):
    f, t = flat_and_textured
    assert f["flatness"] > 0.98 and t["flatness"] < 0.3


def test_edge_width_measures_blur():
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, 32:] = 255  # hard step: bilinear profile ramps over 1 px → 10–90 % = 0.8 px
    hard = np.median(edge_widths(to_lab(img)))
    assert 0.5 <= hard <= 1.0
    blurred = cv2.GaussianBlur(img, (0, 0), 2.0)  # 10–90 % of a Gaussian edge = 2.56 σ
    assert np.median(edge_widths(to_lab(blurred))) == pytest.approx(2.56 * 2.0, abs=0.6)
    assert edge_widths(to_lab(np.full((32, 32, 3), 90, np.uint8))).size == 0  # no edges


def test_palette_and_compactness_on_exact_colours():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, :10], img[:, 10:25], img[:, 25:] = (255, 0, 0), (0, 128, 255), (250, 250, 240)
    lab = to_lab(img)
    c, share = palette(lab, 3)
    assert sorted(np.round(share, 3)) == pytest.approx([0.25, 0.375, 0.375])
    assert palette_compactness(lab, 3) == 1.0
    assert palette_compactness(lab, 2) < 0.8  # two colours cannot explain three
    assert effective_colours(lab) == pytest.approx(np.exp(-(0.25 * np.log(0.25) + 2 * 0.375 * np.log(0.375))), rel=1e-6)


def test_histogram_paths_agree_and_kmeans_is_deterministic():
    rng = np.random.default_rng(1)
    lab = to_lab(rng.integers(0, 256, (60, 70, 3), dtype=np.uint8))
    big = np.tile(lab, (8, 8, 1))  # large input takes the dense-bincount path
    (m1, c1), (m2, c2) = lab_histogram(lab), lab_histogram(big)
    assert np.allclose(m1, m2, atol=1e-3) and np.allclose(c1 * 64, c2)
    a = kmeans_palette(m1, c1, 8)
    b = kmeans_palette(m1, c1, 8)
    assert np.array_equal(a[0], b[0]) and a[1].sum() == pytest.approx(1.0)


def test_flatness_edge_density():
    img = np.full((50, 50, 3), 200, np.uint8)
    img[:, 25:] = 20
    r = flatness(to_lab(img))
    assert r["flatness"] == 1.0 and 0 < r["edge_density"] < 0.1


def test_psnr_ssim():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert psnr(a, a) == 100.0 and ssim(a, a) == pytest.approx(1.0)
    b = np.clip(a.astype(int) + 10, 0, 255).astype(np.uint8)
    assert 20 < psnr(a, b) < 30 and ssim(a, b) < 1.0


def test_style_metrics_sample_and_trace_only_a_few_frames():
    clip = shapes_clip(t=9, size=64, motion="translate")
    r = style_metrics(clip, n_frames=3, n_trace=1)
    assert r["frames"] == [0, 4, 8] and len(r["traced_frames"]) == 1
    assert set(r) >= {"compact8", "vec_psnr", "edge_width_px"}
    assert sample_indices(1, 6) == [0]
