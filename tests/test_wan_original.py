"""The original Wan 3-file layout: write tiny seeded models in it, read them back, identical outputs."""

import json

import pytest
import torch

from vectorwan.errors import UserError
from vectorwan.models import wan_original as wo

TINY_DIT = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
                text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", rope_max_seq_len=32)
# Wan 2.1's VAE shape (num_res_blocks 2, dim_mult [1, 2, 4, 4]) at base_dim 3: the layout diffusers' converter maps
TINY_VAE = dict(base_dim=3, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, temperal_downsample=[False, True, True])
TINY_T5 = dict(vocab_size=384, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_heads=4,
               relative_attention_num_buckets=8, relative_attention_max_distance=32,
               feed_forward_proj="gated-gelu", dropout_rate=0.0)


@pytest.fixture(scope="module")
def models():
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    dit = WanTransformer3DModel(**TINY_DIT).eval()
    torch.manual_seed(0)
    vae = AutoencoderKLWan(**TINY_VAE).eval()
    torch.manual_seed(0)
    t5 = UMT5EncoderModel(UMT5Config(**TINY_T5)).eval()
    return dit, vae, t5


@pytest.fixture(scope="module")
def saved(models, tmp_path_factory):
    from transformers import ByT5Tokenizer

    out = tmp_path_factory.mktemp("wan_original")
    written = wo.save_original_layout(*models, out, tokenizer=ByT5Tokenizer())
    return out, written


def dit_inputs():
    g = torch.Generator().manual_seed(1)
    return (torch.randn(1, 16, 3, 8, 8, generator=g), torch.tensor([500.0]), torch.randn(1, 12, 32, generator=g))


def dit_out(model, inputs=None):
    x, t, ctx = inputs or dit_inputs()
    with torch.no_grad():
        return model(hidden_states=x, timestep=t, encoder_hidden_states=ctx).sample


def test_layout_files_and_original_key_names(saved):
    out, written = saved
    names = sorted(p.name for p in out.iterdir())
    assert {"diffusion_pytorch_model.safetensors", "Wan2.1_VAE.pth", "models_t5_umt5-xxl-enc-bf16.pth",
            "config.json", "google"} <= set(names)
    from safetensors import safe_open

    with safe_open(str(written["transformer"]), "pt") as f:
        keys = set(f.keys())
    for k in ("blocks.0.self_attn.q.weight", "blocks.1.cross_attn.o.bias", "blocks.0.norm3.weight",
              "blocks.0.modulation", "head.head.weight", "head.modulation", "patch_embedding.weight",
              "text_embedding.0.weight", "time_embedding.2.bias", "time_projection.1.weight", "blocks.0.ffn.2.weight"):
        assert k in keys
    t5 = torch.load(written["text_encoder"], weights_only=True)
    assert {"token_embedding.weight", "blocks.1.ffn.gate.0.weight", "blocks.0.pos_embedding.embedding.weight",
            "blocks.0.attn.o.weight", "norm.weight"} <= set(t5)
    vae = torch.load(written["vae"], weights_only=True)
    assert {"encoder.conv1.weight", "decoder.upsamples.4.shortcut.weight", "decoder.upsamples.3.time_conv.weight",
            "decoder.middle.1.to_qkv.weight", "conv2.weight"} <= set(vae)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["dim"] == 24 and cfg["num_heads"] == 2 and cfg["num_layers"] == 2


def test_dit_roundtrip_identical(models, saved):
    out, _ = saved
    loaded = wo.load_original_transformer(out)
    assert dict(loaded.config)["num_attention_heads"] == 2
    assert torch.equal(dit_out(models[0]), dit_out(loaded))


