"""Wan's text padding attended once (vectorwan.models.padding) is the unmodified model, exactly up to
float rounding: outputs and gradients, for a batch whose prompts have different lengths."""

import copy

import pytest
import torch

from vectorwan.models.padding import CollapsedPadding, collapse_padding, collapsed_context
from vectorwan.models.tiny import build_transformer


def _inputs(lengths, max_len=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    ctx = torch.zeros(len(lengths), max_len, 32)
    for b, n in enumerate(lengths):  # real tokens, then the zero padding Wan's pipelines add
        ctx[b, :n] = torch.randn(n, 32, generator=g)
    x = torch.randn(len(lengths), 16, 2, 8, 8, generator=g)
    return x, torch.tensor([500.0] * len(lengths)), ctx


def test_the_collapsed_context_keeps_one_padding_row_per_sample_with_its_count_as_a_bias():
    ctx = torch.zeros(2, 10, 4)
    ctx[0, :3], ctx[1, :6] = 1.0, 2.0
    short, mask = collapsed_context(ctx)
    assert short.shape == (2, 7, 4) and mask.shape == (2, 1, 1, 7)
    m = mask[:, 0, 0]
    assert m[0, :3].eq(0).all() and m[0, 3] == pytest.approx(torch.log(torch.tensor(7.0))) and m[0, 4:].eq(-torch.inf).all()
    assert m[1, :6].eq(0).all() and m[1, 6] == pytest.approx(torch.log(torch.tensor(4.0)))
    full = torch.ones(1, 10, 4)
    full[0, :, 0] = torch.arange(10.0)
    assert collapsed_context(full) is None  # no padding: nothing to collapse


@pytest.mark.parametrize("lengths", [[5], [3, 17, 40]])
def test_outputs_and_gradients_equal_the_unmodified_model(lengths):
    base = build_transformer()
    fast = copy.deepcopy(base)
    assert collapse_padding(fast) == len(fast.blocks)
    assert all(isinstance(b.attn2.processor, CollapsedPadding) for b in fast.blocks)
    x, t, ctx = _inputs(lengths)
    outs, grads = [], []
    for model in (base, fast):
        model.zero_grad()
        out = model(x, t, ctx, return_dict=False)[0]
        (out.square().mean()).backward()
        outs.append(out.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert torch.allclose(outs[0], outs[1], atol=1e-5, rtol=1e-5), (outs[0] - outs[1]).abs().max()
    assert torch.allclose(grads[0], grads[1], atol=1e-5, rtol=1e-4), (grads[0] - grads[1]).abs().max()
    assert not torch.equal(outs[0], build_transformer(seed=1)(x, t, ctx, return_dict=False)[0].detach())
