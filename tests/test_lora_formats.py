"""LoRA formats: five layouts, one LoRA, identical model outputs; lossless conversion; apply with scales."""

import json

import pytest
import torch

from vectorwan.errors import UserError
from vectorwan.models import lora_formats as lf
from vectorwan.models.lora_apply import apply_loras, wrapped_modules

TINY_DIT = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
                text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
DIM, FFN = 24, 32


def tiny_transformer():
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    return WanTransformer3DModel(**TINY_DIT).eval()


def random_lora(seed=3, attn_rank=4, attn_alpha=8.0, ffn_alpha=1.0, head_alpha=2.0, blocks=(0, 1)) -> lf.LoraFile:
    """Non-trivial A and B; alpha ≠ rank (ratios are powers of two so DiffSynth can hold it too);
    mixed ranks; one module with no alpha stored; one module outside the blocks (head.head)."""
    g = torch.Generator().manual_seed(seed)

    def ab(rank, n_in, n_out):
        return torch.randn(rank, n_in, generator=g) * 0.2, torch.randn(n_out, rank, generator=g) * 0.2

    mods = {}
    for b in blocks:
        for attn in ("self_attn", "cross_attn"):
            for p in "qkvo":
                mods[f"blocks.{b}.{attn}.{p}"] = lf.LoraModule(*ab(attn_rank, DIM, DIM), attn_alpha)
        mods[f"blocks.{b}.ffn.0"] = lf.LoraModule(*ab(2, DIM, FFN), ffn_alpha)
        mods[f"blocks.{b}.ffn.2"] = lf.LoraModule(*ab(2, FFN, DIM), None)
    mods["head.head"] = lf.LoraModule(*ab(4, DIM, 64), head_alpha)
    return lf.LoraFile("vectorwan", mods, {"vectorwan.trigger": "tigersticker_unique001", "vectorwan.base_model": "tiny"})


def inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randn(1, 16, 2, 4, 4, generator=g), torch.tensor([500.0]), torch.randn(1, 8, 32, generator=g)


def forward(model, io=None):
    x, t, ctx = io or inputs()
    with torch.no_grad():
        return model(hidden_states=x, timestep=t, encoder_hidden_states=ctx).sample


def merged_by_hand(lora: lf.LoraFile, scale: float = 1.0, model=None):
    """The reference: W += scale · alpha/rank · B @ A on the diffusers modules, no peft involved."""
    model = model or tiny_transformer()
    names = lf.original_to_diffusers_names(lora.modules)
    mods = dict(model.named_modules())
    with torch.no_grad():
        for n, m in lora.modules.items():
            mods[names[n]].weight += scale * (m.effective_alpha / m.rank) * (m.B.double() @ m.A.double()).float()
    return model


@pytest.fixture(scope="module")
def base_out():
    return forward(tiny_transformer())


@pytest.fixture(scope="module")
def lora():
    return random_lora()


@pytest.fixture(scope="module")
def files(lora, tmp_path_factory):
    d = tmp_path_factory.mktemp("loras")
    return {fmt: lf.write_lora(lora, d / f"{fmt}.safetensors", fmt) for fmt in lf.FORMATS}


