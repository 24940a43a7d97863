"""The toy base folder is a Wan pipeline the trainer pre-trains in full mode on toy-world clips."""

import csv

import torch

from vectorwan.config import load_config
from vectorwan.models.loading import load_part, resolve
from vectorwan.toy.base import TOY_TRANSFORMER, init_toy_base
from vectorwan.toy.world import make_dataset
from vectorwan.train.loop import train


def test_init_base_then_two_full_steps_on_toy_world(tmp_path):
    from diffusers import WanPipeline

    base = init_toy_base(tmp_path / "base", stats_clips=4)
    assert resolve(str(base)).kind == "diffusers"
    pipe = WanPipeline.from_pretrained(base)
    assert pipe.transformer.config.num_layers == TOY_TRANSFORMER["num_layers"]
    std = torch.tensor(pipe.vae.config.latents_std)
    assert std.shape == (16,) and (std > 0).all()

    data = make_dataset(tmp_path / "world", 1, seed=3, frames=9, size=32)
    rows = list(csv.reader((data / "metadata.csv").open()))
    with (data / "metadata.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(rows[:5])  # header + 4 clips keep the test short
    cfg = load_config(None, [f'output_dir="{tmp_path / "dit"}"', f'model.path="{base}"', f'data.path="{data}"',
                             "data.resolution=[32, 32]", "data.num_frames=9", "model.max_sequence_length=32",
                             'train.mode="full"', "train.max_steps=2", 'train.mixed_precision="no"',
                             "memory.checkpoint_every=0", "train.batch_size=2"])
    r = train(cfg, progress=False)
    from diffusers import WanTransformer3DModel

    after = WanTransformer3DModel.from_pretrained(r["weights"]).state_dict()
    before = load_part(str(base), "transformer").state_dict()
    assert any(not torch.equal(after[k], before[k]) for k in after)
