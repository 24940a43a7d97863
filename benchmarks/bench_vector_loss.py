"""What the layer-wise vector losses cost per step on the 1.3B recipe's shapes: each term's forward +
backward on a latent of that shape (the DiT's output, a leaf here), beside the flow-matching MSE, and
the layer maps' making per item (done once, at cache time).

    .venv/bin/python benchmarks/bench_vector_loss.py [--device cpu|cuda] [--repeat 5]

Shapes: a 512² still (16×1×64×64, the reference recipe) and an 81-frame 480×832 clip (16×21×60×104).
Prints a markdown table (docs/losses.md).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from vectorwan.data.layer_maps import layer_maps
from vectorwan.train.losses import colour_loss, flow_matching_loss, motion_loss, shape_loss

SHAPES = {"512² still": (1, 64, 64, 512, 512, 1), "81×480×832 clip": (21, 60, 104, 480, 832, 81)}


def frames_and_maps(f, h, w, hh, ww, n):
    """A drawn test item (an outlined disc over a white background, moving) and its maps."""
    yy, xx = np.mgrid[:hh, :ww]
    rgb = np.full((n, hh, ww, 3), 255, np.uint8)
    for t in range(n):
        r2 = (yy - hh / 2) ** 2 + (xx - ww / 3 - t * 2) ** 2
        rgb[t][r2 < (hh / 4) ** 2] = (20, 20, 20)
        rgb[t][r2 < (hh / 4 - 6) ** 2] = (240, 140, 20)
    t0 = time.perf_counter()
    maps = layer_maps(rgb, np.full(rgb.shape[:3], 255, np.uint8), (16, f, h, w))
    return {k: torch.from_numpy(v)[None] for k, v in maps.items() if k != "palette"}, time.perf_counter() - t0


def timed(fn, repeat, device):
    out = []
    for _ in range(repeat + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return float(np.median(out[1:])) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    dev = args.device
    print(f"device: {torch.cuda.get_device_name() if dev == 'cuda' else 'cpu'}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads\n")
    print("| latent of | layer maps per item (once, at cache time) | flow MSE | shape | colour | motion |")
    print("|---|---|---|---|---|---|")
    for name, (f, h, w, hh, ww, n) in SHAPES.items():
        maps, t_maps = frames_and_maps(f, h, w, hh, ww, n)
        maps = {k: v.to(dev) for k, v in maps.items()}
        g = torch.Generator().manual_seed(0)
        target = torch.randn(1, 16, f, h, w, generator=g).to(dev)
        pred = torch.randn(1, 16, f, h, w, generator=g).to(dev).requires_grad_()
        e = lambda: -0.7 * (pred - target)  # noqa: E731  (the clean error at σ = 0.7)

        def run(loss):
            return lambda: loss().backward()

        cols = [timed(run(lambda: flow_matching_loss(pred, target)), args.repeat, dev),
                timed(run(lambda: shape_loss(e(), maps["silhouette"], maps["outline"])), args.repeat, dev),
                timed(run(lambda: colour_loss(e(), maps["region"], maps["purity"])), args.repeat, dev),
                timed(run(lambda: motion_loss(e(), maps["silhouette"], maps["motion"])), args.repeat, dev)]
        print(f"| {name} | {t_maps * 1e3:.0f} ms | " + " | ".join(f"{c:.2f} ms" for c in cols) + " |")


if __name__ == "__main__":
    main()