def test_key_layouts(files):
    from safetensors import safe_open

    expect = {
        "vectorwan": "diffusion_model.blocks.0.self_attn.q.lora_A.weight",
        "comfyui": "diffusion_model.blocks.1.ffn.0.lora_B.weight",
        "diffusers": "transformer.blocks.0.attn1.to_out.0.lora_A.weight",
        "diffsynth": "blocks.0.cross_attn.k.lora_A.default.weight",
        "musubi": "lora_unet_blocks_0_self_attn_q.lora_down.weight",
    }
    for fmt, key in expect.items():
        with safe_open(str(files[fmt]), "pt") as f:
            keys, meta = set(f.keys()), f.metadata()
        assert key in keys, fmt
    with safe_open(str(files["vectorwan"]), "pt") as f:
        meta = f.metadata()
        assert f.get_tensor("diffusion_model.blocks.0.self_attn.q.alpha").item() == 8.0
    assert meta["vectorwan.trigger"] == "tigersticker_unique001" and meta["vectorwan.rank"] == "4"
    assert json.loads(meta["vectorwan.targets"])[:2] == ["self_attn.q", "self_attn.k"]
    with safe_open(str(files["comfyui"]), "pt") as f:
        assert not any(k.startswith("vectorwan.") for k in f.metadata())  # plain ComfyUI, detected as such
    with safe_open(str(files["musubi"]), "pt") as f:
        assert f.get_tensor("lora_unet_blocks_1_ffn_2.alpha").item() == 2.0  # alpha = rank written explicitly
        assert "lora_unet_head_head.lora_up.weight" in set(f.keys())
    with safe_open(str(files["diffusers"]), "pt") as f:
        cfg = json.loads(f.metadata()["lora_adapter_metadata"])
    assert cfg["transformer.lora_alpha"] == 8.0 and cfg["transformer.r"] == 4


def test_detect_format(files):
    for fmt, path in files.items():
        assert lf.read_lora(path).format == fmt


def test_five_formats_same_output_and_match_hand_merge(files, lora, base_out):
    ref = forward(merged_by_hand(lora))
    assert (ref - base_out).abs().max() > 1e-2  # the LoRA does something
    for fmt, path in files.items():
        model = tiny_transformer()
        names = apply_loras(model, [(path, 1.0)])
        assert len(names) == 1 and wrapped_modules(model, names[0]) == len(lora.modules)
        assert (forward(model) - ref).abs().max().item() <= 1e-5, fmt


@pytest.mark.parametrize("mid", ["comfyui", "diffusers", "musubi", "vectorwan"])
@pytest.mark.parametrize("start", ["comfyui", "diffusers", "musubi", "vectorwan"])
def test_round_trips_bit_identical(files, tmp_path, start, mid):
    a = lf.read_lora(files[start])
    lf.write_lora(a, tmp_path / "mid.safetensors", mid)
    b = lf.read_lora(tmp_path / "mid.safetensors")
    lf.write_lora(b, tmp_path / "back.safetensors", start)
    c = lf.read_lora(tmp_path / "back.safetensors")
    assert c.format == start and list(c.modules) == list(a.modules)
    for n, m in a.modules.items():
        assert torch.equal(m.A, c.modules[n].A) and torch.equal(m.B, c.modules[n].B)
        assert m.A.dtype == c.modules[n].A.dtype
        assert m.effective_alpha == c.modules[n].effective_alpha


def test_diffsynth_round_trip_and_alpha_decision(tmp_path):
    # alpha = rank: DiffSynth holds the LoRA unchanged, both ways, bit for bit
    plain = random_lora(attn_alpha=4.0, ffn_alpha=2.0, head_alpha=None)
    for fmt in ("comfyui", "diffusers", "musubi"):
        lf.write_lora(plain, tmp_path / "ds.safetensors", "diffsynth")
        lf.write_lora(lf.read_lora(tmp_path / "ds.safetensors"), tmp_path / "x.safetensors", fmt)
        lf.write_lora(lf.read_lora(tmp_path / "x.safetensors"), tmp_path / "ds2.safetensors", "diffsynth")
        back = lf.read_lora(tmp_path / "ds2.safetensors")
        for n, m in plain.modules.items():
            assert torch.equal(m.A, back.modules[n].A) and torch.equal(m.B, back.modules[n].B)
    # alpha/rank a power of two: baked into B exactly
    two = random_lora()
    lf.write_lora(two, tmp_path / "baked.safetensors", "diffsynth")
    baked = lf.read_lora(tmp_path / "baked.safetensors")
    m, b = two.modules["blocks.0.self_attn.q"], baked.modules["blocks.0.self_attn.q"]
    assert b.alpha is None and torch.equal(b.B, m.B * 2.0) and torch.equal(b.A, m.A)
    # alpha/rank = 1.5: refused, with the module and the way out named, and nothing written
    odd = random_lora(attn_alpha=6.0)
    with pytest.raises(UserError, match=r"blocks\.0\.self_attn\.q .*alpha 6 / rank 4 = 1\.5.*comfyui"):
        lf.write_lora(odd, tmp_path / "odd.safetensors", "diffsynth")
    assert not (tmp_path / "odd.safetensors").exists()


