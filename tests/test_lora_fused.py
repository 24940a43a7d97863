"""The trainer's fused LoRA forward (models.lora.fuse_lora_forward) is peft's, up to float rounding:
outputs and every LoRA gradient; peft's own forward still runs where adapters are switched off."""

import copy

import torch

from vectorwan.models.lora import attach_lora, fuse_lora_forward
from vectorwan.models.tiny import build_transformer

TARGETS = ["q", "k", "v", "o", "ffn.0", "ffn.2"]


def _lora_model(seed=0, dtype=torch.float32):
    model = build_transformer().to(dtype)
    n = attach_lora(model, 4, 8.0, TARGETS)  # scaling 2: the fused addmm's alpha is exercised
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:  # peft starts B at zero; give the LoRA a real contribution
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model, n


def _inputs(seed=0):
    g = torch.Generator().manual_seed(seed)
    ctx = torch.zeros(2, 64, 32)
    ctx[:, :9] = torch.randn(2, 9, 32, generator=g)
    return torch.randn(2, 16, 2, 8, 8, generator=g), torch.tensor([300.0, 700.0]), ctx


def _run(model):
    x, t, ctx = _inputs()
    model.zero_grad()
    out = model(x.to(model.dtype), t, ctx.to(model.dtype), return_dict=False)[0]
    out.float().square().mean().backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    return out.detach().float(), grads


def test_fused_outputs_and_gradients_equal_peft():
    peft_model, n = _lora_model()
    fused = copy.deepcopy(peft_model)
    assert fuse_lora_forward(fused) == n and fuse_lora_forward(fused) == 0  # each layer once
    out0, g0 = _run(peft_model)
    out1, g1 = _run(fused)
    assert torch.allclose(out0, out1, atol=1e-5, rtol=1e-5), (out0 - out1).abs().max()
    assert g0.keys() == g1.keys() and len(g0) == 2 * n
    for k in g0:
        assert torch.allclose(g0[k], g1[k], atol=1e-6, rtol=1e-4), (k, (g0[k] - g1[k]).abs().max())
    assert any(g.abs().max() > 0 for g in g1.values())


def test_disabled_adapters_take_peft_forward():
    model, _ = _lora_model()
    base = copy.deepcopy(model)
    fuse_lora_forward(model)
    x, t, ctx = _inputs()
    model.disable_adapters()
    base.disable_adapters()
    with torch.no_grad():
        assert torch.equal(model(x, t, ctx, return_dict=False)[0], base(x, t, ctx, return_dict=False)[0])
        model.enable_adapters()
        assert not torch.equal(model(x, t, ctx, return_dict=False)[0], base(x, t, ctx, return_dict=False)[0])


def test_float32_lora_over_bfloat16_base_computes_in_bfloat16_and_trains_float32():
    model, _ = _lora_model(dtype=torch.bfloat16)
    for name, p in model.named_parameters():
        if p.requires_grad:
            p.data = p.data.float()
    ref = copy.deepcopy(model)  # peft: the input cast up to float32 for the LoRA product
    fuse_lora_forward(model)
    out, grads = _run(model)
    out_ref, _ = _run(ref)
    assert all(g.dtype == torch.float32 for g in grads.values())
    assert torch.isfinite(out).all()
    # the same function up to bfloat16 rounding of the LoRA product
    assert (out - out_ref).abs().max() <= 0.02 * out_ref.abs().max()
