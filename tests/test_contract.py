"""One contract over every variant (diffusers' dummy-components pattern): each model route, and each
LoRA format, loads through `Engine.load` to the same frames, and the LoRA changes them. (Every
format on one route and one format on every route: the route and the format are independent
steps, and test_lora_formats checks every format against a hand merge.)"""

import numpy as np
import pytest
import torch

from vectorwan.generate import Engine, Request
from vectorwan.models import lora_formats as lf
from vectorwan.models.loading import export_tiny
from vectorwan.models.tiny import TINY_TRANSFORMER

DIM = TINY_TRANSFORMER["num_attention_heads"] * TINY_TRANSFORMER["attention_head_dim"]
FFN = TINY_TRANSFORMER["ffn_dim"]
REQUEST = dict(prompt="a red circle, moving left", task="t2i", height=32, width=32, steps=2, seed=3)


def tiny_lora() -> lf.LoraFile:
    g = torch.Generator().manual_seed(5)
    mods = {}
    for b in range(TINY_TRANSFORMER["num_layers"]):
        for attn in ("self_attn", "cross_attn"):
            for p in "qkvo":
                mods[f"blocks.{b}.{attn}.{p}"] = lf.LoraModule(torch.randn(4, DIM, generator=g) * 0.3,
                                                               torch.randn(DIM, 4, generator=g) * 0.3, 8.0)
        mods[f"blocks.{b}.ffn.0"] = lf.LoraModule(torch.randn(2, DIM, generator=g) * 0.3,
                                                  torch.randn(FFN, 2, generator=g) * 0.3, 2.0)
    return lf.LoraFile("vectorwan", mods, {})


@pytest.fixture(scope="module")
def routes(tmp_path_factory):
    d = tmp_path_factory.mktemp("routes")
    return {"tiny": "tiny", "diffusers": str(export_tiny(d / "diffusers")),
            "original": str(export_tiny(d / "original", layout="original"))}


@pytest.fixture(scope="module")
def loras(tmp_path_factory):
    d, lora = tmp_path_factory.mktemp("loras"), tiny_lora()
    return {fmt: str(lf.write_lora(lora, d / f"{fmt}.safetensors", fmt)) for fmt in lf.FORMATS}


@pytest.fixture(scope="module")
def reference(routes, loras):
    base, _ = Engine.load("tiny").run(Request(**REQUEST))
    with_lora, _ = Engine.load("tiny", [(loras["vectorwan"], 1.0)]).run(Request(**REQUEST))
    assert np.abs(with_lora - base).max() > 1e-2  # the LoRA does something
    return base, with_lora


@pytest.mark.parametrize("route", ["tiny", "diffusers", "original"])
def test_every_route_samples_the_same_frames_with_the_same_defaults(routes, reference, route):
    engine = Engine.load(routes[route])
    assert engine.defaults == Engine.load("tiny").defaults
    frames, settings = engine.run(Request(**REQUEST))
    assert settings["steps"] == 2 and frames.shape == (1, 1, 32, 32, 3)
    assert np.abs(frames - reference[0]).max() <= 1e-5


@pytest.mark.parametrize("route, fmt", [("diffusers", f) for f in sorted(lf.FORMATS)]
                         + [("tiny", "vectorwan"), ("original", "vectorwan")])
def test_every_lora_format_and_every_route_give_the_same_frames(routes, loras, reference, route, fmt):
    frames, _ = Engine.load(routes[route], [(loras[fmt], 1.0)]).run(Request(**REQUEST))
    assert np.abs(frames - reference[1]).max() <= 1e-5, (route, fmt)
