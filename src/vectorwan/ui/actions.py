"""What each button of the page does, without the page: paths checked against the root, then one
library call (the same the CLI makes). Gradio never appears here; :mod:`vectorwan.ui.app` wires
these to the page, and tests call them directly.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import tomllib
from pathlib import Path

from vectorwan.atomic import atomic_path, write_text
from vectorwan.commands._lora_args import parse_lora
from vectorwan.config import Config, FieldInfo, config_from_dict, describe, dump_toml, load_config, toml_value
from vectorwan.data.captions import item_names, set_captions
from vectorwan.data.dataset import build_caption, discover, lacks_trigger
from vectorwan.data.report import build_report
from vectorwan.errors import UserError
from vectorwan.frames import IMAGE_EXTS, VIDEO_EXTS
from vectorwan.ui.jobs import TrainJobs
from vectorwan.ui.workspace import Workspace

REPO_CONFIGS = Path(__file__).resolve().parents[3] / "configs"  # the shipped presets, in a source checkout
PATH_KEYS = ("output_dir", "data.path", "cache.dir")  # config paths the page confines to the root


# ----------------------------------------------------------------------------- data
def load_dataset(ws: Workspace, path: str, trigger: str = "") -> dict:
    """The dataset's items (file, name, caption, problems on it) and its report's lines."""
    root = ws.inside(path, "dataset folder")
    ds = discover(root)
    rep = build_report(ds, trigger, strict=False)
    names = item_names(ds)
    items = []
    for name, item in zip(names, ds.items):
        mine = [p for p in rep.problems if f"'{name}'" in p or str(item.path) in p]
        if lacks_trigger(item.caption, trigger):
            mine.append(f"caption lacks the trigger '{trigger}'")
        items.append({"file": str(item.path), "name": name, "caption": item.caption, "kind": item.kind,
                      "problems": mine})
    return {"root": str(root), "source": ds.source, "items": items, "report": rep.lines(ds)}


DATASET_FILES = {".csv", ".jsonl", ".txt"}  # with the image and video extensions: what an upload may hold


def import_dataset(ws: Workspace, files: list[str], name: str) -> str:
    """Copy uploaded files (drawings, clips, their metadata.csv / .txt captions) into a new folder
    ``ROOT/datasets/NAME``; returns its path relative to the root. Never writes into an existing folder."""
    if not files:
        raise UserError("upload: no files; drop your drawings (and metadata.csv, if you have one)")
    name = (name or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise UserError(f"dataset name '{name}': use letters, digits, '.', '_' or '-' (up to 64)")
    dest = ws.root / "datasets" / name
    if dest.exists():
        raise UserError(f"datasets/{name}: already exists; choose another name (nothing was overwritten)")
    names = [Path(f).name for f in files]
    allowed = IMAGE_EXTS | VIDEO_EXTS | DATASET_FILES
    bad = [n for n in names if Path(n).suffix.lower() not in allowed]
    if bad:
        raise UserError(f"upload: '{bad[0]}' is not an image, clip or caption file; "
                        f"use {', '.join(sorted(allowed))}")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UserError(f"upload: two files are named '{dupes[0]}'; rename one")
    with atomic_path(dest, suffix="") as tmp:
        tmp.mkdir()
        for f, n in zip(files, names):
            shutil.copyfile(f, tmp / n)
    return ws.relative(dest)


def add_trigger(ws: Workspace, path: str, trigger: str) -> dict:
    """Put the trigger first in every caption that lacks it, as training would (one atomic write)."""
    if not (trigger or "").strip():
        raise UserError("trigger word: empty; type the word that names your character")
    trigger = trigger.strip()
    root = ws.inside(path, "dataset folder")
    ds = discover(root)
    todo = {n: build_caption(i.caption, trigger) for n, i in zip(item_names(ds), ds.items) if lacks_trigger(i.caption, trigger)}
    if todo:
        set_captions(root, todo)
    return load_dataset(ws, path, trigger)


def save_caption(ws: Workspace, path: str, name: str, caption: str, trigger: str = "") -> dict:
    """Give item ``name`` a new caption in the dataset's own metadata (atomic), and read it back."""
    if not name:
        raise UserError("no item picked; click an item in the grid first")
    set_captions(ws.inside(path, "dataset folder"), {name: caption})
    return load_dataset(ws, path, trigger)


# ----------------------------------------------------------------------------- train
def presets(ws: Workspace) -> dict[str, Path]:
    """Shipped configs (a source checkout's ``configs/``) and the root's own ``configs/*.toml``."""
    found = {}
    for folder in (REPO_CONFIGS, ws.root / "configs"):
        for f in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            found.setdefault(f.stem, f)
    return found


