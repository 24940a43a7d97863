"""The released Wan transformers' architectures, as diffusers ``WanTransformer3DModel`` configs,
and the latent geometry of their VAEs.

``model.path = "random:Wan2.1-T2V-1.3B"`` builds the real architecture from its config with
random weights (seeded), so that ``vectorwan bench`` and ``vectorwan plan`` run where the weights
are not: the step's cost and memory depend on the shapes, not on the values. Such a model has
no VAE and no text encoder; bench feeds it random latents and a random text context.
"""

from __future__ import annotations

from dataclasses import dataclass

_COMMON = dict(patch_size=(1, 2, 2), attention_head_dim=128, text_dim=4096, freq_dim=256, cross_attn_norm=True,
               qk_norm="rms_norm_across_heads", eps=1e-6)


@dataclass(frozen=True)
class Architecture:
    transformer: dict  # WanTransformer3DModel(**transformer)
    vae_spatial: int  # pixels per latent pixel
    vae_temporal: int  # frames per latent frame (after the first)


ARCHITECTURES = {
    "Wan2.1-T2V-1.3B": Architecture(dict(_COMMON, num_attention_heads=12, ffn_dim=8960, num_layers=30, in_channels=16,
                                         out_channels=16), 8, 4),
    "Wan2.1-T2V-14B": Architecture(dict(_COMMON, num_attention_heads=40, ffn_dim=13824, num_layers=40, in_channels=16,
                                        out_channels=16), 8, 4),
    "Wan2.2-TI2V-5B": Architecture(dict(_COMMON, num_attention_heads=24, ffn_dim=14336, num_layers=30, in_channels=48,
                                        out_channels=48), 16, 4),
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
    (e.g. fp8 storage), then each parameter created in the dtype it has by then: N(0, 0.02²) for
    weights, 1 for norm weights, 0 for biases. No copy of the model in another dtype is ever made."""
    import torch
    from accelerate import init_empty_weights
    from accelerate.utils import set_module_tensor_to_device

    with init_empty_weights(include_buffers=False):
        model = construct(ARCHITECTURES[name].transformer, dtype, "cpu")
    if prepare is not None:
        prepare(model)
    g = torch.Generator().manual_seed(seed)
    for pname, p in list(model.named_parameters()):
        if "norm" in pname and pname.endswith("weight"):
            value = torch.ones(p.shape, dtype=p.dtype)
        elif pname.endswith("bias"):
            value = torch.zeros(p.shape, dtype=p.dtype)
        else:
            value = torch.randn(p.shape, generator=g).mul_(0.02).to(p.dtype)
        set_module_tensor_to_device(model, pname, "cpu", value=value, dtype=p.dtype)
    return model.eval()
