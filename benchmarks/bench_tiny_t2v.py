"""Seconds per generated frame of tiny-model T2V on this machine (the `vectorwan generate` engine).

    .venv/bin/python benchmarks/bench_tiny_t2v.py
"""

from __future__ import annotations

import json
import time

from vectorwan.generate import Engine, Request


def main() -> None:
    engine = Engine.load("tiny")
    engine.run(Request(prompt="warm up", frames=5, steps=2, height=64, width=64))
    rows = []
    for frames, size in ((17, 64), (81, 64), (17, 128)):
        t = time.perf_counter()
        engine.run(Request(prompt="a red circle, moving left, white background", frames=frames, height=size,
                           width=size, steps=10, seed=0))
        dt = time.perf_counter() - t
        rows.append({"frames": frames, "size": size, "steps": 10, "seconds": round(dt, 2),
                     "s_per_frame": round(dt / frames, 4)})
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
