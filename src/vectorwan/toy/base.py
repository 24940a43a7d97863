"""Assemble the toy base model as a diffusers folder, ready for pre-training its DiT.

Issue #6's pipeline, standing on the project's own pieces:

    vectorwan toy pretrain-vae runs/toy/vae                       # 1. the VAE
    vectorwan toy init-base runs/toy/base --vae runs/toy/vae/checkpoint/vae
    vectorwan toy world runs/toy/world --per-prompt 8             # 2. data
    vectorwan train configs/toy_pretrain.toml                     # 3. the DiT (train.mode = "full")

The folder holds a freshly initialised ``WanTransformer3DModel`` of the toy size, the (pre-trained)
VAE with latent statistics measured on toy-world clips (so latents are normalised as Wan's are),
the tiny frozen UMT5 encoder and byte tokenizer, Wan's UniPC flow scheduler, the toy base's ``sampling.json``
(:data:`vectorwan.sampling.TOY`) and a ``manifest.json`` saying what it was made from.
"""

from __future__ import annotations

from pathlib import Path

from vectorwan import sampling
from vectorwan.atomic import atomic_path, check_output, write_json
from vectorwan.errors import UserError
from vectorwan.models import tiny
from vectorwan.models.loading import own_model_entry
from vectorwan.toy.pretrain_vae import VaeTrainConfig, build_vae
from vectorwan.toy.world import all_prompts, render_clip

# issue #6's feasibility run: width 128, 6 layers, 4 heads (1.8 M parameters)
TOY_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=4, attention_head_dim=32, in_channels=16, out_channels=16,
    text_dim=32, freq_dim=256, ffn_dim=512, num_layers=6, cross_attn_norm=True,
    qk_norm="rms_norm_across_heads", rope_max_seq_len=64,
)


def latent_stats(vae, n_clips: int = 32, seed: int = 0) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of the VAE's latents (mode) over toy-world clips."""
    import torch

    prompts = all_prompts()
    zs = []
    with torch.no_grad():
        for i in range(n_clips):
            colour, shape, motion = prompts[(i * 37 + seed) % len(prompts)]
            f = torch.from_numpy(render_clip(colour, shape, motion, seed=10_000 + seed + i).frames)
            x = f.permute(3, 0, 1, 2)[None].float() / 127.5 - 1.0
            zs.append(vae.encode(x).latent_dist.mode())
    z = torch.cat([t.flatten(2) for t in zs], dim=2)[0]  # C × N
    return z.mean(1).tolist(), z.std(1).clamp_min(1e-4).tolist()


def init_toy_base(out_dir: str | Path, vae_dir: str | Path | None = None, seed: int = 0, stats_clips: int = 32,
                  transformer_dir: str | Path | None = None) -> Path:
    """Write the toy base folder (``WanPipeline.from_pretrained`` loads it).

    ``transformer_dir``: start from this trained transformer instead of a fresh one (to go on
    training a DiT on a new VAE's latents: they are normalised to the same per-channel mean and
    std, so what the DiT learned about layout and motion carries over).
    """
    import torch
    from diffusers import AutoencoderKLWan, WanPipeline, WanTransformer3DModel

    out_dir = check_output(out_dir, own_model_entry)  # before minutes of work

    if vae_dir is not None:
        if not (Path(vae_dir) / "config.json").is_file():
            raise UserError(f"{vae_dir}: not a VAE folder (no config.json); give OUT_DIR/checkpoint/vae of pretrain-vae")
        vae = AutoencoderKLWan.from_pretrained(vae_dir).eval()
    else:
        vae = build_vae(VaeTrainConfig(out_dir="", seed=seed)).eval()
    if vae.config.z_dim != TOY_TRANSFORMER["in_channels"]:
        raise UserError(f"{vae_dir}: VAE z_dim {vae.config.z_dim}; the toy transformer needs {TOY_TRANSFORMER['in_channels']}")
    mean, std = latent_stats(vae, stats_clips, seed)
    vae.register_to_config(latents_mean=mean, latents_std=std)
    if transformer_dir is not None:
        if not (Path(transformer_dir) / "config.json").is_file():
            raise UserError(f"{transformer_dir}: not a transformer folder (no config.json); give a DiT run's transformer/")
        transformer = WanTransformer3DModel.from_pretrained(transformer_dir)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            transformer = WanTransformer3DModel(**TOY_TRANSFORMER)
    pipe = WanPipeline(tokenizer=tiny.build_tokenizer(), text_encoder=tiny.build_text_encoder(seed), vae=vae,
                       transformer=transformer, scheduler=tiny.build_scheduler(sampling.TOY["shift"]))
    with atomic_path(out_dir, suffix="") as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
        sampling.write(tmp, sampling.TOY)
        write_json(tmp / "manifest.json", {"made_by": "vectorwan toy init-base", "seed": seed,
                                           "vae": str(vae_dir) if vae_dir else None,
                                           "transformer": str(transformer_dir) if transformer_dir else None})
    return out_dir
