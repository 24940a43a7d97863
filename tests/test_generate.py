import json
import re

import numpy as np
import pytest
import torch

from vectorwan.frames import to_uint8
from vectorwan.generate import Engine, Request
from vectorwan.models.loading import export_tiny

SMALL = dict(height=32, width=32, steps=2, guidance=4.0, shift=3.0, seed=3, negative_prompt="blurry")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("m") / "tiny")


@pytest.fixture(scope="module")
def engine(exported):
    return Engine.load(str(exported))


def test_generate_equals_the_diffusers_pipeline(exported, engine):
    from diffusers import WanPipeline

    frames, s = engine.run(Request(prompt="a red circle", frames=5, **SMALL))
    pipe = WanPipeline.from_pretrained(exported)
    ref = pipe("a red circle", negative_prompt="blurry", num_frames=5, height=32, width=32, num_inference_steps=2,
               guidance_scale=4.0, generator=torch.Generator().manual_seed(3), output_type="np").frames
    assert frames.shape == ref.shape == (1, 5, 32, 32, 3)
    assert np.abs(frames - ref).max() <= 1e-5
    again, _ = engine.run(Request(prompt="a red circle", frames=5, **SMALL))
    assert np.array_equal(frames, again)  # same seed → same output
    other, _ = engine.run(Request(prompt="a red circle", frames=5, **{**SMALL, "seed": 4}))
    assert np.abs(other - frames).max() > 1e-3


def test_t2i_is_one_frame(engine):
    frames, s = engine.run(Request(prompt="x", task="t2i", **SMALL))
    assert frames.shape == (1, 1, 32, 32, 3) and s["frames"] == 1


def _clip(n=9):
    rng = np.random.default_rng(0)
    f = np.full((n, 32, 32, 3), 255, np.uint8)
    for i in range(n):
        f[i, 8:24, 2 + i:18 + i] = rng.integers(0, 255, 3)
    return f


def test_v2v_strength_near_zero_is_the_vae_round_trip(engine, tmp_path):
    from vectorwan.frames import write_frames

    src = write_frames(tmp_path / "in.webp", _clip())
    near0, s = engine.run(Request(prompt="p", task="v2v", video=str(src), strength=0.01, **SMALL))
    rt = engine.round_trip(_clip())
    assert near0.shape == (1, 9, 32, 32, 3) and s["frames"] == 9
    assert np.abs(near0[0] - rt).max() <= 1e-6
    # one real denoising step at the smallest noise level stays close to the round trip
    small, _ = engine.run(Request(prompt="p", task="v2v", video=str(src), strength=0.5, **{**SMALL, "steps": 2}))
    assert np.abs(small[0] - rt).mean() < np.abs(small[0] - 0.5).mean()


def test_v2v_strength_one_ignores_the_input(engine, tmp_path):
    from vectorwan.frames import write_frames

    a = write_frames(tmp_path / "a.webp", _clip())
    b = write_frames(tmp_path / "b.webp", 255 - _clip())
    fa, _ = engine.run(Request(prompt="p", task="v2v", video=str(a), strength=1.0, **SMALL))
    fb, _ = engine.run(Request(prompt="p", task="v2v", video=str(b), strength=1.0, **SMALL))
    assert np.abs(fa - fb).max() <= 1e-5
    fc, _ = engine.run(Request(prompt="p", task="v2v", video=str(b), strength=0.5, **SMALL))
    assert np.abs(fa - fc).max() > 1e-3


def test_lora_scale_zero_equals_no_lora(exported, engine, tmp_path):
    from vectorwan.models.lora_formats import LoraFile, LoraModule, write_lora

    g = torch.Generator().manual_seed(0)
    mods = {f"blocks.{i}.self_attn.q": LoraModule(torch.randn(4, 64, generator=g), torch.randn(64, 4, generator=g), 4.0)
            for i in range(2)}
    f = tmp_path / "l.safetensors"
    write_lora(LoraFile("comfyui", mods, {}), f, "comfyui")
    base, _ = engine.run(Request(prompt="p", frames=1, **SMALL))
    zero, _ = Engine.load(str(exported), [(str(f), 0.0)]).run(Request(prompt="p", frames=1, **SMALL))
    one, _ = Engine.load(str(exported), [(str(f), 1.0)]).run(Request(prompt="p", frames=1, **SMALL))
    assert np.abs(zero - base).max() <= 1e-6
    assert np.abs(one - base).max() > 1e-3


class _Result:
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr = returncode, stderr


@pytest.fixture
def _cli(capsys):
    """Run `vectorwan generate ...` in-process (the CLI entry point, minus interpreter start-up)."""
    from vectorwan.cli import main

    def run(*args):
        capsys.readouterr()
        try:
            rc = main(["generate", *args])
        except SystemExit as e:  # argparse errors
            rc = e.code
        return _Result(rc, capsys.readouterr().err)

    return run


def test_cli_writes_output_sidecar_and_sheet(exported, tmp_path, _cli):
    out = tmp_path / "o" / "clip.gif"
    r = _cli("--model", str(exported), "--prompt", "a blue square", "--frames", "5", "--height", "32", "--width", "32",
             "--steps", "2", "--seed", "7", "--out", str(out))
    assert r.returncode == 0, r.stderr[-1500:]
    side = json.loads(out.with_name("clip.gif.json").read_text())
    assert side["request"]["seed"] == 7 and side["settings"]["frames"] == 5 and side["model_route"] == "diffusers"
    assert side["request"]["prompt"] == "a blue square" and len(side["model_hash"]) == 16
    assert out.with_name("clip.gif.sheet.png").is_file()
    from vectorwan.frames import read_frames

    assert read_frames(out).frames.shape == (5, 32, 32, 3)


