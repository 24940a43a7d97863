"""`vectorwan generate`: T2I / T2V / V2V with LoRAs; one prompt or a batch file."""

from __future__ import annotations

from pathlib import Path

from vectorwan.commands._lora_args import parse_lora
from vectorwan.errors import UserError


def add_arguments(p) -> None:
    p.add_argument("--model", default="tiny", help="tiny | toy | diffusers folder | hub id | original Wan folder")
    p.add_argument("--lora", action="append", default=[], metavar="FILE[:SCALE]", help="LoRA file (any format), repeatable")
    p.add_argument("--fuse", action="store_true", help="merge the LoRAs into the weights (faster sampling)")
    p.add_argument("--prompt")
    p.add_argument("--prompts", help="batch: a text file (one prompt per line) or JSONL with per-item options")
    p.add_argument("--negative-prompt", default=None,
                   help="default: the model's (sampling.json), else Wan's standard negative prompt")
    p.add_argument("--task", choices=["t2i", "t2v", "v2v"], default=None,
                   help="default: v2v with --video, t2i when --out is .png, else t2v")
    p.add_argument("--video", help="input clip for v2v")
    p.add_argument("--strength", type=float, default=0.7, help="v2v: how much noise to add (0 = keep, 1 = ignore input)")
    p.add_argument("--frames", type=int)
    p.add_argument("--height", type=int)
    p.add_argument("--width", type=int)
    p.add_argument("--steps", type=int)
    p.add_argument("--guidance", type=float)
    p.add_argument("--shift", type=float)
    p.add_argument("--fps", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-videos", type=int, default=1)
    p.add_argument("--offload", choices=["none", "model", "sequential", "group"], default="none",
                   help="GPU memory savers: model / sequential CPU offload, block-level group offload")
    p.add_argument("--vae-tiling", action="store_true", help="decode in tiles (less VRAM)")
    p.add_argument("--dtype", choices=["auto", "float32", "bfloat16", "float16"], default="auto")
    p.add_argument("--out", required=True, help=".mp4 .webm .gif .webp, .png (t2i) or a folder; with --prompts: a folder")


def run(args) -> int:
    from tqdm.auto import tqdm

    from vectorwan.generate import Engine, generate, plan_jobs

    if bool(args.prompt) == bool(args.prompts):
        raise UserError("give exactly one of --prompt or --prompts")
    if args.strength < 0 or args.strength > 1:
        raise UserError(f"--strength {args.strength}: must be in [0, 1]")
    loras = [parse_lora(s) for s in args.lora]
    jobs = plan_jobs(vars(args), args.out, prompt=args.prompt, prompts_file=args.prompts, task=args.task)
    engine = Engine.load(args.model, loras, fuse=args.fuse, offload=args.offload, vae_tiling=args.vae_tiling, dtype=args.dtype)
    for req, out in tqdm(jobs, desc="generate", disable=len(jobs) == 1):
        for w in generate(engine, req, out):
            print(f"{w['output']}  ({w['frames']} frames; sidecar {Path(w['sidecar']).name}, sheet {Path(w['contact_sheet']).name})")
    return 0
