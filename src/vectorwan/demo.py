"""`make demo`: the whole workflow on the shipped toy base (``--model toy``), on a CPU, in minutes.

data (16 RGBA stills of a character the toy base never saw, or ``--data``) → report → cache →
LoRA training with the character recipe (configs/toy_character.toml, validation clips) → loss
plot → T2I / T2V / V2V with the new LoRA → identity and motion of trigger prompts, LoRA vs
base → eval of the LoRA clip against the base clip → animated SVG, Lottie and a palette-locked
video of it → summary (summary.md / summary.json, contact sheets).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vectorwan.atomic import atomic_path, write_json, write_text
from vectorwan.cache import build_cache
from vectorwan.config import load_config
from vectorwan.data.report import dataset_report
from vectorwan.evaluate import run as evaluate
from vectorwan.evaluate.plots import line_chart
from vectorwan.frames import write_frames
from vectorwan.generate import Engine, Request, generate
from vectorwan.toy.accuracy import cell, character_scores, read_stills
from vectorwan.toy.character import TRIGGER, make_character_dataset
from vectorwan.toy.world import render_clip
from vectorwan.vector import files as vector_files

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "toy_character.toml"


def find_dataset(out: Path, data: str | None, trigger: str) -> tuple[Path, str, str]:
    """(path, trigger, description)."""
    if data:
        return Path(data), trigger, "given"
    if (out / "data" / "metadata.csv").is_file():
        return out / "data", TRIGGER, "toy character (16 RGBA stills, already written)"
    return make_character_dataset(out / "data", n=16), TRIGGER, "toy character (16 RGBA stills the toy base never saw)"


def loss_plot(log: Path, out: Path) -> Path:
    losses = [json.loads(l)["loss"] for l in log.read_text().splitlines()]
    k = max(1, len(losses) // 20)
    smooth = np.convolve(losses, np.ones(k) / k, mode="valid").tolist()
    img = line_chart([("loss", losses), (f"mean of {k}", [float("nan")] * (k - 1) + smooth)],
                     "training loss (flow matching, per step)", xlabel="step", size=(720, 260))
    with atomic_path(out) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")
    return out


def score_table(base: dict, lora: dict) -> list[str]:
    rows = [("identity (palette × silhouette)", "identity"), ("palette", "palette"), ("silhouette", "silhouette"),
            ("motion accuracy", "motion")]
    return ["| trigger prompts (5 motions × 2 seeds) | toy base | + LoRA |", "|---|---|---|",
            *[f"| {name} | {base[k]:.3f} | {lora[k]:.3f} |" for name, k in rows]]


def trigger_sheet(scores: dict, out: Path) -> Path:
    """Rows: base, LoRA; columns: the trigger prompts (frames 0, middle, last; green frame = motion right)."""
    rows = []
    for name in ("base", "lora"):
        sc = scores[name]
        cells = [cell(c, r["motion_ok"]) for c, r in zip(sc["clips"], sc["rows"])]
        rows.append(np.concatenate([np.pad(c, ((2, 2), (2, 2), (0, 0)), constant_values=255) for c in cells], axis=1))
    with atomic_path(out) as tmp:
        Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, format="PNG")
    return out


def run_demo(out: str | Path, steps: int | None = None, data: str | None = None, trigger: str = "") -> dict:
    from vectorwan.train.loop import train  # torch

    out = Path(out)
    t_start = time.perf_counter()
    timings = {}
    data_path, trigger, what = find_dataset(out, data, trigger)
    print(f"[1/6] dataset: {what} → {data_path}")
    prompt = f"{trigger}, moving left, white background" if trigger else "moving left, white background"
    overrides = [f'output_dir="{out / "train"}"', f'data.path="{data_path}"', f'data.trigger="{trigger}"',
                 f'validation.prompts=["{prompt}", "{prompt.replace("moving left", "staying still")}"]']
    if steps:
        overrides += [f"train.max_steps={steps}", f"train.save_every={max(1, steps // 2)}",
                      f"validation.every={max(1, steps // 2)}"]
    cfg = load_config(RECIPE, overrides)
    steps = cfg.train.max_steps or cfg.train.steps_per_epoch * cfg.train.epochs
    print("\n".join(dataset_report(cfg.data.path, cfg.data.trigger)))
    t = time.perf_counter()
    print("[2/6] cache: VAE latents + UMT5 embeddings")
    build_cache(cfg)
    timings["cache_s"] = time.perf_counter() - t
    t = time.perf_counter()
    print(f"[3/6] train: LoRA r{cfg.lora.rank} on q,k,v,o,ffn.0,ffn.2 of the toy base for {steps} steps")
    summary = train(cfg)
    timings["train_s"] = time.perf_counter() - t
    log = out / "train" / "train_log.jsonl"
    rows = [json.loads(l) for l in log.read_text().splitlines()]
    plot = loss_plot(log, out / "loss.png")

    print("[4/6] generate: T2I, T2V, V2V with the new LoRA; trigger prompts scored, LoRA vs base")
    t = time.perf_counter()
    lora = summary["weights"]
    engine = Engine.load("toy", [(lora, 1.0)])
    gen = {}
    gen["t2i"] = generate(engine, Request(prompt=prompt.replace("moving left", "staying still"), task="t2i", seed=1),
                          out / "generate" / "t2i.png")[0]
    gen["t2v"] = generate(engine, Request(prompt=prompt, task="t2v", seed=1), out / "generate" / "t2v.mp4")[0]
    source = write_frames(out / "generate" / "v2v_source.mp4", render_clip("orange", "circle", "moving right", 3).frames, 16)
    gen["v2v"] = generate(engine, Request(prompt=prompt.replace("left", "right"), task="v2v", video=str(source),
                                          strength=0.7, seed=1), out / "generate" / "v2v.mp4")[0]
    base = generate(Engine.load("toy"), Request(prompt=prompt, task="t2v", seed=1), out / "generate" / "t2v_base.mp4")[0]
    stills = read_stills(data_path)
    scores = {name: character_scores("toy", loras, stills, trigger, seeds=(7000, 7001))
              for name, loras in (("base", []), ("lora", [(lora, 1.0)]))}
    timings["generate_s"] = time.perf_counter() - t
    sheet = trigger_sheet(scores, out / "trigger_prompts.png")

    print("[5/6] eval (LoRA vs base, same seed) and vectorize (animated SVG + Lottie)")
    t = time.perf_counter()
    ref = data_path / "train" if (data_path / "train").is_dir() else data_path
    rep, paths = evaluate.evaluate_clips([gen["t2v"]["output"]], out / "eval", baseline=[base["output"]],
                                         reference=str(ref))
    print(evaluate.summary_line(rep, paths, time.perf_counter() - t))
    for target, deflicker in ((out / "vector" / "t2v.svg", out / "vector" / "t2v_locked.mp4"),
                              (out / "vector" / "t2v_lottie.json", None)):
        t_vec = time.perf_counter()
        vec, written = vector_files.vectorize_file(gen["t2v"]["output"], target, deflicker=deflicker)
        print(vector_files.summary_line(vec, written, time.perf_counter() - t_vec))
    timings["eval_vectorize_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t_start

    result = {
        "dataset": str(data_path), "lora": lora, "loss_plot": str(plot), "train_log": str(log),
        "samples": str(out / "train" / "samples"),
        "steps": steps, "first_loss_mean10": float(np.mean([r["loss"] for r in rows[:10]])),
        "last_loss_mean10": float(np.mean([r["loss"] for r in rows[-10:]])),
        "s_per_step_median": float(np.median([r["s_per_step"] for r in rows])),
        "peak_rss_mb": float(max(r["peak_mem_mb"] for r in rows)),
        "outputs": {k: {"output": v["output"], "contact_sheet": v["contact_sheet"], "sidecar": v["sidecar"]} for k, v in gen.items()},
        "eval_report": str(out / "eval" / "report.md"), "trigger_sheet": str(sheet),
        "vector": {"animated_svg": str(out / "vector" / "t2v.svg"), "lottie": str(out / "vector" / "t2v_lottie.json"),
                   "palette_locked": str(out / "vector" / "t2v_locked.mp4")},
        "timings": {k: round(v, 1) for k, v in timings.items()},
        "trigger_prompts": {name: {k: v for k, v in sc.items() if k != "clips"} for name, sc in scores.items()},
    }
    write_json(out / "summary.json", result)
    lines = ["# vectorwan demo", "", f"- dataset: {what} (`{data_path}`)", f"- LoRA: `{lora}`",
             f"- loss plot: `{plot}`  (mean of first 10 steps {result['first_loss_mean10']:.3f} → last 10 "
             f"{result['last_loss_mean10']:.3f})",
             f"- training: {steps} steps, median {result['s_per_step_median']:.3f} s/step, peak RSS {result['peak_rss_mb']:.0f} MB",
             f"- validation clips: `{result['samples']}`"]
    lines += [f"- {k.upper()}: `{v['output']}` (contact sheet `{v['contact_sheet']}`)" for k, v in gen.items()]
    lines += [f"- trigger prompts, base (top) vs LoRA (bottom), frames 0 / 8 / 16: `{sheet}`",
              f"- eval report (LoRA vs base): `{result['eval_report']}`",
              f"- vector: animated SVG `{result['vector']['animated_svg']}`, Lottie `{result['vector']['lottie']}`, "
              f"palette-locked video `{result['vector']['palette_locked']}`"]
    lines += ["- time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result["timings"].items()), "",
              *score_table(scores["base"], scores["lora"])]
    write_text(out / "summary.md", "\n".join(lines) + "\n")
    print("[6/6] summary (also in " + str(out / "summary.md") + ")")
    print("\n".join(lines[2:]))
    return result
