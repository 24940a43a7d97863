"""Toy VAE pre-training: loss falls, unclamped loss, exact resume, loadable checkpoint, CLI errors."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from diffusers import AutoencoderKLWan  # noqa: E402

from vectorwan.cli import main  # noqa: E402
from vectorwan.errors import UserError  # noqa: E402
from vectorwan.toy import pretrain_vae as pv  # noqa: E402


def tiny(out_dir, **kw) -> pv.VaeTrainConfig:
    base = dict(out_dir=str(out_dir), steps=4, batch_size=2, lr=2e-3, frames=9, size=32, base_dim=4,
                dim_mult=[1, 2, 2, 2], z_dim=4, save_every=2, eval_every=2, n_eval=2)
    base.update(kw)
    return pv.VaeTrainConfig(**base)


def read_log(out_dir):
    return [json.loads(ln) for ln in (out_dir / pv.LOG).read_text().splitlines() if ln.strip()]


def test_loss_falls(tmp_path):
    # plain L1 here: at this size the foreground-weighted loss falls too slowly for a short test
    cfg = tiny(tmp_path / "run", steps=24, save_every=1000, eval_every=1000, fg_weight=1.0, mse_weight=0.0)
    r = pv.pretrain_vae(cfg, progress=False)
    log = read_log(tmp_path / "run")
    assert [x["step"] for x in log] == list(range(1, 25))
    first = sum(x["loss"] for x in log[:5]) / 5
    last = sum(x["loss"] for x in log[-5:]) / 5
    assert last < 0.8 * first, (first, last)
    assert r["step"] == 24 and r["psnr"] is not None


def test_loss_uses_unclamped_reconstruction():
    vae = pv.build_vae(tiny("unused"))
    with torch.no_grad():  # push the decoder's output well above +1
        vae.decoder.conv_out.bias += 3.0
    x = pv.render_batch(pv.held_out_spec(1), 9, 32)
    z = vae.encode(x).latent_dist.mode()
    clamped = vae.decode(z).sample
    rec, _, _ = pv.reconstruct(vae, x, sample=False)
    assert clamped.max() <= 1.0
    assert rec.max() > 1.5
    assert torch.equal(rec.detach().clamp(-1, 1), clamped)
    # and the gradient reaches the decoder through pixels the clamp would have cut off
    loss, _ = pv.loss_fn(vae, x, 0.0, torch.Generator().manual_seed(0))
    loss.backward()
    assert vae.decoder.conv_out.bias.grad.abs().sum() > 0


def test_foreground_weighted_loss_matches_its_formula():
    x = torch.ones(1, 3, 1, 2, 2)  # white frame ...
    x[0, :, 0, 0, 0] = torch.tensor([0.5, -1.0, -1.0])  # ... with one red pixel
    w = pv.pixel_weights(x, 10.0)
    assert w.shape == (1, 1, 1, 2, 2) and w[0, 0, 0, 0, 0] == 10.0 and (w.flatten()[1:] == 1.0).all()
    vae = pv.build_vae(tiny("unused"))
    gen = torch.Generator().manual_seed(0)
    x = pv.render_batch(pv.held_out_spec(1), 9, 32)
    loss, _ = pv.loss_fn(vae, x, 0.0, gen, fg_weight=10.0, mse_weight=1.0)
    rec, _, _ = pv.reconstruct(vae, x, torch.Generator().manual_seed(0))
    d, w = rec - x, pv.pixel_weights(x, 10.0)
    expected = (w * (d.abs() + d.pow(2))).sum() / (w.sum() * 3)
    assert torch.allclose(loss, expected, rtol=1e-5)


def test_resume_is_exact(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    pv.pretrain_vae(tiny(a, steps=4), progress=False)
    pv.pretrain_vae(tiny(b, steps=2), progress=False)
    with pytest.raises(UserError):
        pv.pretrain_vae(tiny(b, steps=4), progress=False)  # existing checkpoint without resume
    with pytest.raises(UserError):
        pv.pretrain_vae(tiny(b, steps=4, lr=1e-2), resume=True, progress=False)  # settings changed
    pv.pretrain_vae(tiny(b, steps=4), resume=True, progress=False)
    sa = AutoencoderKLWan.from_pretrained(a / "checkpoint" / "vae").state_dict()
    sb = AutoencoderKLWan.from_pretrained(b / "checkpoint" / "vae").state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    oa = torch.load(a / "checkpoint" / "optimizer.pt", weights_only=True)
    ob = torch.load(b / "checkpoint" / "optimizer.pt", weights_only=True)
    assert all(torch.equal(oa["state"][i]["exp_avg"], ob["state"][i]["exp_avg"]) for i in oa["state"])
    assert read_log(a) == read_log(b)
    assert json.loads((b / "checkpoint" / "state.json").read_text())["step"] == 4


def test_checkpoint_loads_and_reproduces(tmp_path):
    cfg = tiny(tmp_path / "run", steps=3, save_every=3, eval_every=3)
    r = pv.pretrain_vae(cfg, progress=False)
    vae = AutoencoderKLWan.from_pretrained(r["checkpoint"])
    x_eval = pv.render_batch(pv.held_out_spec(cfg.n_eval), cfg.frames, cfg.size)
    assert pv.evaluate(vae, x_eval) == r["psnr"]  # the trained model's held-out output, bit for bit
    assert vae.config.base_dim == 4 and vae.config.z_dim == 4


def test_held_out_never_drawn():
    seeds = {s for step in range(1, 200) for *_, s in pv.batch_spec(0, step, 4)}
    assert all(s < pv.HELD_OUT_SEED0 for s in seeds)
    assert all(s >= pv.HELD_OUT_SEED0 for *_, s in pv.held_out_spec(8))
    assert pv.batch_spec(0, 7, 4) == pv.batch_spec(0, 7, 4) != pv.batch_spec(0, 8, 4)
    from vectorwan.toy import world
    for step in range(1, 20):  # balanced: every colour once in a batch of 6, the rest as drawn
        b, plain = pv.batch_spec(0, step, 6, balanced=True), pv.batch_spec(0, step, 6)
        assert sorted(c for c, *_ in b) == sorted(world.COLOURS)
        assert [r for _, *r in b] == [r for _, *r in plain]


def test_anchors_are_the_same_clips_at_every_step_and_are_recorded(tmp_path, monkeypatch):
    from vectorwan.toy import ship, world
    cols = ["blue", "purple", "blue", "purple", "blue"]
    a = pv.anchor_spec(0, cols)
    assert a == pv.anchor_spec(0, cols) != pv.anchor_spec(1, cols)
    assert [c for c, *_ in a] == cols
    assert [s for c, s, *_ in a if c == "blue"] == list(world.SHAPES)  # k-th clip of a colour: k-th shape
    assert all(m in world.MOTIONS and 0 <= seed < pv.HELD_OUT_SEED0 for _, _, m, seed in a)
    assert pv.anchor_spec(0, []) == []
    assert "anchors" not in tiny("unused").model_fields()  # older checkpoints still resume
    assert tiny("unused", anchors=cols).model_fields()["anchors"] == cols
    with pytest.raises(UserError, match="--anchors"):
        tiny("unused", anchors=["blue", "teal"]).validate()
    seen = []
    real = pv.loss_fn
    monkeypatch.setattr(pv, "loss_fn", lambda vae, x, *a, **k: (seen.append(x.clone()), real(vae, x, *a, **k))[1])
    cfg = tiny(tmp_path / "run", steps=2, anchors=["red", "green"], eval_every=1000, n_eval=1, striped=0.5)
    pv.pretrain_vae(cfg, progress=False)
    anchors = pv.render_batch(pv.anchor_spec(0, ["red", "green"]), cfg.frames, cfg.size, cfg.striped)
    assert len(seen) == 2 and all(x.shape[0] == 4 for x in seen)  # batch_size 2 + 2 anchors
    assert torch.equal(seen[0][2:], anchors) and torch.equal(seen[1][2:], anchors)
    assert torch.equal(seen[0][:2], pv.render_batch(pv.batch_spec(0, 1, 2), cfg.frames, cfg.size, cfg.striped))
    assert not torch.equal(seen[0][:2], seen[1][:2])
    assert "--anchors red green" in ship._vae_record(tmp_path / "run")["command"]


@pytest.mark.parametrize("argv", [["--frames", "5"], ["--frames", "12"], ["--size", "40"], ["--probe-weight", "-1"],
                                  ["--decoder-only", "--probe-weight", "1"], ["--anchors", "teal"]])
def test_cli_bad_input(tmp_path, capsys, argv):
    rc = main(["toy", "pretrain-vae", str(tmp_path / "out"), *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and "error" in err
    assert not (tmp_path / "out").exists()


def test_decoder_only_from_init_keeps_the_encoder(tmp_path):
    """Fine-tuning just the decoder keeps every latent a DiT was trained on (encoder frozen)."""
    pv.pretrain_vae(tiny(tmp_path / "a", steps=2), progress=False)
    init = tmp_path / "a" / pv.CHECKPOINT / "vae"
    # with the probe on the decoder's first features too (the one probe that trains no encoder weight)
    pv.pretrain_vae(tiny(tmp_path / "b", steps=2, init=str(init), decoder_only=True, probe_weight=1.0,
                         probe_target="palette", probe_at="decoder"), progress=False)
    assert all("probe" in r for r in read_log(tmp_path / "b") if "loss" in r)
    before = AutoencoderKLWan.from_pretrained(init).state_dict()
    after = AutoencoderKLWan.from_pretrained(tmp_path / "b" / pv.CHECKPOINT / "vae").state_dict()
    for k, v in after.items():
        frozen = k.startswith(("encoder.", "quant_conv."))
        assert torch.equal(v, before[k]) == frozen or (not frozen and v.abs().sum() == 0), k
    assert any(not torch.equal(after[k], before[k]) for k in after if k.startswith("decoder."))
    with pytest.raises(UserError, match="not a VAE folder"):
        pv.pretrain_vae(tiny(tmp_path / "c", init=str(tmp_path)), progress=False)


def test_chroma_term_and_mode_posterior():
    vae = pv.build_vae(tiny("unused"))
    x = pv.render_batch(pv.held_out_spec(1), 9, 32)
    # mode: no posterior noise, so the generator does not matter
    a, _ = pv.loss_fn(vae, x, 0.0, torch.Generator().manual_seed(0), 10.0, 1.0, sample=False)
    b, _ = pv.loss_fn(vae, x, 0.0, torch.Generator().manual_seed(1), 10.0, 1.0, sample=False)
    assert torch.equal(a, b)
    c, parts = pv.loss_fn(vae, x, 0.0, None, 10.0, 1.0, chroma_weight=2.0, sample=False)
    rec, _, _ = pv.reconstruct(vae, x, sample=False)
    d, w = rec - x, pv.pixel_weights(x, 10.0)
    dc = (pv.chroma(rec) - pv.chroma(x)).abs()
    expected = (w * (d.abs() + d.pow(2) + 2.0 * dc)).sum() / (w.sum() * 3)
    assert torch.allclose(c, expected, rtol=1e-5) and c > a
    assert parts["chroma_l1"] == pytest.approx(float(dc.mean().detach()), rel=1e-5)
    # chroma ignores grey: a pixel's chroma is zero when its channels are equal
    g = torch.full((1, 3, 1, 1, 1), 0.3)
    assert torch.equal(pv.chroma(g), torch.zeros_like(g))


def test_hue_check_names_each_decoded_colour(monkeypatch):
    from vectorwan.toy import world

    vae = pv.build_vae(tiny("unused"))
    r = pv.hue_check(vae, frames=9, size=32)
    assert set(r["decoded"]) == set(world.COLOURS) and all(len(v) == len(world.SHAPES) for v in r["decoded"].values())
    assert r["accuracy"] == sum(n == c for c, v in r["decoded"].items() for n in v) / 18
    # a perfect round trip (decode returns the input) names every colour right
    monkeypatch.setattr(type(vae), "encode", lambda self, x: type("E", (), {"latent_dist": type(
        "D", (), {"mode": lambda _s: x})()})())
    monkeypatch.setattr(type(vae), "decode", lambda self, z: type("O", (), {"sample": z})())
    assert pv.hue_check(vae, frames=9, size=32)["accuracy"] == 1.0


def test_old_checkpoints_without_new_fields_still_resume():
    cfg = tiny("unused")
    assert "chroma_weight" not in cfg.model_fields() and "posterior" not in cfg.model_fields()
    assert "probe_weight" not in cfg.model_fields()
    assert tiny("unused", chroma_weight=1.0, posterior="mode").model_fields()["posterior"] == "mode"
    assert tiny("unused", probe_weight=10.0).model_fields()["probe_weight"] == 10.0
    assert "probe_target" not in cfg.model_fields()
    assert tiny("unused", probe_target="palette").model_fields()["probe_target"] == "palette"
    with pytest.raises(UserError, match="probe-target"):
        tiny("unused", probe_target="rgb").validate()
    with pytest.raises(UserError, match="posterior"):
        tiny("unused", posterior="mean").validate()


def test_latent_pool_follows_wans_causal_layout():
    x = torch.arange(9, dtype=torch.float32).view(1, 1, 9, 1, 1).expand(1, 1, 9, 16, 16)
    p = pv.latent_pool(x, spatial=8, temporal=4)
    assert p.shape == (1, 1, 3, 2, 2)
    assert torch.allclose(p[0, 0, :, 0, 0], torch.tensor([0.0, 2.5, 6.5]))  # frame 0, frames 1-4, frames 5-8


def _flat_positions(colours):
    """(1, 3, 5, 16, 16) frames whose 2 latent frames × 2×2 positions each show one flat colour."""
    return colours.T.reshape(1, 3, 2, 2, 2).repeat_interleave(4, 2)[:, :, 3:].repeat_interleave(8, 3).repeat_interleave(8, 4)


def test_colour_probe_loss_sees_colours_carried_only_by_length():
    # 2 latent frames of 2×2 positions; each position shows one flat, saturated colour
    gen = torch.Generator().manual_seed(0)
    colours = torch.tensor([[0.7, -0.7, -0.7], [0.9, 0.1, -0.8], [0.95, 0.7, -0.7], [-0.6, 0.3, -0.4],
                            [-0.7, -0.2, 0.8], [0.1, -0.5, 0.5], [-0.9, 0.6, 0.6], [0.6, -0.8, 0.7]])
    x = _flat_positions(colours)  # 5 frames: 1 + 4
    assert torch.allclose(pv.latent_pool(x), colours.T.reshape(1, 3, 2, 2, 2))
    basis = torch.randn(3, 16, generator=gen)
    by_direction = (colours @ basis).T.reshape(1, 16, 2, 2, 2)  # linear in the colour: a direction each
    u = torch.randn(16, generator=gen)
    by_length = ((colours[:, :1] + 2.0) * u).T.reshape(1, 16, 2, 2, 2)  # one direction, colour in the length
    good = pv.colour_probe_loss(by_direction, x, ridge=1e-6)
    bad = pv.colour_probe_loss(by_length, x, ridge=1e-6)
    assert good < 0.05 * bad and bad > 0.5 * pv.latent_pool(x).var(dim=(0, 2, 3, 4)).mean()
    # differentiable
    mu = by_length.clone().requires_grad_(True)
    pv.colour_probe_loss(mu, x).backward()
    assert mu.grad.abs().sum() > 0
    # only shape bodies count: white, grey and black latents are left out (zero when none qualify)
    grey = torch.linspace(-1, 1, 8).view(8, 1).expand(8, 3)
    xg = _flat_positions(grey)
    assert float(pv.colour_probe_loss(by_length, xg)) == 0.0


def test_palette_target_weighs_every_pair_of_colours_the_same():
    pal = torch.tensor(pv.world_palette())  # red, orange, yellow, green, blue, purple
    idx = torch.tensor([0, 1, 2, 3, 4, 5, 0, 3])  # 8 positions: red and green twice, the others once
    x = _flat_positions(pal[idx])
    basis = torch.linalg.qr(torch.randn(16, 6, generator=torch.Generator().manual_seed(0)))[0].T  # 6 orthonormal directions

    def latents(merge):  # one direction per colour, the two colours in `merge` sharing one
        d = basis.clone()
        d[merge[1]] = d[merge[0]]
        return d[idx].T.reshape(1, 16, 2, 2, 2)

    apart = basis[idx].T.reshape(1, 16, 2, 2, 2)
    assert float(pv.colour_probe_loss(apart, x, ridge=1e-6, palette=pal)) < 1e-6  # each colour readable
    pairs = ((4, 5), (2, 4))  # blue/purple, yellow/blue: each colour at one position
    rgb = {m: float(pv.colour_probe_loss(latents(m), x, ridge=1e-6)) for m in pairs}
    onehot = {m: float(pv.colour_probe_loss(latents(m), x, ridge=1e-6, palette=pal)) for m in pairs}
    assert rgb[(4, 5)] < 0.5 * rgb[(2, 4)]  # RGB: merging blue/purple costs far less than yellow/blue
    assert onehot[(4, 5)] > 0.01 and abs(onehot[(4, 5)] - onehot[(2, 4)]) < 1e-5  # one-hot: the same


def test_probe_term_enters_the_loss_with_its_weight():
    vae = pv.build_vae(tiny("unused", size=64))
    xb = pv.render_batch(pv.held_out_spec(2), 9, 64)
    a, _ = pv.loss_fn(vae, xb, 0.0, None, 10.0, 1.0, sample=False)
    b, parts = pv.loss_fn(vae, xb, 0.0, None, 10.0, 1.0, sample=False, probe_weight=3.0)
    assert parts["probe"] > 0
    assert torch.allclose(b, a + 3.0 * parts["probe"], rtol=1e-5)


def test_probe_at_the_decoder_reads_conv_in_on_the_latent_grid():
    vae = pv.build_vae(tiny("unused", size=64))
    xb = pv.render_batch(pv.batch_spec(0, 1, 6, balanced=True), 9, 64)  # every colour once
    rec, _, mu = pv.reconstruct(vae, xb, sample=False)
    rec2, _, feats = pv.reconstruct(vae, xb, sample=False, probe_at="decoder")
    assert torch.equal(rec, rec2)  # the hook only watches
    assert feats.shape[0] == mu.shape[0] and feats.shape[2:] == mu.shape[2:]
    assert feats.shape[1] == vae.decoder.conv_in.weight.shape[0]
    loss, parts = pv.loss_fn(vae, xb, 0.0, None, 10.0, 1.0, encoder_grad=False, probe_weight=1.0,
                             probe_palette=pv.world_palette(), probe_at="decoder")
    loss.backward()
    assert parts["probe"] > 0 and vae.decoder.conv_in.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in vae.encoder.parameters())
