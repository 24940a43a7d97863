"""The layer-wise vector supervision: layer maps, the three loss terms, and the trainer with them."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from helpers import make_mixed_dataset, tiny_overrides
from vectorwan.config import load_config
from vectorwan.data.layer_maps import frame_groups, layer_maps
from vectorwan.errors import UserError
from vectorwan.train.losses import colour_loss, motion_loss, shape_loss, support, vector_losses
from vectorwan.train.loop import train


# ----------------------------------------------------------------------------- layer maps
def _square_clip(frames=9, size=32):
    """RGBA: an orange 12 px square with a 2 px dark outline, 4 px further right in each latent frame."""
    rgba = np.zeros((frames, size, size, 4), np.uint8)
    for t in range(frames):
        x = 4 + 4 * ((t + 3) // 4)  # pixel frames 1–4 are latent frame 1, 5–8 latent frame 2
        rgba[t, 8:20, x:x + 12] = (20, 20, 20, 255)
        rgba[t, 10:18, x + 2:x + 10] = (240, 140, 20, 255)
    return rgba


def test_frame_groups_follow_wans_causal_vae():
    assert frame_groups(1, 1) == [[0]]
    assert frame_groups(9, 3) == [[0], [1, 2, 3, 4], [5, 6, 7, 8]]
    assert frame_groups(5, 3) == [[0], [1, 2], [3, 4]]
    with pytest.raises(ValueError):
        frame_groups(8, 3)


def test_layer_maps_of_a_moving_outlined_square():
    rgba = _square_clip()
    rgb = np.where(rgba[..., 3:] > 0, rgba[..., :3], 255).astype(np.uint8)
    m = layer_maps(rgb, rgba[..., 3], (16, 3, 8, 8))  # 4 px per latent cell
    assert {k: v.shape for k, v in m.items() if k != "palette"} == {
        "silhouette": (3, 8, 8), "outline": (3, 8, 8), "region": (3, 8, 8), "purity": (3, 8, 8), "motion": (2, 8, 8)}
    # frame 0: the square covers rows 8–19 (cells 2–4) and columns 4–15 (cells 1–3) exactly
    assert m["silhouette"][0][2:5, 1:4].min() == 1.0 and m["silhouette"][0].sum() == 9.0
    # the outline covers the ring (and the silhouette's edge 1 px outside it): not the orange centre
    assert m["outline"][0][3, 2] < m["outline"][0][2, 1] and m["outline"][0][0, 0] == 0
    orange = m["region"][0][3, 2]
    assert orange >= 0 and m["region"][0][0, 0] == -1 and m["purity"][0][0, 0] == 1.0
    assert (m["palette"][orange].astype(int) - (240, 140, 20)).__abs__().max() <= 2
    # motion: only where the square was or is; nothing far from it
    assert m["motion"].max() > 0.2 and m["motion"][:, 7].max() == 0 and m["motion"][:, :, 7].max() == 0
    assert m["silhouette"][2][2:5, 3:6].min() == 1.0  # moved 8 px by latent frame 2

    # no transparency: the same silhouette from the white background
    opaque = layer_maps(rgb, np.full(rgb.shape[:3], 255, np.uint8), (16, 3, 8, 8))
    assert np.array_equal(opaque["silhouette"], m["silhouette"])


# ----------------------------------------------------------------------------- the terms
def _maps(b=2, f=3, h=8, w=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    sil = torch.zeros(b, f, h, w)
    sil[:, :, 1:4, 1:4] = 1.0
    out = torch.zeros(b, f, h, w)
    out[:, :, 1, 1:4] = 0.5
    region = torch.full((b, f, h, w), -1, dtype=torch.int16)
    region[:, :, 1:4, 1:3] = 0
    region[:, :, 2:4, 3] = 1
    purity = torch.rand(b, f, h, w, generator=g) * 0.6 + 0.4  # some cells below 0.5: left out
    motion = torch.zeros(b, f - 1, h, w)
    motion[:, :, 4, 4] = 0.5  # a moving pixel off the silhouette
    return {"silhouette": sil, "outline": out, "region": region, "purity": purity, "motion": motion}


class W:
    shape = colour = motion = 1.0
    noise = "all"


def test_every_term_is_zero_at_the_target_and_positive_elsewhere():
    maps, g = _maps(), torch.Generator().manual_seed(1)
    target = torch.randn(2, 4, 3, 8, 8, generator=g)
    sigma = torch.tensor([0.3, 0.9])
    at = vector_losses(target.clone(), target, sigma, maps, W)
    off = vector_losses(target + torch.randn(target.shape, generator=g), target, sigma, maps, W)
    assert set(at) == {"shape", "colour", "motion"}
    assert all(float(v) == 0.0 for v in at.values()) and all(float(v) > 0 for v in off.values())


@pytest.mark.parametrize("term", ["shape", "colour", "motion"])
def test_each_terms_gradient_flows_only_where_its_map_is_non_zero(term):
    maps, g = _maps(), torch.Generator().manual_seed(2)
    target = torch.randn(2, 4, 3, 8, 8, generator=g)
    pred = (target + torch.randn(target.shape, generator=g)).requires_grad_()
    w = type("W", (), {"shape": 0.0, "colour": 0.0, "motion": 0.0, "noise": "all", term: 1.0})
    (loss,) = vector_losses(pred, target, torch.tensor([0.5, 1.0]), maps, w).values()
    loss.backward()
    moved = pred.grad.abs().sum(1) > 0  # B×F×h×w
    where = support(maps)[term]
    assert not (moved & ~where).any(), f"{term}: gradient outside its map"
    assert moved.sum() >= 0.5 * where.sum(), f"{term}: no gradient where its map is"
    assert where.sum() < where.numel() / 2  # the check is not vacuous: most cells are outside


# Constructed cases: a capacity-limited prediction (a low-rank matrix, fitted by Adam) of a target that
# it cannot represent; the term must improve what it is for against the plain MSE at the same budget.
# Seeds 10–12 were not used while designing the cases (0–2 were).
H = 32
YY, XX = torch.meshgrid(torch.arange(H), torch.arange(H), indexing="ij")


def _fit(target, rank, loss_fn, seed, steps=400):
    g = torch.Generator().manual_seed(seed)
    f, h, w = target.shape
    rows, cols = (f, h * w) if f > 1 else (h, w)  # a clip: frames × pixels; a still: rows × columns
    u = (torch.randn(rows, rank, generator=g) * 0.1).requires_grad_()
    v = (torch.randn(rank, cols, generator=g) * 0.1).requires_grad_()
    opt = torch.optim.Adam([u, v], lr=0.05)
    for _ in range(steps):
        loss = loss_fn(((u @ v).view(f, h, w) - target)[None, None])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (u @ v).view(f, h, w).detach()


def _mse(e):
    return e.pow(2).mean()


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_shape_term_improves_silhouette_iou(seed):
    g = torch.Generator().manual_seed(seed)
    r2 = (YY - 16) ** 2 + (XX - 14) ** 2
    disk, ring = (r2 <= 64).float(), ((r2 <= 64) & (r2 > 36)).float()
    target = (disk + torch.randn(H, H, generator=g) * (1 - disk))[None]  # a disk on a noisy background
    iou = {}
    for name, fn in (("mse", _mse), ("shape", lambda e: _mse(e) + shape_loss(e, disk[None, None], ring[None, None]))):
        m = _fit(target, 3, fn, seed)[0] > 0.5
        iou[name] = float((m & (disk > 0)).sum() / (m | (disk > 0)).sum())
    assert iou["shape"] >= iou["mse"] + 0.03, iou


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_colour_term_flattens_colour_regions(seed):
    g = torch.Generator().manual_seed(seed)
    region = torch.full((H, H), -1)
    region[4:14, 4:28], region[18:28, 6:20] = 0, 1
    target = torch.where(region == 0, 1.0, torch.where(region == 1, -1.0, torch.randn(H, H, generator=g)))[None]
    var = {}
    for name, fn in (("mse", _mse),
                     ("colour", lambda e: _mse(e) + colour_loss(e, region[None, None], (region >= 0).float()[None, None]))):
        p = _fit(target, 3, fn, seed)[0]
        var[name] = float(np.mean([p[region == r].var() for r in (0, 1)]))
    assert var["colour"] <= 0.5 * var["mse"], var


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_motion_term_reduces_drift_of_a_still_subject(seed):
    g = torch.Generator().manual_seed(seed)
    f = 5
    subject = torch.zeros(H, H)
    subject[8:24, 8:24] = 1.0
    # a still subject (a vertical ramp) over a background that changes every frame
    target = subject[None] * torch.linspace(0.5, 1.5, H)[None, :, None] + torch.randn(f, H, H, generator=g) * (1 - subject)
    sil, still = subject[None, None].expand(1, f, H, H), torch.zeros(1, f - 1, H, H)
    drift = {}
    for name, fn in (("mse", _mse), ("motion", lambda e: _mse(e) + motion_loss(e, sil, still))):
        p = _fit(target, 2, fn, seed)
        drift[name] = float((p[1:] - p[:-1]).abs()[:, subject > 0].mean())
    assert drift["motion"] <= 0.5 * drift["mse"], drift


# ----------------------------------------------------------------------------- the trainer
def _losses(run):
    return [json.loads(l) for l in (run / "train_log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return make_mixed_dataset(tmp_path_factory.mktemp("vl") / "data")


def test_weights_at_zero_train_bit_for_bit_as_without_the_section(tmp_path, clips):
    base = {"data.num_frames": 5, "train.batch_size": 4, "train.save_every": 0}
    train(load_config(None, tiny_overrides(tmp_path / "plain", clips, steps=3, **base)), progress=False)
    zero = {**base, "vector_loss.shape": 0.0, "vector_loss.colour": 0.0, "vector_loss.motion": 0.0}
    train(load_config(None, tiny_overrides(tmp_path / "zero", clips, steps=3, **zero)), progress=False)
    a, b = (load_file(tmp_path / r / "lora.safetensors") for r in ("plain", "zero"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)  # bit for bit
    assert [r["loss"] for r in _losses(tmp_path / "plain")] == [r["loss"] for r in _losses(tmp_path / "zero")]
    assert "loss_flow" not in _losses(tmp_path / "zero")[0]
    manifest = json.loads((clips.parent / "data-cache" / "manifest.json").read_text())
    assert manifest["maps"] == {}  # no maps made while every weight is 0


def test_terms_are_logged_cached_once_and_change_only_the_loss(tmp_path, clips):
    base = {"data.num_frames": 5, "train.batch_size": 4, "train.save_every": 0}
    train(load_config(None, tiny_overrides(tmp_path / "plain", clips, steps=2, **base)), progress=False)
    on = {**base, "vector_loss.shape": 0.5, "vector_loss.colour": 1.0, "vector_loss.motion": 2.0}
    train(load_config(None, tiny_overrides(tmp_path / "on", clips, steps=2, **on)), progress=False)
    plain, rows = _losses(tmp_path / "plain"), _losses(tmp_path / "on")
    first = rows[0]
    # the same batch, noise and σ: the flow term of step 1 is the plain run's loss, exactly
    assert first["loss_flow"] == plain[0]["loss"]
    assert first["loss"] == pytest.approx(first["loss_flow"] + 0.5 * first["loss_shape"] + first["loss_colour"]
                                          + 2.0 * first["loss_motion"], rel=1e-5)
    assert all(first[f"loss_{k}"] > 0 for k in ("shape", "colour", "motion"))
    manifest = json.loads((clips.parent / "data-cache" / "manifest.json").read_text())
    assert len(manifest["maps"]) == 4
    shards = sorted(p.name for p in (clips.parent / "data-cache").glob("maps-*.safetensors"))
    train(load_config(None, tiny_overrides(tmp_path / "again", clips, steps=1, **on)), progress=False)
    assert sorted(p.name for p in (clips.parent / "data-cache").glob("maps-*.safetensors")) == shards


def test_negative_weight_is_one_line():
    with pytest.raises(UserError, match=r"vector_loss\.shape.*≥ 0"):
        load_config(None, ["vector_loss.shape=-1"])


def test_low_noise_weighs_each_samples_terms_by_one_minus_sigma_squared():
    maps, g = _maps(b=1), torch.Generator().manual_seed(3)
    target = torch.randn(1, 4, 3, 8, 8, generator=g)
    pred = target + torch.randn(target.shape, generator=g)
    low = type("W", (), {"shape": 1.0, "colour": 1.0, "motion": 1.0, "noise": "low"})
    for sigma in (0.2, 0.9):
        s = torch.tensor([sigma])
        every, lowered = vector_losses(pred, target, s, maps, W), vector_losses(pred, target, s, maps, low)
        for k in every:
            assert float(lowered[k]) == pytest.approx(float(every[k]) * (1 - sigma) ** 2, rel=1e-5)
