"""Where a base model comes from, and loading just the parts a stage needs.

``--model`` / ``[model] path`` accepts:
  * ``tiny`` — the embedded tiny model (:mod:`vectorwan.models.tiny`), built from a fixed seed;
  * ``random:Wan2.1-T2V-1.3B`` (and the other names of :mod:`vectorwan.models.architectures`) — the
    real transformer architecture with random weights, for ``bench`` and ``plan`` (no VAE, no text
    encoder);
  * ``toy`` — the shipped toy base (a diffusers folder in the package, pre-trained on the toy
    world, :mod:`vectorwan.toy`);
  * a diffusers-format folder (``model_index.json``, ``transformer/``, ``vae/``, ...);
  * a Hugging Face hub id such as ``Wan-AI/Wan2.1-T2V-1.3B-Diffusers`` (local cache first);
  * a folder with the original Wan 3-file layout (``diffusion_pytorch_model*.safetensors``,
    ``models_t5_umt5-xxl-enc-bf16.pth``, ``Wan2.1_VAE.pth``, tokenizer in ``google/umt5-xxl``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from vectorwan import sampling
from vectorwan.atomic import atomic_path, check_output
from vectorwan.errors import UserError
from vectorwan.models import architectures, tiny, wan_original

PARTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
ORIGINAL_T5 = "models_t5_umt5-xxl-enc-bf16.pth"
ORIGINAL_VAE = "Wan2.1_VAE.pth"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
TOY_DIR = Path(__file__).resolve().parent.parent / "assets" / "toy"
# what a model folder written by this package holds (an existing one of these may be replaced)
MODEL_FILES = {*PARTS, "model_index.json", sampling.FILE, "manifest.json", ORIGINAL_T5, ORIGINAL_VAE, "config.json",
               "google", "vectorwan_configs.json"}


def own_model_entry(name: str) -> bool:
    """Whether ``name`` is something an exporter writes into a model folder."""
    return name in MODEL_FILES or (name.startswith("diffusion_pytorch_model") and name.endswith((".safetensors", ".json")))


@dataclass(frozen=True)
class ModelSource:
    kind: str  # tiny | toy | random | diffusers | hub | original
    location: str  # path or hub id ("tiny" for the embedded model)

    @property
    def name(self) -> str:
        if self.kind == "random":
            return architectures.PREFIX + self.location
        return self.kind if self.kind in ("tiny", "toy") else self.location


def resolve(spec: str) -> ModelSource:
    """Decide which of the four routes ``spec`` takes (no weights are read)."""
    if spec == "tiny":
        return ModelSource("tiny", "tiny")
    if spec.startswith(architectures.PREFIX):
        name = spec[len(architectures.PREFIX):]
        if name not in architectures.ARCHITECTURES:
            raise UserError(f"model.path {spec}: unknown architecture; use one of {architectures.names()}")
        return ModelSource("random", name)
    if spec == "toy":
        if not (TOY_DIR / "model_index.json").is_file():
            raise UserError(f"{TOY_DIR}: the toy base model is missing from this installation; reinstall vectorwan "
                            "or rebuild it (docs/toy.md)")
        return ModelSource("toy", str(TOY_DIR))
    p = Path(spec).expanduser()
    if p.is_dir():
        if (p / "model_index.json").is_file() or (p / "transformer" / "config.json").is_file():
            return ModelSource("diffusers", str(p.resolve()))
        if list(p.glob("diffusion_pytorch_model*.safetensors")) and (p / ORIGINAL_VAE).is_file():
            return ModelSource("original", str(p.resolve()))
        raise UserError(
            f"{p}: not a model folder; expected a diffusers folder (model_index.json) or the original "
            f"Wan layout (diffusion_pytorch_model*.safetensors, {ORIGINAL_T5}, {ORIGINAL_VAE})"
        )
    if p.exists():
        raise UserError(f"{p}: is a file; give a model folder, a hub id or 'tiny'")
    if HUB_ID.match(spec) and not spec.startswith((".", "/")):
        return ModelSource("hub", spec)
    raise UserError(f"{spec}: no such model folder; give a diffusers folder, an original Wan folder, a hub id or 'tiny'")


def torch_dtype(name: str, mixed_precision: str = "no", cuda: bool | None = None):
    """The dtype ``model.dtype`` means; ``auto`` follows mixed precision on a GPU (``cuda``: whether
    the run is on one, default this machine), float32 elsewhere."""
    import torch

    if name == "auto":
        if cuda is None:
            cuda = torch.cuda.is_available()
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mixed_precision, torch.float32) if cuda \
            else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def _hub_error(hub_id: str, err: Exception) -> UserError:
    return UserError(
        f"model '{hub_id}' is not in the local Hugging Face cache and could not be downloaded "
        f"({type(err).__name__}); on a machine with internet run `huggingface-cli download {hub_id} "
        f"--local-dir DIR` and pass --model DIR"
    )


def _diffusers_part(location: str, part: str, dtype):
    """One component of a local diffusers-format folder."""
    import diffusers
    import transformers

    kw = dict(subfolder=part, local_files_only=True)
    if part == "scheduler":
        return diffusers.UniPCMultistepScheduler.from_pretrained(location, **kw)
    if part == "tokenizer":
        return transformers.AutoTokenizer.from_pretrained(location, **kw)
    folder = Path(location) / part
    if not any(folder.glob("*.safetensors")):  # never unpickle a model folder's .bin / .pth
        found = sorted(p.name for p in folder.glob("*")) if folder.is_dir() else []
        raise UserError(f"{folder}: no .safetensors weights ({', '.join(found) or 'empty or missing'}); vectorwan "
                        "reads only safetensors: convert pickled .bin/.pth weights to safetensors first")
    if part == "text_encoder":
        return transformers.UMT5EncoderModel.from_pretrained(location, dtype=dtype, use_safetensors=True, **kw).eval()
    cls = {"transformer": diffusers.WanTransformer3DModel, "vae": diffusers.AutoencoderKLWan}[part]
    return cls.from_pretrained(location, torch_dtype=dtype, use_safetensors=True, **kw).eval()


def _original_part(location: str, part: str, dtype):
    root = Path(location)
    if part == "transformer":
        return wan_original.load_original_transformer(root, dtype).eval()
    if part == "vae":
        return wan_original.load_original_vae(root / ORIGINAL_VAE, dtype).eval()
    if part == "text_encoder":
        if not (root / ORIGINAL_T5).is_file():
            raise UserError(f"{root / ORIGINAL_T5}: missing; the original Wan layout needs the UMT5 encoder file")
        return wan_original.load_original_text_encoder(root / ORIGINAL_T5, dtype).eval()
    if part == "tokenizer":
        from transformers import AutoTokenizer

        for sub in ("google/umt5-xxl", "tokenizer"):
            if (root / sub).is_dir():
                return AutoTokenizer.from_pretrained(root / sub)
        raise UserError(f"{root}: no tokenizer folder (google/umt5-xxl or tokenizer/); copy it from the Wan release")
    if part == "scheduler":
        return tiny.build_scheduler()
    raise KeyError(part)


def load_part(source: ModelSource | str, part: str, dtype=None, prepare=None):
    """Load one component (``transformer``, ``vae``, ``text_encoder``, ``tokenizer``, ``scheduler``).
    ``prepare(module)``, given, is applied to it before it is returned; a random-weight transformer
    gets it before its weights exist, so a storage dtype it sets (fp8) is the only copy ever made."""
    if isinstance(source, str):
        source = resolve(source)
    if source.kind == "random":
        return _load_part(source, part, dtype, prepare)
    obj = _load_part(source, part, dtype)
    if prepare is not None:
        prepare(obj)
    return obj


def _load_part(source: ModelSource, part: str, dtype=None, prepare=None):
    import torch

    if part not in PARTS:
        raise KeyError(part)
    dtype = dtype or torch.float32
    if source.kind == "tiny":
        obj = tiny.build_component(part)
        if dtype != torch.float32 and part in ("transformer", "vae", "text_encoder"):
            obj = obj.to(dtype)
        return obj
    if source.kind == "random":
        if part != "transformer":
            raise UserError(f"{source.name}: a random-weight model has only a transformer (for `vectorwan bench` and "
                            f"`vectorwan plan`); give a real model folder or hub id to {part.replace('_', ' ')}")
        return architectures.build_random(source.location, dtype, prepare=prepare)
    if source.kind == "original":
        return _original_part(source.location, part, dtype)
    if source.kind in ("diffusers", "toy"):
        return _diffusers_part(source.location, part, dtype)
    return _diffusers_part(hub_snapshot(source.location), part, dtype)


@functools.lru_cache(maxsize=8)
def hub_snapshot(hub_id: str) -> str:
    """Local folder of a hub repository: the Hugging Face cache first, then a download
    (unless HF_HUB_OFFLINE=1); any failure is one line saying how to get the model."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(hub_id, local_files_only=True)
    except Exception as first:  # noqa: BLE001 - not cached (the hub raises several types)
        if os.environ.get("HF_HUB_OFFLINE") == "1":
            raise _hub_error(hub_id, first) from None
        try:
            return snapshot_download(hub_id)
        except Exception as err:  # noqa: BLE001 - any network/auth failure gets the same advice
            raise _hub_error(hub_id, err) from None


