"""The training recipe, in named phases that read top to bottom (:func:`train`):

    setup_accelerator → setup_data (the cache) → setup_model (with the [memory] settings) → setup_optimizer → resume
    → the loop (train_step, log, save, validate) → finish

What is trained is a seam, not a branch: :class:`LoraWeights` (a peft LoRA; the LoRA file) or
:class:`FullWeights` (``train.mode = "full"``: every transformer weight in fp32; a diffusers
``transformer/`` folder). Both answer the same questions — which dtype the base loads in, how to
set the model up, what its trained tensors are, how to load them back, where the result goes and
how to write it.

All randomness of step ``s`` on process ``r`` (which items, captions, σ, noise, LoRA dropout)
comes from generators seeded with (seed, s, r), so a resumed run continues exactly where an
uninterrupted one would be; the LoRA's initial weights come from ``seed`` alone, so a run gives
the same LoRA whatever ran before it in the process (``vectorwan ablate`` trains variants in one).
"""

from __future__ import annotations

import functools
import json
import math
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from vectorwan.atomic import atomic_path, remove_stale_temps, write_json, write_text
from vectorwan.cache import CachedData, build_cache
from vectorwan.config import Config, dump_toml
from vectorwan.data import layer_maps
from vectorwan.errors import UserError, os_error_line
from vectorwan.models import loading
from vectorwan.models.lora import attach_lora, fuse_lora_forward, save_lora
from vectorwan.train import flow, memory
from vectorwan.train.checkpoint import list_checkpoints, load_newest_checkpoint, save_checkpoint
from vectorwan.train.losses import flow_matching_loss, vector_losses
from vectorwan.train.validation import Validator


# ----------------------------------------------------------------------------- what is trained
class LoraWeights:
    """A LoRA on ``lora.targets`` over a frozen base (``lora.safetensors``)."""

    mode = "lora"

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def base_dtype(self) -> torch.dtype:
        return loading.torch_dtype(self.cfg.model.dtype, self.cfg.train.mixed_precision)

    def setup(self, transformer, dtype: torch.dtype = torch.float32) -> int:
        from diffusers.training_utils import cast_training_params

        lo = self.cfg.lora
        n = attach_lora(transformer, lo.rank, lo.alpha, lo.targets, lo.dropout, lo.init)
        cast_training_params(transformer, dtype=dtype)
        fuse_lora_forward(transformer)
        return n

    def state_dict(self, model) -> dict:
        from peft.utils import get_peft_model_state_dict

        return get_peft_model_state_dict(model)

    def load_state_dict(self, model, trained: dict) -> None:
        from peft.utils import set_peft_model_state_dict

        result = set_peft_model_state_dict(model, trained)
        if getattr(result, "unexpected_keys", None):
            raise RuntimeError(f"unexpected {result.unexpected_keys[0]}")

    def output(self, out: Path) -> Path:
        return out / "lora.safetensors"

    def write(self, model, out: Path, step: int) -> None:
        cfg = self.cfg
        save_lora(model, self.output(out), rank=cfg.lora.rank, alpha=cfg.lora.alpha, targets=cfg.lora.targets,
                  trigger=cfg.data.trigger, base_model=cfg.model.path,
                  extra={"step": str(step), "learning_rate": str(cfg.train.learning_rate)})


class FullWeights:
    """Every transformer weight, fp32 master weights (``transformer/``, a diffusers folder:
    ``WanTransformer3DModel.from_pretrained(OUTPUT_DIR/transformer)``)."""

    mode = "full"

    def __init__(self, cfg: Config):
        self.cfg = cfg

    def base_dtype(self) -> torch.dtype:
        return torch.float32

    def setup(self, transformer, dtype: torch.dtype = torch.float32) -> int:
        """``dtype`` (memory.lora_dtype) is the LoRA's; every weight trains in fp32 here."""
        transformer.requires_grad_(True)
        return 0

    def state_dict(self, model) -> dict:
        return model.state_dict()

    def load_state_dict(self, model, trained: dict) -> None:
        model.load_state_dict(trained, strict=True)

    def output(self, out: Path) -> Path:
        return out / "transformer"

    def write(self, model, out: Path, step: int) -> None:
        with atomic_path(self.output(out), suffix="") as tmp:
            model.save_pretrained(tmp, safe_serialization=True)


WEIGHTS = {"lora": LoraWeights, "full": FullWeights}
RUN_FILES = "lora|transformer|config|train_log|train_summary"  # the stems of what a run writes in its folder


# ----------------------------------------------------------------------------- batches
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


