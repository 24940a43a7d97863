"""Pre-train a small Wan-architecture video VAE (diffusers ``AutoencoderKLWan``) on the toy world.

Stage one of the toy base model (issue #6): the DiT comes later and trains on this VAE's latents.

* Data: toy-world clips rendered on the fly. Step ``s`` draws its batch from
  ``numpy.random.default_rng([cfg.seed, s])`` (prompt and clip seed in ``[0, 2**31)``) and its
  posterior noise from a ``torch.Generator`` seeded from the same pair, so a resumed run sees
  exactly what an uninterrupted one would. Held-out clips use seeds ``>= 2**31``, never drawn.
* Loss: foreground-weighted L1 + L2 (+ optional chroma L1) on the *unclamped* reconstruction
  + ``kl_weight`` · KL (mean per latent element); see ``loss_fn``. Evaluation logs held-out PSNR
  and ``hue_check``'s accuracy (does each colour survive the round trip?).
  diffusers' ``decode()`` clamps to [-1, 1], which zeroes the gradient of every pixel the
  decoder overshoots (white background = +1 sits right on the boundary). We get the decoder's
  raw output by a forward hook on ``vae.decoder``: ``_decode`` calls the decoder once per
  latent frame and concatenates the outputs along time before clamping; the hook collects
  those per-chunk outputs (with their autograd graph) and we concatenate them ourselves. This
  uses only the public ``nn.Module`` hook API (no copied decode loop, no patched ``torch``);
  every call checks that the clamped concatenation equals ``decode()``'s output, so a change
  in diffusers' decode structure fails loudly instead of silently training on wrong pixels.
* Checkpoints: ``OUT_DIR/checkpoint/`` written atomically as one folder: ``vae/``
  (``save_pretrained``, loadable by ``AutoencoderKLWan.from_pretrained``), ``optimizer.pt``
  (read back with ``torch.load(weights_only=True)``) and ``state.json`` (step, config).
  ``OUT_DIR/vae_log.jsonl``: one JSON line per step.
* Config: :class:`~vectorwan.toy.vae_config.VaeTrainConfig` (re-exported here), whose fields are
  also `vectorwan toy pretrain-vae`'s flags.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from vectorwan.atomic import atomic_path
from vectorwan.errors import UserError
from vectorwan.frames import to_uint8
from vectorwan.toy import checks, world
from vectorwan.toy.vae_config import VaeTrainConfig  # the run's settings (re-exported here)

HELD_OUT_SEED0 = 2**31  # training draws clip seeds in [0, 2**31); held-out clips start here
CHECKPOINT = "checkpoint"
LOG = "vae_log.jsonl"


def build_vae(cfg: VaeTrainConfig):
    """A freshly initialised ``AutoencoderKLWan``; the same config always gives the same weights."""
    import torch
    from diffusers import AutoencoderKLWan

    if cfg.init:
        if not (Path(cfg.init) / "config.json").is_file():
            raise UserError(f"{cfg.init}: not a VAE folder (no config.json); give OUT_DIR/checkpoint/vae of a run")
        vae = AutoencoderKLWan.from_pretrained(cfg.init)
    else:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            vae = AutoencoderKLWan(base_dim=cfg.base_dim, z_dim=cfg.z_dim, dim_mult=list(cfg.dim_mult),
                                   num_res_blocks=cfg.num_res_blocks, temperal_downsample=[False, True, True])
    vae.disable_tiling()
    vae.disable_slicing()
    return vae


def clips_to_tensor(frames_list):
    """uint8 T×H×W×3 clips → float (B, 3, T, H, W) in [-1, 1]."""
    import torch

    x = torch.from_numpy(np.stack(frames_list)).float()  # B T H W C
    return (x.permute(0, 4, 1, 2, 3) / 127.5 - 1.0).contiguous()


def batch_spec(seed: int, step: int, batch_size: int, balanced: bool = False) -> list[tuple[str, str, str, int]]:
    """The (colour, shape, motion, clip seed) of training step ``step`` — a pure function.

    ``balanced``: colours go round a fresh permutation of the palette, so a batch of 6 shows
    every colour once (shape and motion still drawn at random).
    """

    prompts = world.all_prompts()
    rng = np.random.default_rng([int(seed), int(step)])
    idx = rng.integers(0, len(prompts), size=batch_size)
    seeds = rng.integers(0, HELD_OUT_SEED0, size=batch_size)
    spec = [(*prompts[int(i)], int(s)) for i, s in zip(idx, seeds)]
    if balanced:
        colours = list(world.COLOURS)
        perm = rng.permutation(len(colours))
        spec = [(colours[int(perm[k % len(colours)])], *rest) for k, (_, *rest) in enumerate(spec)]
    return spec


def anchor_spec(seed: int, colours) -> list[tuple[str, str, str, int]]:
    """Fixed training clips, one per entry of ``colours`` (repeats allowed), the same at every step.

    The k-th clip of a colour has the k-th shape (round the shapes); motion and clip seed come from
    ``default_rng([seed, 0])``, a stream no training step (steps count from 1) draws from.
    Why: measured on VAE 3, blue and purple merged into one decoded colour are a saddle of the
    training loss. Overfitting one fixed batch of 3 blue and 3 purple clips parts them after
    80–100 steps at lr 1e-3, while colour-balanced batches of fresh clips had not in hundreds.
    """

    rng = np.random.default_rng([int(seed), 0])
    seen: dict[str, int] = {}
    spec = []
    for colour in colours:
        k = seen[colour] = seen.get(colour, -1) + 1
        motion = world.MOTIONS[int(rng.integers(len(world.MOTIONS)))]
        spec.append((colour, world.SHAPES[k % len(world.SHAPES)], motion, int(rng.integers(0, HELD_OUT_SEED0))))
    return spec


def held_out_spec(n: int) -> list[tuple[str, str, str, int]]:
    """Fixed evaluation clips: prompts spread over the vocabulary, seeds training never draws."""

    prompts = world.all_prompts()
    step = max(1, len(prompts) // n)
    return [(*prompts[(i * step + i) % len(prompts)], HELD_OUT_SEED0 + i) for i in range(n)]


def is_striped(clip_seed: int, share: float) -> bool:
    """Whether a training clip gets stripes: a pure function of its seed (``share`` of seeds)."""
    return (int(clip_seed) % 10_000) < share * 10_000


def world_palette() -> list[list[float]]:
    """The world's colours as RGB in [-1, 1] (the order of ``world.COLOURS``)."""

    return [[v / 127.5 - 1.0 for v in rgb] for rgb in world.COLOURS.values()]


