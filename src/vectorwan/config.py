"""Typed training config: TOML file + ``--set section.key=value`` overrides.

Every key is declared below with its type and default. Unknown keys and values of the wrong
type are errors (one line naming the key and what was expected), never silently ignored.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Union

from vectorwan.errors import UserError
from vectorwan.models.lora import validate_targets

LORA_TARGETS_SEED = ["q", "k", "v", "o", "ffn.0", "ffn.2"]


@dataclass
class ModelConfig:
    path: str = "tiny"  # "tiny" | "toy" | diffusers folder | hub id | original Wan layout | "random:Wan2.1-T2V-1.3B"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # weights of the frozen base
    max_sequence_length: int = 512  # text tokens (Wan uses 512)


@dataclass
class DataConfig:
    path: str = ""
    resolution: list[int] = field(default_factory=lambda: [512, 512])  # [height, width] (or one int)
    num_frames: int = 1  # rounded to 4n+1 for clips; 1 for images
    fps: float = 16.0  # clips are resampled to this rate
    frame_sampling: Literal["start", "uniform"] = "start"  # clip start at data.fps, or spread over the clip
    background: list[int] = field(default_factory=lambda: [255, 255, 255])  # RGBA composited onto it
    trigger: str = ""
    shuffle_tags: bool = False
    caption_variants: int = 1  # with shuffle_tags / tag_dropout: how many captions to cache per item
    tag_dropout: float = 0.0  # in variants 2..n, drop each tag (not the trigger) with this probability
    caption_dropout: float = 0.0  # probability of training on the empty prompt
    repeats: int = 1


@dataclass
class LoraConfig:
    rank: int = 16
    alpha: float = 16.0
    dropout: float = 0.0
    targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS_SEED))
    init: Literal["default", "gaussian"] = "default"


@dataclass
class TrainConfig:
    mode: Literal["lora", "full"] = "lora"  # full: fine-tune every transformer weight (fp32 master weights)
    learning_rate: float = 5e-5
    steps_per_epoch: int = 500
    epochs: int = 5
    max_steps: int = 0  # 0 → steps_per_epoch × epochs
    batch_size: int = 1
    gradient_accumulation: int = 1
    max_grad_norm: float = 1.0
    weight_decay: float = 0.01
    adam_betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    adam_eps: float = 1e-8
    lr_scheduler: Literal["constant", "linear", "cosine"] = "constant"
    warmup_steps: int = 0
    mixed_precision: Literal["no", "bf16", "fp16"] = "bf16"
    timestep_sampling: Literal["shifted_uniform", "logit_normal", "uniform"] = "shifted_uniform"
    shift: float = 5.0
    logit_mean: float = 0.0
    logit_std: float = 1.0
    min_timestep: float = 0.0  # σ range, as fractions of 1
    max_timestep: float = 1.0
    save_every: int = 500
    keep_checkpoints: int = 2


ATTENTION_BACKENDS = ("native", "flash", "_flash_3", "sage", "xformers", "flex", "_native_flash", "_native_efficient",
                      "_native_cudnn", "_native_math")


@dataclass
class MemoryConfig:
    # how the training step spends memory and time (train/memory.py, docs/performance.md); a knob left out
    # takes the mode's value, a knob given wins over the mode
    mode: Literal["default", "fast", "fp8", "offload", "auto"] = "default"  # a preset of the knobs; auto: the fastest that fits vram_gb (vectorwan plan)
    vram_gb: float = 0.0  # the budget of mode auto, in GiB (0: the device's own memory)
    checkpoint_every: int | None = None  # gradient checkpointing of every k-th block (1: all, the recipe's; 0: off)
    fp8_base: bool | None = None  # store the frozen base's block weights in fp8 (e4m3), computed in the base dtype
    lora_dtype: Literal["float32", "bfloat16"] | None = None  # the trained LoRA weights, their gradients and Adam state
    offload_activations: bool | None = None  # keep what the backward needs (the checkpointed block inputs) in CPU memory
    attention: Literal[ATTENTION_BACKENDS] = "native"  # diffusers attention backend (flash, sage, ... need their packages)
    compile: bool = False  # torch.compile each transformer block's forward, inside its checkpoint
    collapse_padding: bool | None = None  # attend to Wan's zero text padding as one key (exact; models/padding.py); unset: on where the attention backend takes a bias


@dataclass
class CacheConfig:
    dir: str = ""  # default: OUTPUT_DIR/cache
    shard_size: int = 64  # items per safetensors shard


@dataclass
class ValidationConfig:
    prompts: list[str] = field(default_factory=list)
    every: int = 0  # 0 = off
    num_frames: int = 1
    height: int = 0  # 0 → data resolution
    width: int = 0
    # left out → the model's sampling default (its sampling.json; Wan's own without one)
    steps: int | None = None
    guidance: float | None = None
    shift: float | None = None
    seed: int = 0
    negative_prompt: str | None = None


@dataclass
class VectorLossConfig:
    # the layer-wise vector supervision (train/losses.py, docs/losses.md): weights of terms added to
    # the flow-matching loss, each on the predicted clean latent; 0 = off (all 0: today's trainer, bit for bit)
    shape: float = 0.0  # silhouette/outline-weighted error plus the error's gradient across outlines
    colour: float = 0.0  # error flat inside each colour region, and each region's mean steady over frames
    motion: float = 0.0  # frame-to-frame change matching the target's on the subject (clips only)
    noise: Literal["all", "low"] = "all"  # low: each sample's terms × (1 − σ)², weighing the low-noise steps

    @property
    def enabled(self) -> bool:
        return any(w > 0 for w in (self.shape, self.colour, self.motion))


@dataclass
class Config:
    output_dir: str = "runs/train"
    seed: int = 42
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    memory: MemoryConfig = field(default_factory=MemoryConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    vector_loss: VectorLossConfig = field(default_factory=VectorLossConfig)

    @property
    def total_steps(self) -> int:
        return self.train.max_steps or self.train.steps_per_epoch * self.train.epochs

    @property
    def cache_dir(self) -> Path:
        return Path(self.cache.dir) if self.cache.dir else Path(self.output_dir) / "cache"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def _coerce(value, tp, where: str):
    """Check ``value`` against annotation ``tp``; return it (ints accepted for floats)."""
    origin = typing.get_origin(tp)
    bad = UserError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad
        return value
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            try:
                return _coerce(value, arg, where)
            except UserError:
                pass
        raise bad
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise bad
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(value):  # TOML has inf and nan; no setting means them
            raise UserError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is type(None):  # TOML has no null: an optional key is set by leaving it out
        raise bad
    if tp in (bool, str):
        if not isinstance(value, tp):
            raise bad
        return value
    raise TypeError(f"unsupported config type {tp} at {where}")


MOVED = {"train.gradient_checkpointing": "memory.checkpoint_every (1: every block, the recipe's; 0: off)"}


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise UserError(f"{where or 'config'}: expected a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    for name in unknown:
        if (key := f"{where}.{name}" if where else name) in MOVED:
            raise UserError(f"config key '{key}' has moved: use {MOVED[key]}")
    if unknown:
        key = f"{where}.{unknown[0]}" if where else unknown[0]
        close = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f"did you mean '{f'{where}.' if where else ''}{close[0]}'? " if close else ""
        raise UserError(f"unknown config key '{key}'; {hint}use one of the known keys"
                        f"{' in [' + where + ']' if where else ''}: {', '.join(sorted(names))}")
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        key = f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, value, key)
        else:
            if name == "resolution" and isinstance(value, int):
                value = [value, value]
            kwargs[name] = _coerce(value, tp, key)
    return cls(**kwargs)


def _parse_override(item: str) -> tuple[list[str], object]:
    if "=" not in item:
        raise UserError(f"--set {item!r}: expected section.key=value")
    key, raw = item.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # bare strings: --set model.path=tiny
    return key.strip().split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for item in overrides or []:
        keys, value = _parse_override(item)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise UserError(f"--set {item!r}: '{k}' is not a section")
        node[keys[-1]] = value
    return data


def validate(cfg: Config) -> Config:
    d, t, lo = cfg.data, cfg.train, cfg.lora
    checks = [
        (len(d.resolution) == 2 and all(v > 0 and v % 16 == 0 for v in d.resolution),
         f"data.resolution {d.resolution}: give [height, width], each a positive multiple of 16"),
        (d.num_frames >= 1, "data.num_frames must be ≥ 1"),
        (len(d.background) == 3 and all(0 <= v <= 255 for v in d.background), "data.background: give [r, g, b] in 0..255"),
        (0.0 <= d.caption_dropout < 1.0, "data.caption_dropout must be in [0, 1)"),
        (d.caption_variants >= 1 and d.repeats >= 1, "data.caption_variants and data.repeats must be ≥ 1"),
        (0.0 <= d.tag_dropout < 1.0, "data.tag_dropout must be in [0, 1)"),
        (lo.rank >= 1 and lo.alpha > 0, "lora.rank must be ≥ 1 and lora.alpha > 0"),
        (0.0 <= lo.dropout < 1.0, "lora.dropout must be in [0, 1)"),
        (bool(lo.targets), "lora.targets must name at least one module (e.g. q, k, v, o, ffn.0, ffn.2)"),
        (0 < t.learning_rate <= 1, "train.learning_rate must be in (0, 1] (the recipe uses 5e-5)"),
        (cfg.total_steps >= 1, "train: steps_per_epoch × epochs (or max_steps) must be ≥ 1"),
        (t.batch_size >= 1 and t.gradient_accumulation >= 1, "train.batch_size and train.gradient_accumulation must be ≥ 1"),
        (t.shift > 0, "train.shift must be > 0"),
        (t.logit_std > 0, "train.logit_std must be > 0"),
        (d.fps > 0, "data.fps must be > 0"),
        (t.adam_eps > 0 and t.weight_decay >= 0, "train.adam_eps must be > 0 and train.weight_decay ≥ 0"),
        (t.max_grad_norm >= 0, "train.max_grad_norm must be ≥ 0 (0 = no clipping)"),
        (cfg.model.max_sequence_length >= 1, "model.max_sequence_length must be ≥ 1 (Wan uses 512)"),
        (0.0 <= t.min_timestep < t.max_timestep <= 1.0, "train.min_timestep < train.max_timestep, both in [0, 1]"),
        (t.save_every >= 0 and t.warmup_steps >= 0, "train.save_every and train.warmup_steps must be ≥ 0"),
        (t.keep_checkpoints >= 1, "train.keep_checkpoints must be ≥ 1"),
        (all(w >= 0 for w in (cfg.vector_loss.shape, cfg.vector_loss.colour, cfg.vector_loss.motion)),
         "vector_loss.shape, vector_loss.colour and vector_loss.motion must be ≥ 0 (0 = off)"),
        (cfg.memory.checkpoint_every is None or cfg.memory.checkpoint_every >= 0,
         "memory.checkpoint_every must be ≥ 0 (1: every block, k: every k-th, 0: off)"),
        (cfg.memory.vram_gb >= 0, "memory.vram_gb must be ≥ 0 (0: the device's own memory)"),
        (not (t.mode == "full" and cfg.memory.fp8_base), "memory.fp8_base stores the frozen base in fp8; train.mode "
         "= \"full\" trains every weight: use one or the other"),
        (len(t.adam_betas) == 2 and all(0 <= b < 1 for b in t.adam_betas),
         "train.adam_betas: give two numbers in [0, 1), e.g. [0.9, 0.999]"),
    ]
    for ok, msg in checks:
        if not ok:
            raise UserError(msg)
    validate_targets(lo.targets)
    return cfg


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Read a TOML config (or start from defaults when ``path`` is None), apply overrides, validate.

    Relative ``data.path`` / ``output_dir`` / ``cache.dir`` stay relative to the working
    directory, like every other command-line path.
    """
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"{p}: config file not found; give the path to a .toml file (see configs/)")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{p}: not valid TOML ({e}); fix the syntax") from None
    apply_overrides(data, overrides or [])
    return config_from_dict(data)


