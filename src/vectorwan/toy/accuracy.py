"""Prompt accuracy of a model on the toy world: generate every colour × shape × motion prompt and
score each clip with the automatic checks (:mod:`vectorwan.toy.checks`).

    vectorwan toy accuracy OUT_DIR [--model toy] [--lora FILE] [--seeds 1000 1001] [--save-clips]

Clip ``i`` (prompt index ``i`` of :func:`world.all_prompts`) with seed ``s`` is generated from the
noise of ``torch.Generator().manual_seed(s * 1000 + i)``, so any one clip is reproduced by
``vectorwan generate --prompt P --seed s*1000+i`` (prompts are batched only for speed; every clip
has its own generator). Writes ``OUT_DIR/accuracy.json`` (settings, per-clip results, the table),
``OUT_DIR/accuracy.md`` and ``OUT_DIR/sheet.png``: one cell per prompt (frames 0, middle, last),
framed green when all three checks pass, red otherwise.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from vectorwan.atomic import atomic_path, write_json, write_text
from vectorwan.errors import UserError
from vectorwan.frames import read_frames, to_uint8, write_frames
from vectorwan.generate import Engine
from vectorwan.toy import checks, world
from vectorwan.toy.identity import identity_score, reference_signature

BATCH = 15
LABEL_W, HEAD_H, PAD = 150, 18, 3  # sheet layout: row labels, column header, gap between cells
PASS, FAIL = (40, 170, 60), (220, 40, 40)  # cell frame colours


def clip_seed(seed: int, i: int) -> int:
    return seed * 1000 + i


def generate_batch(engine, prompts: list[str], seeds: list[int]) -> np.ndarray:
    """uint8 N×T×H×W×3 clips, one per prompt, with the engine's defaults (the model's sampling.json)."""

    return to_uint8(engine.t2v_batch(prompts, seeds))


def cell(frames: np.ndarray, ok: bool, border: int = 2) -> np.ndarray:
    t = len(frames)
    strip = np.concatenate([frames[0], np.full((frames.shape[1], 1, 3), 255, np.uint8), frames[t // 2],
                            np.full((frames.shape[1], 1, 3), 255, np.uint8), frames[-1]], axis=1)
    colour = PASS if ok else FAIL
    out = np.empty((strip.shape[0] + 2 * border, strip.shape[1] + 2 * border, 3), np.uint8)
    out[:] = colour
    out[border:-border, border:-border] = strip
    return out


def accuracy_sheet(clips: list[np.ndarray], results: list[dict]) -> np.ndarray:
    """Rows: shape × motion; columns: colours (one seed's 90 clips, in all_prompts() order)."""
    import cv2

    cells = [cell(c, all(r[f"{a}_ok"] for a in checks.ATTRS)) for c, r in zip(clips, results)]
    ch, cw = cells[0].shape[:2]
    label_w, head_h, pad = LABEL_W, HEAD_H, PAD
    cols = list(world.COLOURS)
    rows = [(s, m) for s in world.SHAPES for m in world.MOTIONS]
    sheet = np.full((head_h + len(rows) * (ch + pad), label_w + len(cols) * (cw + pad), 3), 255, np.uint8)
    index = {p: k for k, p in enumerate(world.all_prompts())}
    for j, colour in enumerate(cols):
        cv2.putText(sheet, colour, (label_w + j * (cw + pad) + 4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for r, (shape, motion) in enumerate(rows):
        y = head_h + r * (ch + pad)
        cv2.putText(sheet, f"{shape}, {motion}", (3, y + ch // 2 + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                    cv2.LINE_AA)
        for j, colour in enumerate(cols):
            k = index[(colour, shape, motion)]
            x = label_w + j * (cw + pad)
            sheet[y:y + ch, x:x + cw] = cells[k]
    return sheet


def markdown_table(table: dict, title: str = "") -> str:
    lines = [f"{title}\n" if title else "",
             "| clips | colour | shape | motion | all three |", "|---|---|---|---|---|",
             f"| {table['n']} | {table['colour']:.3f} | {table['shape']:.3f} | {table['motion']:.3f} | {table['all']:.3f} |",
             "", "| attribute | per value |", "|---|---|"]
    for a in checks.ATTRS:
        vals = table["per_value"].get(a, {})
        lines.append(f"| {a} | " + ", ".join(f"{v} {acc:.2f}" for v, acc in vals.items()) + " |")
    return "\n".join(lines).lstrip("\n") + "\n"


def run_accuracy(out_dir: str | Path, model: str = "toy", loras=(), seeds=(1000,), save_clips: bool = False,
                 progress: bool = True, sampling: dict | None = None) -> dict:

    out = Path(out_dir)
    engine = Engine.load(model, loras, sampling=sampling)
    prompts = world.all_prompts()
    texts = [world.caption(*p) for p in prompts]
    results, sheet_clips = [], []
    jobs = [(s, i) for s in seeds for i in range(len(prompts))]
    bar = tqdm(total=len(jobs), desc="accuracy", unit="clip", disable=not progress)
    for b in range(0, len(jobs), BATCH):
        chunk = jobs[b:b + BATCH]
        clips = generate_batch(engine, [texts[i] for _, i in chunk], [clip_seed(s, i) for s, i in chunk])
        for (s, i), frames in zip(chunk, clips):
            r = {"prompt": texts[i], "seed": clip_seed(s, i), **checks.score_clip(frames, prompts[i])}
            results.append(r)
            if s == seeds[0]:
                sheet_clips.append(frames)
            if save_clips:
                write_frames(out / "clips" / f"{world.clip_name(*prompts[i], s)}.mp4", frames, engine.defaults["fps"])
        bar.update(len(chunk))
    bar.close()
    table = checks.accuracy_table(results)
    settings = {k: engine.defaults[k] for k in ("steps", "guidance", "shift", "height", "width", "frames")}
    report = {"model": model, "loras": [list(x) for x in loras], "seeds": list(seeds), "sampling": settings,
              "table": table, "results": results}
    write_json(out / "accuracy.json", report)
    title = (f"Prompt accuracy of `{model}`{' + LoRA' if loras else ''}: 90 prompts × seeds {list(seeds)}, "
             f"{settings['steps']} steps, guidance {settings['guidance']}, shift {settings['shift']}")
    write_text(out / "accuracy.md", markdown_table(table, title))
    with atomic_path(out / "sheet.png") as tmp:
        Image.fromarray(accuracy_sheet(sheet_clips, results[:len(sheet_clips)])).save(tmp)
    return report


def read_stills(folder: str | Path) -> list[np.ndarray]:
    """The reference stills of a character dataset (``folder/train/*.png`` or ``folder/*.png``)."""

    folder = Path(folder)
    files = sorted((folder / "train").glob("*.png")) or sorted(folder.glob("*.png"))
    if not files:
        raise UserError(f"{folder}: no PNG stills (expected train/*.png of `vectorwan toy character`)")
    return [read_frames(f).frames[0] for f in files]


def trigger_prompts(trigger: str) -> list[tuple[str, str]]:
    """(prompt, motion) for every motion: ``"{trigger}, {motion}, white background"``."""
    return [(f"{trigger + ', ' if trigger else ''}{m}, white background", m) for m in world.MOTIONS]


def character_scores(model: str, loras, stills: list[np.ndarray], trigger: str, seeds=(7000,),
                     steps: int | None = None) -> dict:
    """Identity (palette × silhouette vs the stills) and motion accuracy of trigger prompts.

    Every motion × seed: ``"{trigger}, {motion}, white background"``, clip seed ``clip_seed(s, i)``.
    Returns means plus per-clip rows; the same seeds for a base and a LoRA make them paired.
    """

    engine = Engine.load(model, loras, sampling={"steps": steps} if steps else None)
    refs = reference_signature(stills)
    items = [(s, i, p, m) for s in seeds for i, (p, m) in enumerate(trigger_prompts(trigger))]
    clips = generate_batch(engine, [p for _, _, p, _ in items], [clip_seed(s, i) for s, i, _, _ in items])
    rows = []
    for (s, i, p, m), frames in zip(items, clips):
        ident = identity_score(frames, refs)
        got = checks.motion_of(frames)
        rows.append({"prompt": p, "seed": clip_seed(s, i), "motion": m, "got_motion": got, "motion_ok": got == m,
                     **{f"identity_{k}": float(v) for k, v in ident.items()}})
    return {"identity": float(np.mean([r["identity_score"] for r in rows])),
            "palette": float(np.mean([r["identity_palette"] for r in rows])),
            "silhouette": float(np.mean([r["identity_silhouette"] for r in rows])),
            "motion": float(np.mean([r["motion_ok"] for r in rows])), "rows": rows, "clips": clips}