def test_vae_roundtrip_identical(models, saved):
    out, _ = saved
    vae = models[1]
    loaded = wo.load_original_vae(out / wo.VAE_FILE)
    video = torch.randn(1, 3, 5, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        z0, z1 = vae.encode(video).latent_dist.mean, loaded.encode(video).latent_dist.mean
        assert torch.equal(z0, z1)
        assert torch.equal(vae.decode(z0).sample, loaded.decode(z1).sample)


def test_text_encoder_roundtrip_identical(models, saved):
    from transformers import AutoTokenizer

    out, _ = saved
    loaded = wo.load_original_text_encoder(out / wo.T5_FILE)
    tok_dir = wo.find_original_tokenizer(out)
    assert tok_dir is not None
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    ids = tok(["tigersticker_unique001, a chubby tiger", "thick outlines"], padding=True, return_tensors="pt")
    with torch.no_grad():
        a = models[2](**ids).last_hidden_state
        b = loaded(**ids).last_hidden_state
    assert torch.equal(a, b)
    assert loaded.encoder.embed_tokens.weight is loaded.shared.weight


def test_inference_without_sidecar(models, saved, tmp_path):
    """Configs inferred from shapes alone (plus Wan's config.json for the DiT head count)."""
    out, _ = saved
    for name in ("diffusion_pytorch_model.safetensors", "config.json", wo.VAE_FILE, wo.T5_FILE):
        (tmp_path / name).write_bytes((out / name).read_bytes())
    dit = wo.load_original_transformer(tmp_path)  # heads from Wan's config.json
    assert torch.equal(dit_out(models[0]), dit_out(dit))
    vae = wo.load_original_vae(tmp_path / wo.VAE_FILE)
    for k, v in TINY_VAE.items():
        assert list(vae.config[k]) == list(v) if isinstance(v, list) else vae.config[k] == v
    t5 = wo.load_original_text_encoder(tmp_path / wo.T5_FILE)
    assert (t5.config.d_model, t5.config.d_kv, t5.config.num_heads, t5.config.d_ff, t5.config.num_layers,
            t5.config.relative_attention_num_buckets) == (32, 8, 4, 48, 2, 8)
    assert t5.config.relative_attention_max_distance == 128  # Wan's fixed value
    # no config.json: Wan's head_dim=128 rule cannot split 24 channels -> one clear line, or an explicit override
    (tmp_path / "config.json").unlink()
    with pytest.raises(UserError, match="num_heads"):
        wo.load_original_transformer(tmp_path)
    dit = wo.load_original_transformer(tmp_path, num_heads=2, config={"rope_max_seq_len": 32})
    assert torch.equal(dit_out(models[0]), dit_out(dit))


def test_sharded_dit_with_and_without_index(models, tmp_path):
    files = wo.save_original_transformer(models[0], tmp_path, shards=3)
    shards = sorted(tmp_path.glob("diffusion_pytorch_model-*.safetensors"))
    assert len(shards) == 3 and (tmp_path / wo.DIT_INDEX) in files
    ref = dit_out(models[0])
    assert torch.equal(ref, dit_out(wo.load_original_transformer(tmp_path)))
    assert torch.equal(ref, dit_out(wo.load_original_transformer(shards, num_heads=2)))
    (tmp_path / wo.DIT_INDEX).unlink()  # plain glob of the shards
    assert torch.equal(ref, dit_out(wo.load_original_transformer(tmp_path)))
    shards[1].unlink()  # a lost shard: its tensors are missing
    with pytest.raises(UserError, match="missing"):
        wo.load_original_transformer(tmp_path)


def test_missing_shard_named_by_index(models, tmp_path):
    wo.save_original_transformer(models[0], tmp_path, shards=2)
    lost = tmp_path / "diffusion_pytorch_model-00002-of-00002.safetensors"
    lost.unlink()
    with pytest.raises(UserError) as e:
        wo.load_original_transformer(tmp_path)
    assert str(lost) in str(e.value) and "\n" not in str(e.value)


def test_model_diffusion_model_prefix(models, tmp_path):
    wo.save_original_transformer(models[0], tmp_path, prefix=wo.PREFIX)
    from safetensors import safe_open

    with safe_open(str(tmp_path / wo.DIT_FILE), "pt") as f:
        assert all(k.startswith("model.diffusion_model.") for k in f.keys())
    assert torch.equal(dit_out(models[0]), dit_out(wo.load_original_transformer(tmp_path / wo.DIT_FILE)))


def test_bf16_keeps_diffusers_fp32_modules(saved):
    out, _ = saved
    dit = wo.load_original_transformer(out, torch.bfloat16)
    dtypes = {n: p.dtype for n, p in dit.named_parameters()}
    assert dtypes["blocks.0.attn1.to_q.weight"] == torch.bfloat16
    assert dtypes["scale_shift_table"] == torch.float32  # diffusers' _keep_in_fp32_modules, as from_pretrained
    assert dtypes["condition_embedder.time_embedder.linear_1.weight"] == torch.float32
    t5 = wo.load_original_text_encoder(out / wo.T5_FILE, torch.bfloat16)
    assert t5.shared.weight.dtype == torch.bfloat16


def test_corrupt_and_missing_files(saved, tmp_path):
    out, _ = saved
    bad = tmp_path / "diffusion_pytorch_model.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(UserError) as e:
        wo.load_original_transformer(tmp_path)
    assert str(bad) in str(e.value) and "\n" not in str(e.value)
    truncated = tmp_path / wo.VAE_FILE
    truncated.write_bytes((out / wo.VAE_FILE).read_bytes()[:2000])
    with pytest.raises(UserError) as e:
        wo.load_original_vae(truncated)
    assert str(truncated) in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(UserError, match="missing"):
        wo.load_original_text_encoder(tmp_path / wo.T5_FILE)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no diffusion_pytorch_model"):
        wo.load_original_transformer(empty)


class _NotATensor:
    pass


def test_pth_is_never_unpickled(tmp_path):
    """A .pth that holds anything but tensors is refused by torch's weights_only loader."""
    p = tmp_path / wo.VAE_FILE
    torch.save({"encoder.conv1.weight": torch.zeros(1), "x": _NotATensor()}, p)
    with pytest.raises(UserError) as e:
        wo.load_original_vae(p)
    assert str(p) in str(e.value)


def test_wrong_architecture_is_one_line(models, tmp_path):
    from safetensors.torch import load_file, save_file

    wo.save_original_transformer(models[0], tmp_path)
    f = tmp_path / wo.DIT_FILE
    sd = load_file(str(f))
    del sd["blocks.1.self_attn.k.bias"]
    sd["blocks.1.extra.weight"] = torch.zeros(2)
    save_file(sd, str(f))
    with pytest.raises(UserError) as e:
        wo.load_original_transformer(tmp_path)
    msg = str(e.value)
    assert "\n" not in msg and "missing" in msg and "unexpected" in msg and str(f) in msg


def test_unsupported_vae_shape_writes_nothing(tmp_path):
    """diffusers' VAE converter knows Wan 2.1's block layout only; other shapes are refused up front."""
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    with pytest.raises(UserError, match="num_res_blocks=2"):
        wo.save_original_layout(None, vae, None, tmp_path / "out")
    assert not (tmp_path / "out" / wo.VAE_FILE).exists()


def test_real_wan_1_3b_key_layout_and_config_inference():
    """The real 1.3B / Wan 2.1 VAE key sets (built on the meta device, no weights) map both ways."""
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    real = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
                text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", eps=1e-6)
    with init_empty_weights():
        dit = WanTransformer3DModel(**real)
        vae = AutoencoderKLWan()
    sd = dit.state_dict()
    names = wo.dit_keys_to_original(sd.keys())
    assert names["blocks.29.attn1.to_out.0.weight"] == "blocks.29.self_attn.o.weight"
    assert names["blocks.0.norm2.weight"] == "blocks.0.norm3.weight"
    assert names["scale_shift_table"] == "head.modulation" and names["proj_out.weight"] == "head.head.weight"
    original = {names[k]: v for k, v in sd.items()}
    cfg = wo.infer_transformer_config(original)  # head count from Wan's head_dim = 128
    assert {k: cfg[k] for k in real} == real
    vnames = wo.vae_keys_to_original(vae.state_dict().keys(), 2)
    vsd = {vnames[k]: v for k, v in vae.state_dict().items()}
    vcfg = wo.infer_vae_config(vsd)
    assert (vcfg["base_dim"], vcfg["z_dim"], vcfg["dim_mult"], vcfg["num_res_blocks"],
            vcfg["temperal_downsample"]) == (96, 16, [1, 2, 4, 4], 2, [False, True, True])


def test_diffsynth_fixture_base_output(shared_dir):
    """DiffSynth-Studio's own output for the tiny original-layout DiT, reproduced within 1e-3."""
    from safetensors.torch import load_file

    fx = shared_dir / "fixtures" / "diffsynth_lora"
    if not (fx / "dit.safetensors").is_file():
        pytest.skip(f"fixture not present at {fx}")
    io = load_file(str(fx / "io.safetensors"))
    dit = wo.load_original_transformer(fx / "dit.safetensors", num_heads=4)  # dim 48, head dim 12 (not Wan's 128)
    c = dit.config
    assert (c.num_layers, c.ffn_dim, c.text_dim, c.freq_dim, c.cross_attn_norm) == (2, 96, 32, 256, True)
    out = dit_out(dit, (io["x"], io["timestep"], io["context"]))
    assert (out - io["expected_base"]).abs().max().item() <= 1e-3
