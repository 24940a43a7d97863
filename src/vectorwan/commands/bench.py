"""`vectorwan bench CONFIG [--steps N] [--record FILE] [--set k=v]...`"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from vectorwan.commands._config_args import add_config_arguments, load
from vectorwan.errors import UserError


def add_arguments(p) -> None:
    add_config_arguments(p)
    p.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step (default 3)")
    p.add_argument("--prompt-tokens", type=int, default=0,
                   help="real rows of the random text context, the rest zero padding as Wan pads (0: all real)")
    p.add_argument("--record", metavar="FILE", help="also append the JSON line to FILE (e.g. benchmarks/results.jsonl)")


def run(args) -> int:
    from vectorwan.atomic import write_text
    from vectorwan.train.bench import bench

    if args.steps < 1:
        raise UserError("--steps must be ≥ 1")
    cfg = load(args)
    if not 0 <= args.prompt_tokens <= cfg.model.max_sequence_length:
        raise UserError(f"--prompt-tokens must be in 0..{cfg.model.max_sequence_length} (model.max_sequence_length)")
    record = Path(args.record) if args.record else None
    if record is not None and record.is_dir():
        raise UserError(f"--record {record}: is a folder; give a .jsonl file")
    result = bench(cfg, args.steps, args.prompt_tokens, progress=lambda line: print(line, file=sys.stderr))
    line = json.dumps(result)
    if record is not None:
        old = record.read_text() if record.is_file() else ""
        write_text(record, old + ("" if not old or old.endswith("\n") else "\n") + line + "\n")
    print(line)
    return 0
