"""The training recipe, top to bottom: config → cache → transformer + LoRA → loop → LoRA file
(or, with ``train.mode = "full"``, every transformer weight → a diffusers ``transformer/`` folder).

All randomness of step ``s`` on process ``r`` (which items, captions, σ, noise, LoRA dropout)
comes from generators seeded with (seed, s, r), so a resumed run continues exactly where an
uninterrupted one would be.
"""

from __future__ import annotations

import json
import math
import resource
import time
from pathlib import Path

import torch

from vectorwan.atomic import atomic_path, write_json, write_text
from vectorwan.cache import CachedData, build_cache
from vectorwan.config import Config, dump_toml
from vectorwan.errors import UserError
from vectorwan.models.lora import attach_lora, save_lora
from vectorwan.train import flow
from vectorwan.train.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from vectorwan.train.losses import flow_matching_loss


def _step_seed(seed: int, step: int, rank: int, micro: int = 0) -> int:
    return (seed * 1_000_003 + step * 10_007 + rank * 101 + micro) % (2**63 - 1)


def item_order(n: int, seed: int, epoch: int) -> list[int]:
    g = torch.Generator().manual_seed(seed * 7919 + epoch)
    return torch.randperm(n, generator=g).tolist()


def batch_indices(n_items: int, repeats: int, seed: int, position: int, count: int) -> list[int]:
    """Items for sample positions [position, position + count) of a seeded, per-epoch shuffle."""
    epoch_len = n_items * repeats
    out = []
    for p in range(position, position + count):
        epoch, k = divmod(p, epoch_len)
        out.append(item_order(epoch_len, seed, epoch)[k] % n_items)
    return out


