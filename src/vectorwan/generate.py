"""T2I / T2V / V2V on diffusers' Wan pipelines, with LoRAs, reproducible from a seed.

This module adds only what the pipelines lack: LoRA files of every format, defaults per
model, output files by extension with a JSON sidecar and a contact sheet, batches.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
import time
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image

from vectorwan import __version__
from vectorwan.atomic import atomic_path, write_json
from vectorwan.data.dataset import round_frames
from vectorwan.data.load import resize_crop
from vectorwan.errors import UserError
from vectorwan.frames import composite, contact_sheet, read_frames, to_uint8, write_frames
from vectorwan.models.loading import (ModelSource, fingerprint, load_pipeline, resolve, sampling_defaults, torch_dtype,
                                      with_shift)
from vectorwan.models.lora_apply import apply_loras

VIDEO_OUT = {".mp4", ".webm", ".gif", ".webp", ".mov", ".mkv"}
MAX_VIDEO_FRAMES = 257  # V2V input frames used at most without --frames: longer inputs are refused up front


@dataclass
class Request:
    prompt: str
    task: str = "t2v"  # t2i | t2v | v2v
    negative_prompt: str | None = None  # None → the model's default (Wan's standard negative prompt)
    video: str | None = None
    strength: float = 0.7
    frames: int | None = None
    height: int | None = None
    width: int | None = None
    steps: int | None = None
    guidance: float | None = None
    shift: float | None = None
    seed: int = 0
    num_videos: int = 1
    fps: float | None = None


OFFLOAD = ("none", "model", "sequential", "group")


class Engine:
    """A loaded T2V pipeline and a V2V pipeline sharing its components, with LoRAs applied, and the
    model's sampling defaults (its ``sampling.json``, :mod:`vectorwan.sampling`).

    Build one with :meth:`Engine.load`; the constructor only stores what it is given.
    """

    def __init__(self, model: str, source: ModelSource, t2v, v2v, defaults: dict,
                 loras: list[tuple[str, float]], fuse: bool = False):
        self.model, self.source, self.t2v, self.v2v = model, source, t2v, v2v
        self.defaults, self.loras, self.fuse = defaults, loras, fuse

    @classmethod
    def load(cls, model: str, loras=(), *, fuse: bool = False, offload: str = "none", vae_tiling: bool = False,
             dtype: str = "auto", sampling: dict | None = None) -> Engine:
        """Load ``model`` (any route of :func:`~vectorwan.models.loading.resolve`) with ``loras``
        (``[(file, scale)]``, any format). ``sampling``: settings that replace the model's defaults."""
        import torch
        from diffusers import WanVideoToVideoPipeline

        if offload not in OFFLOAD:
            raise UserError(f"offload '{offload}': use one of {', '.join(OFFLOAD)}")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if offload != "none" and device != "cuda":
            raise UserError(f"offload '{offload}' needs a CUDA GPU; turn it off on a CPU")
        source = resolve(model)
        defaults = {**sampling_defaults(source), **(sampling or {})}
        t2v = load_pipeline(source, dtype=torch_dtype(dtype, "bf16"))
        loras = list(loras)
        if loras:
            apply_loras(t2v, loras, fuse=fuse)
        accepted = inspect.signature(WanVideoToVideoPipeline.__init__).parameters
        v2v = WanVideoToVideoPipeline(**{k: v for k, v in t2v.components.items() if k in accepted})
        for pipe in (t2v, v2v):
            if offload == "model":
                pipe.enable_model_cpu_offload()
            elif offload == "sequential":
                pipe.enable_sequential_cpu_offload()
            elif device == "cuda":
                pipe.to(device)
        if offload == "group":
            t2v.transformer.enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"),
                                                 offload_type="block_level", num_blocks_per_group=1)
        if vae_tiling:
            t2v.vae.enable_tiling()
        return cls(model, source, t2v, v2v, defaults, loras, fuse)

    def settings(self, req: Request) -> dict:
        d = self.defaults
        s = {k: getattr(req, k) if getattr(req, k) is not None else d[k]
             for k in ("height", "width", "frames", "steps", "guidance", "shift", "fps")}
        if req.task == "t2i":
            s["frames"] = 1
        for k in ("height", "width"):
            if s[k] <= 0 or s[k] % 16:
                raise UserError(f"{k} {s[k]}: must be a positive multiple of 16")
        if s["frames"] < 1 or (s["frames"] - 1) % 4:
            raise UserError(f"frames {s['frames']}: Wan needs 4n+1 frames (1, 5, 9, ..., 81)")
        if s["steps"] < 1:
            raise UserError(f"steps {s['steps']}: must be ≥ 1")
        if req.num_videos < 1:
            raise UserError(f"num_videos {req.num_videos}: must be ≥ 1")
        for k, ok, rule in (("guidance", s["guidance"] >= 0, "≥ 0 (1 = no guidance)"), ("shift", s["shift"] > 0, "> 0"),
                            ("fps", s["fps"] > 0, "> 0")):
            if not (math.isfinite(s[k]) and ok):
                raise UserError(f"{k} {s[k]}: must be a finite number {rule}")
        return s

    def negative_prompt(self, req: Request) -> str:
        return self.defaults["negative_prompt"] if req.negative_prompt is None else req.negative_prompt

    @staticmethod
    def _scheduler(pipe, shift: float):
        pipe.scheduler = with_shift(pipe.scheduler, shift)

    def run(self, req: Request) -> tuple[np.ndarray, dict]:
        """Frames as float32 K×F×H×W×3 in [0, 1] (exactly what the pipeline returns) + settings."""
        import torch

        s = self.settings(req)
        frames = None
        if req.task == "v2v":  # the input sets size, length and fps
            frames, fps = self.input_video(req, s)
            s["frames"], s["fps"] = len(frames), req.fps or fps
        gen = torch.Generator(device="cpu").manual_seed(req.seed)
        common = dict(self._call_args(s, req.prompt, self.negative_prompt(req), gen), num_videos_per_prompt=req.num_videos)
        if frames is not None and int(s["steps"] * req.strength) < 1:  # no denoising step left: the VAE round trip
            return self.round_trip(frames)[None], s
        if frames is not None and req.strength < 1:
            self._scheduler(self.v2v, s["shift"])
            out = self.v2v(video=[Image.fromarray(f) for f in frames], strength=req.strength, **common).frames
        else:  # T2V; strength 1 keeps nothing of the input (the V2V pipeline's first σ is 1 − 1e-6, not 1)
            self._scheduler(self.t2v, s["shift"])
            out = self.t2v(num_frames=s["frames"], **common).frames
        return np.asarray(out, dtype=np.float32), s

    def t2v_batch(self, prompts: list[str], seeds: list[int]) -> np.ndarray:
        """float32 N×F×H×W×3 in [0, 1]: one T2V clip per prompt with the model's defaults, clip i from
        its own generator seeded ``seeds[i]`` — the clip ``run`` makes for that prompt and seed alone."""
        import torch

        s = self.settings(Request(prompt=prompts[0]))
        self._scheduler(self.t2v, s["shift"])
        gens = [torch.Generator(device="cpu").manual_seed(int(k)) for k in seeds]
        args = self._call_args(s, prompts, self.defaults["negative_prompt"], gens)
        return np.asarray(self.t2v(num_frames=s["frames"], **args).frames, dtype=np.float32)

    def _call_args(self, s: dict, prompt, negative: str, generator) -> dict:
        return dict(prompt=prompt, negative_prompt=negative, height=s["height"], width=s["width"],
                    num_inference_steps=s["steps"], guidance_scale=s["guidance"], generator=generator,
                    max_sequence_length=self.defaults["max_sequence_length"], output_type="np")

    def input_video(self, req: Request, s: dict) -> tuple[np.ndarray, float]:
        if not req.video:
            raise UserError("task v2v needs an input video (generate --video INPUT)")
        clip = read_frames(req.video)
        if len(clip) > MAX_VIDEO_FRAMES and not req.frames:
            raise UserError(f"{req.video}: more than {MAX_VIDEO_FRAMES} frames; V2V takes at most {MAX_VIDEO_FRAMES} "
                            "(Wan is trained on 81): give --frames N")
        frames = composite(clip.frames)
        n = round_frames(min(len(frames), req.frames or len(frames)))
        h = req.height or (clip.frames.shape[1] // 16 * 16)
        w = req.width or (clip.frames.shape[2] // 16 * 16)
        if h < 16 or w < 16:
            raise UserError(f"{req.video}: frames of {clip.frames.shape[2]}x{clip.frames.shape[1]} are too small (need ≥ 16 px)")
        s["height"], s["width"] = h, w
        return resize_crop(frames[:n], h, w), clip.fps

    def round_trip(self, frames: np.ndarray) -> np.ndarray:
        """decode(encode(frames)) through the pipeline's VAE, float32 F×H×W×3 in [0, 1]."""
        import torch

        vae = self.v2v.vae
        x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].to(vae.device, vae.dtype) / 127.5 - 1.0
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mode()
            y = vae.decode(z, return_dict=False)[0]
        y = self.v2v.video_processor.postprocess_video(y, output_type="np")
        return np.asarray(y[0], dtype=np.float32)


BATCH_KEYS = {f.name for f in fields(Request)} | {"out"}  # what one line of a --prompts JSONL file may set
_KINDS = {str: ((str,), "a string"), int: ((int,), "an integer"), float: ((int, float), "a number")}


def _item_type(tp) -> tuple[tuple, bool, str]:
    """(accepted Python types, may be null, how a message says it) of a Request field type such as ``int | None``."""
    args = typing.get_args(tp) or (tp,)
    nullable = type(None) in args
    (base,) = [a for a in args if a is not type(None)]
    types, text = _KINDS[base]
    return types, nullable, text + (" or null" if nullable else "")


ITEM_TYPES = {k: _item_type(tp) for k, tp in {**typing.get_type_hints(Request), "out": str}.items()}


def _fits(value, spec) -> bool:
    types, nullable, _ = spec
    if value is None:
        return nullable
    return isinstance(value, types) and not isinstance(value, bool) and (
        not isinstance(value, float) or math.isfinite(value))


def infer_task(task: str | None, video: str | None, out) -> str:
    """The task when none is given: v2v with an input video, t2i for a .png output, else t2v."""
    if task:
        return task
    if video:
        return "v2v"
    return "t2i" if str(out).lower().endswith(".png") else "t2v"


def read_batch(path: str | Path) -> list[dict]:
    """The items of a batch file: one prompt per line, or JSONL objects with per-item settings."""
    f = Path(path)
    if not f.is_file():
        raise UserError(f"--prompts {f}: file not found; check the path")
    try:
        lines = f.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"--prompts {f}: not UTF-8 text; save it as UTF-8") from None
    items = []
    for i, line in enumerate(lines):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{f}:{i + 1}: invalid JSON ({e.msg}); write one JSON object per line") from None
            unknown = set(obj) - BATCH_KEYS
            if unknown or "prompt" not in obj:
                raise UserError(f"{f}:{i + 1}: needs 'prompt'; unknown keys {sorted(unknown)}; allowed: {sorted(BATCH_KEYS)}")
            for k, v in obj.items():
                if not _fits(v, ITEM_TYPES[k]):
                    raise UserError(f"{f}:{i + 1}: '{k}' must be {ITEM_TYPES[k][2]}, got {json.dumps(v)}")
            items.append(obj)
        else:
            items.append({"prompt": line.strip()})
    if not items:
        raise UserError(f"--prompts {f}: no prompts in the file")
    return items


