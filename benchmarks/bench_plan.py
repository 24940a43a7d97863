"""`vectorwan plan` against measured peaks: `vectorwan bench` (one process per point) at several
sizes × memory modes, the plan's prediction beside each, as a markdown table.

    .venv/bin/python benchmarks/bench_plan.py --record benchmarks/results/plan_cpu.jsonl
    .venv/bin/python benchmarks/bench_plan.py --table A.jsonl B.jsonl   # recorded runs, today's plan beside them

Defaults: the reference recipe on the random-weight 1.3B architecture in bf16, at 256², 384² and
512² stills (256, 576 and 1024 video tokens), modes default, fast and fp8; 1 timed step each.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="configs/tiger16_t2v_1.3b.toml")
    ap.add_argument("--model", default="random:Wan2.1-T2V-1.3B")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 384, 512])
    ap.add_argument("--modes", nargs="+", default=["default", "fast", "fp8"])
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--set", dest="overrides", action="append", default=["model.dtype=bfloat16"])
    ap.add_argument("--record", help="append each bench line to this .jsonl")
    ap.add_argument("--table", nargs="+", metavar="JSONL",
                    help="no runs: the measured peaks of these records side by side, each point planned again")
    ap.add_argument("--plot", metavar="PNG", help="with --table: the plan's error at each point, one colour per file")
    args = ap.parse_args()
    if args.table:
        return table(args)
    rows = []
    for size in args.sizes:
        for mode in args.modes:
            cmd = [sys.executable, "-m", "vectorwan", "bench", args.config, "--steps", str(args.steps),
                   "--set", f"model.path={args.model}", "--set", f"data.resolution=[{size},{size}]",
                   "--set", f"memory.mode={mode}"]
            for o in args.overrides:
                cmd += ["--set", o]
            if args.record:
                cmd += ["--record", args.record]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode:
                sys.exit(f"{' '.join(cmd)}\n{r.stderr[-2000:]}")
            line = json.loads(r.stdout.strip().splitlines()[-1])
            err = line["plan_peak_mb"] / line["peak_memory_mb"] - 1
            rows.append(f"| {size}² ({line['tokens']}) | {mode} | {line['s_per_step']:.2f} | "
                        f"{line['peak_memory_mb'] / 1024:.2f} | {line['plan_peak_mb'] / 1024:.2f} | {err:+.1%} |")
            print(rows[-1], flush=True)
    print("\n| size (tokens) | mode | s/step | measured peak GiB | plan GiB | plan error |\n|---|---|---|---|---|---|")
    print("\n".join(rows))


def plan_of(args, size: int, mode: str) -> dict:
    cmd = [sys.executable, "-m", "vectorwan", "plan", args.config, "--configured", "--json",
           "--set", f"model.path={args.model}", "--set", f"data.resolution=[{size},{size}]", "--set", f"memory.mode={mode}"]
    for o in args.overrides:
        cmd += ["--set", o]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)["predictions"][0]


def table(args) -> None:
    runs = [{(r["tokens"], r["mode"]): r for r in map(json.loads, open(f))} for f in args.table]
    head = "| size (tokens) | mode | s/step | plan GiB | " + " | ".join(f"peak GiB ({f}) | error" for f in args.table)
    print(head + " |\n|" + "---|" * (4 + 2 * len(args.table)))
    points = []
    for key in runs[0]:
        tokens, mode = key
        size = int(round(tokens ** 0.5)) * 16
        planned = plan_of(args, size, mode)["peak_gb"]
        cells = []
        for i, r in enumerate(run.get(key) for run in runs):
            if r is None:
                cells += ["—", "—"]
                continue
            err = planned * 1024 / r["peak_memory_mb"] - 1
            cells += [f"{r['peak_memory_mb'] / 1024:.2f}", f"{err:+.1%}"]
            points.append((f"{mode} {tokens}", planned, 100 * err, i))
        print(f"| {size}² ({tokens}) | {mode} | {runs[0][key]['s_per_step']:.2f} | {planned:.2f} | " + " | ".join(cells) + " |")
    if args.plot:
        from PIL import Image

        from vectorwan.evaluate.plots import scatter

        from pathlib import Path

        colours = ["blue", "orange", "green", "red"]
        title = "plan error against measured peak: " + ", ".join(
            f"{colours[i % 4]} {Path(f).stem}" for i, f in enumerate(args.table))
        Image.fromarray(scatter(points, title, "planned peak (GiB)", "plan error (%)", size=(760, 360))).save(args.plot)


if __name__ == "__main__":
    main()