def form_fields() -> list[FieldInfo]:
    return describe()


def preset_values(ws: Workspace, name: str | None) -> dict[str, object]:
    """Every key's value in preset ``name`` (None: the defaults), as the form shows it."""
    table = presets(ws)
    if name and name not in table:
        raise UserError(f"preset '{name}': not found; pick one of {', '.join(table) or 'none'}")
    cfg = load_config(table[name] if name else None)
    flat = {}
    for f in describe():
        v = cfg
        for part in f.key.split("."):
            v = getattr(v, part)
        flat[f.key] = v
    return flat


def config_from_form(ws: Workspace, values: dict[str, object]) -> Config:
    """A checked config from the form: typed widgets as they are, text fields of list or optional
    keys read as TOML values (empty = left out); paths must lie inside the root."""
    data: dict = {}
    for f in describe():
        v = values.get(f.key)
        if v is None:
            continue
        if isinstance(v, str) and f.type is not str and not f.choices:
            if not v.strip():
                continue
            try:
                v = tomllib.loads(f"v = {v}")["v"]
            except tomllib.TOMLDecodeError:
                raise UserError(f"{f.key}: '{v}' is not a value of type {_type_text(f)}; "
                                f"write it as TOML, e.g. {toml_value(f.default)}") from None
        if isinstance(v, float) and f.type is int and v.is_integer():
            v = int(v)
        if f.type is str and isinstance(v, str) and f.key in PATH_KEYS and v.strip():
            ws.inside(v, f.key, must_exist=f.key == "data.path")
        section, _, key = f.key.rpartition(".")
        (data.setdefault(section, {}) if section else data)[key] = v
    return config_from_dict(data)


def _type_text(f: FieldInfo) -> str:
    return re.sub(r"typing\.|<class '|'>", "", str(f.type))


def save_config(ws: Workspace, values: dict[str, object]) -> Path:
    """The form's checked config as a TOML file under ``ROOT/outputs/configs/`` (to download)."""
    out = ws.new_output("configs", "train", ".toml")
    write_text(out, dump_toml(config_from_form(ws, values)))
    return out


def start_training(ws: Workspace, jobs: TrainJobs, values: dict[str, object], resume: bool = False) -> dict:
    """``vectorwan train`` on the form's checked config, as a subprocess (one at a time)."""
    cfg = config_from_form(ws, values)
    return jobs.start(dump_toml(cfg), cfg.output_dir, resume=resume)


def loss_rows(records: list[dict]) -> dict[str, list]:
    """Columns for the loss plot: every step's loss and a running mean over 10 steps."""
    steps = [r["step"] for r in records]
    loss = [r["loss"] for r in records]
    smooth = [sum(loss[max(0, i - 9):i + 1]) / len(loss[max(0, i - 9):i + 1]) for i in range(len(loss))]
    return {"step": steps + steps, "loss": loss + smooth,
            "series": ["loss"] * len(loss) + ["mean of 10"] * len(loss)}


def speed_line(records: list[dict]) -> str:
    if not records:
        return "no steps yet"
    r = records[-1]
    recent = [x["s_per_step"] for x in records[-20:]]
    return (f"step {r['step']}: loss {r['loss']:.4f}, lr {r['lr']:.2e}, {sum(recent) / len(recent):.2f} s/step, "
            f"peak memory {r['peak_mem_mb']:.0f} MB")


# ----------------------------------------------------------------------------- generate
class Engines:
    """The one loaded model (and its LoRAs), kept between clicks; loaded on first use only."""

    def __init__(self):
        self.key, self.engine = None, None

    def get(self, model: str, loras: list[tuple[str, float]]):
        from vectorwan.generate import Engine

        key = (model, tuple(loras))
        if key != self.key:
            self.engine, self.key = None, None  # free the old one first
            self.engine, self.key = Engine.load(model, loras), key
        return self.engine


def model_spec(ws: Workspace, model: str) -> str:
    model = (model or "").strip()
    if model in ("tiny", "toy"):
        return model
    if re.fullmatch(r"[\w.-]+/[\w.-]+", model) and not (ws.root / model).exists():
        return model  # a hub id, read from the local Hugging Face cache (safetensors only)
    return str(ws.inside(model, "model"))


def parse_loras(ws: Workspace, text: str) -> list[tuple[str, float]]:
    """One LoRA per line, ``FILE`` or ``FILE:SCALE``; files inside the root."""
    loras = []
    for line in (text or "").splitlines():
        if line.strip():
            path, scale = parse_lora(line.strip())
            loras.append((str(ws.inside(path, "LoRA file")), scale))
    return loras


