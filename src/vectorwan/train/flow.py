"""Wan's flow-matching objective.

A clean latent x0 and noise ε are mixed at noise level σ ∈ [0, 1]:
    x_t = (1 − σ)·x0 + σ·ε,    target velocity v = ε − x0,    model timestep t = 1000·σ.
σ is drawn per sample by one of:
  * ``shifted_uniform`` (DiffSynth-Studio's choice for Wan): u ~ U(a, b), σ = s·u / (1 + (s − 1)·u)
    with shift s (5 for Wan 2.1 training), which spends more steps at high noise;
  * ``logit_normal`` (SD3): σ = sigmoid(n), n ~ N(μ, σ_n), then clipped to [a, b];
  * ``uniform``: σ ~ U(a, b).
"""

from __future__ import annotations

import torch

NUM_TRAIN_TIMESTEPS = 1000


def shift_sigma(u: torch.Tensor, shift: float) -> torch.Tensor:
    return shift * u / (1 + (shift - 1) * u)


def sample_sigmas(n: int, mode: str, generator: torch.Generator, *, shift: float = 5.0, logit_mean: float = 0.0,
                  logit_std: float = 1.0, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    if mode == "logit_normal":
        s = torch.sigmoid(torch.randn(n, generator=generator) * logit_std + logit_mean)
        return s.clamp(lo, hi)
    u = lo + (hi - lo) * torch.rand(n, generator=generator)
    if mode == "shifted_uniform":
        return shift_sigma(u, shift)
    if mode == "uniform":
        return u
    raise ValueError(f"unknown timestep sampling '{mode}'")


def add_noise(x0: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    s = sigma.view(-1, *([1] * (x0.ndim - 1))).to(x0.dtype)
    return (1 - s) * x0 + s * noise


def velocity_target(x0: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    return noise - x0


def timesteps(sigma: torch.Tensor) -> torch.Tensor:
    return sigma * NUM_TRAIN_TIMESTEPS
