"""Small builders shared by tests: datasets made on the fly, tiny configs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image


def make_image_dataset(root: Path, n: int = 4, size: int = 64, trigger: str = "blobby_tok", rgba: bool = True) -> Path:
    """A reference-format dataset (metadata.csv + train/) of flat-colour blobs."""
    (root / "train").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        img = np.zeros((size, size, 4), np.uint8)
        yy, xx = np.mgrid[:size, :size]
        cy, cx, r = size / 2 + rng.integers(-6, 6), size / 2 + rng.integers(-6, 6), size / 3
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[inside] = [240, 140, 30, 255]
        img[inside & ((xx // 6) % 2 == 0)] = [20, 20, 20, 255]
        if not rgba:
            img[~inside] = [255, 255, 255, 255]
        name = f"{i:02d}.png"
        Image.fromarray(img if rgba else img[..., :3]).save(root / "train" / name)
        rows.append((name, f"{trigger}, orange blob, black stripes, pose {i}"))
    with (root / "metadata.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file_name", "text"])
        w.writerows(rows)
    return root


def tiny_overrides(out: Path, data: Path, steps: int = 6, **extra) -> list[str]:
    # one cache per dataset, shared by the runs of a test module (entries are keyed by content)
    o = [f'output_dir="{out}"', f'data.path="{data}"', f'cache.dir="{Path(data).parent / (Path(data).name + "-cache")}"', 'model.path="tiny"', "model.max_sequence_length=32",
         "data.resolution=[32, 32]", 'data.trigger="blobby_tok"', f"train.max_steps={steps}",
         'train.mixed_precision="no"', "train.gradient_checkpointing=false", "train.learning_rate=1e-3",
         "lora.rank=4", "lora.alpha=4.0"]
    return o + [f"{k}={v}" for k, v in extra.items()]
