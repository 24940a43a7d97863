"""``vectorwan bench``: the trainer's own step (model, memory settings, LoRA, loss, optimizer: the
phases of train/loop.py) for N steps on the current device after one warm-up step, on a batch of
random latents and a random text context of the config's shapes (with ``[vector_loss]``, the layer
maps of a drawn disc), so it needs no data and, with ``model.path = "random:…"``, no weights.
"""

from __future__ import annotations

import contextlib
import platform
import sys
import time

import torch

from vectorwan.cache import CachedData
from vectorwan.config import Config
from vectorwan.models import loading
from vectorwan.train import loop, memory


def random_data(shape: tuple, n: int, text_tokens: int, text_dim: int, prompt_tokens: int, seed: int = 0,
                frames: int = 1, maps: bool = False, scale: int = 8) -> CachedData:
    """What :func:`loop.make_batch` reads from a cache, drawn at random: ``n`` items of the config's
    latent shape, each with one caption of ``prompt_tokens`` rows (the rest zero padding)."""
    g = torch.Generator().manual_seed(seed)
    latents = [torch.randn(shape, generator=g) for _ in range(n)]
    texts = [[torch.randn(prompt_tokens or text_tokens, text_dim, generator=g)] for _ in range(n)]
    return CachedData.of(latents, texts, [drawn_maps(shape, frames, scale) if maps else None] * n, torch.zeros(1, text_dim),
                         text_tokens, "random data")


def drawn_maps(shape: tuple, frames: int, scale: int = 8) -> dict:
    """Layer maps ([vector_loss]) of a drawing: an outlined orange disc moving right on white."""
    import numpy as np

    from vectorwan.data import layer_maps

    h, w = shape[-2] * scale, shape[-1] * scale
    yy, xx = np.mgrid[:h, :w]
    rgb = np.full((frames, h, w, 3), 255, np.uint8)
    alpha = np.zeros((frames, h, w), np.uint8)
    for f in range(frames):
        d = np.hypot(yy - h / 2, xx - w * (0.3 + 0.4 * f / max(1, frames - 1)))
        rgb[f][d < h / 4], alpha[f][d < h / 4] = (240, 140, 30), 255
        rgb[f][(d >= h / 4 - max(1, h // 64)) & (d < h / 4)] = 0
    maps = layer_maps.layer_maps(rgb, alpha, shape)
    return {k: torch.from_numpy(np.ascontiguousarray(maps[k])) for k in layer_maps.NAMES}


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(cfg: Config, steps: int = 3, prompt_tokens: int = 0, progress=print) -> dict:
    """Time ``steps`` training steps after a warm-up step; the peak memory of the whole run
    (CPU: peak RSS of the process; GPU: peak allocated)."""
    from vectorwan import plan

    predicted = predict_apart(cfg, torch.device("cuda" if torch.cuda.is_available() else "cpu"))
    with contextlib.redirect_stdout(sys.stderr):  # the trainer's notes: stdout carries the one JSON line
        acc = loop.setup_accelerator(cfg)
    device = acc.device
    source = loading.resolve(cfg.model.path)
    geo = plan.geometry(source)
    weights = loop.WEIGHTS[cfg.train.mode](cfg)
    mem = memory.resolve(cfg, device)
    t0 = time.perf_counter()
    transformer, n_modules = loop.setup_model(cfg, source, weights, mem)
    params, optimizer, scheduler = loop.setup_optimizer(cfg, transformer)
    transformer, optimizer = acc.prepare(transformer, optimizer)
    data = random_data(plan.latent_shape(cfg, geo), cfg.train.batch_size, cfg.model.max_sequence_length,
                       geo.transformer["text_dim"], prompt_tokens, cfg.seed, cfg.data.num_frames,
                       cfg.vector_loss.enabled, geo.vae_spatial)
    run = loop.Run(cfg, acc, data, weights, transformer, acc.unwrap_model(transformer), params, optimizer, scheduler,
                   n_modules)
    build_s = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    transformer.train()
    times = []
    for step in range(steps + 1):
        _sync(device)
        t = time.perf_counter()
        loss, _, grad_norm, _ = loop.train_step(run, step)
        loop.check_finite(run, step + 1, loss, grad_norm)  # a non-finite step is an error, not a timing
        _sync(device)
        times.append(time.perf_counter() - t)
        progress(f"step {step}{' (warm-up)' if step == 0 else ''}: {times[-1]:.2f} s, loss {loss:.4f}")
    return {"model": source.name, "mode": mem.mode, "memory": mem.record(), "device": _device_name(device),
            "dtype": str(run.model.dtype).removeprefix("torch."), "tokens": plan.video_tokens(cfg, geo),
            "text_tokens": cfg.model.max_sequence_length, "prompt_tokens": prompt_tokens or cfg.model.max_sequence_length,
            "batch_size": cfg.train.batch_size, "lora_modules": n_modules, "steps": steps,
            "s_per_step": round(sum(times[1:]) / max(1, steps), 4), "warmup_s": round(times[0], 3),
            "build_s": round(build_s, 2), "peak_memory_mb": round(loop._peak_memory_mb(device), 1),
            "plan_peak_mb": round(predicted["peak_gb"] * 1024, 1),
            "model_tflops_per_s": round(plan.step_flops(geo, plan.video_tokens(cfg, geo), cfg.model.max_sequence_length,
                                                        cfg.train.batch_size) / (sum(times[1:]) / steps) / 1e12, 4),
            "torch": torch.__version__}


def predict_apart(cfg: Config, device: torch.device) -> dict:
    """``vectorwan plan --configured`` for this config, in a process of its own: the plan's traced
    model must not raise the peak that the bench measures."""
    import json
    import subprocess
    import tempfile
    from pathlib import Path

    from vectorwan.config import dump_toml
    from vectorwan.errors import UserError

    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "config.toml"
        conf.write_text(dump_toml(cfg))
        r = subprocess.run([sys.executable, "-m", "vectorwan", "plan", str(conf), "--configured", "--json",
                            "--device", device.type], capture_output=True, text=True)
    if r.returncode:
        raise UserError(f"bench: the plan of this config failed: {r.stderr.strip().splitlines()[-1:]}")
    return json.loads(r.stdout)["predictions"][0]


def _device_name(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
