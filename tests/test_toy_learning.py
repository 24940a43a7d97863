"""The character task's learning tests.

1. (issue #6) A LoRA trained on the 16 character stills makes trigger prompts look like the
   character, and keeps them moving as asked. Measured with :mod:`vectorwan.toy.identity`
   (palette × silhouette against the stills) on clips generated from ``"{trigger}, {motion},
   white background"`` for every motion and two seeds the recipe was not tuned on, base and LoRA
   paired by seed.
2. (issue #16) The best variant of the vector supervision (docs/losses.md: shape + colour at low
   noise) beats the plain LoRA on what it targets, on 100 clips of seeds nothing else used: the
   clips keep nearer the data's palette (``eval``'s palette ΔE to the stills) and the identity
   score does not fall.

The plain LoRA is trained once for both. ~3 min on 2 CPU cores.
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
from vectorwan.toy.identity import identity_score, reference_signature  # noqa: E402
from vectorwan.config import load_config  # noqa: E402
from vectorwan.toy.accuracy import character_scores, read_stills  # noqa: E402
from vectorwan.toy.character import TRIGGER, make_character_dataset  # noqa: E402
from vectorwan.train.loop import train  # noqa: E402

RECIPE = Path(__file__).resolve().parents[1] / "configs" / "toy_character.toml"
SEEDS = (9100, 9101)  # not used while the recipe was chosen (7000-7001, the demo's)
IDENTITY_MARGIN = 0.10  # the LoRA's mean identity must beat the base's by this much (absolute)
MOTION_FLOOR = 0.6
# the ablation's best variant (docs/losses.md), as the reference preset carries it
SUPERVISED = ["vector_loss.shape=2.2", "vector_loss.colour=22.0", 'vector_loss.noise="low"']
SUPERVISED_SEEDS = 9800  # 20 seeds from here: nothing else used them (the ablation: 9300-9719)
PALETTE_MARGIN = 0.03  # ΔE; measured −0.078 and −0.083 on seeds 9600-9619 and 9700-9719


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


def test_vector_supervision_keeps_the_character_nearer_the_datas_palette(plain):
    tmp, data, plain_lora = plain
    supervised = train(_recipe(tmp, data, "supervised", *SUPERVISED), progress=False)["weights"]
    grid = ablate.make_grid(_recipe(tmp, data, "plain"), None, 20, SUPERVISED_SEEDS)
    stills = read_stills(data)
    refs, toy_refs = [signature(to_rgb(s)) for s in stills], reference_signature(stills)
    de, ident = {}, {}
    for name, lora in (("plain", plain_lora), ("supervised", supervised)):
        clips = [c for _, batch, _ in ablate.grid_clips("toy", [(lora, 1.0)], grid) for c in batch]
        de[name] = np.array([reference_metrics(to_rgb(c), refs)["ref_palette_de"] for c in clips])
        ident[name] = np.array([identity_score(c, toy_refs)["score"] for c in clips])
    d_de, d_id = de["supervised"] - de["plain"], ident["supervised"] - ident["plain"]
    summary = {"palette_de": (round(float(de["plain"].mean()), 3), round(float(de["supervised"].mean()), 3)),
               "identity": (round(float(ident["plain"].mean()), 3), round(float(ident["supervised"].mean()), 3)),
               "clips": len(d_de)}
    print("plain, supervised:", summary)  # shown with pytest -s
    assert d_de.mean() <= -PALETTE_MARGIN, summary
    assert d_id.mean() >= 0.0, summary