def render_batch(spec, frames: int, size: int, striped: float = 0.0):
    return clips_to_tensor([world.render_clip(c, s, m, seed, frames=frames, size=size,
                                              striped=is_striped(seed, striped)).frames
                            for c, s, m, seed in spec])


@contextlib.contextmanager
def _capture_decoder_outputs(vae):
    outs: list = []
    handle = vae.decoder.register_forward_hook(lambda _m, _i, out: outs.append(out))
    try:
        yield outs
    finally:
        handle.remove()


def decode_unclamped(vae, z):
    """The decoder's raw output for latents ``z`` (B, C, T', h, w), before diffusers' clamp.

    Runs the normal ``vae.decode`` and collects the per-frame decoder outputs with a forward
    hook (see the module docstring). Differentiable.
    """
    import torch

    if getattr(vae.config, "patch_size", None) is not None:
        raise NotImplementedError("decode_unclamped: patch_size VAEs (Wan 2.2) are not supported")
    with _capture_decoder_outputs(vae) as outs:
        clamped = vae.decode(z).sample
    if not outs:
        raise RuntimeError("decode_unclamped: diffusers' decode() never called vae.decoder")
    raw = torch.cat(outs, dim=2)
    if raw.shape != clamped.shape or not torch.equal(raw.detach().clamp(-1.0, 1.0), clamped.detach()):
        raise RuntimeError("decode_unclamped: hooked decoder outputs do not match decode(); "
                           "diffusers' AutoencoderKLWan._decode changed — update this helper")
    return raw


def reconstruct(vae, x, generator=None, sample: bool = True, encoder_grad: bool = True, probe_at: str = "latent"):
    """Encode → (sample | mode) → unclamped decode. Returns (reconstruction, kl per element, features)
    where the features are the posterior mean (``probe_at="latent"``) or the output of the decoder's
    ``conv_in`` at each latent position (``"decoder"``: the first vectors the decoder RMS-normalises)."""
    import torch

    with torch.set_grad_enabled(encoder_grad and torch.is_grad_enabled()):
        post = vae.encode(x).latent_dist
    z = post.sample(generator=generator) if sample else post.mode()
    kl = 0.5 * torch.mean(post.mean.pow(2) + post.var - 1.0 - post.logvar)
    if probe_at == "latent":
        return decode_unclamped(vae, z), kl, post.mean
    seen: list = []
    handle = vae.decoder.conv_in.register_forward_hook(lambda _m, _i, out: seen.append(out))
    try:
        rec = decode_unclamped(vae, z)
    finally:
        handle.remove()
    return rec, kl, torch.cat(seen, dim=2)  # diffusers decodes one latent frame per call


