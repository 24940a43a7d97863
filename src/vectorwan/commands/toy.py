"""`vectorwan toy world OUT_DIR` — write a toy-world dataset (90 prompts × N clips, ground truth).
`vectorwan toy check CLIP... --prompt P | --prompts-from-sidecar` — score clips against their
prompts with the automatic checks (dominant colour, shape by fill ratio, motion by centroid).
`vectorwan toy pretrain-vae OUT_DIR [--steps N] ... [--resume]` — pre-train the toy Wan VAE.
`vectorwan toy init-base OUT_DIR [--vae DIR]` — assemble the toy base folder for DiT pre-training."""

from __future__ import annotations

import json
from pathlib import Path


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    w = sub.add_parser("world", help="write a toy-world dataset (metadata.csv, train/*.mp4, ground truth)",
                       description="Write 90 prompts × N clips of the toy world in the reference dataset format: "
                                   "metadata.csv, train/*.mp4, masks/*.npz and ground_truth.json.")
    w.add_argument("out_dir", help="new or empty folder to write the dataset into")
    w.add_argument("--per-prompt", type=int, default=1, metavar="N", help="clips per prompt (default 1)")
    w.add_argument("--seed", type=int, default=0, help="base seed (default 0); clip k uses seed*100003+k")
    w.add_argument("--frames", type=int, default=17, help="frames per clip (default 17)")
    w.add_argument("--size", type=int, default=64, help="frame side in pixels (default 64)")
    c = sub.add_parser("check", help="score clips against toy-world prompts",
                       description="Score clips against toy-world prompts ('{colour} {shape}, {motion}, white "
                                   "background'): dominant colour, shape by fill ratio, motion from the mask centroid.")
    c.add_argument("clips", nargs="+", metavar="CLIP", help="video / animated image / folder of frames")
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--prompt", help="the prompt every CLIP was made from")
    g.add_argument("--prompts-from-sidecar", action="store_true",
                   help="read each prompt from CLIP.json (vectorwan generate's sidecar) or CLIP's .txt caption")
    c.add_argument("--json", metavar="OUT", help="also write per-clip results and the accuracy table to OUT")
    v = sub.add_parser("pretrain-vae", help="pre-train a small Wan VAE on toy-world clips (resumable)",
                       description="Pre-train a small AutoencoderKLWan (base_dim 16, dim_mult 1,2,2,2, z_dim 16) "
                                   "on toy-world clips rendered on the fly. Checkpoints in OUT_DIR/checkpoint/ "
                                   "(vae/ loads with AutoencoderKLWan.from_pretrained), log in OUT_DIR/vae_log.jsonl.")
    v.add_argument("out_dir", help="folder for checkpoints and the log")
    v.add_argument("--steps", type=int, default=1000, help="total optimizer steps (default 1000)")
    v.add_argument("--batch-size", type=int, default=4, help="clips per step (default 4)")
    v.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (default 1e-3)")
    v.add_argument("--frames", type=int, default=17, help="frames per clip, 4n+1 and >= 9 (default 17)")
    v.add_argument("--size", type=int, default=64, help="frame side, a multiple of 16 (default 64)")
    v.add_argument("--seed", type=int, default=0, help="seed for init and data order (default 0)")
    v.add_argument("--save-every", type=int, default=100, metavar="N", help="checkpoint every N steps (default 100)")
    v.add_argument("--eval-every", type=int, default=50, metavar="N",
                   help="held-out PSNR every N steps (default 50)")
    v.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoint (exactly)")
    b = sub.add_parser("init-base", help="assemble the toy base model folder (for `vectorwan train` in full mode)",
                       description="Write a diffusers folder: a fresh toy-size Wan transformer, the VAE (with latent "
                                   "statistics measured on toy clips), the tiny UMT5 encoder, tokenizer, scheduler.")
    b.add_argument("out_dir", help="folder to write (replaced atomically)")
    b.add_argument("--vae", metavar="DIR", help="a pre-trained VAE folder (pretrain-vae's OUT_DIR/checkpoint/vae)")
    b.add_argument("--seed", type=int, default=0)


def sidecar_prompt(path: Path) -> str:
    from vectorwan.errors import UserError

    side = path.with_name(path.name + ".json")
    if side.is_file():
        try:
            rec = json.loads(side.read_text(encoding="utf-8"))
            prompt = (rec.get("request") or {}).get("prompt") or rec.get("prompt")
        except (json.JSONDecodeError, AttributeError):
            raise UserError(f"{side}: not a JSON object with request.prompt; fix it or use --prompt") from None
        if prompt:
            return str(prompt)
        raise UserError(f"{side}: has no request.prompt; use --prompt")
    txt = path.with_suffix(".txt")
    if txt.is_file():
        return txt.read_text(encoding="utf-8").strip()
    raise UserError(f"{path}: no sidecar {side.name} or {txt.name} with its prompt; use --prompt")


def run_pretrain_vae(args) -> int:
    from vectorwan.toy.pretrain_vae import VaeTrainConfig, pretrain_vae

    cfg = VaeTrainConfig(out_dir=args.out_dir, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                         frames=args.frames, size=args.size, seed=args.seed, save_every=args.save_every,
                         eval_every=args.eval_every)
    cfg.validate()  # before importing torch: bad input fails fast
    r = pretrain_vae(cfg, resume=args.resume, progress=True)
    ps = "-" if r["psnr"] is None else f"{r['psnr']:.2f} dB"
    print(f"{r['checkpoint']}: step {r['step']}, loss {r['loss']}, held-out PSNR {ps}")
    return 0


def run(args) -> int:
    if args.action == "pretrain-vae":
        return run_pretrain_vae(args)
    if args.action == "init-base":
        from vectorwan.toy.base import init_toy_base

        print(f"wrote {init_toy_base(args.out_dir, args.vae, args.seed)} (train it: vectorwan train configs/toy_pretrain.toml)")
        return 0

    from vectorwan.toy import checks, world

    if args.action == "world":
        root = world.make_dataset(args.out_dir, args.per_prompt, args.seed, frames=args.frames, size=args.size)
        n = len(world.all_prompts()) * args.per_prompt
        print(f"{root}: {n} clips ({args.per_prompt} per prompt, seed {args.seed}); "
              f"metadata.csv, train/, masks/, ground_truth.json")
        return 0

    from vectorwan.atomic import write_json
    from vectorwan.frames import read_frames

    prompts = []
    for c in args.clips:  # read every prompt first: a bad one fails before any work
        p = Path(c)
        text = args.prompt if args.prompt is not None else sidecar_prompt(p)
        prompts.append(world.parse_caption(text))
    results = []
    for c, prompt in zip(args.clips, prompts):
        r = checks.score_clip(read_frames(c).frames, prompt)
        r["clip"] = str(c)
        results.append(r)
        marks = "  ".join(f"{a} {'ok' if r[a + '_ok'] else 'NO (' + r['got_' + a] + ')'}" for a in checks.ATTRS)
        print(f"{c}: {world.caption(*prompt)} -> {marks}")
    table = checks.accuracy_table(results)
    print("\n".join(checks.format_table(table)))
    if args.json:
        write_json(args.json, {"results": results, "accuracy": table})
    return 0
