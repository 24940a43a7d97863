"""`toy ship` assembles a loadable diffusers folder with sampling.json + manifest; `--model toy`,
`model export toy` and the batched accuracy generation build on it."""

import json

import numpy as np
import pytest
import torch

from vectorwan.generate import sha256_file
from vectorwan.models import loading
from vectorwan.sampling import TOY as SAMPLING
from vectorwan.toy.base import init_toy_base
from vectorwan.toy.ship import ship_toy


def _fake_dit_run(run, from_transformer, bias: float, steps: int, final_loss: float):
    """A full-mode DiT run folder whose transformer is ``from_transformer`` with proj_out.bias + ``bias``."""
    from diffusers import WanTransformer3DModel

    t = WanTransformer3DModel.from_pretrained(from_transformer)
    with torch.no_grad():
        t.proj_out.bias.add_(bias)
    t.save_pretrained(run / "transformer")
    (run / "train_summary.json").write_text(json.dumps({"mode": "full", "steps": steps, "final_loss": final_loss}))
    return t


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A toy-shaped base (random VAE), a fake DiT run whose transformer differs from the base, shipped."""
    root = tmp_path_factory.mktemp("ship")
    base = init_toy_base(root / "base", stats_clips=2)
    dit = root / "dit"
    t = _fake_dit_run(dit, base / "transformer", 0.5, steps=7, final_loss=0.25)
    (dit / "config.toml").write_text('output_dir = "dit"\n')
    vae = root / "vae"
    (vae / "checkpoint").mkdir(parents=True)
    (vae / "checkpoint" / "state.json").write_text(json.dumps({"step": 3, "config": {"batch_size": 4, "frames": 9, "seed": 0}}))
    (vae / "vae_log.jsonl").write_text('{"step": 3, "loss": 0.1, "psnr": 21.5}\n')
    out = ship_toy(root / "toy", base, vae, dit)
    return out, t


def test_shipped_folder_loads_with_diffusers_and_records_its_making(shipped):
    from diffusers import WanPipeline

    out, trained = shipped
    pipe = WanPipeline.from_pretrained(out)
    for k, v in trained.state_dict().items():
        assert torch.equal(pipe.transformer.state_dict()[k], v), k
    assert json.loads((out / "sampling.json").read_text()) == SAMPLING
    m = json.loads((out / "manifest.json").read_text())
    assert m["vae"]["steps"] == 3 and m["vae"]["held_out_psnr_db"] == 21.5 and "--frames 9" in m["vae"]["command"]
    assert m["dit"]["steps"] == 7 and m["dit"]["final_loss"] == 0.25
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert set(m["files"]) == files and "transformer/diffusion_pytorch_model.safetensors" in files
    assert all(sha256_file(out / f) == h for f, h in m["files"].items())


def test_ship_refuses_a_lora_run(shipped, tmp_path):
    from vectorwan.errors import UserError

    out, _ = shipped
    dit = tmp_path / "dit"
    (dit / "transformer").mkdir(parents=True)
    (dit / "transformer" / "config.json").write_text("{}")
    (dit / "train_summary.json").write_text(json.dumps({"mode": "lora"}))
    with pytest.raises(UserError, match="full fine-tuning"):
        ship_toy(tmp_path / "x", out, tmp_path / "nope", dit)


def test_model_toy_route_export_and_sampling_defaults(shipped, tmp_path, monkeypatch, capsys):
    from diffusers import WanPipeline

    from vectorwan.cli import main
    from vectorwan.generate import Engine

    out, trained = shipped
    monkeypatch.setattr(loading, "TOY_DIR", out)
    src = loading.resolve("toy")
    assert (src.kind, src.name) == ("toy", "toy")
    assert main(["model", "export", "toy", str(tmp_path / "exp")]) == 0
    pipe = WanPipeline.from_pretrained(tmp_path / "exp")
    assert torch.equal(pipe.transformer.proj_out.bias, trained.proj_out.bias)
    assert (tmp_path / "exp" / "manifest.json").is_file()
    e = Engine.load("toy")
    assert e.defaults["negative_prompt"] == "" and e.defaults["max_sequence_length"] == 64
    assert (e.defaults["height"], e.defaults["frames"], e.defaults["guidance"]) == (64, 17, SAMPLING["guidance"])


def test_missing_toy_model_is_one_line(monkeypatch, tmp_path, capsys):
    from vectorwan.cli import main

    monkeypatch.setattr(loading, "TOY_DIR", tmp_path / "absent")
    assert main(["model", "info", "toy"]) == 2
    assert "toy base model is missing" in capsys.readouterr().err


def test_batched_accuracy_clips_equal_single_generation(shipped, monkeypatch):
    """Clip i of a batch is exactly what `vectorwan generate --seed clip_seed` makes alone."""
    from vectorwan.frames import to_uint8
    from vectorwan.generate import Engine, Request
    from vectorwan.toy.accuracy import clip_seed, generate_batch

    out, _ = shipped
    monkeypatch.setattr(loading, "TOY_DIR", out)
    e = Engine.load("toy")
    e.defaults.update(steps=2, frames=5, height=32, width=32)
    prompts = ["red circle, moving left, white background", "blue square, staying still, white background"]
    batch = generate_batch(e, prompts, [clip_seed(1000, 0), clip_seed(1000, 1)])
    assert batch.shape == (2, 5, 32, 32, 3) and batch.dtype == np.uint8
    for i, p in enumerate(prompts):
        alone, _ = e.run(Request(prompt=p, seed=clip_seed(1000, i)))
        assert np.abs(to_uint8(alone[0]).astype(int) - batch[i].astype(int)).max() <= 1


def test_accuracy_sheet_and_table_on_ground_truth_clips():
    from vectorwan.toy import world
    from vectorwan.toy.accuracy import FAIL, HEAD_H, LABEL_W, PAD, PASS, accuracy_sheet, cell, markdown_table
    from vectorwan.toy.checks import accuracy_table, score_clip

    prompts = world.all_prompts()
    clips = [world.render_clip(*p, seed=5, frames=5).frames for p in prompts]
    results = [score_clip(c, p) for c, p in zip(clips, prompts)]
    results[0] = score_clip(clips[1], prompts[0])  # one wrong clip → one red cell
    sheet = accuracy_sheet(clips, results)
    assert sheet.shape[2] == 3 and sheet.shape[0] > 15 * 64 and sheet.shape[1] > 6 * 3 * 64
    ch, cw = cell(clips[0], True).shape[:2]
    corners = {(r, j): tuple(sheet[HEAD_H + r * (ch + PAD), LABEL_W + j * (cw + PAD)]) for r in range(15) for j in range(6)}
    # all_prompts()[0] is red circle, moving left: row 0 (circle, moving left), column 0 (red)
    assert corners.pop((0, 0)) == FAIL and set(corners.values()) == {PASS}
    table = accuracy_table(results)
    md = markdown_table(table, "t")
    assert f"| 90 | {table['colour']:.3f} |" in md and "| motion |" in md


def _decoder_run(root, base_vae, touch: str):
    from diffusers import AutoencoderKLWan

    vae = AutoencoderKLWan.from_pretrained(base_vae)
    with torch.no_grad():
        getattr(vae, touch).conv_out.bias.add_(0.25) if touch == "decoder" else vae.quant_conv.bias.add_(0.25)
    vae.register_to_config(latents_mean=[0.0] * 16, latents_std=[1.0] * 16)
    vae.save_pretrained(root / "checkpoint" / "vae")
    (root / "checkpoint" / "state.json").write_text(json.dumps({"step": 5, "config": {"decoder_only": True}}))
    return root


def test_ship_with_a_decoder_run_keeps_encoder_and_latent_stats(shipped, tmp_path):
    from diffusers import AutoencoderKLWan

    from vectorwan.errors import UserError

    out, _ = shipped
    base = out.parent / "base"
    dec = _decoder_run(tmp_path / "dec", base / "vae", "decoder")
    toy = ship_toy(tmp_path / "toy", base, out.parent / "vae", out.parent / "dit", decoder_run=dec)
    got, ref = AutoencoderKLWan.from_pretrained(toy / "vae"), AutoencoderKLWan.from_pretrained(base / "vae")
    assert torch.equal(got.decoder.conv_out.bias, ref.decoder.conv_out.bias + 0.25)
    assert got.config.latents_std == ref.config.latents_std
    assert json.loads((toy / "manifest.json").read_text())["decoder"]["steps"] == 5
    bad = _decoder_run(tmp_path / "bad", base / "vae", "encoder")
    with pytest.raises(UserError, match="encoder differs"):
        ship_toy(tmp_path / "toy2", base, out.parent / "vae", out.parent / "dit", decoder_run=bad)
    assert not (tmp_path / "toy2").exists()


def test_ship_records_every_stage_and_ships_the_last(shipped, tmp_path):
    from diffusers import WanTransformer3DModel

    out, trained = shipped
    base, dit1 = out.parent / "base", out.parent / "dit"
    dit2 = tmp_path / "dit2"
    t2 = _fake_dit_run(dit2, dit1 / "transformer", 0.25, steps=3, final_loss=0.2)
    dec1 = _decoder_run(tmp_path / "dec1", base / "vae", "decoder")
    dec2 = _decoder_run(tmp_path / "dec2", dec1 / "checkpoint" / "vae", "decoder")
    toy = ship_toy(tmp_path / "toy", base, [out.parent / "vae", out.parent / "vae"], [dit1, dit2], decoder_run=[dec1, dec2])
    got = WanTransformer3DModel.from_pretrained(toy / "transformer")
    assert torch.equal(got.proj_out.bias, t2.proj_out.bias) and not torch.equal(got.proj_out.bias, trained.proj_out.bias)
    m = json.loads((toy / "manifest.json").read_text())
    assert [d["steps"] for d in m["dit_stages"]] == [7, 3] and m["dit"]["steps"] == 3
    assert len(m["decoder_stages"]) == 2 and "--decoder-only" in m["decoder"]["command"]
    assert len(m["vae_stages"]) == 2 and m["vae"]["steps"] == 3
    from diffusers import AutoencoderKLWan
    ref = AutoencoderKLWan.from_pretrained(base / "vae")
    assert torch.equal(AutoencoderKLWan.from_pretrained(toy / "vae").decoder.conv_out.bias,
                       ref.decoder.conv_out.bias + 0.5)  # both decoder stages' changes, the last one shipped
