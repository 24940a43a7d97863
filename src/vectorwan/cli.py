"""Command line: verbs only. Each verb lives in a module exposing ``add_arguments(parser)``
and ``run(args) -> int``; this file parses, dispatches and turns a ``UserError`` into one
line on stderr (exit status 2). Verb modules keep heavy imports (torch, diffusers) inside
``run`` so that ``vectorwan --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from vectorwan.errors import UserError

# verb -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("vectorwan.commands.train", "train a LoRA from a TOML config"),
    "cache": ("vectorwan.commands.cache", "encode VAE latents and text embeddings once"),
    "data": ("vectorwan.commands.data", "check a dataset and print its report"),
    "model": ("vectorwan.commands.model", "export / inspect base models"),
    "generate": ("vectorwan.commands.generate", "generate T2I / T2V / V2V clips, with LoRAs"),
    "lora": ("vectorwan.commands.lora", "inspect and convert LoRA files"),
    "eval": ("vectorwan.evaluate.command", "measure temporal consistency and vector style"),
    "vectorize": ("vectorwan.vector.command", "turn a clip or image into SVG / animated SVG / Lottie"),
    "demo": ("vectorwan.commands.demo", "the whole workflow on the embedded tiny model"),
    "toy": ("vectorwan.commands.toy", "the toy world: make datasets, check clips"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vectorwan", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith(module.rsplit(".", 1)[0]):
                continue  # verb not built yet
            raise
        p = sub.add_parser(name, help=help_, description=help_)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except UserError as e:
        print(f"vectorwan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vectorwan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
