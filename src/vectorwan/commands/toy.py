"""`vectorwan toy world OUT_DIR` — write a toy-world dataset (90 prompts × N clips, ground truth).
`vectorwan toy check CLIP... --prompt P | --prompts-from-sidecar` — score clips against their
prompts with the automatic checks (dominant colour, shape by fill ratio, motion by centroid).
`vectorwan toy pretrain-vae OUT_DIR [--steps N] ... [--resume]` — pre-train the toy Wan VAE.
`vectorwan toy init-base OUT_DIR [--vae DIR]` — assemble the toy base folder for DiT pre-training.
`vectorwan toy character OUT_DIR [--n 16]` — the character task: RGBA stills of a tiny tiger + captions.
`vectorwan toy ship OUT_DIR --base B --vae-run V --dit-run D` — assemble the shipped toy base + manifest.
`vectorwan toy accuracy OUT_DIR [--model toy] [--lora F] [--seeds S...]` — the 90-prompt accuracy table."""

from __future__ import annotations

from pathlib import Path

from vectorwan import dataclass_args
from vectorwan.commands._lora_args import parse_lora
from vectorwan.toy.vae_config import VaeTrainConfig


def _world_parser(sub) -> None:
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


def _world(args) -> int:
    from vectorwan.toy import world

    root = world.make_dataset(args.out_dir, args.per_prompt, args.seed, frames=args.frames, size=args.size,
                              stills_per_prompt=args.stills_per_prompt, repeat=args.repeat)
    n = len(world.all_prompts())
    print(f"{root}: {n * args.per_prompt} clips ({args.per_prompt} per prompt, seed {args.seed}), "
          f"{n * args.stills_per_prompt} stills; metadata.csv, train/, masks/, ground_truth.json")
    return 0


def _check_parser(sub) -> None:
    c = sub.add_parser("check", help="score clips against toy-world prompts",
                       description="Score clips against toy-world prompts ('{colour} {shape}, {motion}, white "
                                   "background'): dominant colour, shape by fill ratio, motion from the mask centroid.")
    c.add_argument("clips", nargs="+", metavar="CLIP", help="video / animated image / folder of frames")
    g = c.add_mutually_exclusive_group(required=True)
    g.add_argument("--prompt", help="the prompt every CLIP was made from")
    g.add_argument("--prompts-from-sidecar", action="store_true",
                   help="read each prompt from CLIP.json (vectorwan generate's sidecar) or CLIP's .txt caption")
    c.add_argument("--json", metavar="OUT", help="also write per-clip results and the accuracy table to OUT")


def _check(args) -> int:
    from vectorwan.toy.checks import format_table
    from vectorwan.toy.clip_check import check_clips, result_line

    _, table = check_clips(args.clips, args.prompt, args.prompts_from_sidecar, json_out=args.json,
                           on_result=lambda r: print(result_line(r)))
    print("\n".join(format_table(table)))
    return 0


def _pretrain_vae_parser(sub) -> None:
    v = sub.add_parser("pretrain-vae", help="pre-train a small Wan VAE on toy-world clips (resumable)",
                       description="Pre-train a small AutoencoderKLWan (base_dim 16, dim_mult 1,2,2,2, z_dim 16) "
                                   "on toy-world clips rendered on the fly. Checkpoints in OUT_DIR/checkpoint/ "
                                   "(vae/ loads with AutoencoderKLWan.from_pretrained), log in OUT_DIR/vae_log.jsonl.")
    dataclass_args.add_arguments(v, VaeTrainConfig)  # out_dir and every option, from the config's fields
    v.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoint (exactly)")


def _pretrain_vae(args) -> int:
    from vectorwan.toy.pretrain_vae import pretrain_vae

    r = pretrain_vae(dataclass_args.from_args(VaeTrainConfig, args), resume=args.resume, progress=True)
    ps = "-" if r["psnr"] is None else f"{r['psnr']:.2f} dB"
    hue = "-" if r["hue_accuracy"] is None else f"{r['hue_accuracy']:.2f}"
    print(f"{r['checkpoint']}: step {r['step']}, loss {r['loss']}, held-out PSNR {ps}, hue accuracy {hue}")
    return 0