def test_cli_batch_from_jsonl(exported, tmp_path, _cli):
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "one", "task": "t2i", "seed": 1}\n{"prompt": "two", "frames": 5}\n')
    r = _cli("--model", str(exported), "--prompts", str(f), "--height", "32", "--width", "32", "--steps", "1",
             "--out", str(tmp_path / "batch"))
    assert r.returncode == 0, r.stderr[-1500:]
    names = sorted(p.name for p in (tmp_path / "batch").iterdir())
    assert "000-one.png" in names and "001-two.mp4" in names


@pytest.mark.parametrize("case", ["missing_lora", "other_arch_lora", "unreadable_video", "odd_size", "empty_video"])
def test_bad_input_is_one_line_and_leaves_nothing(exported, tmp_path, case, _cli):
    out = tmp_path / "out" / "x.mp4"
    args = ["--model", str(exported), "--prompt", "p", "--steps", "1", "--height", "32", "--width", "32", "--out", str(out)]
    if case == "missing_lora":
        args += ["--lora", str(tmp_path / "nope.safetensors")]
    elif case == "other_arch_lora":
        from safetensors.torch import save_file

        save_file({"diffusion_model.blocks.0.self_attn.q.lora_A.weight": torch.zeros(4, 1536),
                   "diffusion_model.blocks.0.self_attn.q.lora_B.weight": torch.zeros(1536, 4)}, tmp_path / "big.safetensors")
        args += ["--lora", str(tmp_path / "big.safetensors")]
    elif case == "unreadable_video":
        (tmp_path / "bad.mp4").write_bytes(b"not a video")
        args += ["--video", str(tmp_path / "bad.mp4")]
    elif case == "empty_video":
        (tmp_path / "empty.gif").write_bytes(b"")
        args += ["--video", str(tmp_path / "empty.gif")]
    elif case == "odd_size":
        args[args.index("--height") + 1] = "50"
    r = _cli(*args)
    assert r.returncode != 0
    lines = [l for l in r.stderr.strip().splitlines() if l.startswith("vectorwan")]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-1500:]
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_to_uint8_rounds():
    assert to_uint8(np.array([0.0, 0.5, 1.0, 1.2])).tolist() == [0, 128, 255, 255]


@pytest.mark.parametrize("bad,needle", [({"guidance": float("nan")}, "guidance nan"), ({"shift": -3.0}, "shift -3.0"),
                                        ({"fps": 0.0}, "fps 0.0"), ({"shift": float("inf")}, "shift inf")])
def test_non_finite_or_out_of_range_sampling_settings_are_refused(engine, bad, needle):
    from vectorwan.errors import UserError

    with pytest.raises(UserError, match=needle):
        engine.settings(Request(prompt="p", **bad))


@pytest.mark.parametrize("line,needle", [
    ('{"prompt": 5}', "'prompt' must be a string, got 5"),
    ('{"prompt": "p", "steps": "many"}', "'steps' must be an integer or null, got \"many\""),
    ('{"prompt": "p", "guidance": NaN}', "'guidance' must be a number or null"),
    ('{"prompt": "p", "seed": true}', "'seed' must be an integer"),
    ('{"prompt": "p", "out": "../../escaped.png"}', "'out' '../../escaped.png' is not a file inside --out"),
    ('{"prompt": "p", "out": "/tmp/evil.mp4"}', "'out' '/tmp/evil.mp4' is not a file inside --out"),
    ('{"prompt": "p", "out": "."}', "'out' '.' is not a file inside --out"),
])
def test_batch_items_of_the_wrong_type_or_leaving_out_are_refused(tmp_path, line, needle):
    from vectorwan.errors import UserError
    from vectorwan.generate import plan_jobs

    f = tmp_path / "p.jsonl"
    f.write_text(line + "\n")
    with pytest.raises(UserError, match=re.escape(needle)):
        plan_jobs({}, tmp_path / "out", prompts_file=f)


def test_num_videos_zero_is_refused(engine):
    from vectorwan.errors import UserError

    with pytest.raises(UserError, match="num_videos 0: must be ≥ 1"):
        engine.settings(Request(prompt="p", num_videos=0))


def test_output_that_is_a_folder_or_a_folder_of_other_files_is_refused_and_kept(engine, tmp_path):
    from vectorwan.errors import UserError
    from vectorwan.generate import generate

    (tmp_path / "x.png").mkdir()
    with pytest.raises(UserError, match="x.png: is a folder"):
        generate(engine, Request(prompt="p", task="t2i", **SMALL), tmp_path / "x.png")
    mine = tmp_path / "frames"
    mine.mkdir()
    (mine / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(UserError, match="holds other files"):
        generate(engine, Request(prompt="p", frames=5, **SMALL), mine)
    assert (mine / "holiday.jpg").read_bytes() == b"precious"


def test_a_v2v_input_too_long_is_refused_up_front(engine, tmp_path):
    from vectorwan.errors import UserError
    from vectorwan.frames import write_frames
    from vectorwan.generate import MAX_VIDEO_FRAMES

    long = write_frames(tmp_path / "long", np.zeros((MAX_VIDEO_FRAMES + 1, 16, 16, 3), np.uint8))
    with pytest.raises(UserError, match=f"more than {MAX_VIDEO_FRAMES} frames.*--frames"):
        engine.run(Request(prompt="p", task="v2v", video=str(long), **SMALL))
