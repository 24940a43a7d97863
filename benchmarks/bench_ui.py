"""How long `vectorwan ui` takes to start: from the command to its printed address, and to the page's
first answer over HTTP, over several cold starts (a new process each time, as a user runs it).

    .venv/bin/python benchmarks/bench_ui.py [--runs 5]

Prints a markdown table (docs/ui.md, "Start-up"). The goal is ≤ 10 s on 2 cores with no model loaded.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(root: Path) -> tuple[float, float, bool]:
    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "vectorwan", "ui", "--root", str(root), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        line = proc.stdout.readline()
        printed = time.perf_counter() - t0
        if "http://" not in line:
            raise SystemExit(f"vectorwan ui did not start: {line}{proc.stdout.read()}")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as r:
            r.read()
        answered = time.perf_counter() - t0
        torch_loaded = "libtorch" in Path(f"/proc/{proc.pid}/maps").read_text()
        return printed, answered, torch_loaded
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        runs = [one_start(Path(d)) for _ in range(args.runs)]
    printed, answered, torch = zip(*runs)
    print(f"| measure ({args.runs} cold starts, {os.cpu_count()} cores) | median | max |")
    print("|---|---|---|")
    print(f"| command → address printed | {statistics.median(printed):.1f} s | {max(printed):.1f} s |")
    print(f"| command → page served (HTTP 200) | {statistics.median(answered):.1f} s | {max(answered):.1f} s |")
    print(f"\ntorch loaded at start-up: {'yes' if any(torch) else 'no'}")


if __name__ == "__main__":
    main()
