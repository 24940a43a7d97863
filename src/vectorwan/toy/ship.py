"""Assemble the shipped toy base (``--model toy``) from the pre-training runs, with a manifest.

    vectorwan toy ship OUT_DIR --base runs/toy/base --vae-run runs/toy/vae --dit-run runs/toy/dit
                               [--decoder-run runs/toy/vae_dec] [--world runs/toy/world]
                               [--accuracy runs/toy/accuracy/accuracy.json]

``OUT_DIR`` becomes a diffusers folder (``WanPipeline.from_pretrained`` loads it): the base folder of
``toy init-base`` (VAE with its latent statistics, UMT5 encoder, tokenizer, scheduler) with the
pre-trained transformer of the DiT run (``train.mode = "full"`` → ``OUTPUT_DIR/transformer/``), plus

* with ``--decoder-run``, the VAE of a decoder-only fine-tuning run (``toy pretrain-vae --init
  BASE_VAE --decoder-only``; its encoder must equal the base's, which is checked);
* ``sampling.json`` — the settings the model was evaluated with (steps, guidance, shift, size,
  frames, fps, negative prompt, text length); ``vectorwan generate`` takes its defaults from it;
* ``manifest.json`` — how it was made: the commands, steps, data seeds, the VAE's held-out PSNR,
  the DiT's config and final loss, the accuracy table when given, and the sha256 of every file.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from vectorwan import sampling
from vectorwan.atomic import atomic_path, check_output, write_json
from vectorwan.errors import UserError
from vectorwan.generate import sha256_file
from vectorwan.models.loading import own_model_entry, resolve


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
    keys = ("init", "batch_size", "lr", "frames", "size", "seed", "chroma_weight", "probe_weight", "probe_target",
            "probe_at", "posterior", "striped")
    args = " ".join([f"--steps {state.get('step')}"] + [f"--{k.replace('_', '-')} {cfg[k]}" for k in keys if cfg.get(k)]
                    + ([f"--anchors {' '.join(cfg['anchors'])}"] if cfg.get("anchors") else [])
                    + [f"--{k.replace('_', '-')}" for k in ("decoder_only", "balanced") if cfg.get(k)])
    return {"command": f"vectorwan toy pretrain-vae {vae_run} {args}".strip(), "steps": state.get("step"),
            "config": cfg, "held_out_psnr_db": psnr}


def _dit_record(dit_run: Path) -> dict:
    """From train_summary.json, or — for a run stopped before its last step — its newest checkpoint
    (whose weights ``OUTPUT_DIR/transformer/`` holds: the trainer writes both at every save)."""
    if (dit_run / "train_summary.json").is_file() or not (dit_run / "checkpoints").is_dir():
        summary = _json(dit_run / "train_summary.json", "give the output_dir of `vectorwan train configs/toy_pretrain.toml`")
    else:
        states = sorted((dit_run / "checkpoints").glob("step-*/state.json"))
        if not states:
            raise UserError(f"{dit_run}: no train_summary.json and no checkpoint; the run has not saved yet")
        st = json.loads(states[-1].read_text())
        log = [json.loads(x) for x in (dit_run / "train_log.jsonl").read_text().splitlines()] \
            if (dit_run / "train_log.jsonl").is_file() else []
        final = [r["loss"] for r in log if r.get("step", 0) <= st["step"]][-100:]
        summary = {"mode": st.get("mode"), "steps": st["step"], "planned_steps": st.get("total_steps"),
                   "final_loss": sum(final) / len(final) if final else None, "stopped_early": True}
    if summary.get("mode") != "full":
        raise UserError(f"{dit_run}: a {summary.get('mode')} run; the toy base needs a full fine-tuning run (train.mode = \"full\")")
    cfg_path = dit_run / "config.toml"  # the run's effective config (the recipe + every --set)
    cfg = cfg_path.read_text() if cfg_path.is_file() else ""
    command = f"vectorwan train {cfg_path}" if cfg else "vectorwan train configs/toy_pretrain.toml"
    rec = {"command": command, "steps": summary.get("steps"),
           "final_loss": summary.get("final_loss"), "config_toml": cfg}
    if summary.get("stopped_early"):
        rec.update(stopped_early=True, planned_steps=summary.get("planned_steps"), final_loss_note="mean of the last 100 steps")
    return rec


def _world_record(world: Path) -> dict:
    gt = _json(world / "ground_truth.json", "give the folder of `vectorwan toy world`")
    with open(world / "metadata.csv", newline="", encoding="utf-8") as fh:
        used = max(0, sum(1 for _ in csv.reader(fh)) - 1)  # metadata.csv may list a subset of the clips
    stills, repeat = gt.get("stills_per_prompt", 0), gt.get("repeat", {})
    return {"command": f"vectorwan toy world {world} --per-prompt {gt['per_prompt']} --seed {gt['seed']}"
                       + (f" --stills-per-prompt {stills}" if stills else "")
                       + (" --repeat " + " ".join(f"{c}={n}" for c, n in repeat.items()) if repeat else ""),
            "seed": gt["seed"], "per_prompt": gt["per_prompt"], "stills_per_prompt": stills,
            "stills_written": len(gt.get("stills", [])), "clips_written": len(gt["clips"]),
            "items_trained_on": used, "metadata_sha256": sha256_file(world / "metadata.csv")}


def _swap_decoder(base_vae: Path, new_vae: Path, out: Path) -> None:
    """Write ``new_vae`` into ``out`` with the base's latent statistics, after checking that its
    encoder (+ quant_conv) is bit-identical to the base's: the DiT was trained on those latents."""
    import torch
    from diffusers import AutoencoderKLWan

    base, new = AutoencoderKLWan.from_pretrained(base_vae), AutoencoderKLWan.from_pretrained(new_vae)
    b, n = base.state_dict(), new.state_dict()
    for k, v in b.items():
        if k.startswith(("encoder.", "quant_conv.")) and not torch.equal(v, n[k]):
            raise UserError(f"{new_vae}: its encoder differs from the base's ({k}); the DiT was trained on the base's "
                            "latents: fine-tune with `toy pretrain-vae --init BASE_VAE --decoder-only`")
    new.register_to_config(latents_mean=base.config.latents_mean, latents_std=base.config.latents_std)
    new.save_pretrained(out)


