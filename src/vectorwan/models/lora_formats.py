"""LoRA files for Wan 2.1: read any of the common layouts, write any of them, losslessly.

Formats (``detect_format`` sniffs the keys):

=========== ==================================================== =====================================
format      keys                                                 alpha
=========== ==================================================== =====================================
vectorwan   ``diffusion_model.blocks.0.self_attn.q.lora_A.weight`` ``….alpha`` tensor; plus safetensors
            (= comfyui) + metadata ``vectorwan.*``               metadata rank/alpha/targets/trigger/base_model
comfyui     ``diffusion_model.blocks.0.self_attn.q.lora_A.weight`` optional ``….alpha`` tensor
            (also diffusion-pipe; ``lora_down``/``lora_up`` read)
diffusers   ``transformer.blocks.0.attn1.to_q.lora_A.weight``    ``lora_adapter_metadata`` (peft config:
            (model-level files without ``transformer.`` read)    ``lora_alpha``/``alpha_pattern``), else = rank
musubi      ``lora_unet_blocks_0_self_attn_q.lora_down.weight``  ``….alpha`` tensor (always written)
diffsynth   ``blocks.0.self_attn.q.lora_A.default.weight``       none: alpha = rank
            (``.default`` optional when read)
=========== ==================================================== =====================================

In memory every file becomes a :class:`LoraFile`: original-Wan module name
(``blocks.0.self_attn.q``, ``blocks.3.ffn.0``, ``head.head`` …) → :class:`LoraModule` (A, B, alpha).
The delta a module adds is ``(alpha / rank) · B @ A``; ``alpha=None`` means alpha = rank.

Conversions copy the A/B tensors untouched (dtype included), so X → Y → X is bit-identical. The
one format that cannot carry alpha is DiffSynth's: writing a module whose alpha ≠ rank bakes
alpha/rank into B **only when that ratio is a power of two** (an exact float scaling, checked
by undoing it), and refuses with a clear message otherwise — rounding a LoRA silently is not
a conversion. Alpha values are stored as float32 scalars.

Module names diffusers ↔ original Wan come from diffusers' own
``convert_wan_transformer_to_diffusers`` (see :mod:`vectorwan.models.wan_original`).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from vectorwan.atomic import atomic_path
from vectorwan.errors import UserError
from vectorwan.models.wan_original import dit_keys_to_diffusers, dit_keys_to_original

FORMATS = ("vectorwan", "comfyui", "diffusers", "diffsynth", "musubi")
WRITE_FORMATS = FORMATS
META_KEY = "lora_adapter_metadata"  # diffusers' safetensors metadata key
_VW = "vectorwan."
_KIND = {"lora_A": "A", "lora_down": "A", "lora_B": "B", "lora_up": "B"}
_TENSOR_KEY = re.compile(r"^(?P<mod>.+)\.(?P<kind>lora_A|lora_B|lora_down|lora_up)(?:\.(?P<adapter>[^.]+))?\.weight$")
_ALPHA_KEY = re.compile(r"^(?P<mod>.+)\.alpha$")
_WAN_MODULE = re.compile(r"^(blocks\.\d+\.(self_attn|cross_attn)\.\w+|blocks\.\d+\.ffn\.[02]|head\.head|"
                         r"time_projection\.1|time_embedding\.[02]|text_embedding\.[02]|img_emb\.proj\.[0-4])$")
# original-Wan name parts that contain "_" (musubi/kohya flatten "." to "_"); longest first
_UNDERSCORE_WORDS = sorted(
    ["self_attn", "cross_attn", "norm_k_img", "k_img", "v_img", "time_projection", "time_embedding",
     "text_embedding", "patch_embedding", "img_emb", "emb_pos"], key=len, reverse=True)


@dataclass
class LoraModule:
    A: object  # torch.Tensor (rank, in_features)
    B: object  # torch.Tensor (out_features, rank)
    alpha: float | None = None  # None: alpha = rank

    @property
    def rank(self) -> int:
        return int(self.A.shape[0])

    @property
    def effective_alpha(self) -> float:
        return float(self.rank if self.alpha is None else self.alpha)


@dataclass
class LoraFile:
    format: str
    modules: dict[str, LoraModule]
    metadata: dict[str, str] = field(default_factory=dict)
    path: str | None = None


# -------------------------------------------------------------------------------------- naming
def _block_sort_key(name: str):
    return [int(p) if p.isdigit() else p for p in name.split(".")]


def original_to_diffusers_names(names) -> dict[str, str]:
    """original Wan module name -> diffusers module name (diffusers' converter on the names)."""

    names = list(names)
    m = dit_keys_to_diffusers(n + ".weight" for n in names)
    return {n: m[n + ".weight"][: -len(".weight")] for n in names}


def diffusers_to_original_names(names, where: str = "LoRA") -> dict[str, str]:
    names = list(names)
    try:
        m = dit_keys_to_original(n + ".weight" for n in names)
    except UserError as e:
        raise UserError(f"{where}: module names that are not Wan DiT modules ({e})") from None
    return {n: m[n + ".weight"][: -len(".weight")] for n in names}


def _musubi_encode(name: str) -> str:
    return "lora_unet_" + name.replace(".", "_")


def _musubi_decode(flat: str) -> str:
    protected = flat
    for i, word in enumerate(_UNDERSCORE_WORDS):
        protected = re.sub(rf"(?:(?<=_)|^){word}(?=_|$)", f"\x00{i}\x00", protected)
    parts = protected.split("_")
    return ".".join(re.sub(r"\x00(\d+)\x00", lambda m: _UNDERSCORE_WORDS[int(m[1])], p) for p in parts)


# ----------------------------------------------------------------------------------- detection
def _has_vectorwan_meta(metadata) -> bool:
    return any(k.startswith(_VW) for k in (metadata or {}))


def detect_format(state_dict, metadata: dict | None = None) -> str:
    """``vectorwan`` | ``comfyui`` | ``diffusers`` | ``diffsynth`` | ``musubi``; ``UserError`` otherwise."""
    keys = list(state_dict)
    if not keys:
        raise UserError("no tensors in this LoRA file")
    if all(k.startswith("lora_unet_") for k in keys):
        return "musubi"
    if all(k.startswith("diffusion_model.") for k in keys):
        return "vectorwan" if _has_vectorwan_meta(metadata) else "comfyui"
    if all(k.startswith("transformer.") for k in keys):
        return "diffusers"
    prefixed = [k for k in keys if k.split(".")[0] in ("lora_unet", "diffusion_model", "transformer", "unet",
                                                       "text_encoder", "lora_te") or k.startswith("lora_unet_")]
    if not prefixed and all(k.startswith("blocks.") or _TENSOR_KEY.match(k) or _ALPHA_KEY.match(k) for k in keys):
        if any(re.search(r"\.(attn1|attn2)\.|\.to_(q|k|v|out)\.|\.ffn\.net\.|^proj_out\.|^condition_embedder\.", k)
               for k in keys):
            return "diffusers"  # model-level save_lora_adapter files carry no prefix
        if any(re.search(r"\.(self_attn|cross_attn)\.|\.ffn\.[02]\.|^head\.head\.", k) for k in keys):
            return "diffsynth"
    sample = ", ".join(sorted(keys)[:4])
    raise UserError(f"unknown LoRA format (not vectorwan/comfyui/diffusers/diffsynth/musubi); keys such as {sample}")


# ------------------------------------------------------------------------------------- reading
def _load(path: Path) -> tuple[dict, dict]:
    if not path.is_file():
        raise UserError(f"{path}: no such LoRA file; check the path")
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), "pt") as f:
                return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
        except Exception as e:  # noqa: BLE001 - corrupt / truncated header
            raise UserError(f"{path}: not a readable safetensors file ({type(e).__name__}); give a complete "
                            ".safetensors LoRA (re-download or re-export it)") from None
    import torch

    try:
        sd = torch.load(str(path), weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - refused pickle, truncated file
        raise UserError(f"{path}: not a readable LoRA file ({type(e).__name__}); give a .safetensors LoRA, "
                        "or a tensors-only .pt/.bin (pickled code is never loaded)") from None
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise UserError(f"{path}: not a state dict of tensors; give a LoRA file")
    return dict(sd), {}


def _diffusers_alphas(metadata: dict, names: list[str], where: str) -> dict[str, float | None]:
    raw = metadata.get(META_KEY)
    if not raw:
        return dict.fromkeys(names)
    try:
        cfg = json.loads(raw)
    except ValueError:
        raise UserError(f"{where}: {META_KEY} metadata is not JSON") from None
    if any(k.startswith("transformer.") for k in cfg):
        cfg = {k[len("transformer."):]: v for k, v in cfg.items() if k.startswith("transformer.")}
    if cfg.get("use_dora") or cfg.get("use_rslora"):
        raise UserError(f"{where}: DoRA / rsLoRA adapters are not supported")
    if "lora_alpha" not in cfg:
        return dict.fromkeys(names)
    from peft.utils.other import get_pattern_key

    pattern = cfg.get("alpha_pattern") or {}
    out = {}
    for n in names:
        key = get_pattern_key(list(pattern), n)
        out[n] = float(pattern.get(key, cfg["lora_alpha"]))
    return out


def read_lora(path, fmt: str | None = None) -> LoraFile:
    """Read a LoRA file of any supported format into the canonical form."""
    path = Path(path)
    sd, metadata = _load(path)
    return lora_from_state_dict(sd, metadata, fmt=fmt, where=str(path), path=str(path))


def lora_from_state_dict(sd: dict, metadata: dict | None = None, *, fmt: str | None = None,
                         where: str = "LoRA", path: str | None = None) -> LoraFile:
    metadata = dict(metadata or {})
    try:
        fmt = fmt or detect_format(sd, metadata)
    except UserError as e:
        raise UserError(f"{where}: {e}") from None
    if fmt not in FORMATS:
        raise UserError(f"{where}: unknown format '{fmt}'; one of {', '.join(FORMATS)}")
    parts: dict[str, dict] = {}
    bad: list[str] = []
    for key, tensor in sd.items():
        k = key
        if fmt in ("vectorwan", "comfyui"):
            k = k[len("diffusion_model."):] if k.startswith("diffusion_model.") else None
        elif fmt == "diffusers" and k.startswith("transformer."):
            k = k[len("transformer."):]
        elif fmt == "musubi":
            k = k[len("lora_unet_"):] if k.startswith("lora_unet_") else None
        if k is None:
            bad.append(key)
            continue
        m = _TENSOR_KEY.match(k)
        if m and (m["adapter"] is None or fmt == "diffsynth" and m["adapter"] == "default"):
            slot = _KIND[m["kind"]]
        elif (a := _ALPHA_KEY.match(k)) and fmt not in ("diffsynth", "diffusers") and tensor.numel() == 1:
            m, slot = a, "alpha"
        else:
            bad.append(key)
            continue
        entry = parts.setdefault(m["mod"], {})
        if slot in entry:
            bad.append(key)
            continue
        entry[slot] = tensor
    if bad:
        raise UserError(f"{where}: {len(bad)} key(s) this {fmt} reader does not understand "
                        f"(e.g. {', '.join(sorted(bad)[:4])})")
    incomplete = sorted(n for n, e in parts.items() if "A" not in e or "B" not in e)
    if incomplete:
        raise UserError(f"{where}: {len(incomplete)} module(s) without both LoRA matrices "
                        f"(e.g. {', '.join(incomplete[:4])})")
    if not parts:
        raise UserError(f"{where}: no LoRA tensors")
    names = list(parts)
    if fmt == "musubi":
        rename = {n: _musubi_decode(n) for n in names}
    elif fmt == "diffusers":
        rename = diffusers_to_original_names(names, where)
    else:
        rename = {n: n for n in names}
    foreign = sorted(rename[n] for n in names if not _WAN_MODULE.match(rename[n]))
    if foreign:
        raise UserError(f"{where}: {len(foreign)} of {len(names)} modules are not Wan 2.1 DiT modules "
                        f"(e.g. {', '.join(foreign[:4])}); a LoRA for another model?")
    alphas = _diffusers_alphas(metadata, names, where) if fmt == "diffusers" else {
        n: (float(parts[n]["alpha"].float().item()) if "alpha" in parts[n] else None) for n in names}
    modules = {}
    for n in sorted(names, key=lambda n: _block_sort_key(rename[n])):
        A, B = parts[n]["A"], parts[n]["B"]
        if A.ndim != 2 or B.ndim != 2 or A.shape[0] != B.shape[1]:
            raise UserError(f"{where}: {n}: lora_A {tuple(A.shape)} and lora_B {tuple(B.shape)} do not "
                            "form a linear LoRA (conv / LoCon / LoHa / LoKr are not supported)")
        if alphas[n] is not None and not math.isfinite(alphas[n]):
            raise UserError(f"{where}: {n}: alpha is {alphas[n]}; a LoRA needs a finite alpha (the file is damaged)")
        if not (A.float().isfinite().all() and B.float().isfinite().all()):
            raise UserError(f"{where}: {n}: holds NaN or infinite weights; the training that wrote it diverged "
                            "(use an earlier checkpoint)")
        modules[rename[n]] = LoraModule(A, B, alphas[n])
    if len(modules) != len(names):
        raise UserError(f"{where}: two module names map to one Wan module")
    return LoraFile(fmt, modules, metadata, path)


# ------------------------------------------------------------------------------------- writing
def _alpha_tensor(alpha: float):
    import torch

    return torch.tensor(float(alpha), dtype=torch.float32)


def _power_of_two(x: float) -> bool:
    return x > 0 and math.isfinite(x) and math.frexp(x)[0] == 0.5


def _common(values):
    return Counter(values).most_common(1)[0][0]


def diffusers_config(lora: LoraFile, names: dict[str, str] | None = None) -> dict:
    """The peft ``LoraConfig`` kwargs that reproduce ``lora`` exactly (diffusers' metadata)."""
    names = names or original_to_diffusers_names(lora.modules)
    ranks = {names[n]: m.rank for n, m in lora.modules.items()}
    alphas = {names[n]: m.effective_alpha for n, m in lora.modules.items()}
    r = _common(ranks.values())
    a = _common(alphas.values())
    return {
        "r": r, "lora_alpha": a,
        "rank_pattern": {f"^{re.escape(n)}$": v for n, v in ranks.items() if v != r},
        "alpha_pattern": {f"^{re.escape(n)}$": v for n, v in alphas.items() if v != a},
        "target_modules": sorted(names.values(), key=_block_sort_key),
    }


def to_diffusers_state_dict(lora: LoraFile, prefix: str = "") -> tuple[dict, dict]:
    """(``{prefix}blocks.0.attn1.to_q.lora_A.weight`` → tensor, LoraConfig kwargs)."""
    names = original_to_diffusers_names(lora.modules)
    sd = {}
    for n, m in lora.modules.items():
        sd[f"{prefix}{names[n]}.lora_A.weight"] = m.A
        sd[f"{prefix}{names[n]}.lora_B.weight"] = m.B
    return sd, diffusers_config(lora, names)


def _diffsynth_B(name: str, m: LoraModule, where: str):
    import torch

    if m.alpha is None or m.alpha == m.rank:
        return m.B
    ratio = m.alpha / m.rank
    if not _power_of_two(ratio):
        raise UserError(
            f"{where}: DiffSynth files cannot store alpha, and {name} has alpha {m.alpha:g} / rank {m.rank} "
            f"= {ratio:g}, not a power of two, so baking it into lora_B would round; "
            "convert to comfyui, diffusers or musubi instead"
        )
    baked = m.B * ratio
    if not torch.equal(baked / ratio, m.B) or not torch.isfinite(baked).all():
        raise UserError(f"{where}: baking alpha/rank = {ratio:g} into {name}.lora_B over/underflows its dtype")
    return baked


def lora_state_dict(lora: LoraFile, fmt: str, where: str = "LoRA") -> tuple[dict, dict]:
    """The tensors and safetensors metadata of ``lora`` written in format ``fmt``."""
    if fmt not in WRITE_FORMATS:
        raise UserError(f"unknown LoRA format '{fmt}'; one of {', '.join(WRITE_FORMATS)}")
    # other metadata travels along (provenance: trigger word, base model), except into plain comfyui,
    # where vectorwan.* keys would make the file a vectorwan file
    carried = {k: v for k, v in lora.metadata.items()
               if k not in ("format", META_KEY) and not (fmt == "comfyui" and k.startswith(_VW))}
    meta = {"format": "pt", **carried}
    sd: dict = {}
    if fmt in ("vectorwan", "comfyui"):
        for n, m in lora.modules.items():
            sd[f"diffusion_model.{n}.lora_A.weight"] = m.A
            sd[f"diffusion_model.{n}.lora_B.weight"] = m.B
            if m.alpha is not None:
                sd[f"diffusion_model.{n}.alpha"] = _alpha_tensor(m.alpha)
        if fmt == "vectorwan":
            meta.update(vectorwan_metadata(lora))
    elif fmt == "musubi":
        for n, m in lora.modules.items():
            flat = _musubi_encode(n)
            if _musubi_decode(flat[len("lora_unet_"):]) != n:
                raise UserError(f"{where}: module {n} has no unambiguous musubi name")
            sd[f"{flat}.lora_down.weight"] = m.A
            sd[f"{flat}.lora_up.weight"] = m.B
            sd[f"{flat}.alpha"] = _alpha_tensor(m.effective_alpha)
    elif fmt == "diffsynth":
        for n, m in lora.modules.items():
            sd[f"{n}.lora_A.default.weight"] = m.A
            sd[f"{n}.lora_B.default.weight"] = _diffsynth_B(n, m, where)
    else:  # diffusers
        sd, cfg = to_diffusers_state_dict(lora, prefix="transformer.")
        if any(m.alpha is not None for m in lora.modules.values()):
            meta[META_KEY] = json.dumps({f"transformer.{k}": v for k, v in cfg.items()}, indent=2, sort_keys=True)
    return sd, meta


def vectorwan_metadata(lora: LoraFile) -> dict[str, str]:
    """``vectorwan.*`` metadata: rank, alpha, targets (per-block original names), module count;
    trigger and base model are carried from ``lora.metadata`` (empty when unknown)."""
    info = summarize(lora)
    m = dict(lora.metadata)
    return {
        "vectorwan.format": "comfyui",
        "vectorwan.rank": m.get("vectorwan.rank") or str(_common(x.rank for x in lora.modules.values())),
        "vectorwan.alpha": m.get("vectorwan.alpha") or f"{_common(x.effective_alpha for x in lora.modules.values()):g}",
        "vectorwan.targets": m.get("vectorwan.targets") or json.dumps(info["targets"]),
        "vectorwan.trigger": m.get("vectorwan.trigger", ""),
        "vectorwan.base_model": m.get("vectorwan.base_model", ""),
        "vectorwan.modules": str(len(lora.modules)),
    }


def write_lora(lora: LoraFile, path, fmt: str) -> Path:
    """Write ``lora`` as a safetensors file in format ``fmt`` (atomically)."""
    from safetensors.torch import save_file

    path = Path(path)
    sd, meta = lora_state_dict(lora, fmt, where=str(path))
    with atomic_path(path) as tmp:
        save_file({k: v.detach().contiguous() for k, v in sd.items()}, str(tmp), metadata=meta)
    return path


def convert_lora(src, dst, fmt: str) -> LoraFile:
    lora = read_lora(src)
    write_lora(lora, dst, fmt)
    return lora


# ---------------------------------------------------------------------------------------- info
def summarize(lora: LoraFile) -> dict:
    blocks = sorted({int(n.split(".")[1]) for n in lora.modules if n.startswith("blocks.")})
    targets = sorted({re.sub(r"^blocks\.\d+\.", "", n) for n in lora.modules}, key=_target_order)
    ranks = sorted({m.rank for m in lora.modules.values()})
    alphas = sorted({m.effective_alpha for m in lora.modules.values()})
    dtypes = sorted({str(m.A.dtype).replace("torch.", "") for m in lora.modules.values()})
    return {
        "format": lora.format,
        "modules": len(lora.modules),
        "blocks": len(blocks),
        "block_range": [blocks[0], blocks[-1]] if blocks else None,
        "ranks": ranks,
        "alphas": alphas,
        "alpha_stored": any(m.alpha is not None for m in lora.modules.values()),
        "targets": targets,
        "parameters": sum(m.A.numel() + m.B.numel() for m in lora.modules.values()),
        "dtypes": dtypes,
    }


_TARGET_ORDER = [f"{a}.{p}" for a in ("self_attn", "cross_attn") for p in ("q", "k", "v", "o", "k_img", "v_img")]
_TARGET_ORDER += ["ffn.0", "ffn.2"]


def _target_order(name: str):
    return (_TARGET_ORDER.index(name), "") if name in _TARGET_ORDER else (len(_TARGET_ORDER), name)


def lora_info(path) -> dict:
    """Format, ranks, alphas, targets, block count and metadata of a LoRA file."""
    lora = read_lora(path)
    out = {"path": str(path), **summarize(lora)}
    meta = {k: v for k, v in lora.metadata.items() if k != META_KEY}
    if META_KEY in lora.metadata:
        try:
            meta[META_KEY] = json.loads(lora.metadata[META_KEY])
        except ValueError:
            meta[META_KEY] = lora.metadata[META_KEY]
    out["metadata"] = meta
    return out