def generate_clip(ws: Workspace, engines: Engines, *, model: str, prompt: str, negative_prompt: str = "",
                  task: str = "t2v", loras: str = "", video: str = "", strength: float = 0.7, seed: int = 0,
                  steps: int | None = None, frames: int | None = None, height: int | None = None,
                  width: int | None = None, guidance: float | None = None) -> dict:
    """One clip (or still) under ``ROOT/outputs/generate/``: the output, its sidecar and contact sheet."""
    from vectorwan.generate import Request, generate  # torch: on the first Generate, not at start-up

    if not (prompt or "").strip():
        raise UserError("prompt: empty; describe the clip")
    if task not in ("t2i", "t2v", "v2v"):
        raise UserError(f"task '{task}': use t2i, t2v or v2v")
    clip_in = str(ws.inside(video, "input video")) if task == "v2v" else None
    if task == "v2v" and not video:
        raise UserError("input video: v2v needs one; give a clip inside the root")
    req = Request(prompt=prompt.strip(), task=task, negative_prompt=negative_prompt.strip() or None, video=clip_in,
                  strength=float(strength), seed=int(seed), steps=_opt_int(steps), frames=_opt_int(frames),
                  height=_opt_int(height), width=_opt_int(width), guidance=guidance if guidance else None)
    spec, lora_list = model_spec(ws, model), parse_loras(ws, loras)
    out = ws.new_output("generate", prompt, ".png" if task == "t2i" else ".mp4")
    engine = engines.get(spec, lora_list)
    (w,) = generate(engine, req, out)
    return {**w, "record": json.loads(Path(w["sidecar"]).read_text())}


def _opt_int(v) -> int | None:
    return None if v in (None, "", 0) else int(v)


# ----------------------------------------------------------------------------- evaluate
def _paths(ws: Workspace, text: str, what: str) -> list[str]:
    return [str(ws.inside(line.strip(), what)) for line in (text or "").splitlines() if line.strip()]


def evaluate(ws: Workspace, clips: str, baselines: str = "") -> dict:
    """The eval report of the clips (one path per line), against baselines (one per clip) if given."""
    from vectorwan.evaluate.run import evaluate_clips

    videos = _paths(ws, clips, "clip")
    if not videos:
        raise UserError("clips: none given; one clip path per line")
    base = _paths(ws, baselines, "baseline") or None
    out = ws.new_output("eval", Path(videos[0]).stem)
    rep, paths = evaluate_clips(videos, out, baseline=base)
    return {"markdown": Path(paths["md"]).read_text(), "plots": sorted(str(p) for p in (out / "plots").glob("*.png")),
            "folder": str(out), "report": rep}


# ----------------------------------------------------------------------------- vectorize
def vectorize(ws: Workspace, clip: str, colors: int | None = None, mode: str = "polygon",
              background: str = "auto", tolerance: float = 0.25) -> dict:
    """Lottie (.json and .lottie), animated SVG and the palette-locked video of ``clip``, in one folder."""
    from vectorwan.vector.files import options_json, vectorize_file, write_outputs  # vtracer, cairosvg: when used
    from vectorwan.vector.pipeline import TraceOptions, VectorizeOptions

    src = ws.inside(clip, "clip")
    options = VectorizeOptions(colors=_opt_int(colors), background=background, trace=TraceOptions(mode=mode, tolerance=float(tolerance or 0)))
    folder = ws.new_output("vectorize", src.stem)
    folder.mkdir()
    started = time.perf_counter()
    result, written = vectorize_file(src, folder / "clip.json", options, deflicker=folder / "locked.mp4")
    record = options_json(options, fps=None, max_frames=None)
    for name, kind in (("clip.svg", "svg"), ("clip.lottie", "dotlottie")):
        written += write_outputs(result, folder / name, kind, source=str(src), options=record, manifest=None,
                                 deflicker=None, started=started)
    s = result.summary()
    return {"folder": str(folder), "lottie": str(folder / "clip.json"), "svg": str(folder / "clip.svg"),
            "dotlottie": str(folder / "clip.lottie"), "video": str(folder / "locked.mp4"),
            "files": [str(p) for p in written], "summary": s, "frames": len(result.frames),
            "colors": len(result.palette.colors), "size": (result.width, result.height)}


def field_kind(f: FieldInfo) -> str:
    """Which widget a key gets: checkbox, choice, integer, number or text."""
    if f.choices:
        return "choice"
    if f.type is bool:
        return "checkbox"
    if f.type is int:
        return "integer"
    if f.type is float:
        return "number"
    return "text"


def form_text(f: FieldInfo, value) -> object:
    """A value as its widget holds it (lists and optional keys as TOML text)."""
    if field_kind(f) != "text":
        return value
    if f.type is str:
        return value
    return "" if value is None else toml_value(value)