def pixel_weights(x, fg_weight: float):
    """1 on the white background, ``fg_weight`` where any channel is below white (the shape)."""
    fg = (x < 0.9).any(dim=1, keepdim=True).to(x.dtype)
    return 1.0 + (fg_weight - 1.0) * fg


def chroma(x):
    """Each pixel minus its grey level (mean over RGB): what tells red, orange and yellow apart."""
    return x - x.mean(dim=1, keepdim=True)


def latent_pool(x, spatial: int = 8, temporal: int = 4):
    """Video ``x`` (B, C, T, H, W) averaged over what each latent covers: frame 0 alone, then
    groups of ``temporal`` frames (Wan's causal layout), ``spatial``² pixel blocks."""
    import torch
    import torch.nn.functional as F

    b, c, t, h, w = x.shape
    rest = x[:, :, 1:].reshape(b, c, (t - 1) // temporal, temporal, h, w).mean(3)
    return F.avg_pool3d(torch.cat([x[:, :, :1], rest], 2), (1, spatial, spatial))


def colour_probe_loss(mu, x, ridge: float = 1e-2, min_fill: float = 0.5, palette=None):
    """How badly the best linear map from latent *directions* to colour does, inside the shapes.

    Wan's VAE RMS-normalises channel vectors at every block, so a colour carried only by a
    latent's length never reaches the decoder's output; we measured VAE 2 (docs/toy.md) encoding red,
    orange and yellow as nearly parallel latents (cosine > 0.99). This loss takes the latents whose
    pixels (``latent_pool``) are at least ``min_fill`` saturated colour (shape bodies, not outline,
    stripes or background), fits a ridge regression (``ridge`` × N on the diagonal; nothing to train
    or save) from ``mu / |mu|`` (+ bias) to a target and returns the mean squared residual,
    differentiable through the solve: the encoder is pushed to give each colour its own direction.

    The target is the latents' mean pixel colour, or with ``palette`` (K × 3 RGB in [-1, 1]) the
    one-hot of the palette colour nearest in chroma direction: every pair of palette colours then
    weighs the same, where RGB lets close pairs (blue/purple) hide behind far ones. Zero when fewer
    than two latents qualify.
    """
    import torch

    f = x.shape[-1] // mu.shape[-1]
    saturated = (chroma(x).abs().amax(dim=1, keepdim=True) > 0.25).to(x.dtype)
    keep = latent_pool(saturated, f).flatten() >= min_fill
    if int(keep.sum()) < 2:
        return mu.sum() * 0.0
    y = latent_pool(x, f)
    z = mu / mu.norm(dim=1, keepdim=True).clamp_min(1e-6)
    feats = z.movedim(1, -1).reshape(-1, z.shape[1])[keep]
    feats = torch.cat([feats, torch.ones_like(feats[:, :1])], 1)
    target = y.movedim(1, -1).reshape(-1, y.shape[1])[keep].to(feats.dtype)
    if palette is not None:
        pal = torch.as_tensor(palette, dtype=feats.dtype)
        pal = pal - pal.mean(1, keepdim=True)
        seen = target - target.mean(1, keepdim=True)
        nearest = (seen @ (pal / pal.norm(dim=1, keepdim=True)).T).argmax(1)
        target = torch.nn.functional.one_hot(nearest, len(pal)).to(feats.dtype)
    gram = feats.T @ feats + ridge * len(feats) * torch.eye(feats.shape[1], dtype=feats.dtype)
    weights = torch.linalg.solve(gram, feats.T @ target)
    return (feats @ weights - target).pow(2).mean()


def loss_fn(vae, x, kl_weight: float, generator=None, fg_weight: float = 1.0, mse_weight: float = 0.0,
            encoder_grad: bool = True, chroma_weight: float = 0.0, sample: bool | None = None,
            probe_weight: float = 0.0, probe_palette=None, probe_at: str = "latent"):
    """Foreground-weighted (L1 + mse_weight · L2 + chroma_weight · chroma L1) on the unclamped
    reconstruction + kl_weight · KL.

    Toy frames are mostly white: with plain L1 the decoder first learns an all-white frame and
    stays there for hundreds of steps (measured: 14 dB held-out after 200 steps, shapes missing).
    Sampled latents' noise hides small colour differences, so a VAE trained on samples learns to
    average neighbouring hues (measured: red, orange, yellow all decode orange); ``sample=False``
    decodes the posterior mode, which is what the DiT's latent cache uses. Decoder-only training
    (``encoder_grad=False``) always decodes the mode. ``probe_weight`` adds ``colour_probe_loss``
    (``probe_palette``: its one-hot palette target; ``probe_at``: on latents or the decoder's first features).
    """
    sample = encoder_grad if sample is None else (sample and encoder_grad)
    rec, kl, mu = reconstruct(vae, x, generator, sample=sample, encoder_grad=encoder_grad,
                              probe_at=probe_at if probe_weight else "latent")
    d = rec - x
    w = pixel_weights(x, fg_weight)
    err = d.abs() + mse_weight * d.pow(2)
    parts = {"l1": float(d.abs().mean().detach()), "kl": float(kl.detach())}
    if chroma_weight:
        dc = (chroma(rec) - chroma(x)).abs()
        err = err + chroma_weight * dc
        parts["chroma_l1"] = float(dc.mean().detach())
    rec_loss = (w * err).sum() / (w.sum() * x.shape[1])
    loss = rec_loss + kl_weight * kl
    if probe_weight:
        probe = colour_probe_loss(mu, x, palette=probe_palette)
        loss = loss + probe_weight * probe
        parts["probe"] = float(probe.detach())
    return loss, parts


def hue_check(vae, frames: int = 9, size: int = 64) -> dict:
    """Round-trip one still clip per colour × shape (posterior mode) and name its decoded colour.

    Returns ``{"accuracy": fraction named right, "decoded": {colour: [names per shape]}}``. PSNR is
    dominated by the white background and does not show hues collapsing; this does.
    """

    decoded: dict[str, list[str]] = {}
    with _evaluating(vae):
        for ci, colour in enumerate(world.COLOURS):
            for si, shape in enumerate(world.SHAPES):
                x = render_batch([(colour, shape, world.MOTIONS[-1], HELD_OUT_SEED0 + 100 + 3 * ci + si)], frames, size)
                rec = mode_round_trip(vae, x)[0]
                decoded.setdefault(colour, []).append(checks.dominant_colour(
                    to_uint8((rec.permute(1, 2, 3, 0).numpy() + 1.0) / 2.0)))
    hits = sum(n == c for c, names in decoded.items() for n in names)
    return {"accuracy": hits / sum(len(v) for v in decoded.values()), "decoded": decoded}


def psnr(a, b) -> float:
    """PSNR in dB of two [-1, 1] tensors, on the 0–255 scale (mean over the whole batch)."""
    import torch

    mse = torch.mean(((a - b) * 127.5) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(255.0**2 / mse)


@contextlib.contextmanager
def _evaluating(vae):
    """``vae`` in eval mode without gradients, its training mode restored afterwards."""
    import torch

    was_training = vae.training
    vae.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        vae.train(was_training)


def mode_round_trip(vae, x):
    """Encode → posterior mode → the normal (clamped) ``decode()``: what the cache and a pipeline see."""
    return vae.decode(vae.encode(x).latent_dist.mode()).sample


def evaluate(vae, x_eval) -> float:
    """Held-out PSNR through the normal (clamped) ``decode()``, posterior mode, one clip at a time."""
    import torch

    with _evaluating(vae):
        rec = torch.cat([mode_round_trip(vae, x[None]) for x in x_eval])
    return psnr(rec, x_eval)


def _save_checkpoint(out: Path, vae, opt, step: int, cfg: VaeTrainConfig, last: dict) -> None:
    import torch

    with atomic_path(out / CHECKPOINT, suffix="") as tmp:
        tmp.mkdir()
        vae.save_pretrained(tmp / "vae")
        torch.save(opt.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps(
            {"step": step, "config": cfg.model_fields(), "last": last}, indent=2) + "\n", encoding="utf-8")


def load_checkpoint(out_dir) -> dict | None:
    p = Path(out_dir) / CHECKPOINT / "state.json"
    if not p.is_file():
        return None
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        raise UserError(f"{p}: not valid JSON; delete {p.parent} to start over") from None


def _make_optimizer(vae, cfg):
    import torch

    if cfg.decoder_only:
        for m in (vae.encoder, vae.quant_conv):
            m.requires_grad_(False)
    return torch.optim.AdamW([p for p in vae.parameters() if p.requires_grad], lr=cfg.lr, weight_decay=0.0)


def pretrain_vae(cfg: VaeTrainConfig, resume: bool = False, progress: bool = True) -> dict:
    """Train (or, with ``resume``, continue training) the VAE up to ``cfg.steps`` steps.

    Returns ``{"step", "loss", "psnr", "checkpoint", "seconds", "steps_per_s"}`` (psnr: last
    held-out PSNR in dB, through the clamped ``decode()``).
    """
    cfg.validate()  # before importing torch: bad input fails fast
    import torch
    from diffusers import AutoencoderKLWan

    out = Path(cfg.out_dir)
    state = load_checkpoint(out)
    if state is not None and not resume:
        raise UserError(f"{out} already holds a checkpoint (step {state['step']}); use --resume or a new folder")
    out.mkdir(parents=True, exist_ok=True)
    log_path = out / LOG

    start = 0
    if state is not None:
        if state["config"] != cfg.model_fields():
            diff = sorted(k for k in cfg.model_fields() if state["config"].get(k) != cfg.model_fields()[k])
            raise UserError(f"{out}: checkpoint was trained with different settings ({', '.join(diff)}); "
                            "resume with the same ones or use a new folder")
        start = int(state["step"])
        vae = AutoencoderKLWan.from_pretrained(out / CHECKPOINT / "vae")
        vae.disable_tiling()
        vae.disable_slicing()
        opt = _make_optimizer(vae, cfg)
        opt.load_state_dict(torch.load(out / CHECKPOINT / "optimizer.pt", weights_only=True))
        # keep only the log lines the checkpoint covers (steps after it are redone identically)
        if log_path.is_file():
            keep = [ln for ln in log_path.read_text(encoding="utf-8").splitlines()
                    if ln.strip() and json.loads(ln).get("step", 0) <= start]
            log_path.write_text("".join(ln + "\n" for ln in keep), encoding="utf-8")
    else:
        vae = build_vae(cfg)
        opt = _make_optimizer(vae, cfg)
        log_path.write_text("", encoding="utf-8")
    vae.train()

    x_eval = render_batch(held_out_spec(cfg.n_eval), cfg.frames, cfg.size)
    last = dict(state.get("last", {})) if state else {}
    cur_psnr = last.get("psnr")
    cur_hue = last.get("hue_accuracy")
    loss_v = last.get("loss")
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, desc="vae", unit="step", dynamic_ncols=True)
    with log_path.open("a", encoding="utf-8") as log:
        palette = world_palette() if cfg.probe_target == "palette" else None
        # the anchors are the same clips at every step: rendered once
        x_anchors = render_batch(anchor_spec(cfg.seed, cfg.anchors), cfg.frames, cfg.size, cfg.striped) \
            if cfg.anchors else None
        for step in range(start + 1, cfg.steps + 1):
            x = render_batch(batch_spec(cfg.seed, step, cfg.batch_size, cfg.balanced), cfg.frames, cfg.size, cfg.striped)
            if x_anchors is not None:
                x = torch.cat([x, x_anchors])
            gen = torch.Generator().manual_seed(int(cfg.seed) * 1_000_003 + step)
            loss, parts = loss_fn(vae, x, cfg.kl_weight, gen, cfg.fg_weight, cfg.mse_weight, not cfg.decoder_only,
                                  cfg.chroma_weight, cfg.posterior == "sample", cfg.probe_weight, palette,
                                  cfg.probe_at)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_v = float(loss.detach())
            rec = {"step": step, "loss": loss_v, **parts}
            if step % cfg.eval_every == 0 or step == cfg.steps:
                cur_psnr = evaluate(vae, x_eval)
                cur_hue = hue_check(vae, cfg.frames, cfg.size)["accuracy"]
                rec["psnr"] = cur_psnr
                rec["hue_accuracy"] = cur_hue
            log.write(json.dumps(rec) + "\n")
            log.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{loss_v:.4f}", psnr="-" if cur_psnr is None else f"{cur_psnr:.2f}",
                            hue="-" if cur_hue is None else f"{cur_hue:.2f}")
            if step % cfg.save_every == 0 or step == cfg.steps:
                last = {"loss": loss_v, "psnr": cur_psnr, "hue_accuracy": cur_hue}
                _save_checkpoint(out, vae, opt, step, cfg, last)
    bar.close()
    seconds = time.perf_counter() - t0
    done = max(0, cfg.steps - start)
    return {"step": max(start, cfg.steps), "loss": loss_v, "psnr": cur_psnr, "hue_accuracy": cur_hue,
            "checkpoint": str(out / CHECKPOINT / "vae"), "seconds": seconds,
            "steps_per_s": done / seconds if seconds > 0 and done else None}
