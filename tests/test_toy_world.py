"""The toy world of issue #6: rendering, ground truth, dataset writer, automatic checks, CLI."""

import json

import numpy as np
import pytest

from vectorwan.cli import main
from vectorwan.errors import UserError
from vectorwan.toy import checks, world

# seeds never used while choosing the checks' thresholds
HELD_OUT = (1000, 2024)


def _wrong(value, vocab):
    vocab = list(vocab)
    return vocab[(vocab.index(value) + 1) % len(vocab)]


@pytest.fixture(scope="module")
def ground_truth_results():
    clips, results = [], []
    for seed in HELD_OUT:
        for p in world.all_prompts():
            clip = world.render_clip(*p, seed=seed)
            clips.append(clip)
            results.append(checks.score_clip(clip.frames, p))
    return clips, results


def test_vocabulary_and_captions():
    assert list(world.COLOURS) == ["red", "orange", "yellow", "green", "blue", "purple"]
    assert world.SHAPES == ("circle", "square", "triangle")
    assert world.MOTIONS == ("moving left", "moving right", "moving up", "moving down", "staying still")
    prompts = world.all_prompts()
    assert len(prompts) == 90 and len(set(prompts)) == 90
    assert world.caption("red", "circle", "moving left") == "red circle, moving left, white background"
    for p in prompts:
        assert world.parse_caption(world.caption(*p)) == p
    assert world.parse_caption("  Blue  Square , staying still ") == ("blue", "square", "staying still")
    for bad in ("pink circle, moving left, white background", "red circle", "red circle, moving sideways", ""):
        with pytest.raises(UserError):
            world.parse_caption(bad)


def test_render_is_deterministic_and_inside_the_frame():
    a = world.render_clip("green", "triangle", "moving up", seed=7)
    b = world.render_clip("green", "triangle", "moving up", seed=7)
    c = world.render_clip("green", "triangle", "moving up", seed=8)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.frames, c.frames)
    assert a.frames.shape == (17, 64, 64, 3) and a.frames.dtype == np.uint8
    assert a.masks.shape == (17, 64, 64) and a.masks.dtype == bool
    assert a.centroids.shape == (17, 2)
    # white background on the border, dark outline present, anti-aliased (intermediate values)
    border = np.concatenate([a.frames[:, 0], a.frames[:, -1], a.frames[:, :, 0], a.frames[:, :, -1]])
    assert (border == 255).all()
    assert (a.frames.max(-1) < 60).any()
    assert len(np.unique(a.frames.reshape(-1, 3), axis=0)) > 20
    # moving up: centroid y decreases by the travel, x constant
    d = a.centroids[-1] - a.centroids[0]
    assert abs(d[0]) < 0.5 and d[1] < -10
    gt = a.ground_truth()
    assert gt["text"] == "green triangle, moving up, white background" and len(gt["centroids"]) == 17
    json.dumps(gt)


def test_all_prompts_render_and_checks_pass_on_ground_truth(ground_truth_results):
    clips, results = ground_truth_results
    assert len(clips) == 90 * len(HELD_OUT)
    for clip in clips:
        assert clip.masks.any(axis=(1, 2)).all()
        m = clip.masks
        assert not (m[:, 0].any() or m[:, -1].any() or m[:, :, 0].any() or m[:, :, -1].any())
    table = checks.accuracy_table(results)
    assert table["n"] == len(results)
    assert table["colour"] >= 0.98, table
    assert table["shape"] >= 0.95, table
    assert table["motion"] >= 0.98, table
    assert set(table["per_value"]["colour"]) == set(world.COLOURS)
    assert set(table["per_value"]["motion"]) == set(world.MOTIONS)
    assert checks.format_table(table)[0].startswith(f"clips {len(results)}:")


def test_checks_reject_wrong_prompts(ground_truth_results):
    clips, results = ground_truth_results
    wrong = []
    for clip in clips[::5]:
        p = (_wrong(clip.colour, world.COLOURS), _wrong(clip.shape, world.SHAPES), _wrong(clip.motion, world.MOTIONS))
        wrong.append(checks.score_clip(clip.frames, world.caption(*p)))
    table = checks.accuracy_table(wrong)
    assert table["colour"] <= 0.02 and table["shape"] <= 0.05 and table["motion"] <= 0.02, table
    assert table["all"] == 0.0