def _runs(runs) -> list[Path]:
    return [Path(r) for r in ([runs] if isinstance(runs, (str, Path)) else list(runs or []))]


def ship_toy(out_dir: str | Path, base: str | Path, vae_run, dit_run,
             world=None, accuracy: str | Path | None = None, decoder_run=None) -> Path:
    """``vae_run``, ``dit_run``, ``decoder_run`` and ``world``: one run/folder or a list of them,
    in the order they were trained (each stage started from the previous one's weights; the base's
    VAE is the last VAE stage); the last ones are shipped, all are recorded."""
    base, out_dir = Path(base), check_output(out_dir, own_model_entry)
    vae_runs, dit_runs, decoder_runs, worlds = _runs(vae_run), _runs(dit_run), _runs(decoder_run), _runs(world)
    if not vae_runs:
        raise UserError("give at least one --vae-run")
    if not dit_runs:
        raise UserError("give at least one --dit-run")
    if not (base / "model_index.json").is_file():
        raise UserError(f"{base}: not a diffusers folder; give the OUT_DIR of `vectorwan toy init-base`")
    transformer = dit_runs[-1] / "transformer"
    if not (transformer / "config.json").is_file():
        raise UserError(f"{transformer}: missing; the DiT run has not finished (resume it with --resume)")
    manifest = {"made_by": "vectorwan toy ship", "base": str(base), "sampling": sampling.TOY}
    # the DiT runs are read first: a LoRA run given as --dit-run is the likelier mistake
    for key, records in (("dit", [_dit_record(r) for r in dit_runs]), ("vae", [_vae_record(r) for r in vae_runs]),
                         ("world", [_world_record(w) for w in worlds]),
                         ("decoder", [_vae_record(r) for r in decoder_runs])):
        if records:  # the shipped (last) stage, and every stage when there were several
            manifest[key] = records[-1]
            if len(records) > 1:
                manifest[f"{key}_stages"] = records
    decoder_run = decoder_runs[-1] if decoder_runs else None
    if accuracy:
        manifest["accuracy"] = _json(Path(accuracy), "give the accuracy.json of `vectorwan toy accuracy`")
    with atomic_path(out_dir, suffix="") as tmp:
        shutil.copytree(base, tmp, ignore=shutil.ignore_patterns("transformer", "sampling.json", "manifest.json"))
        shutil.copytree(transformer, tmp / "transformer")
        if decoder_run:
            shutil.rmtree(tmp / "vae")
            _swap_decoder(base / "vae", decoder_run / "checkpoint" / "vae", tmp / "vae")
        sampling.write(tmp, sampling.TOY)
        manifest["files"] = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*"))
                             if p.is_file() and p.name != "manifest.json"}
        write_json(tmp / "manifest.json", manifest)
    return out_dir


def export_toy(out_dir: str | Path) -> Path:
    """Copy the shipped toy base to ``out_dir`` (a diffusers folder with sampling.json + manifest.json)."""
    out_dir = check_output(out_dir, own_model_entry)
    src = Path(resolve("toy").location)
    with atomic_path(out_dir, suffix="") as tmp:
        shutil.copytree(src, tmp)
    return out_dir
