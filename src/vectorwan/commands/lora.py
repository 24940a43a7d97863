"""`vectorwan lora info FILE` — format, ranks, alphas, targets, blocks and metadata of a LoRA file.
`vectorwan lora convert IN OUT --to FORMAT` — rewrite it losslessly in another format."""

from __future__ import annotations

import json
from pathlib import Path

from vectorwan.errors import UserError
from vectorwan.models import lora_formats as lf

TO_FORMATS = ("diffusers", "comfyui", "diffsynth", "musubi", "vectorwan")


def add_arguments(p) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    i = sub.add_parser("info", help="show a LoRA file's format, ranks, alphas, targets and metadata",
                       description="Show a LoRA file's format, ranks, alphas, targets and metadata.")
    i.add_argument("file", help="LoRA .safetensors (vectorwan, ComfyUI/diffusion-pipe, diffusers, DiffSynth, musubi)")
    i.add_argument("--json", action="store_true", help="print the information as JSON")
    c = sub.add_parser(
        "convert", help="rewrite a LoRA in another format (tensors copied bit for bit)",
        description="Rewrite a LoRA in another format; A/B tensors are copied bit for bit. DiffSynth files "
                    "cannot store alpha: alpha/rank is baked into lora_B when it is a power of two (exact), "
                    "otherwise the conversion is refused.")
    c.add_argument("src", help="input LoRA file (any supported format)")
    c.add_argument("dst", help="output .safetensors file")
    c.add_argument("--to", required=True, choices=TO_FORMATS, help="target format")


def _fmt_values(values) -> str:
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def run(args) -> int:
    if args.action == "info":
        info = lf.lora_info(args.file)
        if args.json:
            print(json.dumps(info, indent=2, default=str))
            return 0
        blocks = f"{info['blocks']}" + (f" (blocks {info['block_range'][0]}..{info['block_range'][1]})"
                                        if info["block_range"] else "")
        alpha_note = "" if info["alpha_stored"] else " (none stored: alpha = rank)"
        print(f"{info['path']}")
        print(f"  format      {info['format']}")
        print(f"  modules     {info['modules']}, blocks {blocks}")
        print(f"  rank        {_fmt_values(info['ranks'])}")
        print(f"  alpha       {_fmt_values(info['alphas'])}{alpha_note}")
        print(f"  targets     {', '.join(info['targets'])}")
        print(f"  parameters  {info['parameters']:,} ({', '.join(info['dtypes'])})")
        for k, v in sorted(info["metadata"].items()):
            if k == "format":
                continue
            text = json.dumps(v, sort_keys=True) if not isinstance(v, str) else v
            print(f"  meta {k} = {text if len(text) <= 200 else text[:197] + '...'}")
        return 0
    if args.action == "convert":

        if Path(args.src).resolve() == Path(args.dst).resolve():
            raise UserError(f"{args.dst}: output would overwrite the input; choose another file")
        lora = lf.convert_lora(args.src, args.dst, args.to)
        print(f"wrote {args.dst} ({args.to}, {len(lora.modules)} modules, from {lora.format})")
        return 0
    raise UserError(f"unknown action {args.action}")
