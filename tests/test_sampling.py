"""Sampling defaults have one home: the model folder's sampling.json, written in full by every exporter."""

import json

import pytest

from vectorwan import sampling
from vectorwan.errors import UserError
from vectorwan.models.loading import export_tiny, sampling_defaults


@pytest.mark.parametrize("layout", ["diffusers", "original"])
def test_exported_tiny_samples_like_model_tiny(tmp_path, layout):
    folder = export_tiny(tmp_path / layout, layout=layout)
    written = json.loads((folder / "sampling.json").read_text())
    assert set(written) == set(sampling.KEYS)  # in full: nothing falls back to Wan's 480x832x81
    assert sampling_defaults(str(folder)) == sampling_defaults("tiny")
    assert (written["height"], written["width"], written["frames"], written["steps"]) == (64, 64, 17, 10)


def test_shipped_toy_base_reads_its_own_file():
    d = sampling_defaults("toy")
    assert (d["height"], d["frames"], d["guidance"], d["negative_prompt"], d["max_sequence_length"]) == (64, 17, 1.5, "", 64)
    assert d == sampling.TOY


def test_folder_without_sampling_json_gets_wan_defaults(tmp_path):
    assert sampling.read(tmp_path) == sampling.WAN
    assert (sampling.WAN["height"], sampling.WAN["width"], sampling.WAN["frames"]) == (480, 832, 81)


def test_partial_file_is_completed_and_provenance_keys_ignored(tmp_path):
    (tmp_path / "sampling.json").write_text(json.dumps({"steps": 4, "seed": 0, "fps": 24}))
    d = sampling.read(tmp_path)
    assert d == {**sampling.WAN, "steps": 4, "fps": 24}


@pytest.mark.parametrize("bad", [{"steps": "many"}, {"guidance": float("nan")}, {"height": 64.5}, {"steps": True}])
def test_bad_values_are_one_line_naming_the_file(tmp_path, bad):
    (tmp_path / "sampling.json").write_text(json.dumps(bad))
    with pytest.raises(UserError, match="sampling.json"):
        sampling.read(tmp_path)


def test_write_refuses_unknown_keys(tmp_path):
    with pytest.raises(UserError, match="unknown key 'seed'"):
        sampling.write(tmp_path, {**sampling.TINY, "seed": 0})
    assert not (tmp_path / "sampling.json").exists()


def test_writing_the_toy_settings_reproduces_the_shipped_file_byte_for_byte(tmp_path):
    from vectorwan.models.loading import TOY_DIR

    sampling.write(tmp_path, sampling.TOY)
    assert (tmp_path / "sampling.json").read_bytes() == (TOY_DIR / "sampling.json").read_bytes()


def test_validation_settings_left_out_are_the_models_own():
    from pathlib import Path

    from vectorwan.config import load_config
    from vectorwan.train.validation import validation_settings

    recipe = Path(__file__).resolve().parents[1] / "configs" / "toy_character.toml"
    assert validation_settings(load_config(recipe)) == {"steps": 20, "guidance": 1.5, "shift": 3.0, "negative_prompt": ""}
    given = load_config(recipe, ["validation.steps=7", 'validation.negative_prompt="blurry"'])
    assert validation_settings(given) == {"steps": 7, "guidance": 1.5, "shift": 3.0, "negative_prompt": "blurry"}
    tiny = load_config(None, ['model.path="tiny"'])
    assert validation_settings(tiny)["negative_prompt"] == sampling.WAN_NEGATIVE_PROMPT
