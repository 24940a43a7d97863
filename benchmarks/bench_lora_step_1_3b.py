"""One LoRA training step of the full Wan 2.1 T2V 1.3B architecture (random weights).

Uses the project's own pieces (attach_lora with the seed recipe targets, flow-matching noise
and loss, AdamW on the LoRA parameters). Prints s/step and peak RSS (CPU) or peak VRAM (GPU).

    .venv/bin/python benchmarks/bench_lora_step_1_3b.py --tokens 256 --steps 3
    .venv/bin/python benchmarks/bench_lora_step_1_3b.py --tokens 256 --steps 3 --no-checkpointing
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from vectorwan.models.lora import attach_lora
from vectorwan.train import flow
from vectorwan.train.losses import flow_matching_loss

WAN_1_3B = dict(patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
                text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
                qk_norm="rms_norm_across_heads", eps=1e-6)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=256, help="video tokens (latent frames × h/2 × w/2)")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--no-checkpointing", action="store_true")
    ap.add_argument("--text-tokens", type=int, default=512, help="the context length (Wan pads to 512)")
    ap.add_argument("--prompt-tokens", type=int, default=0,
                    help="real tokens in the context, the rest zero padding as Wan's pipelines pad (0: all real)")
    ap.add_argument("--collapse-padding", action="store_true",
                    help="attend to the padding once (vectorwan.models.padding; exact)")
    args = ap.parse_args()
    from diffusers import WanTransformer3DModel

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = getattr(torch, args.dtype)
    side = int(round((args.tokens) ** 0.5)) * 2  # latent h = w, one latent frame
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = WanTransformer3DModel(**WAN_1_3B).to(device, dtype)
    n_params = sum(p.numel() for p in model.parameters())
    n_mod = attach_lora(model, 16, 16.0, ["q", "k", "v", "o", "ffn.0", "ffn.2"])
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    if args.collapse_padding:
        from vectorwan.models.padding import collapse_padding

        collapse_padding(model)
    if not args.no_checkpointing:
        model.enable_gradient_checkpointing()
    model.train()
    build_s = time.perf_counter() - t0
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=5e-5)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(1, 16, 1, side, side, generator=g)
    text = torch.randn(1, args.text_tokens, 4096, generator=g)
    if args.prompt_tokens:
        text[:, args.prompt_tokens:] = 0
    times = []
    for step in range(args.steps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        noise = torch.randn(x0.shape, generator=g)
        sigma = flow.sample_sigmas(1, "shifted_uniform", g, shift=5.0)
        x_t = flow.add_noise(x0, noise, sigma)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
            pred = model(hidden_states=x_t.to(device, dtype), timestep=flow.timesteps(sigma).to(device),
                         encoder_hidden_states=text.to(device, dtype), return_dict=False)[0]
            loss = flow_matching_loss(pred, flow.velocity_target(x0, noise).to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step:  # the first step warms up
            times.append(time.perf_counter() - t)
    out = {
        "device": device.type, "dtype": args.dtype, "tokens": (side // 2) ** 2, "text_tokens": args.text_tokens,
        "prompt_tokens": args.prompt_tokens or args.text_tokens, "collapse_padding": args.collapse_padding,
        "gradient_checkpointing": not args.no_checkpointing, "params_M": round(n_params / 1e6, 1),
        "lora_modules": n_mod, "lora_params_M": round(sum(p.numel() for p in params) / 1e6, 2),
        "build_s": round(build_s, 1), "s_per_step": round(sum(times) / len(times), 2),
        "peak_rss_GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }
    if device.type == "cuda":
        out["peak_vram_GB"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
