"""tiger16 (16 RGBA 512×512 stickers): traced-and-rendered vs the white-composited source.

Each image is vectorized on its own with a 16-colour palette and default settings; the
render is compared over white. Issue #5 asks mean PSNR ≥ 26 dB and every image ≥ 25 dB.
"""

import csv

import numpy as np
import pytest

from vectorwan.frames import read_frames
from vectorwan.vector.pipeline import VectorizeOptions, vectorize_clip


def _images(tiger16):
    with open(tiger16 / "metadata.csv", newline="") as f:
        names = [row["file_name"] for row in csv.DictReader(f)]
    return [tiger16 / "train" / n for n in names]


def _psnr(path, jobs=1):
    frame = read_frames(path).frames
    assert frame.shape[-1] == 4
    res = vectorize_clip(frame, 16, VectorizeOptions(colors=16, jobs=jobs))
    assert len(res.palette) <= 16 and res.matte == (255, 255, 255)
    return res.fidelity[0]["psnr"]


def test_tiger16_one_image(tiger16):
    assert _psnr(_images(tiger16)[0]) >= 25.0


@pytest.mark.slow
def test_tiger16_all_images(tiger16):
    paths = _images(tiger16)
    assert len(paths) == 16
    scores = [_psnr(p) for p in paths]
    for p, s in zip(paths, scores):
        print(f"{p.name}  {s:.2f} dB")
    print(f"mean  {np.mean(scores):.2f} dB")
    assert min(scores) >= 25.0
    assert np.mean(scores) >= 26.0
