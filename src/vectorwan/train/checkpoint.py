"""Full training state, saved atomically and restored exactly.

A checkpoint is a folder ``checkpoints/step-NNNNNNN/`` holding the trained tensors
(safetensors: the LoRA matrices, or every transformer weight in full fine-tuning), the optimizer state (torch file read back with ``weights_only=True``), the lr
scheduler state and the step (JSON). The loop draws all randomness from (seed, step, rank),
so the step is the whole data/RNG position and resuming continues exactly.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from vectorwan.atomic import atomic_path
from vectorwan.errors import UserError

PREFIX = "step-"


def save_checkpoint(ckpt_root: Path, step: int, tensors: dict, optimizer, scheduler, extra: dict, keep: int) -> Path:
    final = ckpt_root / f"{PREFIX}{step:07d}"
    with atomic_path(final, suffix="") as tmp:
        tmp.mkdir(parents=True)
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp / "trained.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, "scheduler": scheduler.state_dict(), **extra}, indent=2))
    for old in list_checkpoints(ckpt_root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(ckpt_root: Path) -> list[Path]:
    if not ckpt_root.is_dir():
        return []
    return sorted(p for p in ckpt_root.iterdir() if p.is_dir() and p.name.startswith(PREFIX) and (p / "state.json").is_file())


def load_checkpoint(path: Path) -> tuple[dict, dict, dict]:
    """Returns (trained tensors, optimizer state, state json). Never unpickles arbitrary objects."""
    try:
        state = json.loads((path / "state.json").read_text())
        tensors = load_file(str(path / "trained.safetensors"))
        opt = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True)
        int(state["step"]), state["scheduler"]
    except (FileNotFoundError, ValueError, KeyError, TypeError, EOFError, RuntimeError, pickle.UnpicklingError,
            SafetensorError) as e:  # missing, truncated, corrupt or foreign: not a permission or I/O error
        raise UserError(f"{path}: unreadable checkpoint ({type(e).__name__}); delete it to resume from an earlier one") from None
    return tensors, opt, state


def load_newest_checkpoint(ckpt_root: Path, note=print) -> tuple[Path, dict, dict, dict]:
    """The newest checkpoint that reads back: (path, tensors, optimizer state, state json). A newer one
    that does not (a kill mid-write cannot leave one, but a disk can) is skipped with a ``note``."""
    ckpts = list_checkpoints(ckpt_root)
    if not ckpts:
        raise UserError(f"{ckpt_root}: no checkpoint to resume from; run without --resume")
    for path in reversed(ckpts[1:]):
        try:
            return (path, *load_checkpoint(path))
        except UserError as e:
            note(f"note: {e}; resuming from the one before")
    return (ckpts[0], *load_checkpoint(ckpts[0]))  # the oldest: its error, if any, is the user's
