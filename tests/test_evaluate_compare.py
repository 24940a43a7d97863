"""Paired comparison, bootstrap CIs and the headline improvement."""

import numpy as np
import pytest

from vectorwan.evaluate.compare import METRICS, aggregate, bootstrap_ci, compare, headline, paired
from vectorwan.evaluate.pipeline import Options, evaluate_frames
from vectorwan.evaluate.synthetic import shapes_clip

FAST = Options(style_frames=1, trace_frames=0)


@pytest.fixture(scope="module")
def clips():
    good = [evaluate_frames(shapes_clip(t=8, size=80, motion=m, speed=3, seed=s), 8.0, FAST)
            for m, s in (("translate", 0), ("rotate", 1), ("scale", 2))]
    bad = [evaluate_frames(shapes_clip(t=8, size=80, motion=m, speed=3, seed=s, wobble=1.0, palette_jitter=6), 8.0, FAST)
           for m, s in (("translate", 0), ("rotate", 1), ("scale", 2))]
    return good, bad


def test_identical_clips_compare_as_zero_with_ci_containing_zero(clips):
    good, _ = clips
    c = compare(good, good)
    h = c["headline"]
    assert h["value"] == 0.0 and h["matched"] == 3
    lo, hi = h["ci"]
    assert lo <= 0.0 <= hi
    for m in c["metrics"].values():
        assert m["diff"] == 0.0 and m["losses"] == 0 and m["wins"] == 0


def test_cleaner_candidate_shows_positive_improvement(clips):
    good, bad = clips
    c = compare(good, bad)
    h = c["headline"]
    assert h["value"] > 0.3 and h["ci"][0] > 0
    assert c["metrics"]["e_warp"]["wins"] == 3
    assert c["metrics"]["palette_drift_first"]["diff"] < 0
    # and the other way round it is a regression
    assert compare(bad, good)["headline"]["value"] < 0


def test_headline_formula_and_motion_matching():
    e_c, e_b = [1.0, 2.0, 3.0], [2.0, 2.0, 6.0]
    h = headline(e_c, e_b, [1.0, 1.0, 1.0], [1.1, 0.9, 1.0], n_boot=200)
    assert h["value"] == pytest.approx(1 - 6 / 10)
    # a static candidate next to a moving baseline is not comparable: excluded
    h = headline(e_c, e_b, [0.0, 1.0, 1.0], [2.0, 1.0, 1.0], n_boot=200)
    assert h["excluded"] == [0] and h["matched"] == 2
    assert h["value"] == pytest.approx(1 - 5 / 8)
    h = headline([1.0], [1.0], [0.0], [5.0])
    assert h["value"] is None and "matched motion" in h["reason"]
    # two static clips match (motion floor) but a zero baseline error gives no ratio
    h = headline([0.0], [0.0], [0.0], [0.0])
    assert h["value"] is None and "0" in h["reason"]


def test_bootstrap_is_reproducible_and_covers_the_mean():
    rng = np.random.default_rng(0)
    x = rng.normal(1.0, 1.0, 40)
    a = bootstrap_ci(lambda i: x[i].mean(-1), 40, seed=3)
    b = bootstrap_ci(lambda i: x[i].mean(-1), 40, seed=3)
    assert a == b and a[0] < x.mean() < a[1]
    assert a[1] - a[0] == pytest.approx(2 * 1.96 * x.std() / np.sqrt(40), rel=0.25)


def test_paired_counts_wins_in_the_metric_direction():
    p = paired([1.0, 2.0, 3.0], [2.0, 2.0, 1.0], "lower", n_boot=100)
    assert (p["wins"], p["losses"], p["ties"]) == (1, 1, 1)
    p = paired([1.0, np.nan], [2.0, 1.0], "higher", n_boot=100)
    assert p["n"] == 1 and p["losses"] == 1


def test_aggregate_skips_missing_sections(clips):
    good, _ = clips
    still = evaluate_frames(shapes_clip(t=1, size=64), 8.0, FAST)
    agg = aggregate(good + [still])
    assert agg["e_warp"]["n"] == 3 and agg["compact8"]["n"] == 4
    assert {m.key for m in METRICS} >= set(agg)