def batch_maps(data: CachedData, items: list[int]) -> dict:
    """The layer maps of ``items`` (one latent shape), stacked: ``{name: B×F×h×w}``."""
    if any(data.maps[i] is None for i in items):
        raise UserError(f"{data.dir}: the cache has no layer maps for [vector_loss]; run `vectorwan cache CONFIG` "
                        "with this config")
    return {k: torch.stack([data.maps[i][k] for i in items]) for k in layer_maps.NAMES}


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- the run
@dataclass
class Run:
    """Everything the loop touches, made by the setup phases."""

    cfg: Config
    accelerator: object
    data: CachedData
    weights: LoraWeights | FullWeights
    transformer: torch.nn.Module  # as prepared by accelerate (DDP-wrapped on several processes)
    model: torch.nn.Module  # the unwrapped transformer
    params: list
    optimizer: torch.optim.Optimizer
    scheduler: object
    n_modules: int

    @property
    def out(self) -> Path:
        return Path(self.cfg.output_dir)

    @property
    def main(self) -> bool:
        return self.accelerator.is_main_process


def setup_accelerator(cfg: Config):
    from accelerate import Accelerator

    t = cfg.train
    accelerator = Accelerator(mixed_precision=t.mixed_precision if torch.cuda.is_available() else "no",
                              gradient_accumulation_steps=t.gradient_accumulation)
    if t.mixed_precision != "no" and not torch.cuda.is_available():
        accelerator.print(f"note: train.mixed_precision={t.mixed_precision} needs a CUDA GPU; training in float32 here")
    return accelerator


def setup_data(cfg: Config, accelerator, progress: bool) -> CachedData:
    """The output folder (cleared of what a killed save left) and the cache: encoders run only here,
    on the main process, and only for what is missing."""
    if accelerator.is_main_process:
        out = Path(cfg.output_dir)
        if out.exists() and not out.is_dir():
            raise UserError(f"output_dir {out}: is a file; give a folder for the run")
        out.mkdir(parents=True, exist_ok=True)
        stale = remove_stale_temps(out, RUN_FILES) + remove_stale_temps(out / "checkpoints", r"step-\d{7}")
        if stale:
            accelerator.print(f"removed what an interrupted save left: {', '.join(stale)}")
        summary = build_cache(cfg, progress=progress)
        if summary["encoded_items"] or summary["encoded_texts"] or summary["layer_maps"]:
            accelerator.print(f"cache: encoded {summary['encoded_items']} items, {summary['encoded_texts']} captions"
                              + (f"; layer maps for {summary['layer_maps']} items" if summary["layer_maps"] else ""))
    accelerator.wait_for_everyone()
    return CachedData(cfg.cache_dir)


def setup_model(cfg: Config, source, weights, mem: memory.Memory) -> tuple[torch.nn.Module, int]:
    """The transformer with what is trained made trainable and the memory settings applied, in the
    order that works (train/memory.py); the VAE and text encoder are never loaded."""
    transformer = loading.load_part(source, "transformer", weights.base_dtype(),
                                    prepare=functools.partial(memory.prepare_base, mem=mem,
                                                              compute_dtype=weights.base_dtype()))
    with torch.random.fork_rng(devices=[]):  # the LoRA's initial weights from the seed alone, not from what ran before
        torch.manual_seed(cfg.seed)
        n_modules = weights.setup(transformer, memory.lora_dtype(mem))
    memory.prepare_trained(transformer, mem)
    return transformer, n_modules


def setup_optimizer(cfg: Config, transformer):
    from diffusers.optimization import get_scheduler

    t = cfg.train
    params = [p for p in transformer.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=t.learning_rate, betas=tuple(t.adam_betas), eps=t.adam_eps,
                                  weight_decay=t.weight_decay)
    name = "constant_with_warmup" if t.lr_scheduler == "constant" and t.warmup_steps else t.lr_scheduler
    scheduler = get_scheduler(name, optimizer, num_warmup_steps=t.warmup_steps, num_training_steps=cfg.total_steps)
    return params, optimizer, scheduler


def resume_from_checkpoint(run: Run) -> int:
    """Load the newest readable checkpoint into the run; returns its step."""
    path, trained, opt_sd, state = load_newest_checkpoint(run.out / "checkpoints", note=run.accelerator.print)
    try:
        run.weights.load_state_dict(run.model, trained)
    except RuntimeError as e:
        raise UserError(f"{path}: checkpoint does not match train.mode / lora settings "
                        f"({str(e).splitlines()[0][:120]}); resume with the config that wrote it") from None
    run.optimizer.load_state_dict(opt_sd)
    run.scheduler.load_state_dict(state["scheduler"])
    run.accelerator.print(f"resumed from {path} at step {state['step']}")
    return int(state["step"])