def plan_jobs(settings: dict, out: str | Path, *, prompt: str | None = None, prompts_file: str | Path | None = None,
              task: str | None = None) -> list[tuple[Request, Path]]:
    """``(request, output)`` for one prompt, or for every item of a batch file written into the folder
    ``out`` (``NNN-slug.mp4`` / ``.png`` unless the item names its ``out``). ``settings``: values for
    every request (keys that are not :class:`Request` fields are ignored; an item's own win)."""
    base = {k: v for k, v in settings.items() if k in BATCH_KEYS - {"prompt", "out", "task"}}
    if prompt is not None:
        items = [({**base, "prompt": prompt}, Path(out), task)]
    else:
        out_dir = Path(out)
        if out_dir.suffix:
            raise UserError(f"--out {out_dir}: with --prompts, give a folder")
        items = []
        for i, item in enumerate(read_batch(prompts_file)):
            item_task = infer_task(item.get("task", task), item.get("video", settings.get("video")), item.get("out", ""))
            slug = re.sub(r"[^a-z0-9]+", "-", item["prompt"].lower()).strip("-")[:40]
            name = item.pop("out", None)
            path = out_dir / (f"{i:03d}-{slug}{'.png' if item_task == 't2i' else '.mp4'}" if name is None else name)
            inside = path.resolve().is_relative_to(out_dir.resolve()) and path.resolve() != out_dir.resolve()
            if not inside:
                raise UserError(f"{prompts_file}: item {i + 1}: 'out' {name!r} is not a file inside --out "
                                f"{out_dir}; give a name inside it")
            items.append(({**base, **{k: v for k, v in item.items() if k != "task"}}, path, item_task))
    return [(Request(task=infer_task(t, kw.get("video"), path), **kw), path) for kw, path, t in items]


