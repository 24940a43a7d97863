"""`vectorwan toy world OUT_DIR` — write a toy-world dataset (90 prompts × N clips, ground truth).
`vectorwan toy check CLIP... --prompt P | --prompts-from-sidecar` — score clips against their
prompts with the automatic checks (dominant colour, shape by fill ratio, motion by centroid).
`vectorwan toy pretrain-vae OUT_DIR [--steps N] ... [--resume]` — pre-train the toy Wan VAE.
`vectorwan toy init-base OUT_DIR [--vae DIR]` — assemble the toy base folder for DiT pre-training.
`vectorwan toy character OUT_DIR [--n 16]` — the character task: RGBA stills of a tiny tiger + captions.
`vectorwan toy ship OUT_DIR --base B --vae-run V --dit-run D` — assemble the shipped toy base + manifest.
`vectorwan toy accuracy OUT_DIR [--model toy] [--lora F] [--seeds S...]` — the 90-prompt accuracy table."""

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
    w.add_argument("--stills-per-prompt", type=int, default=0, metavar="N",
                   help="also N PNG stills per prompt, captioned without the motion (default 0)")
    w.add_argument("--repeat", nargs="+", default=[], metavar="COLOUR=N",
                   help="list every clip and still of COLOUR N times in metadata.csv, so training draws it N times "
                        "as often (files are written once)")
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
    v.add_argument("--init", default="", metavar="DIR", help="start from this VAE folder (e.g. another run's checkpoint/vae)")
    v.add_argument("--decoder-only", action="store_true",
                   help="train only the decoder (encoder frozen: latents a DiT was trained on stay valid)")
    v.add_argument("--chroma-weight", type=float, default=0.0, metavar="W",
                   help="add W × L1 of the chroma error (tells neighbouring hues apart; default 0)")
    v.add_argument("--probe-weight", type=float, default=0.0, metavar="W",
                   help="add W × the colour probe loss (colours must be readable from latent directions; default 0)")
    v.add_argument("--probe-target", choices=("colour", "palette"), default="colour",
                   help="what the probe reads from a body latent: its mean RGB (default) or which world colour it is "
                        "(one-hot: every pair of colours weighs the same, so blue/purple count as much as red/green)")
    v.add_argument("--probe-at", choices=("latent", "decoder"), default="latent",
                   help="where the probe reads: the latents' directions (default) or the directions of the decoder's "
                        "first features (conv_in's output, which the decoder normalises next)")
    v.add_argument("--posterior", choices=("sample", "mode"), default="sample",
                   help="decode a posterior sample (a VAE, default) or its mode (what the DiT's cache uses)")
    v.add_argument("--balanced", action="store_true",
                   help="every colour in every batch (colours go round a permutation; use --batch-size 6)")
    v.add_argument("--anchors", nargs="+", default=[], metavar="COLOUR",
                   help="add one fixed clip per COLOUR (repeats allowed) to every batch, the same clips at every "
                        "step: parts colours the VAE has merged, e.g. --anchors blue purple blue purple")
    v.add_argument("--striped", type=float, default=0.0, metavar="SHARE",
                   help="this share of training clips get dark stripes across the body (texture; default 0)")
    v.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoint (exactly)")
    b = sub.add_parser("init-base", help="assemble the toy base model folder (for `vectorwan train` in full mode)",
                       description="Write a diffusers folder: a fresh toy-size Wan transformer, the VAE (with latent "
                                   "statistics measured on toy clips), the tiny UMT5 encoder, tokenizer, scheduler.")
    b.add_argument("out_dir", help="folder to write (replaced atomically)")
    b.add_argument("--vae", metavar="DIR", help="a pre-trained VAE folder (pretrain-vae's OUT_DIR/checkpoint/vae)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--transformer", metavar="DIR",
                   help="start from this trained transformer folder instead of a fresh one (retraining on a new VAE)")
    ch = sub.add_parser("character", help="write the character-task dataset (RGBA stills of a tiny tiger + tags)",
                        description="Write N RGBA stills of a character the toy base never saw (an orange blob with "
                                    "black stripes and ears) with dense tags and a trigger word, in the reference "
                                    "dataset format: train/NN.png, metadata.csv, character.json.")
    ch.add_argument("out_dir", help="new or empty folder")
    ch.add_argument("--n", type=int, default=16, help="number of stills (default 16)")
    ch.add_argument("--seed", type=int, default=0, help="image k uses seed seed*100003+k (default 0)")
    ch.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    s = sub.add_parser("ship", help="assemble the shipped toy base (diffusers folder + sampling.json + manifest.json)",
                       description="Combine init-base's folder with the pre-trained transformer of the DiT run; "
                                   "write sampling.json and a manifest (commands, steps, seeds, sha256 of every file).")
    s.add_argument("out_dir", help="folder to write (replaced atomically), e.g. src/vectorwan/assets/toy")
    s.add_argument("--base", required=True, help="OUT_DIR of `vectorwan toy init-base`")
    s.add_argument("--vae-run", required=True, action="append",
                   help="OUT_DIR of `vectorwan toy pretrain-vae`; repeat for stages, in order (the last is the base's VAE)")
    s.add_argument("--dit-run", required=True, action="append",
                   help="output_dir of the DiT pre-training (train.mode = full); repeat for stages, in order (the last is shipped)")
    s.add_argument("--decoder-run", action="append",
                   help="a decoder-only fine-tuning run of the base's VAE; repeat for stages, in order (the last is shipped)")
    s.add_argument("--world", action="append",
                   help="the toy-world dataset the DiT trained on (recorded); repeat, one per DiT stage")
    s.add_argument("--accuracy", help="accuracy.json of `vectorwan toy accuracy` (recorded in the manifest)")
    a = sub.add_parser("accuracy", help="generate all 90 prompts and score them (table + contact sheet)",
                       description="Generate every colour × shape × motion prompt with the model's sampling "
                                   "defaults and score the clips with the automatic checks. Writes accuracy.json, "
                                   "accuracy.md and sheet.png into OUT_DIR.")
    a.add_argument("out_dir")
    a.add_argument("--model", default="toy", help="default: the shipped toy base")
    a.add_argument("--lora", action="append", default=[], metavar="FILE[:SCALE]", help="LoRA file, repeatable")
    a.add_argument("--seeds", type=int, nargs="+", default=[1000],
                   help="seed set(s); clip i of seed s uses generator seed s*1000+i (default 1000)")
    a.add_argument("--save-clips", action="store_true", help="also write every clip to OUT_DIR/clips/")
    for k, tp in (("steps", int), ("guidance", float), ("shift", float)):
        a.add_argument(f"--{k}", type=tp, help=f"override the model's sampling.json {k}")


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
                         eval_every=args.eval_every, init=args.init, decoder_only=args.decoder_only,
                         chroma_weight=args.chroma_weight, posterior=args.posterior, balanced=args.balanced,
                         striped=args.striped, probe_weight=args.probe_weight,
                         probe_target=args.probe_target, probe_at=args.probe_at, anchors=list(args.anchors))
    cfg.validate()  # before importing torch: bad input fails fast
    r = pretrain_vae(cfg, resume=args.resume, progress=True)
    ps = "-" if r["psnr"] is None else f"{r['psnr']:.2f} dB"
    hue = "-" if r["hue_accuracy"] is None else f"{r['hue_accuracy']:.2f}"
    print(f"{r['checkpoint']}: step {r['step']}, loss {r['loss']}, held-out PSNR {ps}, hue accuracy {hue}")
    return 0


