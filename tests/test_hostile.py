"""Hostile inputs, one table: every case runs a real command line on something broken or odd.

Each case states its outcome, and the harness checks the same things for all of them:
- ``refused``: exit 2, exactly one ``vectorwan VERB: error:`` line that holds the case's needle
  (the file or field) and a way out, and nothing left under ``--out``;
- ``skipped``: exit 0, and the item is named (the needle is in what was printed);
- ``accepted``: exit 0.
Always: no exception escapes (so no traceback), no temporary file is left anywhere, and nothing
outside the case's output was touched.
"""

from __future__ import annotations

import math
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from helpers import make_image_dataset, tiny_overrides
from vectorwan import cli

# a way out: every refusal tells the user what to do, not only what is wrong
FIX = re.compile(r"\b(give|use|set|check|fix|choose|quote|save|keep|run|delete|remove|write|free|lower|raise|must|"
                 r"expected|needs|pick|rename|re-export|export|convert|see)\b", re.I)


@dataclass
class Sandbox:
    root: Path
    data: Path  # a small valid dataset (metadata.csv + train/*.png)
    out: Path  # the output a case gives; only it may change

    def overrides(self, **extra) -> list[str]:
        o = tiny_overrides(self.out, self.data, steps=1, **{"cache.dir": f'"{self.out / "cache"}"'})
        return [x for pair in (("--set", v) for v in o + [f"{k}={v}" for k, v in extra.items()]) for x in pair]

    def config(self, text: str = 'seed = 1\n') -> str:
        f = self.root / "cfg.toml"
        f.write_text(text)
        return str(f)

    def csv(self, rows: str, header: str = "file_name,text") -> None:
        (self.data / "metadata.csv").write_text(f"{header}\n{rows}")

    def clip(self, name: str, frames: int = 5, size: int = 32) -> Path:
        from vectorwan.frames import write_frames

        rng = np.random.default_rng(0)
        return write_frames(self.root / name, rng.integers(0, 255, (frames, size, size, 3), dtype=np.uint8))

    def lora(self, name: str, a=None, b=None, alpha=None) -> Path:
        import torch
        from safetensors.torch import save_file

        t = {"diffusion_model.blocks.0.self_attn.q.lora_A.weight": torch.zeros(4, 32) if a is None else a,
             "diffusion_model.blocks.0.self_attn.q.lora_B.weight": torch.zeros(32, 4) if b is None else b}
        if alpha is not None:
            t["diffusion_model.blocks.0.self_attn.q.alpha"] = torch.tensor(alpha)
        save_file(t, self.root / name)
        return self.root / name


def gen(s: Sandbox, *extra: str, out: str = "clip.mp4") -> list[str]:
    return ["generate", "--model", "tiny", "--prompt", "p", "--steps", "1", "--height", "32", "--width", "32",
            "--frames", "5", "--out", str(s.out / out), *extra]


