from pathlib import Path

import pytest

from vectorwan.config import dump_toml, load_config
from vectorwan.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert cfg.total_steps >= 1
    assert load_config(None, []).__class__ is cfg.__class__


def test_reference_recipe_preset_is_verbatim():
    cfg = load_config(ROOT / "configs" / "tiger16_t2v_1.3b.toml")
    assert (cfg.lora.rank, cfg.lora.alpha, cfg.lora.targets) == (16, 16.0, ["q", "k", "v", "o", "ffn.0", "ffn.2"])
    assert cfg.train.learning_rate == 5e-5 and cfg.train.steps_per_epoch == 500 and cfg.train.epochs == 5
    assert cfg.total_steps == 2500
    assert cfg.data.resolution == [512, 512] and cfg.train.mixed_precision == "bf16"
    assert cfg.memory.mode == "default" and cfg.memory.checkpoint_every is None and cfg.data.trigger == "tigersticker_unique001"
    assert "Wan2.1-T2V-1.3B" in cfg.model.path
    # plus the supervision with the weights the ablation chose (docs/losses.md): shape + colour at low noise
    vl = cfg.vector_loss
    assert (vl.shape, vl.colour, vl.motion, vl.noise) == (2.2, 22.0, 0.0, "low")


def test_overrides_parse_toml_values_and_bare_strings():
    cfg = load_config(None, ["train.max_steps=7", "model.path=tiny", "data.resolution=[32, 48]", "lora.alpha=8",
                             "data.shuffle_tags=true", "data.resolution=64"])
    assert cfg.total_steps == 7 and cfg.model.path == "tiny" and cfg.lora.alpha == 8.0
    assert cfg.data.resolution == [64, 64] and cfg.data.shuffle_tags is True


@pytest.mark.parametrize("override,needle", [
    ("train.bogus=1", "unknown config key 'train.bogus'"),
    ("bogus=1", "unknown config key 'bogus'"),
    ("train.max_steps=1.5", "train.max_steps: expected int"),
    ("memory.fp8_base=1", "expected bool"),
    ("train.gradient_checkpointing=true", "has moved: use memory.checkpoint_every"),
    ("memory.checkpoint_every=-1", "memory.checkpoint_every must be ≥ 0"),
    ("memory.mode=\"small\"", "memory.mode: expected 'default'"),
    ("train.mixed_precision=\"fp8\"", "train.mixed_precision"),
    ("lora.targets=[\"q\", \"nope\"]", "unknown module 'nope'"),
    ("data.resolution=[500, 512]", "multiple of 16"),
    ("lora.rank=0", "lora.rank"),
    ("train.max_steps", "expected section.key=value"),
    # non-finite and out-of-range numbers
    ("train.learning_rate=inf", "train.learning_rate: expected a finite number"),
    ("train.shift=inf", "train.shift: expected a finite number"),
    ("train.max_grad_norm=nan", "train.max_grad_norm: expected a finite number"),
    ("data.fps=-16", "data.fps must be > 0"),
    ("train.logit_std=-1", "train.logit_std must be > 0"),
    ("train.adam_betas=[1.5, 0.9]", "train.adam_betas"),
    ("train.adam_eps=-1e-8", "train.adam_eps"),
    ("train.weight_decay=-0.01", "train.weight_decay"),
    ("train.max_grad_norm=-1", "train.max_grad_norm must be ≥ 0"),
    ("model.max_sequence_length=0", "model.max_sequence_length"),
    ("train.learning_rate=3e38", "train.learning_rate must be in (0, 1]"),
])
def test_bad_values_are_one_line_errors(override, needle):
    with pytest.raises(UserError) as e:
        load_config(None, [override])
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_bad_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nx=")
    with pytest.raises(UserError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "missing.toml")


def test_dump_round_trips(tmp_path):
    cfg = load_config(ROOT / "configs" / "tiger16_t2v_1.3b.toml", ['data.trigger="a \\"quoted\\" word"'])
    f = tmp_path / "c.toml"
    f.write_text(dump_toml(cfg))
    assert load_config(f) == cfg

