"""`vectorwan ablate CONFIG (--vary KEY=V1,V2 ... | --variant "NAME: KEY=V ...") --out DIR [--seeds N]`"""

from __future__ import annotations

from vectorwan.commands._config_args import add_config_arguments


def add_arguments(p) -> None:
    add_config_arguments(p)
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                   help="a config key and its values; several --vary make a grid (the first combination is the reference)")
    p.add_argument("--variant", action="append", default=[], metavar="'NAME: KEY=V ...'",
                   help="one named variant (the config plus these overrides); the first is the reference")
    p.add_argument("--out", required=True, help="the ablation folder (variants, scores and the report go here)")
    p.add_argument("--seeds", type=int, default=20, help="seeds per prompt (paired across variants; default 20)")
    p.add_argument("--first-seed", type=int, default=9300, help="the first seed (default 9300)")
    p.add_argument("--prompts", help="a text file, one prompt a line (default: the toy trigger prompts on the toy "
                                     "base, else validation.prompts)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the intervals")


def run(args) -> int:
    from vectorwan.ablate import ablate

    rep = ablate(args.config, args.out, vary=args.vary, variants=args.variant, sets=args.overrides, seeds=args.seeds,
                 first_seed=args.first_seed, prompts=args.prompts, bootstrap=args.bootstrap)
    crashed = [v["name"] for v in rep["variants"] if v["status"] != "ok"]
    print(f"{args.out}/ablation.md  ({len(rep['variants'])} variants × {rep['n_clips']} clips"
          f"{'; crashed: ' + ', '.join(crashed) + ' (run again to retry)' if crashed else ''})")
    return 1 if crashed else 0
