"""Wan 2.2 TI2V-5B's family at tiny size (48-channel residual VAE, 16× spatial, timesteps per token):
a diffusers folder of it loads as plain diffusers loads it, trains a LoRA through the cache, and the
LoRA generates; the planner reads its geometry."""

import json

import pytest
import torch
from helpers import make_image_dataset, tiny_overrides

from vectorwan import plan
from vectorwan.config import load_config
from vectorwan.errors import UserError
from vectorwan.models import loading
from vectorwan.train.loop import train


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return loading.export_tiny(tmp_path_factory.mktemp("wan22") / "ti2v", variant="ti2v")


def _run(pipe, size=64):
    return pipe("blobby_tok, orange blob", negative_prompt="", num_frames=5, height=size, width=size,
                num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="pt").frames


def test_the_folder_loads_as_plain_diffusers_loads_it(folder):
    from diffusers import WanPipeline

    assert json.loads((folder / "model_index.json").read_text())["expand_timesteps"] is True
    ours, theirs = loading.load_pipeline(str(folder)), WanPipeline.from_pretrained(folder)
    assert ours.config.expand_timesteps and ours.vae.config.z_dim == 48 and ours.transformer.config.in_channels == 48
    a, b = _run(ours), _run(theirs)
    assert a.shape == (1, 5, 3, 64, 64) and torch.isfinite(a).all()
    assert (a - b).abs().max() <= 1e-6
    geo = plan.geometry(loading.resolve(str(folder)))
    assert (geo.vae_spatial, geo.vae_temporal) == (16, 4)
    cfg = load_config(None, [f'model.path="{folder}"', "data.resolution=[64, 64]", "data.num_frames=5"])
    assert plan.video_tokens(cfg, geo) == 2 * 2 * 2  # 2 latent frames × (64 / 16 / 2)²


def test_a_lora_trains_through_the_cache_and_changes_what_it_generates(tmp_path, folder):
    data = make_image_dataset(tmp_path / "data", n=2, size=64)
    cfg = load_config(None, tiny_overrides(tmp_path / "run", data, steps=3, **{
        "model.path": f'"{folder}"', "data.resolution": "[64, 64]", "lora.init": '"gaussian"', "train.save_every": 0}))
    summary = train(cfg, progress=False)
    losses = [json.loads(x)["loss"] for x in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert summary["lora_modules"] == 20 and len(losses) == 3 and all(map(torch.isfinite, torch.tensor(losses)))
    manifest = json.loads((cfg.cache_dir / "manifest.json").read_text())
    assert {tuple(v["latent_shape"]) for v in manifest["items"].values()} == {(48, 1, 4, 4)}
    pipe = loading.load_pipeline(str(folder))
    base = _run(pipe)
    pipe.load_lora_weights(str(tmp_path / "run" / "lora.safetensors"), adapter_name="vw")
    assert (_run(pipe) - base).abs().max() > 1e-4


def test_the_original_layout_is_refused_in_one_line(tmp_path):
    with pytest.raises(UserError, match="only --layout diffusers"):
        loading.export_tiny(tmp_path / "o", layout="original", variant="ti2v")
