"""The command line: every verb is there, help is quick (no torch), a broken verb fails loudly."""

import os
import subprocess
import sys

import pytest

from vectorwan import cli


def test_help_names_every_verb_and_an_example_without_importing_torch():
    code = ("import sys; from vectorwan.cli import build_parser; p = build_parser(); "
            "print(p.format_help()); print('TORCH', 'torch' in sys.modules, 'diffusers' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]
    assert r.stdout.strip().endswith("TORCH False False")
    for verb in cli.COMMANDS:
        assert f"    {verb}" in r.stdout
    assert "examples:" in r.stdout and "vectorwan demo" in r.stdout
    assert "add_arguments" not in r.stdout  # no internals in the user's help


def test_a_verb_that_fails_to_import_fails_loudly(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "broken", ("vectorwan.commands.no_such_verb", "a verb that is not there"))
    with pytest.raises(ModuleNotFoundError, match="no_such_verb"):
        cli.build_parser()


def test_a_closed_pipe_is_not_a_traceback(tmp_path):
    import torch
    from safetensors.torch import save_file

    f = tmp_path / "l.safetensors"  # 20,000 metadata lines: more than a pipe holds, so a write meets the closed end
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_A.weight": torch.zeros(4, 64),
               "diffusion_model.blocks.0.self_attn.q.lora_B.weight": torch.zeros(64, 4)}, f,
              metadata={f"note{i:05d}": "x" * 20 for i in range(20_000)})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # stdout buffered, as for a user
    r = subprocess.run(f"{sys.executable} -m vectorwan lora info {f} | head -1; echo ${{PIPESTATUS[0]}}",
                       shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120, env=env)
    assert r.stdout.split() == [str(f), "141"], r.stdout
    assert "Traceback" not in r.stderr and "Error" not in r.stderr, r.stderr


@pytest.mark.parametrize("code,needle", [(28, "the disk is full"), (30, "check its permissions")])  # ENOSPC, EROFS
def test_disk_full_or_read_only_is_one_line_and_leaves_no_file(tmp_path, monkeypatch, capsys, code, needle):
    import errno

    from vectorwan import atomic

    assert (errno.ENOSPC, errno.EROFS) == (28, 30)

    def refuse(src, dst):  # as the OS says it: naming the temporary file being renamed
        raise OSError(code, os.strerror(code), str(src))

    monkeypatch.setattr(atomic.os, "replace", refuse)
    out = tmp_path / "tiny"
    assert cli.main(["model", "export", "tiny", str(out)]) == 2
    lines = [l for l in capsys.readouterr().err.splitlines() if l.startswith("vectorwan")]
    assert len(lines) == 1 and needle in lines[0] and f"{out}: " in lines[0] and ".tmp" not in lines[0], lines
    assert list(tmp_path.iterdir()) == []  # the temporary folder went too
