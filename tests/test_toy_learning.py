"""The character task's learning test (issue #6): a LoRA trained on the 16 character stills
makes trigger prompts look like the character, and keeps them moving as asked.

Measured with :mod:`vectorwan.toy.identity` (palette × silhouette against the stills) on clips
generated from ``"{trigger}, {motion}, white background"`` for every motion and two seeds the
recipe was not tuned on, base and LoRA paired by seed. ~1.5 min on 2 CPU cores.
"""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from vectorwan.cache import build_cache  # noqa: E402
from vectorwan.config import load_config  # noqa: E402
from vectorwan.toy.accuracy import character_scores, read_stills  # noqa: E402
from vectorwan.toy.character import TRIGGER, make_character_dataset  # noqa: E402
from vectorwan.train.loop import train  # noqa: E402

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "toy_character.toml"
SEEDS = (9100, 9101)  # not used while the recipe was chosen (7000-7001, the demo's)
IDENTITY_MARGIN = 0.10  # the LoRA's mean identity must beat the base's by this much (absolute)
MOTION_FLOOR = 0.6


def test_character_lora_raises_identity_and_keeps_motion(tmp_path):
    data = make_character_dataset(tmp_path / "character", n=16, seed=0, size=64, trigger=TRIGGER)
    cfg = load_config(RECIPE, [f'output_dir="{tmp_path / "run"}"', f'data.path="{data}"', "validation.every=0",
                               "train.save_every=0"])
    build_cache(cfg, progress=False)
    lora = train(cfg, progress=False)["weights"]
    stills = read_stills(data)
    base = character_scores("toy", [], stills, TRIGGER, seeds=SEEDS)
    tuned = character_scores("toy", [(lora, 1.0)], stills, TRIGGER, seeds=SEEDS)
    summary = {k: (round(base[k], 3), round(tuned[k], 3)) for k in ("identity", "palette", "silhouette", "motion")}
    print("base, LoRA:", summary)  # shown with pytest -s
    assert tuned["identity"] >= base["identity"] + IDENTITY_MARGIN, summary
    assert tuned["motion"] >= MOTION_FLOOR, summary
