"""vectorwan's LoRA step against DiffSynth-Studio's, on the same machine, in one run.

Both sides train the reference recipe's LoRA (rank 16 = alpha on q,k,v,o of self- and
cross-attention and ffn.0, ffn.2; AdamW, lr 5e-5) on a random-weight Wan 2.1 T2V 1.3B DiT in
bfloat16, with gradient checkpointing on every block, at the same latent shape and with the same
context: ``--prompt-tokens`` real text rows padded with zeros to 512, as both pipelines pad.

- vectorwan: ``vectorwan bench`` on configs/tiger16_t2v_1.3b.toml (``random:Wan2.1-T2V-1.3B``,
  the plain recipe: ``[vector_loss]`` off, since DiffSynth has none), in the modes asked for.
- DiffSynth-Studio 2.1.12: its own ``WanModel`` (diffsynth/models/wan_video_dit.py) built in
  bfloat16 as its loader builds it (no float32 copy), the LoRA injected as its trainer does
  (``DiffusionTrainingModule.add_lora_to_model``: peft's ``inject_adapter_in_model``, the LoRA
  cast to the pipeline dtype), its ``forward(..., use_gradient_checkpointing=True)``, its
  flow-matching loss (MSE in float32) and torch's AdamW, as its runner steps it.

Each measurement is a process of its own (peak RSS is per process); the sides alternate within
each round, so drifting load falls on both. DiffSynth is installed, without its dependencies
(this needs only its DiT), into ``.bench/diffsynth`` by ``make bench-diffsynth``.

    make bench-diffsynth                       # installs DiffSynth, then runs the default grid
    .venv/bin/python benchmarks/bench_diffsynth.py --sizes 256x256x1 240x416x9 --rounds 2 \\
        --modes default default+compile fp8 --record benchmarks/results/diffsynth_cpu.jsonl
    .venv/bin/python benchmarks/bench_diffsynth.py --table benchmarks/results/diffsynth_cpu.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIFFSYNTH_DIR = ROOT / ".bench" / "diffsynth"
CONFIG = ROOT / "configs" / "tiger16_t2v_1.3b.toml"
WAN_1_3B = dict(dim=1536, in_dim=16, ffn_dim=8960, out_dim=16, text_dim=4096, freq_dim=256, eps=1e-6,
                patch_size=(1, 2, 2), num_heads=12, num_layers=30, has_image_input=False)
TARGETS = ["q", "k", "v", "o", "ffn.0", "ffn.2"]


def tokens(h: int, w: int, frames: int) -> int:
    return (1 + (frames - 1) // 4) * (h // 16) * (w // 16)


# ----------------------------------------------------------------------------- DiffSynth's side
def _import_dit():
    """DiffSynth's ``WanModel`` without running the package's ``__init__`` (which imports every
    pipeline and their dependencies: torchvision, modelscope, …)."""
    import importlib.util
    import types

    sys.path.insert(0, str(DIFFSYNTH_DIR))
    spec = importlib.util.find_spec("diffsynth")
    if spec is None:
        raise SystemExit(f"DiffSynth-Studio is not installed in {DIFFSYNTH_DIR}: run `make bench-diffsynth`")
    root = Path(spec.submodule_search_locations[0])
    for name in ("diffsynth", "diffsynth.core", "diffsynth.models"):
        mod = types.ModuleType(name)
        mod.__path__ = [str(root.joinpath(*name.split(".")[1:]))]
        sys.modules[name] = mod
    from diffsynth.models import wan_video_dit

    return wan_video_dit


def diffsynth_worker(args) -> dict:
    import resource

    import torch
    from peft import LoraConfig, inject_adapter_in_model

    dit = _import_dit()
    dtype = torch.bfloat16
    t0 = time.perf_counter()
    with torch.device("meta"):  # as DiffSynth's loader does: no initialisation, then the weights in the target dtype
        model = dit.WanModel(**WAN_1_3B)
    model = model.to(dtype).to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02, generator=g)  # in place, as its loader assigns loaded tensors: no temporaries
    model.freqs = dit.precompute_freqs_cis_3d(WAN_1_3B["dim"] // WAN_1_3B["num_heads"])
    model.requires_grad_(False)
    # DiffusionTrainingModule.add_lora_to_model(model, targets, rank, upcast_dtype=pipe.torch_dtype)
    model = inject_adapter_in_model(LoraConfig(r=16, lora_alpha=16, target_modules=TARGETS), model)
    for p in model.parameters():
        if p.requires_grad:
            p.data = p.to(dtype)
    params = [p for p in model.parameters() if p.requires_grad]
    n_modules = sum(1 for n, _ in model.named_modules() if n.endswith("lora_A"))
    optimizer = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)
    build_s = time.perf_counter() - t0
    h, w, frames = args.height, args.width, args.frames
    lat = (1, 16, 1 + (frames - 1) // 4, h // 8, w // 8)
    model.train()
    times, losses = [], []
    for step in range(args.steps + 1):
        g = torch.Generator().manual_seed(100 + step)
        x0 = torch.randn(lat, generator=g).to(dtype)
        noise = torch.randn(lat, generator=g).to(dtype)
        ctx = torch.zeros(1, 512, 4096)
        ctx[:, : args.prompt_tokens] = torch.randn(1, args.prompt_tokens, 4096, generator=g)
        sigma = float(torch.rand((), generator=g))
        t = time.perf_counter()
        timestep = torch.tensor([sigma * 1000], dtype=dtype)
        x_t = (1 - sigma) * x0 + sigma * noise  # FlowMatchScheduler.add_noise
        target = noise - x0  # FlowMatchScheduler.training_target
        pred = _model_fn(dit, model, x_t, timestep, ctx.to(dtype))
        loss = torch.nn.functional.mse_loss(pred.float(), target.float())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        times.append(time.perf_counter() - t)
        losses.append(float(loss.detach()))
        print(f"diffsynth step {step}{' (warm-up)' if step == 0 else ''}: {times[-1]:.2f} s", file=sys.stderr)
    if not all(map(math.isfinite, losses)):
        raise SystemExit(f"DiffSynth's step gave a non-finite loss: {losses}")
    return {"side": "diffsynth", "mode": "default", "tokens": tokens(h, w, frames), "size": f"{h}x{w}x{frames}",
            "prompt_tokens": args.prompt_tokens, "lora_modules": n_modules, "steps": args.steps,
            "s_per_step": round(sum(times[1:]) / args.steps, 4), "build_s": round(build_s, 2),
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "torch": torch.__version__}


def _model_fn(dit, model, latents, timestep, context):
    """The text-to-video path of DiffSynth's ``model_fn_wan_video`` (diffsynth/pipelines/wan_video.py;
    its ``WanModel.forward`` is not what its pipeline runs), with ``use_gradient_checkpointing=True``."""
    from einops import rearrange

    from diffsynth.core.gradient import gradient_checkpoint_forward

    t = model.time_embedding(dit.sinusoidal_embedding_1d(model.freq_dim, timestep))
    t_mod = model.time_projection(t).unflatten(1, (6, model.dim))
    context = model.text_embedding(context)
    x = model.patchify(latents)
    f, h, w = x.shape[2:]
    x = rearrange(x, "b c f h w -> b (f h w) c").contiguous()
    freqs = _rope_freqs(model.freqs, f, h, w)
    for block in model.blocks:
        x = gradient_checkpoint_forward(block, True, False, x, context, t_mod, freqs)
    x = model.head(x, t)
    return model.unpatchify(x, (f, h, w))


def _rope_freqs(freqs, f, h, w):
    """The 3-D rotary table for an f × h × w grid, as model_fn_wan_video builds it."""
    import torch

    return torch.cat([freqs[0][:f].view(f, 1, 1, -1).expand(f, h, w, -1),
                      freqs[1][:h].view(1, h, 1, -1).expand(f, h, w, -1),
                      freqs[2][:w].view(1, 1, w, -1).expand(f, h, w, -1)], dim=-1).reshape(f * h * w, 1, -1)


# ----------------------------------------------------------------------------- the run
def run_diffsynth(h, w, frames, steps, prompt_tokens) -> dict:
    cmd = [sys.executable, __file__, "--worker", "--size", f"{h}x{w}x{frames}", "--steps", str(steps),
           "--prompt-tokens", str(prompt_tokens)]
    return _json_line(subprocess.run(cmd, capture_output=True, text=True), cmd)


def run_vectorwan(h, w, frames, steps, prompt_tokens, mode) -> dict:
    cmd = [sys.executable, "-m", "vectorwan", "bench", str(CONFIG), "--steps", str(steps),
           "--prompt-tokens", str(prompt_tokens), "--set", 'model.path="random:Wan2.1-T2V-1.3B"',
           "--set", 'model.dtype="bfloat16"', "--set", "vector_loss.shape=0", "--set", "vector_loss.colour=0",
           "--set", f"data.resolution=[{h},{w}]", "--set", f"data.num_frames={frames}",
           "--set", f'memory.mode="{mode.split("+")[0]}"']
    if "+compile" in mode:
        cmd += ["--set", "memory.compile=true"]
    rec = _json_line(subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT), cmd)
    return {"side": "vectorwan", "size": f"{h}x{w}x{frames}", **rec, "mode": mode}


def _json_line(r: subprocess.CompletedProcess, cmd: list) -> dict:
    if r.returncode:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def table(records: list[dict]) -> str:
    """Median s/step and peak RSS per (size, side, mode), and each vectorwan mode over DiffSynth."""
    groups: dict = {}
    for r in records:
        groups.setdefault((r["size"], r["tokens"]), {}).setdefault((r["side"], r["mode"]), []).append(r)
    lines = ["| size (tokens) | side | mode | runs | s/step | peak RSS GiB | time ÷ DiffSynth | RSS ÷ DiffSynth |",
             "|---|---|---|---|---|---|---|---|"]
    for (size, n_tok), sides in groups.items():
        ref = sides.get(("diffsynth", "default"))
        ref_t = statistics.median(r["s_per_step"] for r in ref) if ref else None
        ref_m = statistics.median(r["peak_memory_mb"] for r in ref) if ref else None
        for (side, mode), rs in sorted(sides.items(), key=lambda kv: (kv[0][0] != "diffsynth", kv[0][1])):
            t = statistics.median(r["s_per_step"] for r in rs)
            m = statistics.median(r["peak_memory_mb"] for r in rs)
            rt = f"{t / ref_t:.2f}×" if ref_t and side != "diffsynth" else "—"
            rm = f"{m / ref_m:.2f}×" if ref_m and side != "diffsynth" else "—"
            lines.append(f"| {size} ({n_tok}) | {side} | {mode} | {len(rs)} | {t:.2f} | {m / 1024:.2f} | {rt} | {rm} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="+", default=["256x256x1", "240x416x9"],
                    help="HxWxFRAMES: 256x256x1 is 256 tokens, 240x416x9 is 1170")
    ap.add_argument("--modes", nargs="+", default=["default", "default+compile", "fp8"],
                    help="vectorwan's memory modes; MODE+compile adds memory.compile=true")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=2, help="timed steps per process, after one warm-up step")
    ap.add_argument("--prompt-tokens", type=int, default=40, help="real text rows of the 512 (the rest zero padding)")
    ap.add_argument("--record", type=Path, help="append each measurement to this .jsonl")
    ap.add_argument("--table", type=Path, nargs="+", help="print the table of these records and exit")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--size", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.height, args.width, args.frames = map(int, args.size.split("x"))
        print(json.dumps(diffsynth_worker(args)))
        return
    if args.table:
        print(table([json.loads(l) for p in args.table for l in p.read_text().splitlines() if l.strip()]))
        return
    _import_dit()  # fail before the first run, not after it
    load = os.getloadavg()[0]
    records = []
    for rnd in range(args.rounds):
        for size in args.sizes:
            h, w, frames = map(int, size.split("x"))
            order = [None, *args.modes] if rnd % 2 == 0 else [*args.modes, None]
            for mode in order:
                rec = (run_diffsynth(h, w, frames, args.steps, args.prompt_tokens) if mode is None
                       else run_vectorwan(h, w, frames, args.steps, args.prompt_tokens, mode))
                rec.update(round=rnd, load_before=round(load, 2))
                records.append(rec)
                print(f"round {rnd} {size} {rec['side']} {rec['mode']}: {rec['s_per_step']:.2f} s/step, "
                      f"{rec['peak_memory_mb'] / 1024:.2f} GiB", file=sys.stderr, flush=True)
                if args.record:
                    args.record.parent.mkdir(parents=True, exist_ok=True)
                    with args.record.open("a") as fh:
                        fh.write(json.dumps(rec) + "\n")
                load = os.getloadavg()[0]
    print(table(records))


if __name__ == "__main__":
    main()