def sha256_file(path: str | Path) -> str:
    """Full hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def output_paths(out: Path, k: int, n: int) -> Path:
    if n == 1:
        return out
    return out.with_name(f"{out.stem}-{k}{out.suffix}") if out.suffix else out.with_name(f"{out.name}-{k}")


def save_outputs(frames: np.ndarray, out: Path, settings: dict, record: dict) -> list[dict]:
    """Write each of K clips to ``out`` (by extension), a ``.json`` sidecar and a contact sheet."""
    ext = out.suffix.lower()
    if ext and ext not in VIDEO_OUT | {".png"}:
        raise UserError(f"{out}: unsupported output extension '{ext}'; use .mp4, .webm, .gif, .webp, .png or a folder")
    written = []
    for k, clip in enumerate(to_uint8(frames)):
        path = output_paths(out, k, len(frames))
        if ext == ".png" and len(clip) > 1:
            raise UserError(f"{out}: a .png holds one frame; use .mp4/.gif/.webp or a folder for {len(clip)} frames")
        write_frames(path, clip, fps=settings["fps"])
        sheet = path.with_name(path.name + ".sheet.png")
        with atomic_path(sheet) as tmp:
            Image.fromarray(contact_sheet(clip, n=8)).save(tmp, format="PNG")
        side = path.with_name(path.name + ".json")
        write_json(side, {**record, "settings": settings, "index": k, "output": str(path), "contact_sheet": str(sheet)})
        written.append({"output": str(path), "sidecar": str(side), "contact_sheet": str(sheet), "frames": len(clip)})
    return written


def make_record(engine: Engine, req: Request) -> dict:
    import diffusers
    import torch

    return {
        "vectorwan": __version__, "diffusers": diffusers.__version__, "torch": torch.__version__,
        "model": engine.model, "model_route": engine.source.kind,
        "model_hash": fingerprint(engine.source, ("transformer", "vae", "text_encoder")),
        "loras": [{"path": p, "scale": s, "sha256": sha256_file(p)[:16]} for p, s in engine.loras],
        "fuse": engine.fuse, "request": asdict(req),
        "negative_prompt_used": engine.negative_prompt(req),
    }


def generate(engine: Engine, req: Request, out: str | Path) -> list[dict]:
    out = Path(out)
    t0 = time.perf_counter()
    frames, settings = engine.run(req)
    record = make_record(engine, req)
    record["seconds"] = round(time.perf_counter() - t0, 3)
    return save_outputs(frames, out, settings, record)
