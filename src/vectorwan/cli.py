"""The ``vectorwan`` command: parse, dispatch to a verb, turn a ``UserError`` into one line.

Each verb lives in a module exposing ``add_arguments(parser)`` and ``run(args) -> int``; verb
modules keep heavy imports (torch, diffusers) inside ``run`` so that ``vectorwan --help`` stays
fast. A verb module that fails to import is a loud error, never a silently missing verb.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from vectorwan.errors import UserError, os_error_line

# verb -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("vectorwan.commands.train", "train a LoRA from a TOML config"),
    "bench": ("vectorwan.commands.bench", "time the training step of a config and measure its peak memory"),
    "plan": ("vectorwan.commands.plan", "predict the training step's peak memory in each memory mode"),
    "cache": ("vectorwan.commands.cache", "encode VAE latents and text embeddings once"),
    "data": ("vectorwan.commands.data", "check a dataset and print its report"),
    "model": ("vectorwan.commands.model", "export / inspect base models"),
    "generate": ("vectorwan.commands.generate", "generate T2I / T2V / V2V clips, with LoRAs"),
    "lora": ("vectorwan.commands.lora", "inspect and convert LoRA files"),
    "eval": ("vectorwan.evaluate.command", "measure temporal consistency and vector style"),
    "vectorize": ("vectorwan.vector.command", "turn a clip or image into SVG / animated SVG / Lottie"),
    "ablate": ("vectorwan.commands.ablate", "train variants of a config and compare them on one prompt × seed grid"),
    "demo": ("vectorwan.commands.demo", "the whole workflow on the shipped toy base, on a CPU, in minutes"),
    "toy": ("vectorwan.commands.toy", "the toy world: datasets, checks, accuracy, pre-training the toy base"),
    "ui": ("vectorwan.commands.ui", "a local web page for the whole workflow (data, train, generate, eval, vectorize)"),
}


DESCRIPTION = "Fine-tune Wan 2.1 with LoRA for vector-style animation; generate, measure and vectorize clips."
EPILOG = """\
examples:
  vectorwan demo                                        # the whole workflow on the toy base (CPU, minutes)
  vectorwan data configs/tiny_cpu.toml                  # check a dataset
  vectorwan train configs/tiger16_t2v_1.3b.toml         # the reference recipe (cache → LoRA)
  vectorwan generate --model toy --prompt "red circle, moving left, white background" --out clip.mp4
  vectorwan eval clip.mp4 --baseline base.mp4 --out report/
  vectorwan vectorize clip.mp4 --out clip.json          # Lottie (.svg: animated SVG)
  vectorwan ui --model toy                              # the same workflow in a browser page

`vectorwan COMMAND --help` lists a command's options."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vectorwan", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, help_) in COMMANDS.items():
        mod = importlib.import_module(module)  # a verb that fails to import fails loudly
        p = sub.add_parser(name, help=help_, description=help_)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args._run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at exit
        return code
    except UserError as e:
        print(f"vectorwan {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"vectorwan {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `vectorwan lora info F | head -1`: the reader has gone, as for any Unix tool
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 128 + signal.SIGPIPE
    except OSError as e:  # the machine said no: every verb, one line naming the file and the way out
        line = os_error_line(e)
        if line is None:
            raise
        print(f"vectorwan {args.command}: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
