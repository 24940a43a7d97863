"""The released Wan transformers' architectures, as diffusers ``WanTransformer3DModel`` configs,
and the configs of their VAEs and text encoder (the plan reads the latent geometry from the VAE's).

``model.path = "random:Wan2.1-T2V-1.3B"`` builds the real architecture from its config with
random weights (seeded), so that ``vectorwan bench`` and ``vectorwan plan`` run where the weights
are not: the step's cost and memory depend on the shapes, not on the values. Such a model has
no VAE and no text encoder; bench feeds it random latents and a random text context.
"""

from __future__ import annotations

from dataclasses import dataclass

_COMMON = dict(patch_size=(1, 2, 2), attention_head_dim=128, text_dim=4096, freq_dim=256, cross_attn_norm=True,
               qk_norm="rms_norm_across_heads", eps=1e-6)


# the parts `vectorwan cache` loads, for the plan's cache phase: umT5-XXL's encoder (transformers
# UMT5Config) and the VAEs (diffusers AutoencoderKLWan: Wan 2.1's is its defaults)
UMT5_XXL = dict(vocab_size=256384, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
                tie_word_embeddings=False)
WAN22_VAE = dict(base_dim=160, decoder_base_dim=256, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                 temperal_downsample=[False, True, True], is_residual=True, in_channels=12, out_channels=12,
                 patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4)


@dataclass(frozen=True)
class Architecture:
    transformer: dict  # WanTransformer3DModel(**transformer)
    vae: dict  # AutoencoderKLWan(**vae): its compression too (plan._vae_scales)
    text_encoder: dict  # UMT5Config(**text_encoder)


ARCHITECTURES = {
    "Wan2.1-T2V-1.3B": Architecture(dict(_COMMON, num_attention_heads=12, ffn_dim=8960, num_layers=30, in_channels=16,
                                         out_channels=16), {}, UMT5_XXL),
    "Wan2.1-T2V-14B": Architecture(dict(_COMMON, num_attention_heads=40, ffn_dim=13824, num_layers=40, in_channels=16,
                                        out_channels=16), {}, UMT5_XXL),
    "Wan2.2-TI2V-5B": Architecture(dict(_COMMON, num_attention_heads=24, ffn_dim=14336, num_layers=30, in_channels=48,
                                        out_channels=48), WAN22_VAE, UMT5_XXL),
}
PREFIX = "random:"


def names() -> str:
    return ", ".join(PREFIX + n for n in ARCHITECTURES)


def construct(config: dict, dtype=None, device="cpu"):
    """``WanTransformer3DModel(**config)`` with its parameters created directly in ``dtype`` on
    ``device`` (no float32 copy of a multi-GB model is ever made; "meta" allocates nothing)."""
    import torch
    from diffusers import WanTransformer3DModel

    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(dtype or torch.float32)
        with torch.device(device):
            return WanTransformer3DModel(**config)
    finally:
        torch.set_default_dtype(previous)


def build_random(name: str, dtype=None, seed: int = 0, prepare=None):
    """The architecture ``name`` with random weights drawn from ``seed``: its parameters made on the
    meta device (its computed buffers, the rotary tables, for real), ``prepare(model)`` applied there
    (e.g. fp8 storage), then each parameter created in the dtype it has by then and filled in place:
    N(0, 0.02²) for weights, 1 for norm weights, 0 for biases. No copy of the model in another dtype,
    and no float32 temporary of a weight, is ever made (freed temporaries would stay in peak RSS)."""
    import torch
    from accelerate import init_empty_weights
    from accelerate.utils import set_module_tensor_to_device

    with init_empty_weights(include_buffers=False):
        model = construct(ARCHITECTURES[name].transformer, dtype, "cpu")
    if prepare is not None:
        prepare(model)
    buffers = dict(model.named_buffers())
    model = model.to_empty(device="cpu")
    for bname, b in buffers.items():  # to_empty re-makes the buffers too: put the computed ones back
        set_module_tensor_to_device(model, bname, "cpu", value=b)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "norm" in pname and pname.endswith("weight"):
                p.fill_(1.0)
            elif pname.endswith("bias"):
                p.zero_()
            elif p.dtype.itemsize == 1:  # fp8 storage: no random kernel of its own
                p.copy_(torch.empty(p.shape, dtype=torch.bfloat16).normal_(0.0, 0.02, generator=g))
            else:
                p.normal_(0.0, 0.02, generator=g)
    return model.eval()
