"""Apply LoRA files of any format to a Wan transformer (or a pipeline holding one), each at its
own scale, through diffusers' own adapter machinery.

Every file is read into the canonical form (:mod:`vectorwan.models.lora_formats`), checked
against the model (each module must exist and be a linear layer of the LoRA's shape), turned
into a diffusers state dict plus the exact peft config (rank/alpha per module), and loaded with
``load_lora_adapter`` under its own adapter name; ``set_adapters(names, weights)`` then sets the
scales. After loading, the number of modules wrapped for each adapter must equal the number of
modules in its file — a LoRA never becomes a silent no-op. ``fuse=True`` merges the active
adapters into the base weights (``fuse_lora``) and removes the LoRA layers (``unload_lora``).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from vectorwan.errors import UserError
from vectorwan.models.lora_formats import LoraFile, original_to_diffusers_names, read_lora, to_diffusers_state_dict


def _transformer_of(target):
    t = getattr(target, "transformer", None)
    return t if t is not None else target


def check_lora_matches(lora, transformer, where: str = "LoRA") -> dict[str, str]:
    """original name -> diffusers name for every module; ``UserError`` listing those that do not fit."""
    import torch

    names = original_to_diffusers_names(lora.modules)
    modules = dict(transformer.named_modules())
    problems = []
    for orig, m in lora.modules.items():
        mod = modules.get(names[orig])
        base = getattr(mod, "base_layer", mod)  # already LoRA-wrapped by another adapter
        if mod is None:
            problems.append(f"{orig} (no such module)")
        elif not isinstance(base, torch.nn.Linear):
            problems.append(f"{orig} (not a linear layer)")
        elif m.A.shape[1] != base.in_features or m.B.shape[0] != base.out_features:
            problems.append(f"{orig} (LoRA {m.B.shape[0]}x{m.A.shape[1]}, model {base.out_features}x{base.in_features})")
    if problems:
        raise UserError(f"{where}: {len(problems)} of {len(lora.modules)} LoRA modules do not match this "
                        f"transformer (another model?): {', '.join(problems[:4])}; use a LoRA trained for this base model")
    return names


def wrapped_modules(transformer, adapter_name: str) -> int:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return sum(1 for m in transformer.modules()
               if isinstance(m, BaseTunerLayer) and adapter_name in getattr(m, "lora_A", {}))


def _adapter_name(path: str | None, index: int, taken) -> str:
    stem = re.sub(r"[^A-Za-z0-9_]", "_", Path(path).stem if path else "lora")[:40] or "lora"
    name, n = f"{stem}_{index}", 1
    while name in taken:
        name, n = f"{stem}_{index}_{n}", n + 1
    return name


def load_lora_adapter(transformer, lora, adapter_name: str, where: str = "LoRA") -> None:
    """Load one canonical LoRA into ``transformer`` as adapter ``adapter_name`` (scale 1)."""

    check_lora_matches(lora, transformer, where)
    sd, config = to_diffusers_state_dict(lora)
    try:
        with warnings.catch_warnings():  # several adapters on one model is what we intend
            warnings.filterwarnings("ignore", message="Already found a `peft_config` attribute")
            transformer.load_lora_adapter(sd, prefix=None, adapter_name=adapter_name, metadata=config)
    except (ValueError, RuntimeError, KeyError) as e:
        raise UserError(f"{where}: diffusers could not load it ({str(e).strip().splitlines()[0][:200]})") from None
    n = wrapped_modules(transformer, adapter_name)
    if n != len(lora.modules):
        transformer.delete_adapters(adapter_name)
        raise UserError(f"{where}: {len(lora.modules)} LoRA modules in the file but {n} wrapped in the model")


def apply_loras(target, loras, fuse: bool = False) -> list[str]:
    """Apply ``[(path_or_LoraFile, scale), ...]`` to a Wan pipeline or ``WanTransformer3DModel``.

    Returns the adapter names. Only the given LoRAs are active afterwards (adapters loaded
    earlier stay loaded but inactive). ``fuse=True`` merges them into the base weights and then
    removes every LoRA layer of the model (``unload_lora``), returning ``[]``. Files are all
    read and checked against the model before the model is touched; a failure while loading
    removes the adapters this call added.
    """

    transformer = _transformer_of(target)
    loras = list(loras)
    if not loras:
        return []
    read = []
    for item, scale in loras:
        lora = item if isinstance(item, LoraFile) else read_lora(item)
        where = lora.path or (str(item) if not isinstance(item, LoraFile) else "LoRA")
        read.append((lora, float(scale), where))
    for lora, _, where in read:  # check all before touching the model
        check_lora_matches(lora, transformer, where)
    names: list[str] = []
    taken = set(getattr(transformer, "peft_config", {}) or {})
    try:
        for i, (lora, _, where) in enumerate(read):
            name = _adapter_name(lora.path, i, taken)
            taken.add(name)
            load_lora_adapter(transformer, lora, name, where)
            names.append(name)
    except BaseException:
        if names:
            transformer.delete_adapters(names)
        raise
    transformer.set_adapters(names, weights=[s for _, s, _ in read])
    if fuse:
        transformer.fuse_lora(lora_scale=1.0, adapter_names=names)
        transformer.unload_lora()
        return []
    return names
