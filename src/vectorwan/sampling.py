"""Sampling defaults: the one home of the settings a model is sampled with.

A model folder carries its own ``sampling.json`` (as a diffusers folder carries its configs),
written in full — every key of :data:`KEYS` — by every exporter (``model export``,
``toy init-base``, ``toy ship``). Everything that samples reads its defaults from there
(:func:`vectorwan.models.loading.sampling_defaults` picks the folder of each model route):
``vectorwan generate``, training's validation clips, the toy accuracy and the demo. A folder
without the file (a Wan release) samples with Wan 2.1's own defaults.

No torch here: reading defaults must not load a model.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from vectorwan.atomic import write_json
from vectorwan.errors import UserError

FILE = "sampling.json"

# Wan 2.1's own negative prompt (wan/configs/shared_config.py, `sample_neg_prompt`)
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走"
)
# the keys of a sampling.json and their types (the settings a model was trained / evaluated with)
# (in the order the shipped toy base's file has them, so re-shipping writes the same bytes)
KEYS: dict[str, type] = {"steps": int, "guidance": float, "shift": float, "height": int, "width": int, "frames": int,
                         "fps": float, "negative_prompt": str, "max_sequence_length": int}
# Wan 2.1 T2V 1.3B (480p)
WAN = dict(height=480, width=832, frames=81, steps=50, guidance=5.0, shift=3.0, fps=16,
           negative_prompt=WAN_NEGATIVE_PROMPT, max_sequence_length=512)
# the embedded tiny model (random weights): small and quick
TINY = dict(WAN, height=64, width=64, frames=17, steps=10)
# the toy base; guidance chosen on seeds 1000/1001 (docs/toy.md, "Prompt accuracy"): stronger guidance
# pushes purple towards green
TOY = dict(WAN, height=64, width=64, frames=17, steps=20, guidance=1.5, shift=3.0, fps=16, negative_prompt="",
           max_sequence_length=64)


def complete(settings: dict, where: str = "sampling") -> dict:
    """``settings`` over Wan's defaults, every key of :data:`KEYS` present and of its type."""
    unknown = sorted(set(settings) - set(KEYS))
    if unknown:
        raise UserError(f"{where}: unknown key '{unknown[0]}'; known: {', '.join(KEYS)}")
    out = dict(WAN)
    for k, v in settings.items():
        tp = KEYS[k]
        ok = isinstance(v, str) if tp is str else (isinstance(v, (int, float)) and not isinstance(v, bool)
                                                    and (tp is float or float(v).is_integer()))
        if not ok or (tp is not str and not math.isfinite(v)):
            raise UserError(f"{where}: '{k}' must be a finite {tp.__name__}, got {v!r}")
        out[k] = int(v) if tp is int else v  # a float key keeps the number as written (16 stays 16)
    return {k: out[k] for k in KEYS}


def read(folder: str | Path) -> dict:
    """The sampling defaults of a model folder: its ``sampling.json`` over Wan's defaults.

    Keys that are not sampling settings (provenance written by older exporters, such as ``seed``)
    are ignored; a setting of the wrong type is an error naming the file.
    """
    path = Path(folder) / FILE
    if not path.is_file():
        return complete({})
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable ({type(e).__name__}); fix or delete it") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object of sampling settings")
    return complete({k: v for k, v in data.items() if k in KEYS}, str(path))


def write(folder: str | Path, settings: dict) -> Path:
    """Write ``folder/sampling.json`` in full (every key of :data:`KEYS`)."""
    path = Path(folder) / FILE
    write_json(path, complete(settings, str(path)))
    return path