def make_batch(data: CachedData, idx: list[int], g: torch.Generator, caption_dropout: float):
    """The batch of items ``idx`` as ``[(positions, latents, texts)]``, one group per latent shape.

    A dataset may mix stills (one latent frame) with clips (several): items of one shape are
    stacked together, groups in order of first appearance, ``positions`` indexing into ``idx``.
    Captions are drawn in ``idx`` order first, so a batch of one shape consumes ``g`` exactly as
    a plain stacked batch would.
    """
    texts = []
    for i in idx:
        variants = data.texts[i]
        emb = variants[int(torch.randint(len(variants), (1,), generator=g))]
        if caption_dropout > 0 and float(torch.rand(1, generator=g)) < caption_dropout:
            emb = data.empty_text
        texts.append(data.padded_text(emb))
    by_shape: dict[tuple, list[int]] = {}
    for pos, i in enumerate(idx):
        by_shape.setdefault(tuple(data.latents[i].shape), []).append(pos)
    return [(pos, torch.stack([data.latents[idx[p]] for p in pos]), torch.stack([texts[p] for p in pos]))
            for pos in by_shape.values()]


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(cfg: Config, resume: bool = False, progress: bool = True) -> dict:
    from accelerate import Accelerator
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import cast_training_params
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
    from tqdm.auto import tqdm

    from vectorwan.models.loading import load_part, resolve, torch_dtype

    t = cfg.train
    out = Path(cfg.output_dir)
    accelerator = Accelerator(mixed_precision=t.mixed_precision if torch.cuda.is_available() else "no",
                              gradient_accumulation_steps=t.gradient_accumulation)
    rank, world = accelerator.process_index, accelerator.num_processes
    main = accelerator.is_main_process
    if t.mixed_precision != "no" and not torch.cuda.is_available():
        accelerator.print(f"note: train.mixed_precision={t.mixed_precision} needs a CUDA GPU; training in float32 here")

    # 1. cache: encoders run only here, and only for what is missing (a complete cache loads none)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        summary = build_cache(cfg, progress=progress)
        if summary["encoded_items"] or summary["encoded_texts"]:
            accelerator.print(f"cache: encoded {summary['encoded_items']} items, {summary['encoded_texts']} captions")
    accelerator.wait_for_everyone()
    data = CachedData(cfg.cache_dir)

    # 2. transformer + LoRA, or the whole transformer (the VAE and the text encoder are never loaded here)
    source = resolve(cfg.model.path)
    full = t.mode == "full"
    transformer = load_part(source, "transformer", torch.float32 if full else torch_dtype(cfg.model.dtype, t.mixed_precision))
    if full:
        transformer.requires_grad_(True)
        n_modules = 0
    else:
        n_modules = attach_lora(transformer, cfg.lora.rank, cfg.lora.alpha, cfg.lora.targets, cfg.lora.dropout,
                                cfg.lora.init)
        cast_training_params(transformer, dtype=torch.float32)
    if t.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    params = [p for p in transformer.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=t.learning_rate, betas=tuple(t.adam_betas), eps=t.adam_eps,
                                  weight_decay=t.weight_decay)
    total = cfg.total_steps
    sched_name = "constant_with_warmup" if t.lr_scheduler == "constant" and t.warmup_steps else t.lr_scheduler
    scheduler = get_scheduler(sched_name, optimizer, num_warmup_steps=t.warmup_steps, num_training_steps=total)
    transformer, optimizer = accelerator.prepare(transformer, optimizer)
    model = accelerator.unwrap_model(transformer)

    # 3. resume
    start = 0
    ckpt_root = out / "checkpoints"
    if resume:
        ckpts = list_checkpoints(ckpt_root)
        if not ckpts:
            raise UserError(f"{ckpt_root}: no checkpoint to resume from; run without --resume")
        trained, opt_sd, state = load_checkpoint(ckpts[-1])
        try:
            if full:
                model.load_state_dict(trained, strict=True)
            else:
                result = set_peft_model_state_dict(model, trained)
                if getattr(result, "unexpected_keys", None):
                    raise RuntimeError(f"unexpected {result.unexpected_keys[0]}")
        except RuntimeError as e:
            raise UserError(f"{ckpts[-1]}: checkpoint does not match train.mode / lora settings "
                            f"({str(e).splitlines()[0][:120]}); resume with the config that wrote it") from None
        optimizer.load_state_dict(opt_sd)
        scheduler.load_state_dict(state["scheduler"])
        start = int(state["step"])
        accelerator.print(f"resumed from {ckpts[-1]} at step {start}")
    if start >= total:
        accelerator.print(f"already at step {start} of {total}; nothing to train")

    log_path = out / "train_log.jsonl"
    writer = None
    if main:
        write_text(out / "config.toml", dump_toml(cfg))
        lines = log_path.read_text().splitlines() if (resume and log_path.is_file()) else []
        write_text(log_path, "".join(l + "\n" for l in lines if json.loads(l)["step"] <= start))
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(out / "tensorboard"), purge_step=start + 1 if start else None)
        except ImportError:  # tensorboard is optional at run time
            writer = None

    def save(step: int) -> None:
        accelerator.wait_for_everyone()
        if main:
            trained = model.state_dict() if full else get_peft_model_state_dict(model)
            save_checkpoint(ckpt_root, step, trained, optimizer, scheduler,
                            {"total_steps": total, "world_size": world, "mode": t.mode}, keep=t.keep_checkpoints)
            if full:  # a diffusers folder: WanTransformer3DModel.from_pretrained(OUTPUT_DIR/transformer)
                with atomic_path(out / "transformer", suffix="") as tmp:
                    model.save_pretrained(tmp, safe_serialization=True)
                return
            save_lora(model, out / "lora.safetensors", rank=cfg.lora.rank, alpha=cfg.lora.alpha,
                      targets=cfg.lora.targets, trigger=cfg.data.trigger, base_model=cfg.model.path,
                      extra={"step": str(step), "learning_rate": str(t.learning_rate)})

    validator = None
    if main and cfg.validation.every and cfg.validation.prompts:
        from vectorwan.train.validation import Validator

        validator = Validator(cfg, model, data, source)

    # 4. the loop
    transformer.train()
    device = accelerator.device
    per_step = t.batch_size * t.gradient_accumulation
    bar = tqdm(range(start, total), initial=start, total=total, desc="train", disable=not (progress and main))
    last_loss = math.nan
    grad_norm = torch.tensor(0.0)
    for step in bar:
        t0 = time.perf_counter()
        step_loss = 0.0
        for micro in range(t.gradient_accumulation):
            g = torch.Generator().manual_seed(_step_seed(cfg.seed, step, rank, micro))
            torch.manual_seed(_step_seed(cfg.seed + 1, step, rank, micro))  # LoRA dropout
            position = (step * world + rank) * per_step + micro * t.batch_size
            idx = batch_indices(len(data), cfg.data.repeats, cfg.seed, position, t.batch_size)
            groups = make_batch(data, idx, g, cfg.data.caption_dropout)
            noises = [torch.randn(x0.shape, generator=g) for _, x0, _ in groups]
            sigma = flow.sample_sigmas(len(idx), t.timestep_sampling, g, shift=t.shift, logit_mean=t.logit_mean,
                                       logit_std=t.logit_std, lo=t.min_timestep, hi=t.max_timestep)
            with accelerator.accumulate(transformer), accelerator.autocast():
                dtype = model.dtype
                loss = 0.0
                for (pos, x0, text), noise in zip(groups, noises):  # one forward per latent shape
                    sg = sigma[pos]
                    x_t = flow.add_noise(x0, noise, sg)
                    target = flow.velocity_target(x0, noise)
                    pred = transformer(hidden_states=x_t.to(device, dtype), timestep=flow.timesteps(sg).to(device),
                                       encoder_hidden_states=text.to(device, dtype), return_dict=False)[0]
                    loss = loss + flow_matching_loss(pred, target.to(device)) * (len(pos) / len(idx))
                accelerator.backward(loss)
                if accelerator.sync_gradients and t.max_grad_norm > 0:
                    grad_norm = accelerator.clip_grad_norm_(params, t.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            step_loss += loss.detach().float().item() / t.gradient_accumulation
        scheduler.step()
        loss_all = accelerator.reduce(torch.tensor([step_loss], device=device), reduction="mean").item()
        last_loss = loss_all
        dt = time.perf_counter() - t0
        if main:
            rec = {"step": step + 1, "loss": loss_all, "lr": scheduler.get_last_lr()[0],
                   "grad_norm": float(grad_norm) if t.max_grad_norm > 0 else None,
                   "sigma": float(sigma.mean()), "s_per_step": dt, "peak_mem_mb": _peak_memory_mb(device)}
            with log_path.open("a") as fh:
                fh.write(json.dumps(rec) + "\n")
            if writer:
                for k in ("loss", "lr", "s_per_step", "peak_mem_mb"):
                    writer.add_scalar(f"train/{k}", rec[k], step + 1)
            bar.set_postfix(loss=f"{loss_all:.4f}", lr=f"{rec['lr']:.2e}", s_step=f"{dt:.2f}",
                            mem=f"{rec['peak_mem_mb']:.0f}MB")
        if t.save_every and (step + 1) % t.save_every == 0 and step + 1 < total:
            save(step + 1)
        if validator and ((step + 1) % cfg.validation.every == 0 or step + 1 == total):
            validator.run(step + 1, out, writer)
    bar.close()
    if start < total:
        save(total)
    if writer:
        writer.close()
    summary = {"output_dir": str(out), "mode": t.mode, "steps": total, "start_step": start,
               "weights": str(out / ("transformer" if full else "lora.safetensors")), "lora_modules": n_modules, "final_loss": last_loss, "world_size": world, "is_main": main}
    if main:
        write_json(out / "train_summary.json", {k: v for k, v in summary.items() if k != "is_main"})
    accelerator.end_training()
    return summary
