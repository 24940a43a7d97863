"""Memory modes (train/memory.py), the planner (plan.py) and the bench (train/bench.py), on the tiny
model: every mode trains to the default's losses, resumes exactly, and does what it says to memory."""

import json
import math

import pytest
import torch
from diffusers.training_utils import cast_training_params
from helpers import make_image_dataset, tiny_overrides
from safetensors.torch import load_file

from vectorwan import plan
from vectorwan.cli import main
from vectorwan.config import load_config
from vectorwan.errors import UserError
from vectorwan.models import loading
from vectorwan.models.lora import attach_lora
from vectorwan.models.tiny import build_transformer
from vectorwan.train import memory
from vectorwan.train.loop import train


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_image_dataset(tmp_path_factory.mktemp("memory") / "data", n=3)


def _losses(out):
    return [json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_a_mode_is_a_preset_and_a_given_knob_wins():
    mc = load_config(None, ["memory.mode=offload"]).memory
    assert memory.settings(mc) == memory.Memory("offload", 1, True, "float32", True)
    mc = load_config(None, ["memory.mode=fp8", "memory.checkpoint_every=3", 'memory.lora_dtype="bfloat16"']).memory
    assert memory.settings(mc) == memory.Memory("fp8", 3, True, "bfloat16", False)
    assert memory.settings(load_config(None, ["memory.mode=fast"]).memory).checkpoint_every == 0
    # the padding collapse is on unless the attention backend cannot take its bias
    assert memory.settings(load_config(None, []).memory).collapse_padding is True
    assert memory.settings(load_config(None, ['memory.attention="flash"']).memory).collapse_padding is False
    bad = load_config(None, ["memory.collapse_padding=true", 'memory.attention="flash"']).memory
    with pytest.raises(UserError, match="does not take"):
        memory.settings(bad)


def _tiny_lora(**settings):
    torch.manual_seed(0)
    model = build_transformer()
    mem = memory.Memory(**{"mode": "test", "checkpoint_every": 0, "fp8_base": False, "lora_dtype": "float32",
                           "offload_activations": False, **settings})
    memory.prepare_base(model, mem, torch.float32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        attach_lora(model, 4, 4.0, ["q", "k", "v", "o", "ffn.0", "ffn.2"], init="gaussian")
    cast_training_params(model, dtype=memory.lora_dtype(mem))  # as the trainer does: peft makes them in the base's
    memory.prepare_trained(model, mem)
    return model.train()


def _step(model):
    """Loss, LoRA gradients and the bytes autograd saved outside checkpoints for one forward + backward."""
    g = torch.Generator().manual_seed(0)
    x, ctx = torch.randn(1, 16, 2, 8, 8, generator=g), torch.randn(1, 16, 32, generator=g)
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x, torch.tensor([500.0]), ctx, return_dict=False)[0]
    loss = out.square().mean()
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return loss.item(), grads, sum(n for k, n in saved.items() if k not in params)


def test_checkpointing_keeps_less_and_changes_no_number():
    loss0, grads0, kept0 = _step(_tiny_lora())
    results = {k: _step(_tiny_lora(checkpoint_every=k)) for k in (1, 2)}
    results["offload"] = _step(_tiny_lora(checkpoint_every=1, offload_activations=True))
    for name, (loss, grads, _) in results.items():
        assert loss == loss0 and torch.allclose(grads, grads0, rtol=1e-6, atol=1e-8), name
    # every block checkpointed keeps least; every 2nd (block 0 of 2) in between; none, the most
    assert results[1][2] < results[2][2] < kept0, (results[1][2], results[2][2], kept0)
    model = _tiny_lora(checkpoint_every=2)
    assert memory.checkpoint_blocks(model, 2) == 0  # already wrapped: never twice


def test_fp8_storage_keeps_the_lora_in_its_own_dtype_and_the_base_frozen():
    model = _tiny_lora(fp8_base=True)
    block = model.blocks[0]
    assert block.attn1.to_q.base_layer.weight.dtype == torch.float8_e4m3fn
    assert block.attn1.to_q.lora_A["default"].weight.dtype == torch.float32
    assert model.patch_embedding.weight.dtype == torch.float32  # diffusers' skip list: embeddings and norms stay
    before = block.ffn.net[0].proj.base_layer.weight.clone()
    loss, grads, _ = _step(model)
    loss0, grads0, _ = _step(_tiny_lora())
    assert torch.isfinite(grads).all() and loss == pytest.approx(loss0, rel=0.02)
    assert torch.equal(before, block.ffn.net[0].proj.base_layer.weight)


MODES = {
    "checkpoint-all": ({"memory.checkpoint_every": 1}, 0.0),
    "checkpoint-every-2": ({"memory.checkpoint_every": 2}, 0.0),
    "offload": ({"memory.mode": "offload"}, 5e-3),  # fp8 storage of the base
    "fp8": ({"memory.mode": "fp8"}, 5e-3),
    "lora-bf16": ({"memory.lora_dtype": '"bfloat16"'}, 1e-3),
    "no-collapse-padding": ({"memory.collapse_padding": "false"}, 1e-6),  # the default collapses it
}


@pytest.fixture(scope="module")
def default_losses(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("default")
    train(load_config(None, tiny_overrides(out, data, steps=4, **{"train.save_every": 0, "lora.dropout": 0.1})),
          progress=False)
    return _losses(out)


@pytest.mark.parametrize("mode", list(MODES))
def test_every_mode_trains_to_the_default_losses_and_resumes_exactly(tmp_path, data, default_losses, mode):
    extra, rel = MODES[mode]
    kw = {"lora.dropout": 0.1, "train.save_every": 2, **extra}
    whole = train(load_config(None, tiny_overrides(tmp_path / "whole", data, steps=4, **kw)), progress=False)
    assert _losses(tmp_path / "whole") == pytest.approx(default_losses, rel=rel, abs=0)
    if mode in ("checkpoint-all", "checkpoint-every-2"):  # checkpointing recomputes the same numbers
        assert _losses(tmp_path / "whole") == default_losses
    assert whole["memory"]["mode"] == extra.get("memory.mode", "default")
    train(load_config(None, tiny_overrides(tmp_path / "part", data, steps=2, **kw)), progress=False)
    train(load_config(None, tiny_overrides(tmp_path / "part", data, steps=4, **kw)), resume=True, progress=False)
    a, b = load_file(tmp_path / "whole" / "lora.safetensors"), load_file(tmp_path / "part" / "lora.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _losses(tmp_path / "whole") == _losses(tmp_path / "part")


def test_the_plans_weights_are_the_trainers_bytes_and_modes_order_as_they_should():
    cfg = load_config(None, ['model.path="tiny"', "data.resolution=[64, 64]", "model.max_sequence_length=32"])
    preds = {p.mode: p for p in plan.predict(cfg, torch.device("cpu"))["predictions"]}
    assert list(preds) == ["fast", "default", "fp8", "offload"]  # 2 blocks: no every-k between
    for mode, p in preds.items():
        from vectorwan.train.loop import LoraWeights, setup_model

        model, _ = setup_model(cfg, loading.resolve("tiny"), LoraWeights(cfg), p.memory)
        assert (p.weights, p.trained / 4) == plan._bytes(model), mode
    assert preds["fast"].activations > preds["default"].activations
    assert preds["fp8"].weights < preds["default"].weights and preds["fast"].cost < preds["default"].cost


def test_the_traced_activations_extrapolate_to_the_measured_ones():
    """The plan traces 16 and 64 tokens; at 256 the line must give what autograd really keeps."""
    cfg = load_config(None, ['model.path="tiny"', "model.max_sequence_length=32"])
    geo = plan.geometry(loading.resolve("tiny"))
    mem = memory.settings(cfg.memory, "fast")
    acts = plan.trace_activations(geo, cfg, mem, torch.float32)
    block, _, outer = acts.at(256)
    model = plan._build(geo, cfg, mem, torch.float32, "cpu", layers=2)
    real_block, _, real_outer = plan._saved(model, 256, 32, torch.float32)
    assert block == pytest.approx(real_block, rel=0.02) and outer == pytest.approx(real_outer, rel=0.05)


def test_the_1_3b_plan_counts_its_parameters_without_weights():
    cfg = load_config("configs/tiger16_t2v_1.3b.toml", ["model.path=random:Wan2.1-T2V-1.3B", "data.resolution=[256, 256]"])
    preds = {p.mode: p for p in plan.predict(cfg, torch.device("cuda"))["predictions"]}
    assert plan.video_tokens(cfg, plan.geometry(loading.resolve(cfg.model.path))) == 256
    # 1.419 G parameters in bf16, 21.9 M LoRA parameters (300 modules, rank 16) in fp32 with grad and Adam
    assert preds["default"].weights == pytest.approx(1.419e9 * 2, rel=0.01)
    assert preds["default"].trained == pytest.approx(21.87e6 * 4 * 4, rel=0.01)
    assert preds["fp8"].weights < 0.52 * preds["default"].weights
    assert preds["default"].activations < preds["fast"].activations
    assert preds["offload"].activations < preds["fp8"].activations
    # fp8: the recomputed block's backward also keeps the bf16 copies of its weights, all but the
    # cross-attention's key and value projections, whose input (the text) needs no gradient
    from vectorwan.models.architectures import ARCHITECTURES, construct

    block = construct(dict(ARCHITECTURES["Wan2.1-T2V-1.3B"].transformer, num_layers=1), torch.bfloat16, "meta").blocks[0]
    upcast = sum(p.numel() * 2 for n, p in block.named_parameters()
                 if p.ndim == 2 and not n.startswith(("attn2.to_k", "attn2.to_v")))
    assert preds["fp8"].activations - preds["default"].activations == pytest.approx(upcast, rel=0.01)
    assert preds["fp8"].working - preds["default"].working == pytest.approx(upcast, rel=0.01)


def test_auto_picks_the_fastest_mode_that_fits_or_says_none_does(tmp_path):
    cfg = load_config(None, ['model.path="tiny"', "memory.mode=auto", "memory.vram_gb=64"])
    assert memory.resolve(cfg, torch.device("cpu")).mode == "auto:fast"
    # the 1.3B at 256 tokens on a GPU: fast and default need more than 3 GiB, fp8 less (its weights are halved)
    big = load_config("configs/tiger16_t2v_1.3b.toml", ["model.path=random:Wan2.1-T2V-1.3B", "data.resolution=[256, 256]",
                                                       "memory.mode=auto", "memory.vram_gb=3.0"])
    assert memory.resolve(big, torch.device("cuda")).mode == "auto:fp8"
    small = load_config(None, ['model.path="tiny"', "memory.mode=auto", "memory.vram_gb=0.0001"])
    with pytest.raises(UserError, match="no mode fits"):
        memory.resolve(small, torch.device("cpu"))


def test_bench_runs_the_training_step_and_records_one_json_line(tmp_path, capsys):
    record = tmp_path / "bench.jsonl"
    args = ["bench", "configs/tiny_cpu.toml", "--steps", "1", "--record", str(record), "--prompt-tokens", "8",
            "--set", "data.resolution=[32, 32]", "--set", "memory.checkpoint_every=1", "--set", "vector_loss.colour=1.0"]
    assert main(args) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["tokens"] == 4 and line["prompt_tokens"] == 8 and line["steps"] == 1 and line["lora_modules"] == 20
    assert line["s_per_step"] > 0 and line["peak_memory_mb"] > 0 and line["plan_peak_mb"] > 0
    assert line["memory"]["checkpoint_every"] == 1 and line["device"].startswith("cpu")
    assert main(args) == 0
    assert [json.loads(x)["tokens"] for x in record.read_text().splitlines()] == [4, 4]


def test_bench_refuses_a_step_that_is_not_finite(capsys, monkeypatch):
    from vectorwan.train import loop

    real = loop.train_step  # the second step's loss is NaN, as a diverging base in fp16 would give
    monkeypatch.setattr(loop, "train_step", lambda run, step: (real(run, step)[0] * (math.nan if step else 1.0),
                                                                None, None, {}))
    assert main(["bench", "configs/tiny_cpu.toml", "--steps", "1", "--set", "data.resolution=[32, 32]"]) == 2
    captured = capsys.readouterr()
    assert "step 2: loss nan is not finite" in captured.err and captured.out == ""


def test_plan_prints_every_mode_and_what_fits(capsys):
    assert main(["plan", "configs/tiny_cpu.toml", "--vram", "8GB"]) == 0
    out = capsys.readouterr().out
    assert all(m in out for m in ("fast", "default", "fp8", "offload")) and "the fastest that fits is fast" in out
    assert main(["plan", "configs/tiny_cpu.toml", "--json", "--device", "cuda", "--vram", "0.01MB"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["device"] == "cuda" and not any(p["fits"] for p in result["predictions"])
    assert main(["plan", "configs/tiny_cpu.toml", "--vram", "lots"]) == 2
    assert "give a size such as 8GB" in capsys.readouterr().err


def test_random_models_say_what_they_are_for():
    with pytest.raises(UserError, match="unknown architecture; use one of random:Wan2.1-T2V-1.3B"):
        loading.resolve("random:Wan9")
    src = loading.resolve("random:Wan2.2-TI2V-5B")
    assert src.name == "random:Wan2.2-TI2V-5B"
    with pytest.raises(UserError, match="only a transformer"):
        loading.load_part(src, "vae")
    geo = plan.geometry(src)
    assert (geo.vae_spatial, geo.transformer["in_channels"]) == (16, 48)



@pytest.mark.slow
def test_the_gpu_check_dry_runs_on_the_tiny_model(tmp_path):
    import os
    import subprocess

    env = {**os.environ, "OUT": str(tmp_path / "check")}
    r = subprocess.run(["benchmarks/gpu_check.sh", "--dry-run"], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = [json.loads(x) for x in (tmp_path / "check_dry" / "bench.jsonl").read_text().splitlines()]
    assert [x["mode"] for x in lines] == ["fast", "default", "fp8", "offload"] * 2
    assert {x["tokens"] for x in lines} == {18, 4}
    assert "MFU" in (tmp_path / "check_dry" / "summary.md").read_text()


@pytest.mark.slow
def test_compiled_blocks_train_to_the_same_losses(tmp_path, data):
    kw = {"train.save_every": 0, "memory.checkpoint_every": 1}
    train(load_config(None, tiny_overrides(tmp_path / "eager", data, steps=3, **kw)), progress=False)
    train(load_config(None, tiny_overrides(tmp_path / "compiled", data, steps=3, **kw, **{"memory.compile": "true"})),
          progress=False)
    assert _losses(tmp_path / "compiled") == pytest.approx(_losses(tmp_path / "eager"), rel=1e-4)


def test_the_plan_counts_the_cache_phase_from_configs():
    from vectorwan.plan import cache_phase, geometry

    c = cache_phase(geometry(loading.resolve("tiny")))
    for part in ("text_encoder", "vae"):  # what `vectorwan cache` loads, byte for byte
        assert c[part] == sum(p.numel() * p.element_size() for p in loading.load_part("tiny", part).parameters())
    big = cache_phase(geometry(loading.resolve("random:Wan2.1-T2V-1.3B")))
    assert 5.6e9 < big["text_encoder"] / 4 < 5.8e9  # umT5-XXL's encoder, published at 5.7B parameters
    assert 1.2e8 < big["vae"] / 4 < 1.3e8  # Wan-VAE 2.1, published at 127M
    wan22 = cache_phase(geometry(loading.resolve("random:Wan2.2-TI2V-5B")))
    assert 6.9e8 < wan22["vae"] / 4 < 7.2e8  # diffusers' Wan 2.2 VAE config; Wan2.2_VAE.pth is 2.8 GB of float32