def _init_base_parser(sub) -> None:
    b = sub.add_parser("init-base", help="assemble the toy base model folder (for `vectorwan train` in full mode)",
                       description="Write a diffusers folder: a fresh toy-size Wan transformer, the VAE (with latent "
                                   "statistics measured on toy clips), the tiny UMT5 encoder, tokenizer, scheduler.")
    b.add_argument("out_dir", help="folder to write (replaced atomically)")
    b.add_argument("--vae", metavar="DIR", help="a pre-trained VAE folder (pretrain-vae's OUT_DIR/checkpoint/vae)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--transformer", metavar="DIR",
                   help="start from this trained transformer folder instead of a fresh one (retraining on a new VAE)")


def _init_base(args) -> int:
    from vectorwan.toy.base import init_toy_base

    out = init_toy_base(args.out_dir, args.vae, args.seed, transformer_dir=args.transformer)
    print(f"wrote {out} (train it: vectorwan train configs/toy_pretrain.toml)")
    return 0


def _character_parser(sub) -> None:
    ch = sub.add_parser("character", help="write the character-task dataset (RGBA stills of a tiny tiger + tags)",
                        description="Write N RGBA stills of a character the toy base never saw (an orange blob with "
                                    "black stripes and ears) with dense tags and a trigger word, in the reference "
                                    "dataset format: train/NN.png, metadata.csv, character.json.")
    ch.add_argument("out_dir", help="new or empty folder")
    ch.add_argument("--n", type=int, default=16, help="number of stills (default 16)")
    ch.add_argument("--seed", type=int, default=0, help="image k uses seed seed*100003+k (default 0)")
    ch.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    ch.add_argument("--clips", type=int, default=0, help="also this many 17-frame clips of the character moving "
                                                         "(train/clipNN.mp4; for the motion loss; default 0)")


def _character(args) -> int:
    from vectorwan.toy.character import TRIGGER, make_character_dataset

    root = make_character_dataset(args.out_dir, args.n, args.seed, args.size, clips=args.clips)
    clips = f" and {args.clips} clips" if args.clips else ""
    print(f"{root}: {args.n} stills{clips} (trigger '{TRIGGER}'); metadata.csv, train/, character.json")
    return 0


def _ship_parser(sub) -> None:
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


def _ship(args) -> int:
    from vectorwan.toy.ship import ship_toy

    out = ship_toy(args.out_dir, args.base, args.vae_run, args.dit_run, args.world, args.accuracy, args.decoder_run)
    print(f"wrote {out}")
    return 0


def _accuracy_parser(sub) -> None:
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


def _accuracy(args) -> int:
    from vectorwan.toy.accuracy import run_accuracy
    from vectorwan.toy.checks import format_table

    loras = [parse_lora(x) for x in args.lora]
    sampling = {k: getattr(args, k) for k in ("steps", "guidance", "shift") if getattr(args, k) is not None}
    report = run_accuracy(args.out_dir, args.model, loras, tuple(args.seeds), args.save_clips, sampling=sampling)
    print("\n".join(format_table(report["table"])))
    print(f"wrote {Path(args.out_dir) / 'accuracy.md'}, accuracy.json, sheet.png")
    return 0


# action -> (add its parser, run it); in help order
ACTIONS = {
    "world": (_world_parser, _world),
    "check": (_check_parser, _check),
    "pretrain-vae": (_pretrain_vae_parser, _pretrain_vae),
    "init-base": (_init_base_parser, _init_base),
    "character": (_character_parser, _character),
    "ship": (_ship_parser, _ship),
    "accuracy": (_accuracy_parser, _accuracy),
}


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    for add_parser, _ in ACTIONS.values():
        add_parser(sub)


def run(args) -> int:
    return ACTIONS[args.action][1](args)
