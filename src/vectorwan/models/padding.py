"""Wan's text padding, attended once: an exact speed-up of cross-attention.

Wan pads every prompt to ``max_sequence_length`` (512) with zero embeddings, and the text
embedder maps each zero row to the same vector, so cross-attention sees up to 512 − L identical
keys and values. Softmax over P identical keys with logit s is one key with logit s + log P,
and their values are identical, so the padding can be one row with an additive bias of log P:

    softmax([s_1 … s_L, s_pad × P]) · V  =  softmax([s_1 … s_L, s_pad + log P]) · V'

exactly, up to float rounding (and its gradients with it). :func:`collapse_padding` installs
this on every cross-attention of a Wan transformer by wrapping diffusers' own processor, which
still does all the work; the wrapper only shortens the context and passes the bias as the
attention mask. A context with no repeated trailing rows is passed through unchanged.

The trainer switches it on (``memory.collapse_padding``, on by default where the attention backend
takes a bias). It pays in the recipe's setting: one LoRA step of the 1.3B architecture on 2 CPU
cores, 256 video tokens, a 40-token prompt padded to 512, checkpointing on every block: 4.20 →
3.88 s (−8 %; docs/performance.md). Generation does not use it yet.
"""

from __future__ import annotations

import math
import weakref

import torch


def collapsed_context(ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(context with each sample's trailing identical rows kept once, additive mask (B, 1, 1, K)),
    or None when there is no padding to collapse (some sample has none, or every one has ≤ 1 row)."""
    b, s, _ = ctx.shape
    differs = (ctx != ctx[:, -1:]).any(-1)  # rows unlike the last one: the real tokens (and any before them)
    idx = torch.arange(1, s + 1, device=ctx.device)
    real = torch.where(differs, idx, torch.zeros_like(idx)).amax(1)  # (B,) rows up to the last real one
    pad = s - real
    if int(pad.min()) < 1 or int(pad.max()) <= 1:
        return None
    k = int(real.max()) + 1
    cols = torch.arange(k, device=ctx.device)[None]
    mask = torch.zeros(b, k, dtype=torch.float32, device=ctx.device)
    mask = torch.where(cols == real[:, None], torch.log(pad.float())[:, None], mask)
    mask = torch.where(cols > real[:, None], torch.full_like(mask, -math.inf), mask)
    return ctx[:, :k], mask[:, None, None, :]  # row real_b of sample b is a padding row: rows ≥ real_b all are


class CollapsedPadding:
    """A cross-attention processor: ``inner`` (diffusers' ``WanAttnProcessor``) on the collapsed context.
    The blocks of one transformer share ``shared``, so a context is collapsed once per forward (one
    device sync, not one per block), and the checkpoint's recompute, given the same tensor, reuses it."""

    def __init__(self, inner, shared: dict | None = None):
        self.inner, self.shared = inner, {} if shared is None else shared

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        if encoder_hidden_states is not None and attention_mask is None and attn.add_k_proj is None:
            found = _collapsed_once(self.shared, encoder_hidden_states)
            if found is not None:
                ctx, mask = found
                return self.inner(attn, hidden_states, ctx, mask.to(hidden_states.dtype), rotary_emb)
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)


@torch.compiler.disable  # data-dependent lengths: run eagerly, between compiled regions
def _collapsed_once(shared: dict, ctx: torch.Tensor):
    last = shared.get("ctx")
    if last is None or last() is not ctx or shared.get("version") != ctx._version:
        shared.update(ctx=weakref.ref(ctx), version=ctx._version, found=collapsed_context(ctx))
    return shared["found"]


def collapse_padding(transformer) -> int:
    """Install :class:`CollapsedPadding` on every block's cross-attention; returns how many."""
    n, shared = 0, {}
    for block in transformer.blocks:
        proc = block.attn2.processor
        if not isinstance(proc, CollapsedPadding):
            block.attn2.set_processor(CollapsedPadding(proc, shared))
            n += 1
    return n
