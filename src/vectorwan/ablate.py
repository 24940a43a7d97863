"""``vectorwan ablate``: train variants of one config, generate the same prompt × seed grid with each,
score every clip, and compare every variant with the first, pair by pair.

    ablate(CONFIG, variants, OUT, seeds) → OUT/ablation.json, OUT/ablation.md, OUT/ablation.png

Phases, each skipped when its output is there (so a rerun does only what is missing or crashed):

    plan (variants → configs; one shared cache) → cache → for each variant: train → generate →
    score (OUT/variants/NAME/scores.json) → the base model, scored alike (OUT/base/scores.json)
    → compare → report

A variant that raises is recorded as crashed (its error in ``OUT/variants/NAME/error.txt``) and the
others go on; its training resumes from its newest checkpoint on the next run.

Every clip is scored with ``eval``'s metrics (``evaluate.pipeline.evaluate_frames``, with the
dataset's images as references), plus, on the toy base, the identity score against the dataset's
stills and motion accuracy (``toy.checks``). Variants are compared with the first by paired
bootstrap 95 % intervals (``evaluate.compare.paired``: clip i of every variant has the same prompt
and seed), and each with the base model by the temporal-consistency headline at matched motion.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from vectorwan.atomic import atomic_path, write_json, write_text
from vectorwan.config import Config, dump_toml, load_config
from vectorwan.errors import UserError
from vectorwan.evaluate import compare as cmp
from vectorwan.evaluate.pipeline import evaluate_frames

BATCH = 10  # clips generated at once


@dataclass(frozen=True)
class Column:
    label: str
    get: str  # "section.key" of a clip's scores
    better: str | None
    fmt: str = "{:.3f}"
    scale: float = 1.0


COLUMNS = [
    Column("E_warp ×10³", "temporal.e_warp", "lower", "{:.3f}", 1e3),
    Column("identity", "toy.identity", "higher"),
    Column("palette drift (ΔE)", "identity.palette_drift_step", "lower", "{:.2f}"),
    Column("colour-layer IoU", "identity.layer_iou_warp", "higher"),
    Column("motion accuracy", "toy.motion_ok", "higher", "{:.2f}"),
    Column("vector PSNR (dB)", "style.vec_psnr", "higher", "{:.2f}"),
    Column("palette ΔE to data", "reference.ref_palette_de", "lower", "{:.2f}"),
]


@dataclass
class Variant:
    name: str
    overrides: list[str]
    cfg: Config = field(repr=False, default=None)


# ----------------------------------------------------------------------------- plan
def split_values(text: str) -> list[str]:
    """``4,16`` → ["4", "16"]; commas inside [...] or quotes stay (``[32,32],[64,64]``)."""
    out, depth, quote, cur = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        cur += ch
    return [v.strip() for v in [*out, cur]]


def _short(override: str) -> str:
    key, value = override.split("=", 1)
    return f"{key.split('.')[-1]}={value}"


def plan_variants(vary: list[str], variants: list[str]) -> list[tuple[str, list[str]]]:
    """(name, overrides) of every variant. ``vary``: ``KEY=V1,V2`` (several: their grid);
    ``variants``: ``NAME: KEY=V KEY=V`` (or ``NAME:`` for the config as it is), in order."""
    if vary and variants:
        raise UserError("give --vary (a grid) or --variant (a list), not both")
    if variants:
        out = []
        for v in variants:
            name, sep, rest = v.partition(":")
            name = name.strip()
            if not sep or not re.fullmatch(r"[A-Za-z0-9_.+-]+", name):
                raise UserError(f"--variant {v!r}: expected NAME: KEY=VALUE ... (a NAME of letters, digits, . _ + -)")
            out.append((name, rest.split()))
        names = [n for n, _ in out]
        if len(set(names)) != len(names):
            raise UserError(f"--variant: names must differ (got {', '.join(names)})")
        return out
    if not vary:
        raise UserError("nothing to vary; give --vary KEY=V1,V2 or --variant NAME: KEY=V ...")
    axes = []
    for item in vary:
        key, sep, values = item.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise UserError(f"--vary {item!r}: expected KEY=V1,V2 (e.g. lora.rank=4,16)")
        axes.append([f"{key.strip()}={v}" for v in split_values(values)])
    # the name is a folder name too: what is not a plain character becomes "_" (a clash gets its number)
    out = [(re.sub(r"[^A-Za-z0-9_.,=+-]", "_", ",".join(_short(o) for o in combo)), list(combo))
           for combo in itertools.product(*axes)]
    names = [n for n, _ in out]
    return [(f"{n}-{k}" if names.count(n) > 1 else n, o) for k, (n, o) in enumerate(out)]


def variant_configs(config: str | Path, sets: list[str], planned, out: Path) -> list[Variant]:
    """Each variant's config: the file, ``--set``, the variant's overrides; its own output folder, one
    shared cache (entries are keyed by content, so variants that change no data setting share them)."""
    base = load_config(config, sets)
    cache = str(base.cache_dir) if base.cache.dir else str(out / "cache")
    result = []
    for name, overrides in planned:  # a malformed override is load_config's one line
        cfg = load_config(config, [*sets, *overrides, f'output_dir="{out / "variants" / name}"',
                                   f'cache.dir="{cache}"', "validation.every=0"])
        result.append(Variant(name, overrides, cfg))
    return result


def config_hash(cfg: Config) -> str:
    return hashlib.sha256(dump_toml(cfg).encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- prompts and scores
@dataclass
class Grid:
    prompts: list[tuple[str, str | None]]  # (prompt, the motion it asks for, when known)
    seeds: list[int]

    def items(self) -> list[tuple[str, str | None, int]]:
        return [(p, m, s * 1000 + i) for s in self.seeds for i, (p, m) in enumerate(self.prompts)]


def make_grid(cfg: Config, prompts_file: str | None, n_seeds: int, first_seed: int) -> Grid:
    """The prompts: ``--prompts FILE`` (one a line), else the toy trigger prompts (one per motion)
    on the toy base, else the config's validation prompts."""
    from vectorwan.toy import world
    from vectorwan.toy.accuracy import trigger_prompts

    if n_seeds < 1:
        raise UserError(f"--seeds {n_seeds}: give at least 1")
    if prompts_file:
        p = Path(prompts_file)
        if not p.is_file():
            raise UserError(f"--prompts {p}: no such file; give a text file with one prompt a line")
        lines = [l.strip() for l in p.read_text(encoding="utf-8", errors="replace").splitlines() if l.strip()]
        prompts = [(l, next((m for m in world.MOTIONS if m in l), None)) for l in lines]
    elif cfg.model.path == "toy":
        prompts = trigger_prompts(cfg.data.trigger)
    else:
        prompts = [(p, None) for p in cfg.validation.prompts]
    if not prompts:
        raise UserError("no prompts; give --prompts FILE or validation.prompts in the config")
    return Grid(prompts, list(range(first_seed, first_seed + n_seeds)))


