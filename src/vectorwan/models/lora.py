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


def lora_state_dict_wan(transformer, alpha: float, adapter_name: str = "default") -> dict:
    """The adapter as ``diffusion_model.blocks.{i}.self_attn.q.lora_A.weight`` (+ ``.alpha``) tensors.

    That is the ComfyUI / diffusion-pipe layout, which diffusers' ``load_lora_weights``
    also reads unchanged.
    """
    import torch
    from peft.utils import get_peft_model_state_dict

    sd = get_peft_model_state_dict(transformer, adapter_name=adapter_name)
    out = {}
    for key, tensor in sd.items():
        m = re.fullmatch(r"blocks\.(\d+)\.(.+)\.(lora_[AB])\.weight", key)
        if not m or m.group(2) not in DIFFUSERS_TO_WAN:
            raise RuntimeError(f"unexpected LoRA key {key}")
        base = f"diffusion_model.blocks.{m.group(1)}.{DIFFUSERS_TO_WAN[m.group(2)]}"
        out[f"{base}.{m.group(3)}.weight"] = tensor.detach().to("cpu", torch.float32).contiguous()
        out[f"{base}.alpha"] = torch.tensor(float(alpha))
    return dict(sorted(out.items()))


def save_lora(transformer, path: str | Path, *, rank: int, alpha: float, targets: list[str],
              trigger: str = "", base_model: str = "", extra: dict | None = None) -> Path:
    """Write the LoRA file atomically with its recipe in the safetensors metadata."""
    from safetensors.torch import save_file

    from vectorwan.atomic import atomic_path

    tensors = lora_state_dict_wan(transformer, alpha)
    meta = {
        "format": "pt",
        "vectorwan.format": "comfyui",
        "vectorwan.rank": str(rank),
        "vectorwan.alpha": str(alpha),
        "vectorwan.targets": json.dumps(expand_targets(targets)),
        "vectorwan.trigger": trigger,
        "vectorwan.base_model": base_model,
        "vectorwan.modules": str(sum(1 for k in tensors if k.endswith(".alpha"))),
    }
    for k, v in (extra or {}).items():
        meta[f"vectorwan.{k}"] = v if isinstance(v, str) else json.dumps(v)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return Path(path)
