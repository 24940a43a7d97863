"""``vectorwan eval`` end to end: outputs, one-line errors, single frames, references."""

import json

import numpy as np
import pytest

from vectorwan.cli import main
from vectorwan.evaluate.synthetic import shapes_clip
from vectorwan.frames import write_frames

FAST = ["--style-frames", "2", "--trace-frames", "1", "--bootstrap", "200"]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    cand = [write_frames(d / f"c{i}.webp", shapes_clip(t=8, size=96, motion=m, speed=3, seed=i), fps=8)
            for i, m in enumerate(("translate", "rotate"))]
    base = [write_frames(d / f"b{i}.gif", shapes_clip(t=8, size=96, motion=m, speed=3, seed=i, wobble=1.0, noise=3), fps=8)
            for i, m in enumerate(("translate", "rotate"))]
    still = write_frames(d / "still.png", shapes_clip(t=1, size=96))
    refs = d / "refs"
    refs.mkdir()
    write_frames(refs / "a.png", shapes_clip(t=1, size=80, motion="static"))
    write_frames(refs / "b.png", shapes_clip(t=1, size=120, motion="static", seed=4))
    prompts = d / "prompts.txt"
    prompts.write_text("a red ball\n\na blue square\n")
    return {"cand": cand, "base": base, "still": still, "refs": refs, "prompts": prompts, "dir": d}


def _err_line(capsys):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    return err


def test_full_report_with_baseline_reference_and_prompts(media, tmp_path, capsys):
    out = tmp_path / "rep"
    rc = main(["eval", *map(str, media["cand"]), "--baseline", *map(str, media["base"]),
               "--reference", str(media["refs"]), "--prompt-file", str(media["prompts"]), "--out", str(out), *FAST])
    assert rc == 0
    rep = json.loads((out / "report.json").read_text())
    assert len(rep["clips"]) == 2 and len(rep["baselines"]) == 2
    c0 = rep["clips"][0]
    assert c0["prompt"] == "a red ball" and c0["frames"] == 8
    assert {"e_warp", "motion_px", "dynamic", "per_pair"} <= set(c0["temporal"])
    assert c0["reference"]["ref_palette_de"] is not None
    h = rep["comparison"]["headline"]
    assert h["value"] > 0 and "matched motion" in h["definition"]
    assert rep["aggregate"]["candidates"]["e_warp"]["n"] == 2
    md = (out / "report.md").read_text()
    for s in ("## Headline", "Temporal-consistency improvement", "| c0 |", "E_warp", "motion", "![clip00]"):
        assert s in md
    pngs = sorted(p.name for p in (out / "plots").iterdir())
    assert pngs == ["clip00.png", "clip01.png", "ewarp_vs_motion.png"]
    assert not list(out.glob(".*tmp*"))  # atomic writes leave nothing behind
    assert "temporal-consistency improvement" in capsys.readouterr().out


def test_identical_baseline_reports_zero(media, tmp_path):
    out = tmp_path / "same"
    c = str(media["cand"][0])
    assert main(["eval", c, "--baseline", c, "--out", str(out), "--no-plots", *FAST]) == 0
    h = json.loads((out / "report.json").read_text())["comparison"]["headline"]
    assert h["value"] == 0.0 and h["ci"][0] <= 0.0 <= h["ci"][1]
    assert not (out / "plots").exists()


def test_single_frame_gets_style_only(media, tmp_path, capsys):
    out = tmp_path / "still"
    assert main(["eval", str(media["still"]), "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert "at least 2 frames" in err and "style metrics only" in err and "Traceback" not in err
    r = json.loads((out / "report.json").read_text())["clips"][0]
    assert r["temporal"] is None and r["style"]["compact8"] > 0.9


@pytest.mark.parametrize("case", ["missing", "corrupt", "empty_dir", "count", "prompts", "badref", "flowsize"])
def test_bad_inputs_give_one_line_errors(media, tmp_path, capsys, case):
    d = tmp_path
    c = [str(p) for p in media["cand"]]
    args = {
        "missing": [str(d / "nope.mp4")],
        "corrupt": [str((d / "bad.mp4").write_bytes(b"not a video") and d / "bad.mp4")],
        "empty_dir": [str((d / "empty").mkdir() or d / "empty")],
        "count": [*c, "--baseline", c[0]],
        "prompts": [c[0], "--prompt-file", str(media["prompts"])],
        "badref": [c[0], "--reference", str(d)],
        "flowsize": [c[0], "--flow-size", "8"],
    }[case]
    rc = main(["eval", *args, "--out", str(d / "out"), *FAST])
    assert rc == 2
    err = _err_line(capsys)
    assert err.startswith("vectorwan eval: error:")
    if case == "count":
        assert "--baseline has 1" in err


def test_alpha_frames_are_composited(tmp_path):
    f = shapes_clip(t=4, size=64, motion="translate")
    rgba = np.concatenate([f, np.full(f.shape[:3] + (1,), 255, np.uint8)], -1)
    rgba[:, :8, :, 3] = 0
    p = write_frames(tmp_path / "a.webp", rgba, fps=8)
    assert main(["eval", str(p), "--out", str(tmp_path / "o"), "--no-plots", *FAST]) == 0


def test_a_long_clip_shows_progress_and_a_short_one_does_not(capsys):
    import numpy as np

    from vectorwan.evaluate import flow

    rng = np.random.default_rng(0)
    gray = rng.integers(0, 255, (flow.PROGRESS_PAIRS + 1, 32, 32), dtype=np.uint8)
    flow.clip_flows(gray[:20])
    assert "eval: flow" not in capsys.readouterr().err
    flow.clip_flows(gray)
    assert f"eval: flow:   0%|          | 0/{flow.PROGRESS_PAIRS}" in capsys.readouterr().err  # (leave=False clears it at the end)