def test_checks_on_empty_and_rgba_frames():
    blank = np.full((5, 32, 32, 3), 255, np.uint8)
    r = checks.score_clip(blank, ("red", "circle", "staying still"))
    assert r["got_colour"] == r["got_shape"] == r["got_motion"] == checks.NONE
    assert not (r["colour_ok"] or r["shape_ok"] or r["motion_ok"])
    clip = world.render_clip("purple", "square", "moving right", seed=3)
    rgba = np.concatenate([clip.frames, np.full(clip.frames.shape[:3] + (1,), 255, np.uint8)], -1)
    r = checks.score_clip(rgba, clip.caption)
    assert r["colour_ok"] and r["shape_ok"] and r["motion_ok"]
    # checks scale with frame size
    big = world.render_clip("orange", "circle", "moving down", seed=4, frames=9, size=128)
    assert big.frames.shape == (9, 128, 128, 3)
    r = checks.score_clip(big.frames, big.caption)
    assert r["colour_ok"] and r["shape_ok"] and r["motion_ok"]


def test_cli_world_dataset_and_check(tmp_path, capsys):
    from vectorwan.data.dataset import discover
    from vectorwan.frames import read_frames

    root = tmp_path / "toy"
    assert main(["toy", "world", str(root), "--per-prompt", "1", "--seed", "31"]) == 0
    ds = discover(root)
    assert ds.source == "metadata.csv" and not ds.problems
    assert len(ds.items) == 90 and all(it.kind == "video" for it in ds.items)
    assert all(it.path.parent == root / "train" for it in ds.items)
    assert {world.parse_caption(it.caption) for it in ds.items} == set(world.all_prompts())
    gt = json.loads((root / "ground_truth.json").read_text())
    assert gt["template"] == world.TEMPLATE and len(gt["clips"]) == 90
    assert gt["colours"]["red"] == list(world.COLOURS["red"])
    # ground truth matches a re-render with the recorded seed; masks stored per clip
    e = gt["clips"][7]
    clip = world.render_clip(e["colour"], e["shape"], e["motion"], seed=e["seed"])
    assert np.allclose(clip.centroids, e["centroids"], atol=1e-3)
    assert np.array_equal(np.load(root / e["masks"])["masks"], clip.masks)
    # the checks hold after mp4 coding too (a sample of the written clips)
    results = [checks.score_clip(read_frames(it.path).frames, it.caption) for it in ds.items[::6]]
    table = checks.accuracy_table(results)
    assert table["colour"] == table["shape"] == table["motion"] == 1.0, table
    # writing into a finished dataset is refused
    assert main(["toy", "world", str(root)]) == 2
    assert "already holds" in capsys.readouterr().err

    # check: --prompt, --prompts-from-sidecar (.txt and generate's .json), --json
    a = root / "train" / "red_square_moving_down_0000.mp4"
    b = root / "train" / "blue_circle_staying_still_0000.mp4"
    out = tmp_path / "scores.json"
    assert main(["toy", "check", str(a), "--prompt", "red square, moving down, white background",
                 "--json", str(out)]) == 0
    assert "colour ok  shape ok  motion ok" in capsys.readouterr().out
    assert json.loads(out.read_text())["accuracy"]["all"] == 1.0
    a.with_suffix(".txt").write_text("red square, moving down, white background\n")
    b.with_name(b.name + ".json").write_text(json.dumps({"request": {"prompt": "yellow circle, moving left"}}))
    assert main(["toy", "check", str(a), str(b), "--prompts-from-sidecar", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["accuracy"]["colour"] == 0.5 and res["accuracy"]["shape"] == 1.0 and res["accuracy"]["motion"] == 0.5
    assert res["results"][1]["got_colour"] == "blue" and res["results"][1]["got_motion"] == "staying still"
    capsys.readouterr()
    c = root / "train" / "green_circle_moving_up_0000.mp4"
    assert main(["toy", "check", str(c), "--prompts-from-sidecar"]) == 2
    assert "no sidecar" in capsys.readouterr().err
    assert main(["toy", "check", str(a), "--prompt", "pink blob, moving left"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err


def test_world_dataset_with_stills(tmp_path):
    from PIL import Image

    from vectorwan.data.dataset import discover

    root = world.make_dataset(tmp_path / "w", n_per_prompt=1, seed=3, stills_per_prompt=2)
    ds = discover(root)
    stills = [it for it in ds.items if it.kind == "image"]
    assert len(ds.items) == 90 * 3 and len(stills) == 180 and not ds.problems
    gt = json.loads((root / "ground_truth.json").read_text())
    assert gt["stills_per_prompt"] == 2 and len(gt["stills"]) == 180
    e = gt["stills"][5]
    assert e["file_name"].startswith("still_") and e["file_name"].endswith(".png")
    it = next(i for i in stills if i.path.name == e["file_name"])
    assert it.caption == world.still_caption(e["colour"], e["shape"]) == f"{e['colour']} {e['shape']}, white background"
    motion = next(m for m in world.MOTIONS if m.replace(" ", "_") in e["file_name"])
    clip = world.render_clip(e["colour"], e["shape"], motion, seed=e["seed"])
    assert e["seed"] == 3 * 100003 + 50000 + 1 and e["frame"] == 1  # still k=1: frame 1 of its own clip
    assert np.array_equal(np.asarray(Image.open(it.path).convert("RGB")), clip.frames[e["frame"]])
    assert checks.dominant_colour(clip.frames[e["frame"]][None]) == e["colour"]
    with pytest.raises(UserError, match="stills-per-prompt"):
        world.make_dataset(tmp_path / "bad", stills_per_prompt=-1)


def test_world_repeat_lists_a_colour_n_times(tmp_path, capsys):
    from vectorwan.data.dataset import discover
    from vectorwan.toy.ship import _world_record

    root = tmp_path / "r"
    assert main(["toy", "world", str(root), "--seed", "3", "--frames", "5", "--size", "32",
                 "--stills-per-prompt", "1", "--repeat", "purple=3"]) == 0
    ds = discover(root)
    assert len(ds.items) == 180 + 2 * 30 and not ds.problems
    assert len({it.path for it in ds.items}) == len(list((root / "train").iterdir())) == 180  # files written once
    purple = [it for it in ds.items if it.caption.startswith("purple ")]
    assert len(purple) == 90 and all(it.caption.startswith("purple ") for it in ds.items[180:])
    first = [it.path for it in ds.items[:180] if it.caption.startswith("purple ")]
    assert [it.path for it in ds.items[180:]] == [p for p in first for _ in range(2)]  # appended, in order
    gt = json.loads((root / "ground_truth.json").read_text())
    assert gt["repeat"] == {"purple": 3} and len(gt["clips"]) == 90
    rec = _world_record(root)
    assert rec["command"].endswith("--stills-per-prompt 1 --repeat purple=3") and rec["items_trained_on"] == 240
    for bad in (["--repeat", "purple"], ["--repeat", "pink=2"], ["--repeat", "red=0"]):
        assert main(["toy", "world", str(tmp_path / "bad"), "--frames", "5", *bad]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--repeat" in err
    assert not (tmp_path / "bad").exists()


def test_striped_bodies_keep_geometry_colour_and_shape():
    for k, (c, s) in enumerate([("red", "circle"), ("blue", "square"), ("yellow", "triangle")]):
        plain = world.render_clip(c, s, "moving right", seed=40 + k)
        striped = world.render_clip(c, s, "moving right", seed=40 + k, striped=True)
        assert np.array_equal(plain.masks, striped.masks) and np.allclose(plain.centroids, striped.centroids)
        assert "bands" in striped.params and "bands" not in plain.params
        dark = (striped.frames.max(axis=-1) < 60) & plain.masks & ~(plain.frames.max(axis=-1) < 60)
        assert dark.sum() > 0.08 * plain.masks.sum()  # bands darken part of the body, not just the outline
        assert checks.score_clip(striped.frames, f"{c} {s}, moving right") == checks.score_clip(plain.frames, f"{c} {s}, moving right")
    bands = world.stripe_bands(3)
    assert bands == world.stripe_bands(3) and 2 <= len(bands) <= 4


def test_vae_stripes_share_is_a_function_of_the_clip_seed():
    from vectorwan.toy.pretrain_vae import is_striped

    share = np.mean([is_striped(s, 0.4) for s in range(20_000)])
    assert abs(share - 0.4) < 0.01 and not any(is_striped(s, 0.0) for s in range(1000))


def test_world_refuses_a_folder_holding_other_files(tmp_path):
    from vectorwan.errors import UserError
    from vectorwan.toy.world import make_dataset

    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds other files"):
        make_dataset(tmp_path / "w", 1, 0)
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["notes.txt"]
