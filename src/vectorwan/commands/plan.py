"""`vectorwan plan CONFIG [--vram 8GB] [--device cpu|cuda] [--json] [--set k=v]...`"""

from __future__ import annotations

import json
import re

from vectorwan.commands._config_args import add_config_arguments, load
from vectorwan.errors import UserError


def add_arguments(p) -> None:
    add_config_arguments(p)
    p.add_argument("--vram", metavar="SIZE", help="the budget, e.g. 8GB or 16 (GiB); says which modes fit")
    p.add_argument("--device", choices=["cpu", "cuda"], help="plan for this device (default: this machine's)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--configured", action="store_true",
                   help="only the config's own [memory] settings (memory.mode and its knobs), not every mode")


def parse_size(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(GB|GiB|G|MB|MiB|M)?\s*", text, re.I)
    if not m or float(m.group(1)) <= 0:
        raise UserError(f"--vram {text!r}: give a size such as 8GB, 16 or 24GiB")
    unit = (m.group(2) or "G").upper()
    return float(m.group(1)) * (2**20 if unit.startswith("M") else 2**30)


def run(args) -> int:
    import torch

    from vectorwan import plan

    budget = parse_size(args.vram) if args.vram else None
    cfg = load(args)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    modes = None
    if args.configured:
        from vectorwan.train import memory

        modes = [memory.resolve(cfg, device)]
    result = plan.predict(cfg, device, modes)
    if args.json:
        out = {k: v for k, v in result.items() if k != "predictions"}
        out["predictions"] = [dict(p.record(), **({} if budget is None else {"fits": p.peak <= budget}))
                              for p in result["predictions"]]
        print(json.dumps(out))
        return 0
    print(plan.table(result, budget))
    if budget is not None:
        fit = [p for p in result["predictions"] if p.peak <= budget]
        best = fit[0] if fit else None  # the predictions run from the fastest
        print(f"budget {budget / 2**30:.1f} GiB: " + (f"the fastest that fits is {best.mode} "
              f"(memory.mode; {best.peak / 2**30:.2f} GiB)" if best else "no mode fits"))
    return 0