def test_diffsynth_default_keys_and_plain_keys_load(lora, tmp_path):
    from safetensors.torch import save_file

    sd, _ = lf.lora_state_dict(random_lora(attn_alpha=4.0, ffn_alpha=2.0, head_alpha=None), "diffsynth")
    assert all(".default." in k for k in sd)
    save_file(sd, str(tmp_path / "a.safetensors"))
    save_file({k.replace(".default", ""): v for k, v in sd.items()}, str(tmp_path / "b.safetensors"))
    a, b = lf.read_lora(tmp_path / "a.safetensors"), lf.read_lora(tmp_path / "b.safetensors")
    assert a.format == b.format == "diffsynth" and list(a.modules) == list(b.modules)
    assert all(torch.equal(a.modules[n].B, b.modules[n].B) for n in a.modules)


def test_model_level_diffusers_file_without_prefix(lora, tmp_path):
    from safetensors.torch import save_file

    sd, cfg = lf.to_diffusers_state_dict(lora)  # what WanTransformer3DModel.save_lora_adapter writes
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "m.safetensors"),
              metadata={"lora_adapter_metadata": json.dumps(cfg)})
    back = lf.read_lora(tmp_path / "m.safetensors")
    assert back.format == "diffusers"
    assert {n: m.effective_alpha for n, m in back.modules.items()} == {n: m.effective_alpha for n, m in lora.modules.items()}


def test_scale_zero_is_base_and_half_scale_is_linear(files, lora, base_out):
    model = tiny_transformer()
    apply_loras(model, [(files["musubi"], 0.0)])
    assert torch.equal(forward(model), base_out)
    model = tiny_transformer()
    apply_loras(model, [(files["diffusers"], 0.5)])
    assert (forward(model) - forward(merged_by_hand(lora, 0.5))).abs().max().item() <= 1e-5


def test_two_loras_equal_one_merged(tmp_path, base_out):
    one, two = random_lora(seed=5), random_lora(seed=6, attn_alpha=2.0, ffn_alpha=4.0, head_alpha=8.0)
    sa, sb = 0.7, -0.4
    merged = {}
    for n in one.modules:
        m1, m2 = one.modules[n], two.modules[n]
        merged[n] = lf.LoraModule(
            torch.cat([m1.A, m2.A]),
            torch.cat([sa * m1.effective_alpha / m1.rank * m1.B, sb * m2.effective_alpha / m2.rank * m2.B], dim=1),
            None,  # alpha = the new rank: scale 1
        )
    lf.write_lora(one, tmp_path / "one.safetensors", "comfyui")
    lf.write_lora(two, tmp_path / "two.safetensors", "musubi")
    lf.write_lora(lf.LoraFile("diffusers", merged), tmp_path / "merged.safetensors", "diffusers")
    a = tiny_transformer()
    names = apply_loras(a, [(tmp_path / "one.safetensors", sa), (tmp_path / "two.safetensors", sb)])
    assert len(names) == 2
    b = tiny_transformer()
    apply_loras(b, [(tmp_path / "merged.safetensors", 1.0)])
    assert (forward(a) - forward(b)).abs().max().item() <= 1e-5
    assert (forward(a) - base_out).abs().max() > 1e-2


def test_fused_equals_unfused(files):
    loras = [(files["comfyui"], 0.8), (files["diffsynth"], 0.3)]
    a, b = tiny_transformer(), tiny_transformer()
    apply_loras(a, loras)
    assert apply_loras(b, loras, fuse=True) == []
    assert wrapped_modules(b, "comfyui_0") == 0 and not any("lora" in n for n, _ in b.named_parameters())
    assert (forward(a) - forward(b)).abs().max().item() <= 1e-5


