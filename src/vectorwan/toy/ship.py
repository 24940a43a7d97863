"""Assemble the shipped toy base (``--model toy``) from the pre-training runs, with a manifest.

    vectorwan toy ship OUT_DIR --base runs/toy/base --vae-run runs/toy/vae --dit-run runs/toy/dit
                               [--world runs/toy/world] [--accuracy runs/toy/accuracy/accuracy.json]

``OUT_DIR`` becomes a diffusers folder (``WanPipeline.from_pretrained`` loads it): the base folder of
``toy init-base`` (VAE with its latent statistics, UMT5 encoder, tokenizer, scheduler) with the
pre-trained transformer of the DiT run (``train.mode = "full"`` → ``OUTPUT_DIR/transformer/``), plus

* ``sampling.json`` — the settings the model was evaluated with (steps, guidance, shift, size,
  frames, fps, negative prompt, text length); ``vectorwan generate`` takes its defaults from it;
* ``manifest.json`` — how it was made: the commands, steps, data seeds, the VAE's held-out PSNR,
  the DiT's config and final loss, the accuracy table when given, and the sha256 of every file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from vectorwan.errors import UserError

SAMPLING = {"steps": 20, "guidance": 5.0, "shift": 3.0, "height": 64, "width": 64, "frames": 17, "fps": 16,
            "negative_prompt": "", "max_sequence_length": 64}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise UserError(f"{path}: missing; {what}")
    return json.loads(path.read_text())


def _vae_record(vae_run: Path) -> dict:
    state = _json(vae_run / "checkpoint" / "state.json", "give the OUT_DIR of `vectorwan toy pretrain-vae`")
    psnr = None
    log = vae_run / "vae_log.jsonl"
    if log.is_file():
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("psnr") is not None:
                psnr = rec["psnr"]
    cfg = state.get("config", {})
    args = " ".join([f"--steps {state.get('step')}"] + [f"--{k.replace('_', '-')} {cfg[k]}"
                                                        for k in ("batch_size", "lr", "frames", "size", "seed") if k in cfg])
    return {"command": f"vectorwan toy pretrain-vae {vae_run} {args}".strip(), "steps": state.get("step"),
            "config": cfg, "held_out_psnr_db": psnr}


def _dit_record(dit_run: Path) -> dict:
    summary = _json(dit_run / "train_summary.json", "give the output_dir of `vectorwan train configs/toy_pretrain.toml`")
    if summary.get("mode") != "full":
        raise UserError(f"{dit_run}: a {summary.get('mode')} run; the toy base needs a full fine-tuning run (train.mode = \"full\")")
    cfg = (dit_run / "config.toml").read_text() if (dit_run / "config.toml").is_file() else ""
    return {"command": "vectorwan train configs/toy_pretrain.toml", "steps": summary.get("steps"),
            "final_loss": summary.get("final_loss"), "config_toml": cfg}


def _world_record(world: Path) -> dict:
    gt = _json(world / "ground_truth.json", "give the folder of `vectorwan toy world`")
    return {"command": f"vectorwan toy world {world} --per-prompt {gt['per_prompt']} --seed {gt['seed']}",
            "seed": gt["seed"], "per_prompt": gt["per_prompt"], "clips": len(gt["clips"]),
            "metadata_sha256": sha256(world / "metadata.csv")}


def ship_toy(out_dir: str | Path, base: str | Path, vae_run: str | Path, dit_run: str | Path,
             world: str | Path | None = None, accuracy: str | Path | None = None) -> Path:
    from vectorwan.atomic import atomic_path, write_json

    base, vae_run, dit_run, out_dir = Path(base), Path(vae_run), Path(dit_run), Path(out_dir)
    if not (base / "model_index.json").is_file():
        raise UserError(f"{base}: not a diffusers folder; give the OUT_DIR of `vectorwan toy init-base`")
    transformer = dit_run / "transformer"
    if not (transformer / "config.json").is_file():
        raise UserError(f"{transformer}: missing; the DiT run has not finished (resume it with --resume)")
    dit = _dit_record(dit_run)
    manifest = {"made_by": "vectorwan toy ship", "vae": _vae_record(vae_run), "dit": dit, "base": str(base),
                "sampling": SAMPLING}
    if world:
        manifest["world"] = _world_record(Path(world))
    if accuracy:
        manifest["accuracy"] = _json(Path(accuracy), "give the accuracy.json of `vectorwan toy accuracy`")
    with atomic_path(out_dir, suffix="") as tmp:
        shutil.copytree(base, tmp, ignore=shutil.ignore_patterns("transformer", "sampling.json", "manifest.json"))
        shutil.copytree(transformer, tmp / "transformer")
        write_json(tmp / "sampling.json", SAMPLING)
        manifest["files"] = {str(p.relative_to(tmp)): sha256(p) for p in sorted(tmp.rglob("*"))
                             if p.is_file() and p.name != "manifest.json"}
        write_json(tmp / "manifest.json", manifest)
    return out_dir


def export_toy(out_dir: str | Path) -> Path:
    """Copy the shipped toy base to ``out_dir`` (a diffusers folder with sampling.json + manifest.json)."""
    from vectorwan.atomic import atomic_path
    from vectorwan.models.loading import resolve

    src = Path(resolve("toy").location)
    with atomic_path(Path(out_dir), suffix="") as tmp:
        shutil.copytree(src, tmp)
    return Path(out_dir)