def dataset_stills(cfg: Config) -> list[np.ndarray]:
    from vectorwan.data.dataset import discover
    from vectorwan.frames import read_frames

    return [read_frames(it.path, max_frames=1).frames[0] for it in discover(cfg.data.path).items if it.kind == "image"]


def score_clips(clips: np.ndarray, items: list[tuple[str, str | None, int]], refs, toy_refs, fps: float) -> list[dict]:
    """One row per clip: ``eval``'s metrics and, where known, the toy identity and motion."""
    from vectorwan.toy import checks
    from vectorwan.toy.identity import identity_score

    rows = []
    for frames, (prompt, motion, seed) in zip(clips, items):
        r = evaluate_frames(frames, fps, refs=refs)
        r = {k: r[k] for k in ("style", "temporal", "identity", "reference", "skipped")}
        toy = {}
        if toy_refs is not None:
            toy["identity"] = float(identity_score(frames, toy_refs)["score"])
        if motion is not None:
            got = checks.motion_of(frames)
            toy.update(motion=motion, got_motion=got, motion_ok=float(got == motion))
        rows.append({"prompt": prompt, "seed": seed, **r, "toy": toy or None})
    return rows


def value(row: dict, get: str) -> float:
    """The value of column ``get`` ("section.key") in one clip's row (NaN when absent)."""
    sec, key = get.split(".")
    return cmp.metric_value(row, cmp.Metric(sec, key, "", None))