class TrainLog:
    """``train_log.jsonl`` (one line per step; a resumed run keeps the lines up to its start) and
    TensorBoard, written by the main process only."""

    def __init__(self, out: Path, start: int, resume: bool, enabled: bool):
        self.path, self.writer, self.enabled = out / "train_log.jsonl", None, enabled
        if not enabled:
            return
        lines = self.path.read_text().splitlines() if (resume and self.path.is_file()) else []
        write_text(self.path, "".join(l + "\n" for l in lines if json.loads(l)["step"] <= start))
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(out / "tensorboard"), purge_step=start + 1 if start else None)
        except ImportError:  # tensorboard is optional at run time
            self.writer = None

    def write(self, rec: dict) -> None:
        if not self.enabled:
            return
        with self.path.open("a") as fh:
            fh.write(json.dumps(rec) + "\n")
        if self.writer:
            for k in ("loss", "lr", "s_per_step", "peak_mem_mb", *(k for k in rec if k.startswith("loss_"))):
                self.writer.add_scalar(f"train/{k}", rec[k], rec["step"])

    def close(self) -> None:
        if self.writer:
            self.writer.close()


def train_step(run: Run, step: int) -> tuple[float, torch.Tensor, float | None, dict]:
    """One optimizer step over ``gradient_accumulation`` micro-batches: (the loss averaged over them
    and the processes, σ of the last micro-batch, the gradient norm before clipping or None, and
    with ``[vector_loss]`` on each term unweighted, averaged alike: ``{"flow": …, "shape": …}``)."""
    cfg, t, acc, vl = run.cfg, run.cfg.train, run.accelerator, run.cfg.vector_loss
    rank, world = acc.process_index, acc.num_processes
    device, dtype = acc.device, run.model.dtype
    per_step = t.batch_size * t.gradient_accumulation
    step_loss, grad_norm, terms = 0.0, None, {}
    for micro in range(t.gradient_accumulation):
        g = torch.Generator().manual_seed(_step_seed(cfg.seed, step, rank, micro))
        torch.manual_seed(_step_seed(cfg.seed + 1, step, rank, micro))  # LoRA dropout
        position = (step * world + rank) * per_step + micro * t.batch_size
        idx = batch_indices(len(run.data), cfg.data.repeats, cfg.seed, position, t.batch_size)
        groups = make_batch(run.data, idx, g, cfg.data.caption_dropout)
        noises = [torch.randn(x0.shape, generator=g) for _, x0, _ in groups]
        sigma = flow.sample_sigmas(len(idx), t.timestep_sampling, g, shift=t.shift, logit_mean=t.logit_mean,
                                   logit_std=t.logit_std, lo=t.min_timestep, hi=t.max_timestep)
        with acc.accumulate(run.transformer), acc.autocast():
            loss = 0.0
            for (pos, x0, text), noise in zip(groups, noises):  # one forward per latent shape
                sg = sigma[pos]
                x_t = flow.add_noise(x0, noise, sg)
                target = flow.velocity_target(x0, noise)
                pred = run.transformer(hidden_states=x_t.to(device, dtype), timestep=flow.timesteps(sg).to(device),
                                       encoder_hidden_states=text.to(device, dtype), return_dict=False)[0]
                share = len(pos) / len(idx)
                target = target.to(device)
                group_loss = flow_matching_loss(pred, target)
                if vl.enabled:  # off: the loss is today's, bit for bit
                    parts = {"flow": group_loss,
                             **vector_losses(pred, target, sg, batch_maps(run.data, [idx[p] for p in pos]), vl)}
                    for k, v in parts.items():
                        if k != "flow":
                            group_loss = group_loss + getattr(vl, k) * v
                        terms[k] = terms.get(k, 0.0) + v.detach().float().item() * share / t.gradient_accumulation
                loss = loss + group_loss * share
            acc.backward(loss)
            if acc.sync_gradients and t.max_grad_norm > 0:
                grad_norm = acc.clip_grad_norm_(run.params, t.max_grad_norm)
            run.optimizer.step()
            run.optimizer.zero_grad(set_to_none=True)
        step_loss += loss.detach().float().item() / t.gradient_accumulation
    run.scheduler.step()
    reduced = acc.reduce(torch.tensor([step_loss, *terms.values()], device=device), reduction="mean").tolist()
    return reduced[0], sigma, None if grad_norm is None else float(grad_norm), dict(zip(terms, reduced[1:]))


def last_good(run: Run) -> str:
    ckpts = list_checkpoints(run.out / "checkpoints")
    return (f"the newest checkpoint ({ckpts[-1].name}) and {run.weights.output(run.out).name} are from before it"
            if ckpts else "nothing was saved")


def check_finite(run: Run, step: int, loss: float, grad_norm: float | None) -> None:
    """Stop at the first step whose loss or gradient norm is not finite (the same on every process:
    both are reduced), before anything of it is logged or saved. Under fp16's gradient scaler an
    infinite norm is the scaler's own overflow, a step it skips: only the loss counts there."""
    if getattr(run.accelerator, "scaler", None) is not None:
        grad_norm = None
    if math.isfinite(loss) and (grad_norm is None or math.isfinite(grad_norm)):
        return
    what = f"loss {loss:g}" if not math.isfinite(loss) else f"gradient norm {grad_norm:g}"
    raise UserError(f"train: step {step}: {what} is not finite; stopped ({last_good(run)}); "
                    f"lower train.learning_rate or check the data")


