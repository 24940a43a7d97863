"""Training-side LoRA: which modules the short target names mean, attaching peft adapters,
and saving the trained adapter as one safetensors file that loads everywhere.

Short names follow the original Wan / DiffSynth naming that the reference recipe uses:
``q, k, v, o`` (both self- and cross-attention), ``ffn.0``, ``ffn.2``; prefix with
``self_attn.`` or ``cross_attn.`` to restrict an attention projection to one of the two.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from vectorwan.errors import UserError
from vectorwan.models.lora_formats import LoraFile, LoraModule, write_lora

# original Wan name (per block) -> diffusers WanTransformerBlock name
WAN_TO_DIFFUSERS = {
    "self_attn.q": "attn1.to_q", "self_attn.k": "attn1.to_k", "self_attn.v": "attn1.to_v", "self_attn.o": "attn1.to_out.0",
    "cross_attn.q": "attn2.to_q", "cross_attn.k": "attn2.to_k", "cross_attn.v": "attn2.to_v", "cross_attn.o": "attn2.to_out.0",
    "ffn.0": "ffn.net.0.proj", "ffn.2": "ffn.net.2",
}
DIFFUSERS_TO_WAN = {v: k for k, v in WAN_TO_DIFFUSERS.items()}


def expand_targets(targets: list[str]) -> list[str]:
    """Short target names → original Wan per-block names, in a stable order."""
    out: list[str] = []
    for t in targets:
        if t in ("q", "k", "v", "o"):
            names = [f"self_attn.{t}", f"cross_attn.{t}"]
        elif t in WAN_TO_DIFFUSERS:
            names = [t]
        else:
            raise UserError(
                f"lora.targets: unknown module '{t}'; use q, k, v, o, ffn.0, ffn.2 "
                "(or self_attn.q, cross_attn.o, ...)"
            )
        out += [n for n in names if n not in out]
    return out


def validate_targets(targets: list[str]) -> None:
    expand_targets(targets)


def target_regex(targets: list[str]) -> str:
    """A peft ``target_modules`` regex (full match on module names) for a WanTransformer3DModel."""
    alts = "|".join(re.escape(WAN_TO_DIFFUSERS[n]) for n in expand_targets(targets))
    return rf"blocks\.\d+\.({alts})"


def target_module_names(transformer, targets: list[str]) -> list[str]:
    pattern = re.compile(target_regex(targets))
    return [name for name, _ in transformer.named_modules() if pattern.fullmatch(name)]


def attach_lora(transformer, rank: int, alpha: float, targets: list[str], dropout: float = 0.0,
                init: str = "default", adapter_name: str = "default"):
    """Add a trainable peft LoRA adapter to a diffusers WanTransformer3DModel (in place).

    The base weights are frozen; only the LoRA matrices require gradients.
    """
    from peft import LoraConfig

    transformer.requires_grad_(False)
    config = LoraConfig(
        r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_regex(targets),
        init_lora_weights=True if init == "default" else "gaussian",
    )
    transformer.add_adapter(config, adapter_name=adapter_name)
    n = sum(1 for m in transformer.modules() if hasattr(m, "lora_A") and adapter_name in m.lora_A)
    if n == 0:
        raise UserError(f"lora.targets {targets}: matched no module of this transformer")
    return n


def fuse_lora_forward(transformer, adapter_name: str = "default") -> int:
    """The trainer's LoRA step, the same function in fewer passes over memory: each LoRA layer computes
    ``base(x) + scaling · (A x) Bᵀ`` as one ``addmm`` onto the base's output (no separate scaling and
    add over the output), with A and B cast to the input's dtype for the product. Under a GPU's
    autocast that is the dtype the product already ran in; on a CPU, where there is no autocast, the
    LoRA's float32 weights (and Adam's state) stay float32 while the product runs in the base's
    dtype, as on a GPU. Equal to peft's forward up to float rounding (tests/test_lora_fused.py).
    A layer with its adapters disabled, merged or switched, or called with peft's per-call
    arguments, takes peft's own forward. Returns how many layers were fused."""
    import types

    from peft.tuners.lora import Linear

    n = 0
    for module in transformer.modules():
        if isinstance(module, Linear) and adapter_name in module.lora_A and "_peft_forward" not in module.__dict__:
            module._peft_forward, module._fused_adapter = module.forward, adapter_name
            module.forward = types.MethodType(_fused_lora_forward, module)  # one function for all: compiles once
            n += 1
    return n


def _fused_lora_forward(layer, x, *args, **kwargs):
    import torch

    adapter = layer._fused_adapter
    if (args or kwargs or layer.disable_adapters or layer.merged or layer.active_adapters != [adapter]
            or adapter in layer.lora_variant):
        return layer._peft_forward(x, *args, **kwargs)
    result = layer.base_layer(x)
    a, b = layer.lora_A[adapter].weight, layer.lora_B[adapter].weight
    h = torch.nn.functional.linear(layer.lora_dropout[adapter](x), a.to(x.dtype))
    flat = torch.addmm(result.reshape(-1, result.shape[-1]), h.reshape(-1, h.shape[-1]), b.to(x.dtype).t(),
                       alpha=layer.scaling[adapter])
    return flat.view(result.shape).to(result.dtype)


def trained_lora(transformer, alpha: float, adapter_name: str = "default"):
    """The trained adapter as a :class:`~vectorwan.models.lora_formats.LoraFile` (original Wan
    module names, fp32 tensors on the CPU, one alpha per module)."""
    import torch
    from peft.utils import get_peft_model_state_dict

    sd = get_peft_model_state_dict(transformer, adapter_name=adapter_name)
    parts: dict[str, dict] = {}
    for key, tensor in sd.items():
        m = re.fullmatch(r"blocks\.(\d+)\.(.+)\.lora_([AB])\.weight", key)
        if not m or m.group(2) not in DIFFUSERS_TO_WAN:
            raise RuntimeError(f"unexpected LoRA key {key}")
        name = f"blocks.{m.group(1)}.{DIFFUSERS_TO_WAN[m.group(2)]}"
        parts.setdefault(name, {})[m.group(3)] = tensor.detach().to("cpu", torch.float32).contiguous()
    modules = {n: LoraModule(p["A"], p["B"], float(alpha)) for n, p in sorted(parts.items())}
    return LoraFile("vectorwan", modules)


def save_lora(transformer, path: str | Path, *, rank: int, alpha: float, targets: list[str],
              trigger: str = "", base_model: str = "", extra: dict | None = None) -> Path:
    """Write the LoRA file atomically: ComfyUI-layout keys
    (``diffusion_model.blocks.{i}.self_attn.q.lora_A.weight`` + ``.alpha``, which diffusers'
    ``load_lora_weights`` also reads unchanged) with the recipe in the safetensors metadata."""

    lora = trained_lora(transformer, alpha)
    lora.metadata = {"vectorwan.rank": str(rank), "vectorwan.alpha": str(alpha),
                     "vectorwan.targets": json.dumps(expand_targets(targets)), "vectorwan.trigger": trigger,
                     "vectorwan.base_model": base_model}
    for k, v in (extra or {}).items():
        lora.metadata[f"vectorwan.{k}"] = v if isinstance(v, str) else json.dumps(v)
    return write_lora(lora, path, "vectorwan")