# ----------------------------------------------------------------------------- phases
def grid_clips(model: str, loras, grid: Grid, progress: bool = False, desc: str = "clips"):
    """Yield ``(items, clips uint8 N×T×H×W×3, fps)`` of the grid, a batch at a time, made with ``model`` + ``loras``."""
    from vectorwan.frames import to_uint8
    from vectorwan.generate import Engine

    engine = Engine.load(model, loras)
    engine.t2v.set_progress_bar_config(disable=True)  # one bar: the grid's
    items = grid.items()
    for i in tqdm(range(0, len(items), BATCH), desc=desc, disable=not progress):
        chunk = items[i:i + BATCH]
        yield chunk, to_uint8(engine.t2v_batch([p for p, _, _ in chunk], [s for _, _, s in chunk])), \
            float(engine.defaults["fps"])


def grid_rows(model: str, loras, ctx: "Context", desc: str) -> list[dict]:
    """The grid's scored rows (clips are scored a batch at a time and not kept)."""
    return [row for chunk, clips, fps in grid_clips(model, loras, ctx.grid, ctx.progress, desc)
            for row in score_clips(clips, chunk, ctx.refs, ctx.toy_refs, fps)]


def run_scored(folder: Path, key: dict, make) -> list[dict]:
    """``folder/scores.json`` when it was made with ``key``; else ``make()``'s rows, written there."""
    f = folder / "scores.json"
    key = json.loads(json.dumps(key))  # as it reads back (tuples → lists)
    if f.is_file():
        try:
            saved = json.loads(f.read_text())
            if saved.get("key") == key:
                return saved["rows"]
        except (json.JSONDecodeError, KeyError):
            pass
    rows = make()
    write_json(f, {"key": key, "rows": rows})
    return rows


def train_variant(v: Variant, progress: bool) -> Path:
    from vectorwan.train.checkpoint import list_checkpoints
    from vectorwan.train.loop import train

    out = Path(v.cfg.output_dir)
    summary, recorded = out / "train_summary.json", out / "config.toml"
    same = recorded.is_file() and recorded.read_text() == dump_toml(v.cfg)
    if same and summary.is_file():
        return Path(json.loads(summary.read_text())["weights"])
    resume = same and bool(list_checkpoints(out / "checkpoints"))
    if recorded.is_file() and not same:
        raise UserError(f"{out}: holds a run of another config; give a new --out or remove that variant's folder")
    return Path(train(v.cfg, resume=resume, progress=progress)["weights"])


@dataclass
class Context:
    grid: Grid
    refs: list | None
    toy_refs: dict | None
    progress: bool


def variant_rows(v: Variant, ctx: Context) -> list[dict]:
    folder = Path(v.cfg.output_dir)
    weights = train_variant(v, ctx.progress)
    key = {"config": config_hash(v.cfg), "weights_sha": hashlib.sha256(weights.read_bytes()).hexdigest()[:16],
           "grid": ctx.grid.items()}
    return run_scored(folder, key, lambda: grid_rows(v.cfg.model.path, [(str(weights), 1.0)], ctx, f"{v.name}: clips"))


def base_rows(cfg: Config, out: Path, ctx: Context) -> list[dict]:
    key = {"model": cfg.model.path, "grid": ctx.grid.items()}
    return run_scored(out / "base", key, lambda: grid_rows(cfg.model.path, [], ctx, "base: clips"))


