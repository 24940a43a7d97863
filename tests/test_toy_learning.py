"""The character task's learning tests.

1. (issue #6) A LoRA trained on the 16 character stills makes trigger prompts look like the
   character, and keeps them moving as asked. Measured with :mod:`vectorwan.toy.identity`
   (palette × silhouette against the stills) on clips generated from ``"{trigger}, {motion},
   white background"`` for every motion and two seeds the recipe was not tuned on, base and LoRA
   paired by seed.
2. (issue #16) The best supervised variant of the ablation (docs/losses.md), the colour term,
   beats the plain LoRA on what it targets: the clips' colours stay closer to the data's palette
   (``eval``'s palette ΔE to the reference stills), on 100 clips of seeds no choice used.

The plain LoRA is trained once for both. ~3.5 min on 2 CPU cores.
"""

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import numpy as np  # noqa: E402

from vectorwan import ablate  # noqa: E402
from vectorwan.cache import build_cache  # noqa: E402
from vectorwan.evaluate.flow import to_rgb  # noqa: E402
from vectorwan.evaluate.identity import reference_metrics, signature  # noqa: E402
from vectorwan.config import load_config  # noqa: E402
from vectorwan.toy.accuracy import character_scores, read_stills  # noqa: E402
from vectorwan.toy.character import TRIGGER, make_character_dataset  # noqa: E402
from vectorwan.train.loop import train  # noqa: E402

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "toy_character.toml"
SEEDS = (9100, 9101)  # not used while the recipe was chosen (7000-7001, the demo's)
IDENTITY_MARGIN = 0.10  # the LoRA's mean identity must beat the base's by this much (absolute)
MOTION_FLOOR = 0.6
COLOUR_SEEDS = 9500  # 20 seeds from here: not used by anything else (the ablation used 9300-9319, its check 9400-9419)
COLOUR_WEIGHT = 5.0  # the ablation's colour variant (and the reference preset's)
PALETTE_MARGIN = 0.02  # ΔE: the colour LoRA's mean palette distance to the data must be lower by this much


def _recipe(tmp, data, name, *extra):
    return load_config(RECIPE, [f'output_dir="{tmp / name}"', f'data.path="{data}"', f'cache.dir="{tmp / "cache"}"',
                                "validation.every=0", "train.save_every=0", *extra])


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The character dataset and the recipe's plain LoRA on it."""
    tmp = tmp_path_factory.mktemp("learning")
    data = make_character_dataset(tmp / "character", n=16, seed=0, size=64, trigger=TRIGGER)
    cfg = _recipe(tmp, data, "plain")
    build_cache(cfg, progress=False)
    return tmp, data, train(cfg, progress=False)["weights"]


def test_character_lora_raises_identity_and_keeps_motion(plain):
    _, data, lora = plain
    stills = read_stills(data)
    base = character_scores("toy", [], stills, TRIGGER, seeds=SEEDS)
    tuned = character_scores("toy", [(lora, 1.0)], stills, TRIGGER, seeds=SEEDS)
    summary = {k: (round(base[k], 3), round(tuned[k], 3)) for k in ("identity", "palette", "silhouette", "motion")}
    print("base, LoRA:", summary)  # shown with pytest -s
    assert tuned["identity"] >= base["identity"] + IDENTITY_MARGIN, summary
    assert tuned["motion"] >= MOTION_FLOOR, summary


def test_colour_term_keeps_the_clips_nearer_the_datas_palette(plain):
    tmp, data, plain_lora = plain
    colour_lora = train(_recipe(tmp, data, "colour", f"vector_loss.colour={COLOUR_WEIGHT}"), progress=False)["weights"]
    cfg = _recipe(tmp, data, "plain")
    grid = ablate.make_grid(cfg, None, 20, COLOUR_SEEDS)
    refs = [signature(to_rgb(s)) for s in read_stills(data)]
    de = {}
    for name, lora in (("plain", plain_lora), ("colour", colour_lora)):
        clips, _ = ablate.generate_grid("toy", [(lora, 1.0)], grid, False, name)
        de[name] = np.array([reference_metrics(to_rgb(c), refs)["ref_palette_de"] for c in clips])
    diff = de["colour"] - de["plain"]
    summary = {"plain": round(float(de["plain"].mean()), 3), "colour": round(float(de["colour"].mean()), 3),
               "diff": round(float(diff.mean()), 3), "wins": int((diff < 0).sum()), "clips": len(diff)}
    print("palette ΔE to the data:", summary)  # shown with pytest -s
    assert diff.mean() <= -PALETTE_MARGIN, summary