def config_from_dict(data: dict) -> Config:
    """A config from TOML-shaped data (``{"train": {"learning_rate": ...}, ...}``), checked as a file is."""
    return validate(_build(Config, data, ""))


@dataclass(frozen=True)
class FieldInfo:
    """One config key, as a form shows it: its type, default, allowed values and the help comment."""
    key: str  # "train.learning_rate"
    type: object
    default: object
    help: str
    choices: tuple | None  # a Literal's values


def describe(cls=None, prefix: str = "") -> list[FieldInfo]:
    """Every key of the config, in declaration order, with the help written beside it in this file."""
    import inspect

    cls = cls or Config
    helps = dict(re.findall(r"^\s+(\w+):[^#\n]*#\s*(.+)$", inspect.getsource(cls), re.M))
    hints, out = typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            out += describe(tp, f"{prefix}{f.name}.")
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        choices = typing.get_args(tp) if typing.get_origin(tp) is Literal else None
        out.append(FieldInfo(prefix + f.name, tp, default, helps.get(f.name, "").strip(), choices))
    return out


def toml_value(v) -> str:
    """One value as TOML writes it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def dump_toml(cfg: Config) -> str:
    """Serialise a config back to TOML (used to record the exact config of a run)."""
    top, sections = [], []
    for k, v in cfg.to_dict().items():
        if isinstance(v, dict):
            sections.append(f"\n[{k}]\n" + "".join(f"{kk} = {toml_value(vv)}\n" for kk, vv in v.items() if vv is not None))
        else:
            top.append(f"{k} = {toml_value(v)}\n")
    return "".join(top) + "".join(sections)