def png_bomb(path: Path, side: int = 40_000) -> None:
    """A valid PNG header claiming side×side pixels (more than PIL's limit) with almost no data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def pickled(path: Path) -> None:
    """A pickle that would create a file if anything ever unpickled it."""
    path.write_bytes(b"cos\nsystem\n(S'touch " + str(path.parent / "PWNED").encode() + b"'\ntR.")


# ---- the cases: (outcome, needle, setup(s) -> argv) ----

def _data(s, setup):
    setup(s)
    return ["data", s.config(), *s.overrides()]


def _cfg(key, value):
    return lambda s: ["data", s.config(), *s.overrides(**{key: value})]


def _fifo(s):
    os.mkfifo(s.data / "train" / "pipe.png")
    s.csv("01.png,blobby_tok a\npipe.png,blobby_tok b\n")


def _bomb(s):
    png_bomb(s.data / "train" / "01.png")


def _symlink_loop(s):
    (s.data / "train" / "loop.png").symlink_to(s.data / "train" / "loop.png")
    s.csv("01.png,blobby_tok a\nloop.png,blobby_tok b\n")


def _sidecars_latin1(s):
    (s.data / "metadata.csv").unlink()
    (s.data / "train" / "01.txt").write_bytes("blobby_tok caf\xe9".encode("latin-1"))


def _jsonl(lines):
    def setup(s):
        (s.data / "metadata.csv").unlink()
        (s.data / "metadata.jsonl").write_text(lines)
    return setup


def _tiny_image(s):
    Image.new("RGB", (1, 1)).save(s.data / "train" / "dot.png")
    s.csv("01.png,blobby_tok a\ndot.png,blobby_tok b\n")


def _model_pickled(s):
    m = s.root / "model"
    (m / "transformer").mkdir(parents=True)
    (m / "model_index.json").write_text('{"_class_name": "WanPipeline"}')
    (m / "transformer" / "config.json").write_text("{}")
    pickled(m / "transformer" / "diffusion_pytorch_model.bin")
    return ["generate", "--model", str(m), "--prompt", "p", "--out", str(s.out / "x.mp4")]


def _lora_pickle(s):
    pickled(s.root / "evil.safetensors")
    return gen(s, "--lora", str(s.root / "evil.safetensors"))


def _lora_truncated(s):
    f = s.lora("l.safetensors")
    f.write_bytes(f.read_bytes()[:40])
    return gen(s, "--lora", str(f))


def _batch(line):
    def setup(s):
        (s.root / "p.jsonl").write_bytes((line + "\n").encode("utf-8", "surrogateescape"))
        return ["generate", "--model", "tiny", "--prompts", str(s.root / "p.jsonl"), "--steps", "1", "--height", "32",
                "--width", "32", "--frames", "5", "--out", str(s.out / "batch")]
    return setup


def _users_folder(verb):
    def setup(s):
        s.out.mkdir()
        (s.out / "holiday.jpg").write_bytes(b"precious")
        clip = s.clip("c.gif")
        return {"generate": gen(s, out=""),
                "export": ["model", "export", "tiny", str(s.out)],
                "world": ["toy", "world", str(s.out), "--per-prompt", "1"],
                "eval": ["eval", str(clip), "--out", str(s.out)],
                "vectorize": ["vectorize", str(clip), "--out", str(s.out)]}[verb]
    return setup


def _eval(setup):
    def run(s):
        return ["eval", *setup(s), "--out", str(s.out / "report"), "--flow-size", "32", "--bootstrap", "10"]
    return run


def _vectorize(setup, *extra):
    return lambda s: ["vectorize", *setup(s), "--out", str(s.out / "v.json"), *extra]


def _garbage(name):
    def setup(s):
        (s.root / name).write_bytes(b"not a video at all")
        return [str(s.root / name)]
    return setup


def _empty(name):
    def setup(s):
        (s.root / name).write_bytes(b"")
        return [str(s.root / name)]
    return setup


def _long_v2v(s):
    from vectorwan.generate import MAX_VIDEO_FRAMES

    clip = s.clip("long", frames=MAX_VIDEO_FRAMES + 1, size=16)
    argv = gen(s, "--video", str(clip))
    del argv[argv.index("--frames"):argv.index("--frames") + 2]  # with --frames, only the frames used are read
    return argv


def _long_vectorize(s):
    from vectorwan.frames import write_frames
    from vectorwan.vector.files import MAX_FRAMES

    return [str(write_frames(s.root / "long", np.zeros((MAX_FRAMES + 1, 16, 16, 3), np.uint8)))]


def _train_out_is_file(s):
    s.out.write_text("my notes")
    return ["train", s.config(), *s.overrides()]


CASES: dict[str, tuple[str, str, Callable]] = {
    # dataset: through `vectorwan data`, the check `cache` and `train` share
    "csv_unquoted_comma": ("refused", "quote a caption", lambda s: _data(s, lambda s: s.csv("01.png,blobby_tok a, b\n"))),
    "csv_no_header": ("refused", "needs a header", lambda s: _data(s, lambda s: s.csv("01.png,x\n", header="a,b"))),
    "csv_not_utf8": ("refused", "metadata.csv", lambda s: _data(s, lambda s: (s.data / "metadata.csv").write_bytes(
        b"file_name,text\n01.png,caf\xe9\n"))),
    "csv_nul_in_name": ("refused", "NUL byte", lambda s: _data(s, lambda s: s.csv("01\0.png,blobby_tok a\n"))),
    "csv_path_outside": ("refused", "points outside", lambda s: _data(s, lambda s: s.csv("../../etc/passwd.png,x\n"))),
    "csv_absolute_path": ("refused", "absolute path", lambda s: _data(s, lambda s: s.csv("/etc/x.png,x\n"))),
    "csv_symlink_loop": ("refused", "cannot be resolved", lambda s: _data(s, _symlink_loop)),
    "csv_no_usable_items": ("refused", "no usable items", lambda s: _data(s, lambda s: s.csv("nope.png,x\n"))),
    "dataset_missing_folder": ("refused", "dataset folder not found",
                               lambda s: ["data", s.config(), *s.overrides(**{"data.path": '"nowhere"'})]),
    "image_decompression_bomb": ("refused", "01.png", lambda s: _data(s, _bomb)),
    "image_corrupt": ("refused", "01.png", lambda s: _data(s, lambda s: (s.data / "train" / "01.png").write_bytes(
        b"\x89PNG garbage"))),
    "sidecar_latin1": ("refused", "not UTF-8", lambda s: _data(s, _sidecars_latin1)),
    "jsonl_not_an_object": ("refused", "metadata.jsonl:1", lambda s: _data(s, _jsonl("[1, 2]\n"))),
    "jsonl_name_not_a_string": ("refused", "must be strings", lambda s: _data(s, _jsonl('{"file_name": 5}\n'))),
    "jsonl_name_null": ("skipped", "metadata.jsonl:2: empty file_name", lambda s: _data(s, _jsonl(
        '{"file_name": "01.png", "text": "blobby_tok a"}\n{"file_name": null, "text": "x"}\n'))),
    "fifo_item": ("skipped", "'pipe.png' is not a regular file", lambda s: _data(s, _fifo)),
    "missing_item": ("skipped", "'gone.png' not found", lambda s: _data(s, lambda s: s.csv(
        "01.png,blobby_tok a\ngone.png,blobby_tok b\n"))),
    "unsupported_item": ("skipped", "'notes.docx' has an unsupported extension", lambda s: _data(s, lambda s: s.csv(
        "01.png,blobby_tok a\nnotes.docx,blobby_tok b\n"))),
    "image_too_small": ("skipped", "1x1 is too small", lambda s: _data(s, _tiny_image)),
    "csv_trailing_empty_field": ("accepted", "", lambda s: _data(s, lambda s: s.csv(
        "01.png,blobby_tok a,\n", header="file_name,text,"))),
    "csv_quoted_comma_and_bom": ("accepted", "", lambda s: _data(s, lambda s: (s.data / "metadata.csv").write_bytes(
        '\ufefffile_name,text\n01.png,"blobby_tok a, b"\n'.encode()))),
    # config
    "config_missing": ("refused", "config file not found", lambda s: ["data", str(s.root / "none.toml")]),
    "config_bad_toml": ("refused", "not valid TOML", lambda s: ["data", s.config("seed = = 1\n")]),
    "config_unknown_key": ("refused", "train.learning_rat", _cfg("train.learning_rat", "1e-4")),
    "config_wrong_type": ("refused", "train.max_steps", _cfg("train.max_steps", '"many"')),
    "config_lr_inf": ("refused", "train.learning_rate", _cfg("train.learning_rate", "inf")),
    "config_shift_inf": ("refused", "train.shift", _cfg("train.shift", "inf")),
    "config_grad_norm_nan": ("refused", "train.max_grad_norm", _cfg("train.max_grad_norm", "nan")),
    "config_adam_betas": ("refused", "train.adam_betas", _cfg("train.adam_betas", "[1.5, 0.9]")),
    "config_adam_eps_negative": ("refused", "train.adam_eps", _cfg("train.adam_eps", "-1e-8")),
    "config_weight_decay_negative": ("refused", "train.weight_decay", _cfg("train.weight_decay", "-0.1")),
    "config_logit_std_negative": ("refused", "train.logit_std", _cfg("train.logit_std", "-1")),
    "config_fps_negative": ("refused", "data.fps", _cfg("data.fps", "-16")),
    "config_max_sequence_length_zero": ("refused", "model.max_sequence_length", _cfg("model.max_sequence_length", "0")),
    "config_output_dir_is_a_file": ("refused", "output_dir", _train_out_is_file),
    "config_vector_loss_negative": ("refused", "vector_loss.shape", _cfg("vector_loss.shape", "-1")),
    "ablate_vary_without_values": ("refused", "--vary 'lora.rank'", lambda s: [
        "ablate", s.config(), *s.overrides(), "--vary", "lora.rank", "--out", str(s.out / "abl")]),
    "ablate_seeds_zero": ("refused", "--seeds 0", lambda s: [
        "ablate", s.config(), *s.overrides(), "--vary", "lora.rank=2,4", "--seeds", "0", "--out", str(s.out / "abl")]),
    "ablate_unknown_key": ("refused", "lora.rnk", lambda s: [
        "ablate", s.config(), *s.overrides(), "--vary", "lora.rnk=2,4", "--out", str(s.out / "abl")]),
    # LoRA files
    "lora_missing": ("refused", "nope.safetensors", lambda s: gen(s, "--lora", str(s.root / "nope.safetensors"))),
    "lora_pickle_disguised": ("refused", "evil.safetensors", _lora_pickle),
    "lora_truncated": ("refused", "l.safetensors", _lora_truncated),
    "lora_nan_weights": ("refused", "nan.safetensors", lambda s: gen(s, "--lora", str(s.lora(
        "nan.safetensors", a=__import__("torch").full((4, 32), math.nan))))),
    "lora_nan_alpha": ("refused", "alpha.safetensors", lambda s: gen(s, "--lora", str(s.lora("alpha.safetensors",
                                                                                              alpha=math.nan)))),
    "lora_other_architecture": ("refused", "big.safetensors", lambda s: gen(s, "--lora", str(s.lora(
        "big.safetensors", a=__import__("torch").zeros(4, 1536), b=__import__("torch").zeros(1536, 4))))),
    "lora_bad_scale": ("refused", "--lora", lambda s: gen(s, "--lora", f"{s.lora('l.safetensors')}:lots")),
    "lora_info_not_a_lora": ("refused", "cfg.toml", lambda s: ["lora", "info", s.config()]),
    # model folders
    "model_pickled_only": ("refused", "diffusion_pytorch_model.bin", _model_pickled),
    "model_missing": ("refused", "no such model folder", lambda s: ["model", "info", str(s.root / "nowhere")]),
    "model_not_a_model": ("refused", "not a model folder", lambda s: ["model", "info", str(s.data)]),
    # videos in: generate --video, eval, vectorize
    "v2v_garbage": ("refused", "bad.mp4", lambda s: gen(s, "--video", _garbage("bad.mp4")(s)[0])),
    "v2v_empty_file": ("refused", "empty.gif", lambda s: gen(s, "--video", _empty("empty.gif")(s)[0])),
    "v2v_too_long": ("refused", "--frames", _long_v2v),
    "eval_missing_clip": ("refused", "no such file", _eval(lambda s: [str(s.root / "gone.mp4")])),
    "eval_garbage_clip": ("refused", "bad.mp4", _eval(_garbage("bad.mp4"))),
    "eval_baseline_count": ("refused", "--baseline", _eval(lambda s: [str(s.clip("a.gif")), "--baseline",
                                                                      str(s.clip("b.gif")), str(s.clip("c.gif"))])),
    "vectorize_garbage": ("refused", "bad.mp4", _vectorize(_garbage("bad.mp4"))),
    "vectorize_empty_file": ("refused", "empty.gif", _vectorize(_empty("empty.gif"))),
    "vectorize_too_long": ("refused", "frames", _vectorize(_long_vectorize)),
    "vectorize_colours_zero": ("refused", "--colors", _vectorize(lambda s: [str(s.clip("a.gif"))], "--colors", "0")),
    "vectorize_tolerance_nan": ("refused", "--tolerance nan", _vectorize(lambda s: [str(s.clip("a.gif"))], "--tolerance", "nan")),
    # command-line values and outputs
    "gen_no_prompt": ("refused", "--prompt", lambda s: [a for a in gen(s) if a not in ("--prompt", "p")]),
    "gen_num_videos_zero": ("refused", "num_videos 0", lambda s: gen(s, "--num-videos", "0")),
    "gen_guidance_nan": ("refused", "guidance nan", lambda s: gen(s, "--guidance", "nan")),
    "gen_shift_negative": ("refused", "shift -3", lambda s: gen(s, "--shift", "-3")),
    "gen_fps_zero": ("refused", "fps 0", lambda s: gen(s, "--fps", "0")),
    "gen_odd_size": ("refused", "50", lambda s: gen(s, "--height", "50")),
    "gen_strength": ("refused", "--strength", lambda s: gen(s, "--strength", "2")),
    "gen_out_is_a_folder": ("refused", "is a folder", lambda s: ((s.out / "x.png").mkdir(parents=True),
                                                                gen(s, out="x.png"))[1]),
    "gen_out_users_folder": ("refused", "holds other files", _users_folder("generate")),
    "export_users_folder": ("refused", "holds other files", _users_folder("export")),
    "world_users_folder": ("refused", "holds other files", _users_folder("world")),
    "eval_users_folder": ("refused", "holds other files", _users_folder("eval")),
    "vectorize_users_folder": ("refused", "holds other files", _users_folder("vectorize")),
    "batch_prompt_not_a_string": ("refused", "'prompt' must be a string", _batch('{"prompt": 5}')),
    "batch_steps_not_a_number": ("refused", "'steps' must be an integer", _batch('{"prompt": "p", "steps": "many"}')),
    "batch_out_escapes": ("refused", "is not a file inside --out", _batch('{"prompt": "p", "out": "../../escaped.png"}')),
    "batch_not_json": ("refused", "p.jsonl", _batch('{"prompt": ')),
    "batch_not_utf8": ("refused", "not UTF-8", _batch('caf\udce9')),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input(case, tmp_path, capsys):
    outcome, needle, setup = CASES[case]
    s = Sandbox(tmp_path / "box", make_image_dataset(tmp_path / "box" / "data", n=2), tmp_path / "box" / "out")
    argv = setup(s)
    before, out_before = snapshot(s.root, s.out), snapshot(s.root)
    capsys.readouterr()
    try:
        rc = cli.main(argv)
    except SystemExit as e:  # argparse refuses a malformed flag with exit 2 and its usage line
        rc = e.code
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out
    assert snapshot(s.root, s.out) == before, "files outside the output changed"
    leftovers = [p for p in s.root.rglob("*") if ".tmp" in p.name]
    assert not leftovers, leftovers
    assert not (s.root / "PWNED").exists()
    errors = [ln for ln in err.splitlines() if re.match(r"(vectorwan|usage:).*error:", ln)]
    if outcome == "refused":
        assert rc == 2 and len(errors) == 1, (rc, err[-2000:])
        assert needle in errors[0], errors[0]
        assert FIX.search(errors[0].split("error:", 1)[1]), f"no way out in: {errors[0]}"
        assert snapshot(s.root) == out_before, "a refusal left something behind in the output"
    else:
        assert rc == 0 and not errors, (rc, err[-2000:])
        assert needle in out + err


def snapshot(root: Path, out: Path | None = None) -> dict:
    """Every entry under ``root`` (outside ``out``, when given): its type, or a file's content hash."""
    import hashlib

    snap = {}
    for p in sorted(root.rglob("*")):
        if out is not None and (p == out or out in p.parents):
            continue
        if p.is_symlink() or not p.is_file():
            snap[str(p)] = "link" if p.is_symlink() else ("dir" if p.is_dir() else "special")
        else:
            snap[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return snap


def test_the_suite_covers_at_least_40_kinds_across_every_input():
    groups = {c.split("_")[0] for c in CASES}
    assert len(CASES) >= 40
    assert {"csv", "config", "lora", "model", "v2v", "eval", "vectorize", "gen", "batch"} <= groups
    assert {o for o, _, _ in CASES.values()} == {"refused", "skipped", "accepted"}


def test_a_disk_that_fills_while_a_report_is_written_leaves_no_report(tmp_path, capsys, monkeypatch):
    import errno

    from vectorwan.evaluate import report

    s = Sandbox(tmp_path, tmp_path, tmp_path / "report")
    clip = s.clip("a.gif")
    calls = []
    real = report._save_png

    def fill_up(path, img):  # the second plot meets a full disk
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, img)

    monkeypatch.setattr(report, "_save_png", fill_up)
    before = snapshot(tmp_path)
    assert cli.main(["eval", str(clip), "--baseline", str(clip), "--out", str(s.out), "--flow-size", "32",
                     "--bootstrap", "10"]) == 2
    assert len(calls) == 2 and "the disk is full" in capsys.readouterr().err
    assert snapshot(tmp_path) == before  # no report folder, no empty plots/, no temporary folder
