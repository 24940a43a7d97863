"""A small character dataset the project draws itself (when the shared tiger16 set is absent):
an orange blob with black stripes and a dark outline, in varied poses, as RGBA stills on a
transparent background, in the reference format (``metadata.csv`` + ``train/``)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

TRIGGER = "blobtiger_unique001"
ORANGE, BLACK, PINK = (244, 140, 32), (24, 20, 20), (240, 150, 170)


def draw_character(size: int, pose: int, supersample: int = 4) -> np.ndarray:
    """RGBA uint8 size×size: body ellipse, stripes, two ears, an eye; anti-aliased by supersampling."""
    s = size * supersample
    rng = np.random.default_rng(pose)
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    cx, cy = s * (0.5 + rng.uniform(-0.08, 0.08)), s * (0.55 + rng.uniform(-0.05, 0.05))
    rx, ry = s * rng.uniform(0.28, 0.36), s * rng.uniform(0.22, 0.28)
    lw = max(2, s // 40)
    ear = s * 0.07
    for side in (-1, 1):  # ears
        ex = cx + side * rx * 0.55
        d.ellipse([ex - ear, cy - ry - ear * 0.6, ex + ear, cy - ry + ear * 1.4], fill=ORANGE, outline=BLACK, width=lw)
        d.ellipse([ex - ear * 0.45, cy - ry, ex + ear * 0.45, cy - ry + ear * 0.9], fill=PINK)
    d.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=ORANGE, outline=BLACK, width=lw)
    body = Image.new("L", (s, s), 0)
    ImageDraw.Draw(body).ellipse([cx - rx + lw, cy - ry + lw, cx + rx - lw, cy + ry - lw], fill=255)
    stripes = Image.new("L", (s, s), 0)
    sd = ImageDraw.Draw(stripes)
    for k in range(-2, 3):  # slanted stripes clipped to the body
        x = cx + k * rx * 0.33 + rng.uniform(-1, 1) * lw
        sd.polygon([(x - lw, cy - ry), (x + lw * 1.5, cy - ry), (x + lw * 0.5 + (pose % 3 - 1) * lw * 2, cy + ry),
                    (x - lw * 2, cy + ry)], fill=255)
    img.paste(Image.new("RGBA", (s, s), BLACK + (255,)), (0, 0), Image.fromarray(np.minimum(np.asarray(body), np.asarray(stripes))))
    facing = 1 if pose % 2 == 0 else -1
    ex, ey, er = cx + facing * rx * 0.55, cy - ry * 0.25, s * 0.035
    d.ellipse([ex - er, ey - er, ex + er, ey + er], fill=(255, 255, 255, 255), outline=BLACK, width=lw // 2 + 1)
    return np.asarray(img.resize((size, size), Image.LANCZOS))


POSE_TAGS = ["looking left", "looking right", "sitting", "standing", "jumping", "lying", "from side", "curled up"]


def make_character_dataset(root: str | Path, n: int = 16, size: int = 128, trigger: str = TRIGGER) -> Path:
    """Write ``n`` RGBA stills + ``metadata.csv`` with dense tags and the trigger word first."""
    root = Path(root)
    (root / "train").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        name = f"{i + 1:02d}.png"
        Image.fromarray(draw_character(size, i)).save(root / "train" / name)
        tags = [trigger, "orange blob", "black stripes", "dark outline", "tiny tiger", "solo", "full body",
                POSE_TAGS[i % len(POSE_TAGS)], "transparent background", "simple background"]
        rows.append((name, ", ".join(tags)))
    with (root / "metadata.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file_name", "text"])
        w.writerows(rows)
    return root
