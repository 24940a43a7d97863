"""Loss terms of the training recipe.

``flow_matching_loss`` is Wan's objective (MSE on the velocity). The layer-wise vector
supervision adds three terms (``[vector_loss]`` weights ``shape``, ``colour``, ``motion``), each
on the model's prediction of the clean latent, x̂0 = x_t − σ·v̂, through its error

    e = x̂0 − x0 = −σ·(v̂ − v)        (B×C×F×h×w, normalised latent units)

weighted by the item's layer maps (``data.layer_maps``, cached at latent resolution). Each term
is zero exactly when x̂0 = x0, so it never pulls away from the target: it re-weights which
errors matter. Through σ it weighs the noisy steps, where shapes and colours are decided, and
fades as σ → 0. docs/losses.md has the definitions and what each costs.

* **shape**: the error on the silhouette and outlines, Σ (S + O)·ē² / Σ (S + O), plus a boundary
  term: the error's difference between neighbouring cells (its spatial gradient) where either
  cell lies on an outline, Σ max(Oᵢ, Oⱼ)·|eᵢ − eⱼ|² / Σ max(Oᵢ, Oⱼ) — an edge that blurs or
  moves has a gradient error there.
* **colour**: in each colour region (cells whose majority region has purity ≥ 0.5, weighted by
  purity) of each frame, the error's deviation from its regional mean (a flat region must come
  out flat, whatever its overall offset), plus the change of each region's mean error between
  consecutive frames (the region's colour must not drift).
* **motion** (clips): Δe_f = e_f − e_{f−1}, i.e. x̂0's frame-to-frame change minus the target's,
  on the subject: weights max(S_f, S_{f−1}) + M_f, clipped to 1 (M: pixels that change).

ē² is the squared error averaged over channels. Every term is a weighted mean, so its size is
comparable to the flow-matching MSE's, and each is averaged over the batch's samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MIN_PURITY = 0.5
TERMS = ("shape", "colour", "motion")


def flow_matching_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.mse_loss(pred.float(), target.float())


def clean_error(pred: torch.Tensor, target: torch.Tensor, sigma: torch.Tensor, noise: str = "all") -> torch.Tensor:
    """x̂0 − x0 = −σ·(v̂ − v), float32; ``noise="low"``: × (1 − σ) as well, so each sample's terms (all
    quadratic in e) are × (1 − σ)²: the steps that decide details count, the near-pure-noise ones hardly."""
    s = sigma.float().view(-1, *([1] * (pred.ndim - 1))).to(pred.device)
    if noise == "low":
        s = s * (1 - s)
    return -s * (pred.float() - target.float())


def _sums(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample (Σ w·x, Σ w) over every axis but the first."""
    dims = tuple(range(1, x.ndim))
    return (w * x).sum(dims), w.sum(dims)


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """The batch mean of per-sample num / den (0 for a sample whose den is 0)."""
    return torch.where(den > 0, num / den.clamp_min(1e-12), torch.zeros_like(num)).mean()


def _wmean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return _ratio(*_sums(x, w))


def shape_loss(e: torch.Tensor, silhouette: torch.Tensor, outline: torch.Tensor) -> torch.Tensor:
    """e B×C×F×h×w; maps B×F×h×w."""
    recon = _wmean(e.pow(2).mean(1), silhouette + outline)
    num = den = 0.0
    for dim in (-1, -2):  # neighbours along x, then y
        n = e.shape[dim]
        grad = (e.narrow(dim, 1, n - 1) - e.narrow(dim, 0, n - 1)).pow(2).mean(1)
        w = torch.maximum(outline.narrow(dim, 0, n - 1), outline.narrow(dim, 1, n - 1))
        nd, dd = _sums(grad, w)
        num, den = num + nd, den + dd
    return recon + _ratio(num, den)


def colour_loss(e: torch.Tensor, region: torch.Tensor, purity: torch.Tensor) -> torch.Tensor:
    """e B×C×F×h×w; region (int, −1 = none) and purity B×F×h×w."""
    b, c, f = e.shape[:3]
    w = torch.where((region >= 0) & (purity >= MIN_PURITY), purity, torch.zeros_like(purity))
    k = int(region.max().clamp_min(0)) + 1
    ids = ((torch.arange(b, device=e.device).view(b, 1, 1, 1) * f
            + torch.arange(f, device=e.device).view(1, f, 1, 1)) * k + region.clamp_min(0).long())
    ids, wf = ids.reshape(-1), w.reshape(-1)
    ef = e.permute(0, 2, 3, 4, 1).reshape(-1, c)
    mass = torch.zeros(b * f * k, device=e.device).index_add(0, ids, wf)
    sums = torch.zeros(b * f * k, c, device=e.device).index_add(0, ids, ef * wf[:, None])
    means = sums / mass.clamp_min(1e-12)[:, None]
    dev = (ef - means[ids]).pow(2).mean(1).view(b, -1)
    flat = _wmean(dev, wf.view(b, -1))
    if f < 2:
        return flat
    mass, means = mass.view(b, f, k), means.view(b, f, k, c)
    pair = ((mass[:, 1:] > 0) & (mass[:, :-1] > 0)).float()
    drift = (means[:, 1:] - means[:, :-1]).pow(2).mean(-1)
    return flat + _wmean(drift, pair)


def motion_loss(e: torch.Tensor, silhouette: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    """e B×C×F×h×w; silhouette B×F×h×w; motion B×(F−1)×h×w. Zero for stills."""
    if e.shape[2] < 2:
        return e.sum() * 0.0
    d = (e[:, :, 1:] - e[:, :, :-1]).pow(2).mean(1)
    w = (torch.maximum(silhouette[:, 1:], silhouette[:, :-1]) + motion).clamp(max=1.0)
    return _wmean(d, w)


def vector_losses(pred: torch.Tensor, target: torch.Tensor, sigma: torch.Tensor, maps: dict, weights) -> dict:
    """The terms whose weight (``weights.shape`` / ``.colour`` / ``.motion``) is > 0, unweighted:
    ``{"shape": tensor, ...}``. ``maps``: the batch's layer maps (B×F×h×w tensors)."""
    e = clean_error(pred, target, sigma, weights.noise)
    m = {k: v.to(e.device) for k, v in maps.items()}
    out = {}
    if weights.shape > 0:
        out["shape"] = shape_loss(e, m["silhouette"], m["outline"])
    if weights.colour > 0:
        out["colour"] = colour_loss(e, m["region"], m["purity"])
    if weights.motion > 0:
        out["motion"] = motion_loss(e, m["silhouette"], m["motion"])
    return out


def support(maps: dict) -> dict[str, torch.Tensor]:
    """Where each term can move the prediction (bool B×F×h×w): tests check its gradient stays there."""
    s, o = maps["silhouette"], maps["outline"]
    near_line = F.max_pool2d(o.flatten(0, 1)[:, None], 3, 1, 1)[:, 0].view_as(o) > 0
    colour = (maps["region"] >= 0) & (maps["purity"] >= MIN_PURITY)
    w = (torch.maximum(s[:, 1:], s[:, :-1]) + maps["motion"]) > 0
    motion = torch.zeros_like(s, dtype=torch.bool)
    motion[:, 1:] |= w
    motion[:, :-1] |= w
    return {"shape": (s + o > 0) | near_line, "colour": colour, "motion": motion}
