"""Draw the layer maps of dataset items as a picture (docs/img/layer_maps.png): per item the frame the
VAE sees, then silhouette, outline, colour regions (each region its palette colour, shaded by purity)
and, for clips, motion — each map at latent resolution, scaled up.

    .venv/bin/python benchmarks/draw_layer_maps.py OUT.png ITEM[@SIZE] [ITEM[@SIZE] ...] [--size 512] [--frames 17]

(docs/img/layer_maps.png: ``../shared/data/tiger16/train/01.png runs/ablation/clips-data/train/clip00.mp4@64``)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vectorwan.data.dataset import Item
from vectorwan.data.layer_maps import layer_maps
from vectorwan.data.load import load_sample

CELL = 160


def _up(x: np.ndarray, side: int) -> np.ndarray:
    return np.asarray(Image.fromarray(x).resize((side, side), Image.NEAREST))


def _gray(m: np.ndarray) -> np.ndarray:
    return np.repeat((255 - np.clip(m, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1)


def panels(path: Path, size: int, frames: int) -> list[tuple[str, np.ndarray]]:
    kind = "video" if path.suffix.lower() in (".mp4", ".webm", ".gif") else "image"
    s = load_sample(Item(path=path, caption="", kind=kind), [size, size], frames, 16.0, "start", (255, 255, 255))
    n = s.rgb.shape[0]
    lat = (16, 1 + (n - 1) // 4, size // 8, size // 8)
    m = layer_maps(s.rgb, s.alpha, lat)
    f = m["silhouette"].shape[0] - 1  # the last latent frame
    pal = np.vstack([m["palette"], [[255, 255, 255]]]) if len(m["palette"]) else np.array([[255, 255, 255]])
    reg = pal[m["region"][f]].astype(np.float32)
    reg = (reg * m["purity"][f][..., None] + 255 * (1 - m["purity"][f][..., None])).astype(np.uint8)
    out = [("frame", s.rgb[-1]), ("silhouette", _gray(m["silhouette"][f])), ("outline", _gray(m["outline"][f])),
           ("colour regions", reg)]
    if len(m["motion"]):
        out.append(("motion", _gray(m["motion"][-1])))
    return [(name, _up(img, CELL)) for name, img in out]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("items", nargs="+")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--frames", type=int, default=17)
    a = ap.parse_args()
    rows = []
    for item in a.items:
        path, _, size = item.partition("@")
        rows.append(panels(Path(path), int(size) if size else a.size, a.frames))
    cols = max(len(r) for r in rows)
    img = Image.new("RGB", (cols * (CELL + 6) + 6, len(rows) * (CELL + 22) + 6), "white")
    d = ImageDraw.Draw(img)
    for i, row in enumerate(rows):
        for j, (name, panel) in enumerate(row):
            x, y = 6 + j * (CELL + 6), 6 + i * (CELL + 22)
            d.text((x, y), name, fill=(0, 0, 0))
            img.paste(Image.fromarray(panel), (x, y + 16))
    img.save(a.out)
    print(a.out)


if __name__ == "__main__":
    main()
