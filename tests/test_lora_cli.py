"""`vectorwan lora info` and `vectorwan lora convert`."""

import json

import pytest
import torch

from vectorwan.cli import main
from vectorwan.models import lora_formats as lf


def small_lora(alpha=8.0) -> lf.LoraFile:
    g = torch.Generator().manual_seed(0)
    mods = {}
    for b in range(3):
        for name in ("self_attn.q", "cross_attn.o", "ffn.0"):
            n_out = 32 if name == "ffn.0" else 24
            mods[f"blocks.{b}.{name}"] = lf.LoraModule(torch.randn(4, 24, generator=g), torch.randn(n_out, 4, generator=g),
                                                       alpha)
    return lf.LoraFile("vectorwan", mods, {"vectorwan.trigger": "tigersticker_unique001"})


@pytest.fixture()
def vw_file(tmp_path):
    return lf.write_lora(small_lora(), tmp_path / "tiger.safetensors", "vectorwan")


def test_info_text(vw_file, capsys):
    assert main(["lora", "info", str(vw_file)]) == 0
    out = capsys.readouterr().out
    assert "format      vectorwan" in out
    assert "modules     9, blocks 3 (blocks 0..2)" in out
    assert "rank        4" in out and "alpha       8" in out
    assert "targets     self_attn.q, cross_attn.o, ffn.0" in out
    assert "meta vectorwan.trigger = tigersticker_unique001" in out


def test_info_json(vw_file, capsys):
    assert main(["lora", "info", str(vw_file), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "vectorwan" and info["ranks"] == [4] and info["alphas"] == [8.0] and info["blocks"] == 3


@pytest.mark.parametrize("to", ["diffusers", "comfyui", "diffsynth", "musubi"])
def test_convert_round_trip(vw_file, tmp_path, capsys, to):
    mid, back = tmp_path / f"{to}.safetensors", tmp_path / "back.safetensors"
    assert main(["lora", "convert", str(vw_file), str(mid), "--to", to]) == 0
    assert f"({to}, 9 modules, from vectorwan)" in capsys.readouterr().out
    assert lf.read_lora(mid).format == to
    assert main(["lora", "convert", str(mid), str(back), "--to", "vectorwan"]) == 0
    a, b = lf.read_lora(vw_file), lf.read_lora(back)
    assert b.format == "vectorwan" and list(a.modules) == list(b.modules)
    for n, m in a.modules.items():
        delta_a = m.effective_alpha / m.rank * (m.B @ m.A)
        delta_b = b.modules[n].effective_alpha / b.modules[n].rank * (b.modules[n].B @ b.modules[n].A)
        assert torch.equal(m.A, b.modules[n].A) and torch.equal(delta_a, delta_b)
        if to != "diffsynth":  # the others carry alpha, so B comes back untouched too
            assert torch.equal(m.B, b.modules[n].B) and m.alpha == b.modules[n].alpha


def test_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["lora", "info", str(tmp_path / "missing.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "no such LoRA file" in err and err.count("\n") == 1
    odd = lf.write_lora(small_lora(alpha=6.0), tmp_path / "odd.safetensors", "comfyui")
    assert main(["lora", "convert", str(odd), str(tmp_path / "ds.safetensors"), "--to", "diffsynth"]) == 2
    err = capsys.readouterr().err
    assert "not a power of two" in err and err.count("\n") == 1
    assert not (tmp_path / "ds.safetensors").exists()
    assert main(["lora", "convert", str(odd), str(odd), "--to", "musubi"]) == 2
    assert "overwrite the input" in capsys.readouterr().err


def test_help_lists_actions(capsys):
    with pytest.raises(SystemExit):
        main(["lora", "--help"])
    out = capsys.readouterr().out
    assert "info" in out and "convert" in out
