"""The command line: every verb is there, help is quick (no torch), a broken verb fails loudly."""

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
