"""The shipped toy base (`--model toy`) follows prompts: shape and motion on unseen seeds, and
colour for the hues its VAE keeps apart (docs/toy.md: the VAE still merges purple into blue, so
colour accuracy is capped at 5/6 until the VAE is retrained).

Seeds 8000+ were not used to choose the sampling settings (seed 1) nor for the published
accuracy table (1000, 1001)."""

from vectorwan.toy import world
from vectorwan.toy.accuracy import clip_seed, generate_batch
from vectorwan.toy.checks import accuracy_table, score_clip


def test_toy_base_follows_shape_and_motion_prompts_on_unseen_seeds():
    from vectorwan.generate import Engine

    engine = Engine("toy")
    prompts = world.all_prompts()[::3]  # 30 prompts: every colour, shape and motion
    texts = [world.caption(*p) for p in prompts]
    clips = generate_batch(engine, texts, [clip_seed(8000, i) for i in range(len(texts))])
    results = [score_clip(c, p) for c, p in zip(clips, prompts)]
    table = accuracy_table(results)
    assert table["motion"] >= 0.8 and table["shape"] >= 0.8, table
    kept = [r for r in results if r["colour"] != "purple"]  # hues the VAE keeps apart (measured: 24 of 25)
    assert sum(r["colour_ok"] for r in kept) / len(kept) >= 0.9, table
