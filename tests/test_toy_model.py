"""The shipped toy base (`--model toy`) follows prompts: shape and motion on unseen seeds, and
colour for the five hues it draws reliably. Purple is left out: VAE 4 draws it, but the DiT gets it
right only now and then (docs/toy.md: 0.27 on the published seeds, 1 of 5 here).

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
    kept = [r for r in results if r["colour"] != "purple"]  # measured: 25 of 25 (purple: 1 of 5)
    assert sum(r["colour_ok"] for r in kept) / len(kept) >= 0.9, table