def pipeline_options(source: ModelSource | str) -> dict:
    """What a diffusers folder's ``model_index.json`` sets beyond its parts: Wan 2.2 TI2V's
    ``expand_timesteps`` (a timestep per token). Empty for the other routes (Wan 2.1)."""
    if isinstance(source, str):
        source = resolve(source)
    if source.kind not in ("diffusers", "toy", "hub"):
        return {}
    root = Path(hub_snapshot(source.location) if source.kind == "hub" else source.location)
    try:
        index = json.loads((root / "model_index.json").read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return {"expand_timesteps": True} if index.get("expand_timesteps") else {}


def load_pipeline(source: ModelSource | str, dtype=None, video_to_video: bool = False):
    """A diffusers ``WanPipeline`` (or ``WanVideoToVideoPipeline``) from any of the four routes."""
    from diffusers import WanPipeline, WanVideoToVideoPipeline

    if isinstance(source, str):
        source = resolve(source)
    parts = {p: load_part(source, p, dtype) for p in PARTS}
    if video_to_video:
        return WanVideoToVideoPipeline(**parts)
    return WanPipeline(**parts, **pipeline_options(source))


def fingerprint(source: ModelSource | str, parts=("vae", "text_encoder")) -> str:
    """A short id of the weights behind ``parts`` (cache keys: encoders change → cache misses).

    Hashes configs and weight-file names/sizes/mtimes, not the (multi-GB) weights themselves.
    """
    if isinstance(source, str):
        source = resolve(source)
    h = hashlib.sha256(source.kind.encode())
    if source.kind == "tiny":
        h.update(json.dumps([tiny.TINY_VAE, tiny.TINY_TEXT_ENCODER, tiny.TINY_SEED], sort_keys=True).encode())
    elif source.kind == "hub":
        h.update(source.location.encode())
        try:  # the snapshot revision when cached: a new revision is a new fingerprint
            h.update(Path(hub_snapshot(source.location)).name.encode())
        except UserError:
            pass
    else:
        root = Path(source.location)
        files = []
        for part in parts:
            files += sorted((root / part).glob("*")) if (root / part).is_dir() else []
        if source.kind == "original":
            files += [root / ORIGINAL_VAE, root / ORIGINAL_T5]
        for f in files:
            if f.is_file():
                st = f.stat()
                h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
                if f.suffix == ".json":
                    h.update(f.read_bytes())
    return h.hexdigest()[:16]


def export_tiny(out_dir: str | Path, layout: str = "diffusers", variant: str = "t2v") -> Path:
    """Write the tiny model as a diffusers folder (``WanPipeline.from_pretrained`` loads it) or
    in the original Wan 3-file layout, with the ``sampling.json`` that ``--model tiny`` samples with.
    ``variant="ti2v"``: the Wan 2.2 TI2V-5B family (48-channel residual VAE), diffusers layout only."""
    if variant not in ("t2v", "ti2v"):
        raise UserError(f"--variant {variant}: use t2v or ti2v")
    if variant == "ti2v" and layout != "diffusers":
        raise UserError("--variant ti2v: only --layout diffusers (vectorwan has no Wan 2.2 original-layout converter)")
    out_dir = check_output(out_dir, own_model_entry)
    pipe = tiny.build_pipeline(variant=variant)
    with atomic_path(out_dir, suffix="") as tmp:
        if layout == "diffusers":
            pipe.save_pretrained(tmp, safe_serialization=True)
        elif layout == "original":

            wan_original.save_original_layout(pipe.transformer, pipe.vae, pipe.text_encoder, tmp, tokenizer=pipe.tokenizer)
        else:
            raise UserError(f"--layout {layout}: use diffusers or original")
        sampling.write(tmp, sampling.TINY)
    return out_dir


def sampling_defaults(source: ModelSource | str) -> dict:
    """The settings a model samples with by default: the folder's ``sampling.json`` over Wan's
    defaults (:mod:`vectorwan.sampling`); the embedded tiny model's own; a hub model's snapshot."""
    if isinstance(source, str):
        source = resolve(source)
    if source.kind == "tiny":
        return dict(sampling.TINY)
    return sampling.read(hub_snapshot(source.location) if source.kind == "hub" else source.location)


def flow_scheduler(source: ModelSource | str, shift: float):
    """The model's own flow-matching scheduler (its ``scheduler/`` config; Wan's UniPC for the tiny
    model and the original layout), with ``flow_shift = shift``. Reads a config, no weights."""
    if isinstance(source, str):
        source = resolve(source)
    if source.kind in ("tiny", "original"):
        return tiny.build_scheduler(shift)
    location = hub_snapshot(source.location) if source.kind == "hub" else source.location
    return with_shift(_diffusers_part(location, "scheduler", None), shift)


def with_shift(scheduler, shift: float):
    """The flow scheduler ``scheduler`` with ``flow_shift = shift`` (itself when it already has it)."""
    if scheduler.config.get("flow_shift") == shift:
        return scheduler
    return type(scheduler).from_config(dict(scheduler.config), flow_shift=shift)
