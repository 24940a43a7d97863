"""How the training step spends memory and time: ``[memory]`` resolved into concrete settings, and
applied to the transformer in the order that works.

A mode is a preset of the knobs; a knob the config gives wins over its mode's value:

    default  checkpointing on every block, fp32 LoRA (the recipe as written), the padding collapse
    fast     no checkpointing: the fastest step, the most activation memory
    fp8      the frozen base's block weights stored in fp8 (e4m3), computed in the base dtype
    offload  fp8, and the checkpointed block inputs kept in CPU memory
    auto     the fastest of these that ``vectorwan plan`` predicts fits ``memory.vram_gb``

Order (:func:`prepare_base` before the LoRA, :func:`prepare_trained` after it): fp8 storage is
diffusers' layerwise casting, which must hook the base layers before peft wraps them (applied
after, the LoRA's own weights would be cast too and the step fails on mixed dtypes); the LoRA is
then cast to ``lora_dtype``; checkpointing wraps each chosen block's ``forward`` (the module and
its state-dict keys stay as they are), so every-k-th checkpointing and the input offload are one
path; the attention backend is set before the padding collapse wraps the processors.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from vectorwan.config import Config, MemoryConfig
from vectorwan.errors import UserError

KNOBS = {"checkpoint_every": 1, "fp8_base": False, "lora_dtype": "float32", "offload_activations": False}
PRESETS = {
    "default": {},
    "fast": {"checkpoint_every": 0},
    "fp8": {"fp8_base": True},
    "offload": {"fp8_base": True, "offload_activations": True},
}
MASKABLE = ("native", "_native_efficient", "_native_math", "xformers", "flex")  # backends that take a bias mask


@dataclass(frozen=True)
class Memory:
    """The concrete settings of one training step."""

    mode: str
    checkpoint_every: int
    fp8_base: bool
    lora_dtype: str
    offload_activations: bool
    attention: str = "native"
    compile: bool = False
    collapse_padding: bool = True

    def record(self) -> dict:
        return dict(self.__dict__)


def settings(mc: MemoryConfig, mode: str | None = None) -> Memory:
    """``mc``'s knobs over mode ``mode`` (default: ``mc.mode``, which must not be auto here)."""
    mode = mode or mc.mode
    if mode not in PRESETS:
        raise ValueError(f"mode {mode!r} has no preset")
    given = {k: v for k in KNOBS if (v := getattr(mc, k)) is not None}
    collapse = mc.attention in MASKABLE if mc.collapse_padding is None else mc.collapse_padding
    mem = Memory(mode, **{**KNOBS, **PRESETS[mode], **given}, attention=mc.attention, compile=mc.compile,
                 collapse_padding=collapse)
    if mem.collapse_padding and mem.attention not in MASKABLE:
        raise UserError(f"memory.collapse_padding passes the padding's count as an attention bias, which "
                        f"memory.attention = \"{mem.attention}\" does not take; use one of {', '.join(MASKABLE)}")
    return mem


def resolve(cfg: Config, device: torch.device) -> Memory:
    """The settings the run trains with: ``memory.mode = "auto"`` asks the planner."""
    if cfg.memory.mode != "auto":
        return settings(cfg.memory)
    from vectorwan.plan import choose

    return choose(cfg, device)


def prepare_base(transformer, mem: Memory, compute_dtype: torch.dtype) -> None:
    """Before the LoRA is attached: fp8 storage of the frozen base (diffusers layerwise casting:
    each layer's weights are upcast to ``compute_dtype`` for its forward only)."""
    if mem.fp8_base:
        transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=compute_dtype)


def prepare_trained(transformer, mem: Memory) -> None:
    """After the LoRA: the attention backend, the padding collapse, compilation, checkpointing. Each
    block's forward is compiled before the checkpoint wraps it, so the checkpoint keeps the compiled
    block's input and its recompute runs the compiled code (compiled around the checkpoint instead,
    the step gained nothing)."""
    if mem.attention != "native":
        transformer.set_attention_backend(mem.attention)
    if mem.collapse_padding:
        from vectorwan.models.padding import collapse_padding

        collapse_padding(transformer)
    if mem.compile:
        for block in transformer.blocks:
            block.forward = torch.compile(block.forward)
    if mem.checkpoint_every:
        checkpoint_blocks(transformer, mem.checkpoint_every, mem.offload_activations)


def lora_dtype(mem: Memory) -> torch.dtype:
    return {"float32": torch.float32, "bfloat16": torch.bfloat16}[mem.lora_dtype]


def checkpoint_blocks(transformer, every: int, offload: bool = False) -> int:
    """Gradient checkpointing of blocks 0, k, 2k, … (``every`` = k): each keeps only its input for the
    backward and recomputes the rest; with ``offload`` that input is kept in CPU memory (pinned on a
    GPU) and copied back for the recompute. Returns how many blocks are checkpointed."""
    n = 0
    for i, block in enumerate(transformer.blocks):
        if i % every == 0 and not isinstance(block.forward, functools.partial):
            block.forward = functools.partial(_checkpointed, block.forward, offload)
            n += 1
    return n


def _checkpointed(forward, offload: bool, hidden_states, *args, **kwargs):
    from torch.utils.checkpoint import checkpoint

    if not torch.is_grad_enabled():
        return forward(hidden_states, *args, **kwargs)
    if not offload:
        return checkpoint(forward, hidden_states, *args, use_reentrant=False, **kwargs)
    device = hidden_states.device
    kept = _ToHost.apply(hidden_states)  # the checkpoint's input is this host copy; the gradient flows back to the device
    return checkpoint(_on_device(forward, device), kept, *args, use_reentrant=False, **kwargs)


class _ToHost(torch.autograd.Function):
    """A copy of ``x`` in host memory (pinned where there is a GPU), differentiable back to ``x``'s device."""

    @staticmethod
    def forward(ctx, x):
        ctx.device = x.device
        gpu = x.device.type == "cuda"
        host = torch.empty(x.shape, dtype=x.dtype, pin_memory=gpu)
        host.copy_(x, non_blocking=gpu)
        return host

    @staticmethod
    def backward(ctx, grad):
        return grad.to(ctx.device, non_blocking=True)


def _on_device(forward, device):
    def run(host, *args, **kwargs):
        return forward(host.to(device, non_blocking=True), *args, **kwargs)

    return run

