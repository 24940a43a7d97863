"""The embedded tiny model: Wan's architecture family at toy size, built from config with a
fixed seed, so the whole workflow runs (and is tested) on a CPU with no downloads.

Same classes as the real model — diffusers ``WanTransformer3DModel`` and ``AutoencoderKLWan``,
transformers ``UMT5EncoderModel`` — only smaller; the tokenizer is ``ByT5Tokenizer`` (bytes,
needs no vocabulary file).
"""

from __future__ import annotations

from vectorwan import sampling

TINY_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=32, in_channels=16, out_channels=16,
    text_dim=32, freq_dim=256, ffn_dim=128, num_layers=2, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", rope_max_seq_len=32,
)
# Wan 2.1's VAE block layout (dim_mult [1,2,4,4], 2 res blocks) at base width 3, so that the
# original-layout converters (which assume that layout) apply to it too
TINY_VAE = dict(base_dim=3, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, temperal_downsample=[False, True, True])
TINY_TEXT_ENCODER = dict(
    vocab_size=384, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
    relative_attention_num_buckets=8, relative_attention_max_distance=32,
    feed_forward_proj="gated-gelu", dropout_rate=0.0, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
)
TINY_SEED = 0
# Wan 2.2 TI2V-5B's family at toy size: 48 latent channels, the residual VAE that patchifies 2×2 and
# compresses 16× in space (diffusers AutoencoderKLWan with is_residual), timesteps per token
TINY_TI2V_TRANSFORMER = dict(TINY_TRANSFORMER, in_channels=48, out_channels=48)
TINY_TI2V_VAE = dict(base_dim=8, decoder_base_dim=8, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=1,
                     temperal_downsample=[False, True, True], is_residual=True, in_channels=12, out_channels=12,
                     patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4, latents_mean=[0.0] * 48,
                     latents_std=[1.0] * 48)


def build_transformer(seed: int = TINY_SEED, config: dict = TINY_TRANSFORMER):
    import torch
    from diffusers import WanTransformer3DModel

    torch.manual_seed(seed)
    return WanTransformer3DModel(**config).eval()


def build_vae(seed: int = TINY_SEED, config: dict = TINY_VAE):
    import torch
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed + 1)
    return AutoencoderKLWan(**config).eval()


def build_text_encoder(seed: int = TINY_SEED):
    import torch
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(seed + 2)
    return UMT5EncoderModel(UMT5Config(**TINY_TEXT_ENCODER)).eval()


def build_tokenizer():
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer()


def build_scheduler(flow_shift: float = sampling.TINY["shift"]):
    from diffusers import UniPCMultistepScheduler

    return UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                   num_train_timesteps=1000, flow_shift=flow_shift)


def build_component(name: str, seed: int = TINY_SEED):
    return {
        "transformer": lambda: build_transformer(seed),
        "vae": lambda: build_vae(seed),
        "text_encoder": lambda: build_text_encoder(seed),
        "tokenizer": build_tokenizer,
        "scheduler": build_scheduler,
    }[name]()


def build_pipeline(seed: int = TINY_SEED, variant: str = "t2v"):
    """The tiny pipeline: ``t2v`` (Wan 2.1's family) or ``ti2v`` (Wan 2.2 TI2V-5B's)."""
    from diffusers import WanPipeline

    ti2v = variant == "ti2v"
    return WanPipeline(tokenizer=build_tokenizer(), text_encoder=build_text_encoder(seed),
                       vae=build_vae(seed, TINY_TI2V_VAE if ti2v else TINY_VAE),
                       transformer=build_transformer(seed, TINY_TI2V_TRANSFORMER if ti2v else TINY_TRANSFORMER),
                       scheduler=build_scheduler(), **({"expand_timesteps": True} if ti2v else {}))