# ----------------------------------------------------------------------------- compare and report
def summarise(name: str, overrides: list[str], rows: list[dict], first: list[dict], base: list[dict],
              n_boot: int) -> dict:
    cols = {}
    for c in COLUMNS:
        mine = [value(r, c.get) for r in rows]
        if not np.isfinite(mine).any():
            continue
        cols[c.get] = cmp.paired(mine, [value(r, c.get) for r in first], c.better, n_boot)
    e = lambda rs, k: [value(r, f"temporal.{k}") for r in rs]  # noqa: E731
    head = cmp.headline(e(rows, "e_warp"), e(base, "e_warp"), e(rows, "motion_net_px"), e(base, "motion_net_px"),
                        n_boot=n_boot)
    return {"name": name, "overrides": overrides, "status": "ok", "clips": len(rows), "vs_first": cols,
            "vs_base_headline": {k: head[k] for k in ("value", "ci", "matched", "pairs", "reason")}}


def _fmt(c: Column, v: float) -> str:
    return "–" if not np.isfinite(v) else c.fmt.format(v * c.scale)


def markdown(rep: dict) -> str:
    rows = [v for v in rep["variants"] if v["status"] == "ok"]
    first = rep["variants"][0]["name"]
    cols = [c for c in COLUMNS if any(c.get in v["vs_first"] for v in rows)]
    head = ["variant", "temporal consistency vs base (95 % CI)", *[c.label for c in cols]]
    lines = [f"# Ablation: {rep['config']}", "",
             f"{rep['n_clips']} clips per variant ({len(rep['grid']['prompts'])} prompts × {len(rep['grid']['seeds'])} "
             f"seeds, {rep['grid']['seeds'][0]}–{rep['grid']['seeds'][-1]}, the same for every variant and the base; "
             f"`{' '.join('--set ' + x for x in rep['sets'])}`). Each cell: the variant's mean, then its paired "
             f"difference from **{first}** with a bootstrap 95 % interval; ✓ marks an interval that excludes 0 in "
             f"the better direction, ✗ in the worse. Temporal consistency: 1 − ΣE_warp(variant) / ΣE_warp(base) "
             f"over clip pairs at matched motion (matched / all).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base_means = rep["base"]["means"]
    lines.append("| base model | – | " + " | ".join(_fmt(c, base_means.get(c.get, float("nan"))) for c in cols) + " |")
    for v in rows:
        h = v["vs_base_headline"]
        hv = ("–" if h["value"] is None else
              f"{h['value'] * 100:+.1f} % [{h['ci'][0] * 100:+.1f}, {h['ci'][1] * 100:+.1f}] ({h['matched']}/{h['pairs']})")
        cells = []
        for c in cols:
            p = v["vs_first"].get(c.get)
            if p is None:
                cells.append("–")
                continue
            cell = _fmt(c, p["cand_mean"])
            if v["name"] != first and p["n"]:
                lo, hi = (x * c.scale for x in p["diff_ci"])
                good = (lo > 0 or hi < 0) and ((lo > 0) == (c.better == "higher"))
                bad = (lo > 0 or hi < 0) and not good
                cell += f" ({p['diff'] * c.scale:+.3g} [{lo:+.3g}, {hi:+.3g}]){' ✓' if good else ' ✗' if bad else ''}"
            cells.append(cell)
        lines.append(f"| {v['name']} | {hv} | " + " | ".join(cells) + " |")
    for v in rep["variants"]:
        if v["status"] != "ok":
            lines.append(f"\n**{v['name']}**: {v['status']} — {v.get('error', '')}")
    lines += ["", "Overrides: " + "; ".join(f"**{v['name']}**: {' '.join(v['overrides']) or '(the config)'}"
                                             for v in rep["variants"]), ""]
    return "\n".join(lines)


def plot(rep: dict) -> np.ndarray:
    """One panel per column: each variant's paired difference from the first, with its 95 % interval."""
    from vectorwan.evaluate.plots import interval_chart, stack

    rows = [v for v in rep["variants"] if v["status"] == "ok"][1:]
    panels = []
    for c in COLUMNS:
        pts = [(v["name"], v["vs_first"][c.get]["diff"] * c.scale, [x * c.scale for x in v["vs_first"][c.get]["diff_ci"]])
               for v in rows if c.get in v["vs_first"]]
        if pts:
            label = c.label.replace("×10³", "x 1000").replace("ΔE", "dE")  # the plot font is ASCII
            panels.append(interval_chart(pts, f"{label}: difference from {rep['variants'][0]['name']}"
                                              f" ({c.better or 'context'} is better)"))
    return stack(panels) if panels else np.full((40, 400, 3), 255, np.uint8)


def write_report(out: Path, rep: dict) -> None:
    write_json(out / "ablation.json", rep)
    write_text(out / "ablation.md", markdown(rep))
    with atomic_path(out / "ablation.png") as tmp:
        Image.fromarray(plot(rep)).save(tmp, format="PNG")


# ----------------------------------------------------------------------------- the recipe
def ablate(config: str | Path, out: str | Path, *, vary: list[str] = (), variants: list[str] = (),
           sets: list[str] = (), seeds: int = 20, first_seed: int = 9300, prompts: str | None = None,
           bootstrap: int = 2000, progress: bool = True) -> dict:
    """Run the ablation (see the module docstring); returns the report (``ablation.json``'s content)."""
    from vectorwan.cache import build_cache
    from vectorwan.evaluate.flow import to_rgb
    from vectorwan.evaluate.identity import signature
    from vectorwan.toy.identity import reference_signature

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a folder")
    planned = plan_variants(list(vary), list(variants))
    vs = variant_configs(config, list(sets), planned, out)
    cfg0 = vs[0].cfg
    grid = make_grid(cfg0, prompts, seeds, first_seed)
    out.mkdir(parents=True, exist_ok=True)
    stills = dataset_stills(cfg0)
    refs = [signature(to_rgb(s)) for s in stills] or None
    ctx = Context(grid, refs, reference_signature(stills) if (cfg0.model.path == "toy" and stills) else None, progress)
    for v in vs:  # one cache for all: the layer maps once, if any variant needs them
        if v.cfg.vector_loss.enabled:
            build_cache(v.cfg, progress=progress)
            break
    build_cache(cfg0, progress=progress)

    results: dict[str, list[dict] | Exception] = {}
    for k, v in enumerate(vs):
        if progress:
            print(f"ablate: variant {k + 1}/{len(vs)} {v.name} ({' '.join(v.overrides) or 'the config'})", flush=True)
        try:
            results[v.name] = variant_rows(v, ctx)
        except Exception as e:  # noqa: BLE001 — any failure of one variant: recorded, the others go on
            Path(v.cfg.output_dir).mkdir(parents=True, exist_ok=True)
            write_text(Path(v.cfg.output_dir) / "error.txt", traceback.format_exc())
            results[v.name] = e
            print(f"ablate: variant {v.name} crashed: {str(e).splitlines()[0][:200]}; the others go on", flush=True)
    base = base_rows(cfg0, out, ctx)
    first = results[vs[0].name]
    if isinstance(first, Exception):
        raise UserError(f"the first variant ({vs[0].name}), which the others are compared with, crashed "
                        f"({str(first).splitlines()[0][:160]}); see {Path(vs[0].cfg.output_dir) / 'error.txt'}, "
                        "fix it and run again (finished variants are kept)")
    summaries = []
    for v in vs:
        r = results[v.name]
        if isinstance(r, Exception):
            summaries.append({"name": v.name, "overrides": v.overrides, "status": "crashed",
                              "error": str(r).splitlines()[0][:300]})
        else:
            summaries.append(summarise(v.name, v.overrides, r, first, base, bootstrap))
    rep = {"tool": "vectorwan ablate", "config": str(config), "sets": list(sets), "n_clips": len(grid.items()),
           "grid": {"prompts": [p for p, _ in grid.prompts], "seeds": grid.seeds},
           "base": {"model": cfg0.model.path,
                    "means": {c.get: float(np.nanmean([value(r, c.get) for r in base]))
                              for c in COLUMNS if np.isfinite([value(r, c.get) for r in base]).any()}},
           "variants": summaries}
    write_report(out, rep)
    return rep