def _wan_pipeline(transformer):
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline
    from transformers import ByT5Tokenizer, UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    te = UMT5EncoderModel(UMT5Config(vocab_size=384, d_model=32, d_kv=8, d_ff=32, num_layers=1, num_heads=4))
    return WanPipeline(tokenizer=ByT5Tokenizer(), text_encoder=te, vae=vae, transformer=transformer,
                       scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True))


def test_vectorwan_file_loads_unchanged_through_diffusers(tmp_path):
    """diffusers' own WanPipeline.load_lora_weights reads a vectorwan (= ComfyUI) file as it is."""
    blocks_only = random_lora(attn_alpha=6.0)  # alpha/rank 1.5: diffusers rescales A/B itself
    del blocks_only.modules["head.head"]
    path = lf.write_lora(blocks_only, tmp_path / "vw.safetensors", "vectorwan")
    pipe = _wan_pipeline(tiny_transformer())
    pipe.load_lora_weights(str(path), adapter_name="vw")
    ours = tiny_transformer()
    apply_loras(ours, [(path, 1.0)])
    assert (forward(pipe.transformer) - forward(ours)).abs().max().item() <= 1e-5
    # and apply_loras on a pipeline targets its transformer, with the same result
    pipe2 = _wan_pipeline(tiny_transformer())
    apply_loras(pipe2, [(path, 1.0)])
    assert (forward(pipe2.transformer) - forward(ours)).abs().max().item() <= 1e-5


def test_lead_training_save_is_a_vectorwan_file(tmp_path):
    """The training side's save_lora output reads as format 'vectorwan' with its recipe metadata."""
    from vectorwan.models.lora import attach_lora, save_lora

    model = tiny_transformer()
    attach_lora(model, rank=4, alpha=8.0, targets=["q", "k", "v", "o", "ffn.0", "ffn.2"])
    path = save_lora(model, tmp_path / "trained.safetensors", rank=4, alpha=8.0,
                     targets=["q", "k", "v", "o", "ffn.0", "ffn.2"], trigger="tigersticker_unique001")
    info = lf.lora_info(path)
    assert info["format"] == "vectorwan" and info["modules"] == 20 and info["ranks"] == [4]
    assert info["alphas"] == [8.0] and info["metadata"]["vectorwan.trigger"] == "tigersticker_unique001"


# ------------------------------------------------------------------------------------ errors
def test_unknown_format_lists_keys(tmp_path):
    from safetensors.torch import save_file

    p = tmp_path / "sdxl.safetensors"
    save_file({"lora_te1_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": torch.zeros(2, 4)}, str(p))
    with pytest.raises(UserError) as e:
        lf.read_lora(p)
    assert "unknown LoRA format" in str(e.value) and "lora_te1_text_model" in str(e.value)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("key", ["transformer.transformer_blocks.0.attn.to_q",  # a Flux LoRA (diffusers)
                                 "lora_unet_down_blocks_0_attentions_0_proj_in"])  # an SD LoRA (kohya)
def test_lora_for_another_model_is_refused_on_read(tmp_path, key):
    from safetensors.torch import save_file

    kind = ("lora_A", "lora_B") if key.startswith("transformer.") else ("lora_down", "lora_up")
    save_file({f"{key}.{kind[0]}.weight": torch.zeros(2, 8), f"{key}.{kind[1]}.weight": torch.zeros(8, 2)},
              str(tmp_path / "other.safetensors"))
    with pytest.raises(UserError, match="not Wan 2.1 DiT modules"):
        lf.read_lora(tmp_path / "other.safetensors")


def test_partial_lora_is_refused(tmp_path, lora):
    from safetensors.torch import save_file

    sd, _ = lf.lora_state_dict(lora, "comfyui")
    del sd["diffusion_model.blocks.1.self_attn.v.lora_B.weight"]
    sd["diffusion_model.blocks.0.self_attn.q.diff_b"] = torch.zeros(24)
    save_file(sd, str(tmp_path / "p.safetensors"))
    with pytest.raises(UserError, match=r"blocks\.0\.self_attn\.q\.diff_b"):
        lf.read_lora(tmp_path / "p.safetensors")
    del sd["diffusion_model.blocks.0.self_attn.q.diff_b"]
    save_file(sd, str(tmp_path / "p.safetensors"))
    with pytest.raises(UserError, match=r"without both LoRA matrices.*blocks\.1\.self_attn\.v"):
        lf.read_lora(tmp_path / "p.safetensors")