def run(args) -> int:
    if args.action == "character":
        from vectorwan.toy.character import TRIGGER, make_character_dataset

        root = make_character_dataset(args.out_dir, args.n, args.seed, args.size)
        print(f"{root}: {args.n} stills (trigger '{TRIGGER}'); metadata.csv, train/, character.json")
        return 0
    if args.action == "ship":
        from vectorwan.toy.ship import ship_toy

        out = ship_toy(args.out_dir, args.base, args.vae_run, args.dit_run, args.world, args.accuracy, args.decoder_run)
        print(f"wrote {out}")
        return 0
    if args.action == "accuracy":
        from vectorwan.commands.generate import parse_lora
        from vectorwan.toy.accuracy import run_accuracy
        from vectorwan.toy.checks import format_table

        loras = [parse_lora(x) for x in args.lora]
        sampling = {k: getattr(args, k) for k in ("steps", "guidance", "shift") if getattr(args, k) is not None}
        report = run_accuracy(args.out_dir, args.model, loras, tuple(args.seeds), args.save_clips, sampling=sampling)
        print("\n".join(format_table(report["table"])))
        print(f"wrote {Path(args.out_dir) / 'accuracy.md'}, accuracy.json, sheet.png")
        return 0
    if args.action == "pretrain-vae":
        return run_pretrain_vae(args)
    if args.action == "init-base":
        from vectorwan.toy.base import init_toy_base

        print(f"wrote {init_toy_base(args.out_dir, args.vae, args.seed, transformer_dir=args.transformer)} (train it: vectorwan train configs/toy_pretrain.toml)")
        return 0

    from vectorwan.toy import checks, world

    if args.action == "world":
        from vectorwan.errors import UserError

        repeat = {}
        for spec in args.repeat:
            colour, _, n = spec.partition("=")
            if not n.isdigit():
                raise UserError(f"--repeat {spec}: give COLOUR=N, e.g. --repeat purple=3")
            repeat[colour] = int(n)
        root = world.make_dataset(args.out_dir, args.per_prompt, args.seed, frames=args.frames, size=args.size,
                                  stills_per_prompt=args.stills_per_prompt, repeat=repeat)
        n = len(world.all_prompts()) * args.per_prompt
        ns = len(world.all_prompts()) * args.stills_per_prompt
        print(f"{root}: {n} clips ({args.per_prompt} per prompt, seed {args.seed}), {ns} stills; "
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
