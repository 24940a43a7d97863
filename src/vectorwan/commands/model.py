"""`vectorwan model export tiny|toy DIR` — write an embedded model as a diffusers folder.
`vectorwan model info MODEL` — which loading route a model takes and its sizes."""

from __future__ import annotations

from vectorwan.errors import UserError
from vectorwan.models.loading import export_tiny, load_part, resolve


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    e = sub.add_parser("export", help="write an embedded model as a diffusers folder")
    e.add_argument("name", choices=["tiny", "toy"], help="tiny (random, fixed seed) or toy (pre-trained toy base)")
    e.add_argument("out", help="output folder (loadable by diffusers.WanPipeline.from_pretrained)")
    e.add_argument("--layout", choices=["diffusers", "original"], default="diffusers",
                   help="diffusers folder, or the original Wan 3-file layout")
    e.add_argument("--variant", choices=["t2v", "ti2v"], default="t2v",
                   help="tiny only: t2v (Wan 2.1's family) or ti2v (Wan 2.2 TI2V-5B's: 48-channel VAE, 16× spatial)")
    i = sub.add_parser("info", help="show which route a model takes and its parameter counts")
    i.add_argument("model")


def run(args) -> int:
    if args.action == "export" and args.name == "toy":
        if args.layout != "diffusers":
            raise UserError("model export toy: only --layout diffusers (the toy base ships as a diffusers folder)")
        from vectorwan.toy.ship import export_toy

        print(f"wrote {export_toy(args.out)} (diffusers layout, with sampling.json and manifest.json)")
        return 0
    if args.action == "export":
        print(f"wrote {export_tiny(args.out, args.layout, args.variant)} ({args.layout} layout, {args.variant})")
        return 0
    src = resolve(args.model)
    t = load_part(src, "transformer")
    c = t.config
    print(f"{args.model}: route {src.kind}; transformer {sum(p.numel() for p in t.parameters()) / 1e6:.1f} M params, "
          f"{c.num_layers} layers, {c.num_attention_heads} heads × {c.attention_head_dim}, ffn {c.ffn_dim}")
    return 0
