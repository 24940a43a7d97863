"""`make demo`: the whole workflow on the embedded tiny model, on a CPU, in a few minutes.

data (shared tiger16 if present, else a drawn character) → report → cache → LoRA training
(with validation clips) → loss plot → T2I / T2V / V2V with the new LoRA → eval of the LoRA clip
against the base clip → animated SVG, Lottie and a palette-locked video of it → summary.
The tiny base has random weights, so its clips show the plumbing, not a style: the numbers
that matter here are that every stage runs, resumes and writes what it says.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

# the project's read-only shared folder sits beside the repository (or where VECTORWAN_SHARED says)
SHARED = Path(os.environ.get("VECTORWAN_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
TIGER16 = SHARED / "data" / "tiger16"


def find_dataset(out: Path, data: str | None) -> tuple[Path, str, str]:
    """(path, trigger, description)."""
    from vectorwan.data.synthetic import TRIGGER, make_character_dataset

    if data:
        return Path(data), "", "given"
    if (TIGER16 / "metadata.csv").is_file():
        return TIGER16.resolve(), "tigersticker_unique001", "shared tiger16"
    return make_character_dataset(out / "data", n=16, size=128), TRIGGER, "drawn character (tiger16 not found)"


def loss_plot(log: Path, out: Path) -> Path:
    from PIL import Image

    from vectorwan.atomic import atomic_path
    from vectorwan.evaluate.plots import line_chart

    losses = [json.loads(l)["loss"] for l in log.read_text().splitlines()]
    k = max(1, len(losses) // 20)
    smooth = np.convolve(losses, np.ones(k) / k, mode="valid").tolist()
    img = line_chart([("loss", losses), (f"mean of {k}", [float("nan")] * (k - 1) + smooth)],
                     "training loss (flow matching, per step)", xlabel="step", size=(720, 260))
    with atomic_path(out) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")
    return out


def run_demo(out: str | Path, steps: int = 300, data: str | None = None) -> dict:
    from vectorwan.cache import build_cache
    from vectorwan.commands.data import print_report
    from vectorwan.config import load_config
    from vectorwan.generate import Engine, Request, generate
    from vectorwan.train.loop import train

    out = Path(out)
    t_start = time.perf_counter()
    timings = {}
    data_path, trigger, what = find_dataset(out, data)
    print(f"[1/6] dataset: {what} → {data_path}")
    prompt = f"{trigger}, tiger, full body, white background" if trigger else "a character, white background"
    cfg = load_config(None, [
        f'output_dir="{out / "train"}"', 'model.path="tiny"', "model.max_sequence_length=64",
        f'data.path="{data_path}"', "data.resolution=[64, 64]", f'data.trigger="{trigger}"',
        "lora.rank=8", "lora.alpha=8.0", f"train.max_steps={steps}", "train.learning_rate=1e-3",
        "train.warmup_steps=10", 'train.mixed_precision="no"', "train.gradient_checkpointing=false",
        f"train.save_every={max(1, steps // 2)}",
        f'validation.prompts=["{prompt}"]', f"validation.every={max(1, steps // 2)}", "validation.num_frames=9",
        "validation.steps=8",
    ])
    print_report(cfg)
    t = time.perf_counter()
    print("[2/6] cache: VAE latents + UMT5 embeddings")
    build_cache(cfg)
    timings["cache_s"] = time.perf_counter() - t
    t = time.perf_counter()
    print(f"[3/6] train: LoRA r{cfg.lora.rank} on q,k,v,o,ffn.0,ffn.2 for {steps} steps")
    summary = train(cfg)
    timings["train_s"] = time.perf_counter() - t
    log = out / "train" / "train_log.jsonl"
    rows = [json.loads(l) for l in log.read_text().splitlines()]
    plot = loss_plot(log, out / "loss.png")

    print("[4/6] generate: T2I, T2V, V2V with the new LoRA")
    t = time.perf_counter()
    lora = summary["weights"]
    engine = Engine("tiny", [(lora, 1.0)])
    gen = {}
    common = dict(prompt=prompt, height=64, width=64, steps=10, seed=1)
    gen["t2i"] = generate(engine, Request(task="t2i", **common), out / "generate" / "t2i.png")[0]
    gen["t2v"] = generate(engine, Request(task="t2v", frames=17, **common), out / "generate" / "t2v.mp4")[0]
    gen["v2v"] = generate(engine, Request(task="v2v", video=gen["t2v"]["output"], strength=0.6, **common),
                          out / "generate" / "v2v.mp4")[0]
    base = generate(Engine("tiny"), Request(task="t2v", frames=17, **common), out / "generate" / "t2v_base.mp4")[0]
    timings["generate_s"] = time.perf_counter() - t

    print("[5/6] eval (LoRA vs base, same seed) and vectorize (animated SVG + Lottie)")
    from vectorwan.cli import main as cli

    t = time.perf_counter()
    ref = data_path / "train" if (data_path / "train").is_dir() else data_path
    rc_eval = cli(["eval", gen["t2v"]["output"], "--baseline", base["output"], "--reference", str(ref),
                   "--out", str(out / "eval")])
    rc_svg = cli(["vectorize", gen["t2v"]["output"], "--out", str(out / "vector" / "t2v.svg"),
                  "--deflicker-out", str(out / "vector" / "t2v_locked.mp4")])
    rc_lottie = cli(["vectorize", gen["t2v"]["output"], "--out", str(out / "vector" / "t2v_lottie.json")])
    timings["eval_vectorize_s"] = time.perf_counter() - t
    if rc_eval or rc_svg or rc_lottie:
        raise RuntimeError(f"demo: eval/vectorize failed (exit codes {rc_eval}, {rc_svg}, {rc_lottie})")
    timings["total_s"] = time.perf_counter() - t_start

    result = {
        "dataset": str(data_path), "lora": lora, "loss_plot": str(plot), "train_log": str(log),
        "samples": str(out / "train" / "samples"),
        "steps": steps, "first_loss_mean10": float(np.mean([r["loss"] for r in rows[:10]])),
        "last_loss_mean10": float(np.mean([r["loss"] for r in rows[-10:]])),
        "s_per_step_median": float(np.median([r["s_per_step"] for r in rows])),
        "peak_rss_mb": float(max(r["peak_mem_mb"] for r in rows)),
        "outputs": {k: {"output": v["output"], "contact_sheet": v["contact_sheet"], "sidecar": v["sidecar"]} for k, v in gen.items()},
        "eval_report": str(out / "eval" / "report.md"),
        "vector": {"animated_svg": str(out / "vector" / "t2v.svg"), "lottie": str(out / "vector" / "t2v_lottie.json"),
                   "palette_locked": str(out / "vector" / "t2v_locked.mp4")},
        "timings": {k: round(v, 1) for k, v in timings.items()},
    }
    from vectorwan.atomic import write_json, write_text

    write_json(out / "summary.json", result)
    lines = ["# vectorwan demo", "", f"- dataset: {what} (`{data_path}`)", f"- LoRA: `{lora}`",
             f"- loss plot: `{plot}`  (mean of first 10 steps {result['first_loss_mean10']:.3f} → last 10 "
             f"{result['last_loss_mean10']:.3f})",
             f"- training: {steps} steps, median {result['s_per_step_median']:.3f} s/step, peak RSS {result['peak_rss_mb']:.0f} MB",
             f"- validation clips: `{result['samples']}`"]
    lines += [f"- {k.upper()}: `{v['output']}` (contact sheet `{v['contact_sheet']}`)" for k, v in gen.items()]
    lines += [f"- eval report (LoRA vs base): `{result['eval_report']}`",
              f"- vector: animated SVG `{result['vector']['animated_svg']}`, Lottie `{result['vector']['lottie']}`, "
              f"palette-locked video `{result['vector']['palette_locked']}`"]
    lines += ["- time (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result["timings"].items())]
    write_text(out / "summary.md", "\n".join(lines) + "\n")
    print("[6/6] summary (also in " + str(out / "summary.md") + ")")
    print("\n".join(lines[2:]))
    return result
