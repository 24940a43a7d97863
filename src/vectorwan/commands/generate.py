"""`vectorwan generate`: T2I / T2V / V2V with LoRAs; one prompt or a batch file."""

from __future__ import annotations

import json
import re
from pathlib import Path

from vectorwan.errors import UserError

PER_ITEM = {"prompt", "negative_prompt", "task", "video", "strength", "frames", "height", "width", "steps",
            "guidance", "shift", "seed", "num_videos", "fps", "out"}


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


def _task(task, video, out) -> str:
    if task:
        return task
    if video:
        return "v2v"
    return "t2i" if str(out).lower().endswith(".png") else "t2v"


def read_batch(path: str) -> list[dict]:
    f = Path(path)
    if not f.is_file():
        raise UserError(f"--prompts {f}: file not found")
    items = []
    for i, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{f}:{i + 1}: invalid JSON ({e.msg})") from None
            unknown = set(obj) - PER_ITEM
            if unknown or "prompt" not in obj:
                raise UserError(f"{f}:{i + 1}: needs 'prompt'; unknown keys {sorted(unknown)}; allowed: {sorted(PER_ITEM)}")
            items.append(obj)
        else:
            items.append({"prompt": line.strip()})
    if not items:
        raise UserError(f"--prompts {f}: no prompts in the file")
    return items


def run(args) -> int:
    from tqdm.auto import tqdm

    from vectorwan.generate import Engine, Request, generate, parse_lora

    if bool(args.prompt) == bool(args.prompts):
        raise UserError("give exactly one of --prompt or --prompts")
    if args.strength < 0 or args.strength > 1:
        raise UserError(f"--strength {args.strength}: must be in [0, 1]")
    loras = [parse_lora(s) for s in args.lora]
    base = {k: getattr(args, k) for k in PER_ITEM - {"prompt", "out", "task"}}
    jobs = []
    if args.prompt:
        jobs.append(({**base, "prompt": args.prompt}, Path(args.out), args.task))
    else:
        out_dir = Path(args.out)
        if out_dir.suffix:
            raise UserError(f"--out {out_dir}: with --prompts, give a folder")
        for i, item in enumerate(read_batch(args.prompts)):
            task = _task(item.get("task", args.task), item.get("video", args.video), item.get("out", ""))
            ext = ".png" if task == "t2i" else ".mp4"
            slug = re.sub(r"[^a-z0-9]+", "-", item["prompt"].lower()).strip("-")[:40]
            out = out_dir / item.pop("out", f"{i:03d}-{slug}{ext}")
            jobs.append(({**base, **{k: v for k, v in item.items() if k != "task"}}, out, task))
    engine = Engine.load(args.model, loras, fuse=args.fuse, offload=args.offload, vae_tiling=args.vae_tiling, dtype=args.dtype)
    for kw, out, task in tqdm(jobs, desc="generate", disable=len(jobs) == 1):
        req = Request(task=_task(task, kw.get("video"), out), **{k: v for k, v in kw.items() if k in Request.__dataclass_fields__})
        for w in generate(engine, req, out):
            print(f"{w['output']}  ({w['frames']} frames; sidecar {Path(w['sidecar']).name}, sheet {Path(w['contact_sheet']).name})")
    return 0