def test_other_architecture_is_refused_and_model_untouched(tmp_path, base_out):
    g = torch.Generator().manual_seed(0)
    big = {f"blocks.{b}.self_attn.q": lf.LoraModule(torch.randn(4, 1536, generator=g), torch.randn(1536, 4, generator=g))
           for b in range(30)}  # a 1.3B LoRA on the tiny model
    p = lf.write_lora(lf.LoraFile("comfyui", big), tmp_path / "big.safetensors", "comfyui")
    good = lf.write_lora(random_lora(), tmp_path / "good.safetensors", "comfyui")
    model = tiny_transformer()
    with pytest.raises(UserError) as e:
        apply_loras(model, [(good, 1.0), (p, 1.0)])
    msg = str(e.value)
    assert "30 of 30" in msg and "blocks.0.self_attn.q (LoRA 1536x1536, model 24x24)" in msg and "\n" not in msg
    assert "blocks.2.self_attn.q (no such module)" in msg or "blocks.1.self_attn.q" in msg
    assert not getattr(model, "peft_config", None) and torch.equal(forward(model), base_out)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(UserError, match="no such LoRA file"):
        apply_loras(tiny_transformer(), [(tmp_path / "nope.safetensors", 1.0)])
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(UserError, match="bad.safetensors"):
        lf.read_lora(bad)


def test_musubi_names_with_underscores():
    for name in ("blocks.12.cross_attn.k_img", "blocks.0.self_attn.o", "time_projection.1", "text_embedding.0",
                 "head.head", "blocks.3.ffn.2", "blocks.1.cross_attn.norm_k_img"):
        assert lf._musubi_decode(lf._musubi_encode(name)[len("lora_unet_"):]) == name


def test_diffsynth_fixture_reproduced(shared_dir):
    """DiffSynth-Studio's own fused outputs (alpha 1.0 and 0.5) for both of its key styles."""
    from safetensors.torch import load_file

    from vectorwan.models.wan_original import load_original_transformer

    fx = shared_dir / "fixtures" / "diffsynth_lora"
    if not (fx / "io.safetensors").is_file():
        pytest.skip(f"fixture not present at {fx}")
    io = load_file(str(fx / "io.safetensors"))
    args = (io["x"], io["timestep"], io["context"])
    for name in ("lora_diffsynth_default.safetensors", "lora_diffsynth.safetensors"):
        info = lf.lora_info(fx / name)
        assert info["format"] == "diffsynth" and info["modules"] == 20 and info["ranks"] == [4]
        for scale in (1.0, 0.5):
            dit = load_original_transformer(fx / "dit.safetensors", num_heads=4)
            apply_loras(dit, [(fx / name, scale)])
            err = (forward(dit, args) - io[f"expected_lora_{scale}"]).abs().max().item()
            assert err <= 1e-3, (name, scale, err)


@pytest.mark.parametrize("what", ["nan_weight", "inf_weight", "nan_alpha"])
def test_non_finite_loras_are_refused_on_read(tmp_path, lora, what):
    bad = lf.LoraFile(lora.format, dict(lora.modules), dict(lora.metadata))
    name = "blocks.0.self_attn.q"
    m = bad.modules[name]
    if what == "nan_alpha":
        bad.modules[name] = lf.LoraModule(m.A, m.B, float("nan"))
    else:
        A = m.A.clone()
        A[0, 0] = float("nan") if what == "nan_weight" else float("inf")
        bad.modules[name] = lf.LoraModule(A, m.B, m.alpha)
    path = lf.write_lora(bad, tmp_path / "bad.safetensors", "vectorwan")
    with pytest.raises(UserError, match="alpha is nan" if what == "nan_alpha" else "NaN or infinite weights"):
        lf.read_lora(path)
