"""Colour maths (sRGB ↔ Lab, distances, weighted k-means) and evenly spaced frame indices."""

import numpy as np
import pytest

from vectorwan.colour import kmeans_palette, lab_to_rgb, sqdist, to_lab, unit_rgb_to_lab, weighted_kmeans
from vectorwan.frames import evenly_spaced


def test_lab_of_known_colours():
    lab = to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0], [128, 128, 128]], np.uint8))
    assert lab.dtype == np.float32 and lab.shape == (4, 3)
    assert lab[0] == pytest.approx([100.0, 0.0, 0.0], abs=0.01)
    assert lab[1] == pytest.approx([0.0, 0.0, 0.0], abs=0.01)
    assert lab[2] == pytest.approx([53.24, 80.09, 67.20], abs=0.05)  # CIE formula, D65
    assert lab[3] == pytest.approx([53.59, 0.0, 0.0], abs=0.05)  # neutral grey keeps a = b = 0


def test_lab_keeps_shape_and_agrees_across_layouts():
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (3, 5, 7, 3), dtype=np.uint8)
    lab = to_lab(clip)
    assert lab.shape == clip.shape
    assert np.array_equal(lab.reshape(-1, 3), to_lab(clip.reshape(-1, 3)))  # a frame = its pixels
    assert np.array_equal(lab[1], to_lab(clip[1]))
    assert to_lab([255, 0, 0]).shape == (3,) and to_lab(np.zeros((0, 3), np.uint8)).shape == (0, 3)
    assert np.array_equal(unit_rgb_to_lab(clip.astype(np.float32) / 255.0), lab)


def test_lab_to_rgb_inverts_to_lab():
    rgb = np.random.default_rng(1).integers(0, 256, (200, 3), dtype=np.uint8)
    err = np.abs(lab_to_rgb(to_lab(rgb)) - rgb)
    assert err.max() < 1.5 and err.mean() < 0.3  # OpenCV's float Lab is approximate (see colour.py)


def test_sqdist_is_pairwise_squared_distance_and_never_negative():
    rng = np.random.default_rng(2)
    a, b = rng.random((6, 3)) * 100, rng.random((4, 3)) * 100
    assert sqdist(a, b) == pytest.approx(((a[:, None] - b[None]) ** 2).sum(-1))
    assert (sqdist(a, a) >= 0).all() and np.diag(sqdist(a, a)) == pytest.approx(0.0, abs=1e-9)


def _blobs(seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[20.0, 0.0, 0.0], [60.0, 50.0, -40.0], [90.0, -30.0, 60.0]])
    pts = np.concatenate([c + rng.normal(0, 1.0, (100, 3)) for c in centres])
    w = np.concatenate([np.full(100, m) for m in (1.0, 2.0, 5.0)])
    return centres, pts, w


def test_weighted_kmeans_recovers_separated_clusters():
    centres, pts, w = _blobs()
    c, labels = weighted_kmeans(pts, w, 3)
    order = [int(np.argmin(((c - t) ** 2).sum(1))) for t in centres]
    assert sorted(order) == [0, 1, 2]
    assert np.abs(c[order] - centres).max() < 0.5
    assert all((labels[i * 100:(i + 1) * 100] == order[i]).all() for i in range(3))
    a, b = weighted_kmeans(pts, w, 3, seed=4), weighted_kmeans(pts, w, 3, seed=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_kmeans_palette_gives_weight_shares():
    centres, pts, w = _blobs(1)
    c, share = kmeans_palette(pts, w, 3)
    assert share.sum() == pytest.approx(1.0)
    assert sorted(share) == pytest.approx([1 / 8, 2 / 8, 5 / 8])
    assert np.abs(c[np.argmax(share)] - centres[2]).max() < 0.5  # the heaviest cluster
    assert len(kmeans_palette(pts[:2], w[:2], 5)[0]) == 2  # never more centres than points
    assert kmeans_palette(pts, w, 0)[0].shape == (0, 3)


def test_evenly_spaced_indices():
    assert evenly_spaced(10, 4).tolist() == [0, 3, 6, 9]  # first and last included
    assert evenly_spaced(5, 8).tolist() == [0, 1, 2, 3, 4]  # n >= t: every frame
    assert evenly_spaced(5, 5).tolist() == [0, 1, 2, 3, 4]
    assert evenly_spaced(7, 1).tolist() == [0]
    assert evenly_spaced(1, 6).tolist() == [0]
    assert evenly_spaced(0, 3).tolist() == [] and evenly_spaced(4, 0).tolist() == []
    idx = evenly_spaced(81, 16)
    assert len(idx) == 16 and (np.diff(idx) > 0).all() and idx.dtype.kind == "i"
