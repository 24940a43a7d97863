import numpy as np
import pytest

from vectorwan.colour import to_lab, weighted_kmeans
from vectorwan.vector.palette import (TRANSPARENT, Palette, Quantizer, blend_mask, detect_background,
                                      fit_palette, sample_colors, stacking_order)
from vectorwan.vector.pipeline import VectorizeOptions, build_palette, vectorize_clip
from vectorwan.vector.synth import SIMPLE_COLORS, simple_clip


def _hex_to_rgb(h):
    return tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))


def test_quantizer_matches_brute_force_and_memo():
    rng = np.random.default_rng(0)
    pal = rng.integers(0, 256, (9, 3)).astype(np.uint8)
    img = rng.integers(0, 256, (40, 50, 3)).astype(np.uint8)
    for space in ("rgb", "lab"):
        q = Quantizer(pal, space=space)
        got = q(img)
        if space == "rgb":
            d = ((img[:, :, None, :].astype(float) - pal[None, None].astype(float)) ** 2).sum(-1)
        else:
            d = ((to_lab(img)[:, :, None, :] - to_lab(pal)[None, None]) ** 2).sum(-1)
        # ties aside, the memoised answer is the exact nearest colour
        best = d.min(-1)
        assert np.allclose(np.take_along_axis(d, got[..., None].astype(int), -1)[..., 0], best, atol=1e-3)
        assert np.array_equal(q(img), got)  # second call: from the lookup table


def test_quantizer_rejects_empty_or_oversized_palette():
    with pytest.raises(ValueError):
        Quantizer(np.zeros((0, 3), np.uint8))
    with pytest.raises(ValueError):
        Quantizer(np.zeros((TRANSPARENT, 3), np.uint8))


def test_fit_palette_finds_exact_flat_colours_automatically():
    frames = simple_clip(4, 96)
    colors, weights = sample_colors(frames)
    pal = fit_palette(colors, weights, None)
    want = {_hex_to_rgb(h) for h in SIMPLE_COLORS} | {(255, 255, 255)}
    assert {tuple(int(v) for v in c) for c in pal} == want


def test_blend_mask_finds_edges_not_thin_lines():
    img = np.full((15, 20, 3), 255, np.uint8)
    img[:, 10:] = 0
    img[:, 9] = 128  # an anti-aliased step edge
    img[7, :] = 0  # a 1-px dark line crossing it
    m = blend_mask(img)
    assert m[2:6, 9].all() and m[9:13, 9].all()
    assert not m[7, :].any()  # the line is darker than both its sides: a colour, not a blend
    assert not m[:, :8].any() and not m[:, 11:].any()
    # chroma smeared by 4:2:0 video: luma from one side, chroma half-way, still a blend
    img = np.full((15, 20, 3), 255, np.uint8)
    img[:, 10:] = (224, 65, 58)
    img[:, 9] = (240, 150, 140)
    assert blend_mask(img)[2:13, 9].all()


def test_fit_palette_honours_k():
    rng = np.random.default_rng(1)
    colors = rng.integers(0, 256, (500, 3)).astype(np.uint8)
    w = rng.random(500) + 0.1
    for k in (2, 5, 16):
        pal = fit_palette(colors, w, k)
        assert 1 <= len(pal) <= k
    assert len(fit_palette(colors[:3], w[:3], 8)) == 3  # never more colours than there are


def test_weighted_kmeans_is_deterministic():
    rng = np.random.default_rng(2)
    lab = rng.random((300, 3)) * 100
    w = rng.random(300)
    a = weighted_kmeans(lab, w, 6, seed=3)[0]
    b = weighted_kmeans(lab, w, 6, seed=3)[0]
    assert np.array_equal(a, b)


def test_detect_background():
    frames = simple_clip(3, 64)
    assert detect_background(frames) == (255, 255, 255)
    noisy = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    assert detect_background(noisy) is None


def test_stacking_order_luminance_puts_dark_on_top():
    colors = np.array([[20, 20, 20], [250, 250, 250], [200, 50, 50]], np.uint8)
    order = stacking_order(colors)
    assert list(order) == [1, 2, 0]
    labels = np.array([[[0, 1, 1, 2]]], np.uint8)
    assert sorted(stacking_order(colors, labels, "greedy")) == [0, 1, 2]
    assert list(stacking_order(colors, labels, "area"))[0] == 1


def test_palette_is_locked_over_the_clip():
    """One palette for all frames: every frame is quantised to exactly these colours."""
    frames = simple_clip(6, 96)
    res = vectorize_clip(frames, 8, VectorizeOptions(jobs=1, fidelity=False))
    pal = res.palette.colors
    locked = res.locked_frames()
    allowed = {tuple(int(v) for v in c) for c in pal}
    for f in locked:
        assert {tuple(int(v) for v in c) for c in np.unique(f.reshape(-1, 3), axis=0)} <= allowed
    # and the SVG of every frame uses only the clip's palette colours as fills
    import re

    from vectorwan.vector.trace import hex_color, svg_document

    allowed_hex = {hex_color(c).lower() for c in pal}
    for fr in res.frames:
        assert len(fr.layers) <= len(pal)
        fills = {f.lower() for f in re.findall(r'fill="(#[0-9A-Fa-f]{6})"', svg_document(fr, res.palette))}
        assert fills and fills <= allowed_hex


def test_build_palette_with_k_includes_background():
    frames = simple_clip(3, 64)
    pal = build_palette(frames, VectorizeOptions(colors=5))
    assert isinstance(pal, Palette) and len(pal) == 5
    assert pal.background == (255, 255, 255)
    assert (255, 255, 255) in {tuple(int(v) for v in c) for c in pal.colors}