def save(run: Run, step: int) -> None:
    """A checkpoint (atomic) and the result file at ``step``; weights that are not finite are never written."""
    run.accelerator.wait_for_everyone()
    trained = run.weights.state_dict(run.model)  # on every process (the same weights): all stop together
    bad = next((k for k, v in trained.items() if not torch.isfinite(v).all()), None)
    if bad is not None:
        raise UserError(f"train: step {step}: the trained weights are not finite ({bad}); not saved "
                        f"({last_good(run)}); lower train.learning_rate")
    if run.main:
        save_checkpoint(run.out / "checkpoints", step, trained, run.optimizer, run.scheduler,
                        {"total_steps": run.cfg.total_steps, "world_size": run.accelerator.num_processes,
                         "mode": run.weights.mode}, keep=run.cfg.train.keep_checkpoints)
        write_result(run, step)


def write_result(run: Run, step: int) -> None:
    """The result file at ``step``, whose checkpoint is complete: a refused write (a full disk) says
    how to get it, since ``--resume`` from that checkpoint writes it again."""
    try:
        run.weights.write(run.model, run.out, step)
    except OSError as e:
        line = os_error_line(e)
        if line is None:
            raise
        raise UserError(f"{line}; the checkpoint of step {step} is complete: run again with --resume "
                        f"to write {run.weights.output(run.out).name}") from None


def make_validator(run: Run, source):
    if not (run.main and run.cfg.validation.every and run.cfg.validation.prompts):
        return None

    return Validator(run.cfg, run.model, run.data, source)


# ----------------------------------------------------------------------------- the recipe
def train(cfg: Config, resume: bool = False, progress: bool = True) -> dict:
    t = cfg.train
    accelerator = setup_accelerator(cfg)
    data = setup_data(cfg, accelerator, progress)
    source = loading.resolve(cfg.model.path)
    weights = WEIGHTS[t.mode](cfg)
    mem = memory.resolve(cfg, accelerator.device)
    transformer, n_modules = setup_model(cfg, source, weights, mem)
    params, optimizer, scheduler = setup_optimizer(cfg, transformer)
    transformer, optimizer = accelerator.prepare(transformer, optimizer)
    run = Run(cfg, accelerator, data, weights, transformer, accelerator.unwrap_model(transformer), params, optimizer,
              scheduler, n_modules)

    start = resume_from_checkpoint(run) if resume else 0
    total = cfg.total_steps
    if start >= total:
        accelerator.print(f"already at step {start} of {total}; nothing to train")
    if run.main:
        write_text(run.out / "config.toml", dump_toml(cfg))
    log = TrainLog(run.out, start, resume, run.main)
    validator = make_validator(run, source)

    transformer.train()
    bar = tqdm(range(start, total), initial=start, total=total, desc="train", disable=not (progress and run.main))
    last_loss = math.nan
    for step in bar:
        t0 = time.perf_counter()
        last_loss, sigma, grad_norm, terms = train_step(run, step)
        check_finite(run, step + 1, last_loss, grad_norm)
        dt = time.perf_counter() - t0
        rec = {"step": step + 1, "loss": last_loss, "lr": scheduler.get_last_lr()[0],
               "grad_norm": grad_norm,
               "sigma": float(sigma.mean()), "s_per_step": dt, "peak_mem_mb": _peak_memory_mb(accelerator.device),
               **{f"loss_{k}": v for k, v in terms.items()}}
        log.write(rec)
        bar.set_postfix(loss=f"{last_loss:.4f}", lr=f"{rec['lr']:.2e}", s_step=f"{dt:.2f}",
                        mem=f"{rec['peak_mem_mb']:.0f}MB")
        if t.save_every and (step + 1) % t.save_every == 0 and step + 1 < total:
            save(run, step + 1)
        if validator and ((step + 1) % cfg.validation.every == 0 or step + 1 == total):
            validator.run(step + 1, run.out, log.writer)
    bar.close()

    if start < total:
        save(run, total)
    elif run.main:  # resumed at the end: the result file again, from the checkpoint (its last write may have failed)
        write_result(run, total)
    log.close()
    summary = {"output_dir": str(run.out), "mode": t.mode, "steps": total, "start_step": start,
               "weights": str(weights.output(run.out)), "lora_modules": n_modules, "final_loss": last_loss,
               "world_size": accelerator.num_processes, "memory": mem.record(), "is_main": run.main}
    if run.main:
        write_json(run.out / "train_summary.json", {k: v for k, v in summary.items() if k != "is_main"})
    accelerator.end_training()
    return summary
