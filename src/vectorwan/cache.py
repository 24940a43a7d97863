"""Encode VAE latents and UMT5 text embeddings once, into safetensors shards + a manifest.

Entries are keyed by content: an item's key hashes its file bytes together with everything
that changes its latents (encoder fingerprint, resolution, frames, fps, sampling, background);
a caption's key hashes its text with the text-encoder fingerprint. Re-runs skip what the
manifest already has. Each encoded item or caption is written at once, as a one-entry "pending"
shard recorded in the manifest, so a run killed at any point keeps everything it finished;
pending shards are merged into shards of ``cache.shard_size`` entries as they fill and at the end
of a run. With ``[vector_loss]`` on, each item also gets its layer maps (``data.layer_maps``),
kept as a third kind keyed by the item's key, its latent shape and the maps' version. Once the
cache is complete, training reads only this folder and never loads the VAE or the text encoder.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from vectorwan.atomic import write_bytes, write_json
from vectorwan.config import Config
from vectorwan.data import layer_maps
from vectorwan.data.dataset import Dataset, caption_variants, discover
from vectorwan.data.load import load_sample
from vectorwan.errors import UserError
from vectorwan.models import loading
from vectorwan.train.validation import validation_settings

MANIFEST = "manifest.json"
VERSION = 1
KINDS = ("items", "texts", "maps")


def _sha(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True).encode())
    return h.hexdigest()[:20]


def item_settings(cfg: Config, model_fp: str) -> dict:
    d = cfg.data
    return {"model": model_fp, "resolution": d.resolution, "num_frames": d.num_frames, "fps": d.fps,
            "frame_sampling": d.frame_sampling, "background": d.background, "version": VERSION}


@dataclass
class Plan:
    items: list[tuple[str, object, list[str]]]  # (item key, Item, caption list) for every item
    texts: dict[str, str]  # text key -> caption text (every caption needed)
    missing_items: list[tuple[str, object]]
    missing_texts: dict[str, str]
    empty_key: str | None  # key of the empty prompt (caption dropout), if needed
    validation: list[str]  # keys of the validation prompts, then of the negative prompt


def load_manifest(cache_dir: Path) -> dict:
    f = cache_dir / MANIFEST
    if not f.is_file():
        return {"version": VERSION, "items": {}, "texts": {}, "maps": {}}
    try:
        m = json.loads(f.read_text())
    except json.JSONDecodeError:
        raise UserError(f"{f}: corrupt cache manifest; delete the folder {cache_dir} and run `vectorwan cache` again") from None
    if m.get("version") != VERSION:
        return {"version": VERSION, "items": {}, "texts": {}, "maps": {}}
    m.setdefault("maps", {})  # a cache written before layer maps
    return m


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def repair(cache_dir: Path, manifest: dict) -> list[str]:
    """Check every shard the manifest uses against its recorded sha256 (``manifest["shards"]``); the
    entries of a missing or corrupt shard are dropped (and so re-encoded), the bad file removed.
    Returns one note per bad shard. Shards of a cache made before checksums get theirs recorded."""
    sums = manifest.setdefault("shards", {})
    used: dict[str, int] = {}
    for kind in KINDS:
        for entry in manifest[kind].values():
            used[entry["shard"]] = used.get(entry["shard"], 0) + 1
    notes = []
    for shard, n in sorted(used.items()):
        path = cache_dir / shard
        actual = file_sha256(path) if path.is_file() else None
        if actual is not None and sums.setdefault(shard, actual) == actual:
            continue
        notes.append(f"cache: shard {shard} is {'missing' if actual is None else 'corrupt (checksum)'}; "
                     f"re-encoding its {n} entr{'y' if n == 1 else 'ies'}")
        for kind in KINDS:
            manifest[kind] = {k: e for k, e in manifest[kind].items() if e["shard"] != shard}
        sums.pop(shard, None)
        path.unlink(missing_ok=True)
    return notes


def make_plan(cfg: Config, ds: Dataset, manifest: dict, latent_fp: str, text_fp: str) -> Plan:
    settings = item_settings(cfg, latent_fp)
    d = cfg.data
    items, texts, missing_items = [], {}, []
    for idx, item in enumerate(ds.items):
        key = _sha(item.path.read_bytes(), settings)
        caps = caption_variants(item.caption, d.trigger, d.shuffle_tags, d.caption_variants, seed=cfg.seed + idx,
                                tag_dropout=d.tag_dropout)
        tkeys = []
        for c in caps:
            tk = _sha(c, text_fp, cfg.model.max_sequence_length)
            texts[tk] = c
            tkeys.append(tk)
        items.append((key, item, tkeys))
        if key not in manifest["items"]:
            missing_items.append((key, item))
    empty_key = None
    if d.caption_dropout > 0:
        empty_key = _sha("", text_fp, cfg.model.max_sequence_length)
        texts[empty_key] = ""
    validation = []
    if cfg.validation.every and cfg.validation.prompts:
        for c in [*cfg.validation.prompts, validation_settings(cfg)["negative_prompt"]]:
            tk = _sha(c, text_fp, cfg.model.max_sequence_length)
            texts[tk] = c
            validation.append(tk)
    missing_texts = {k: v for k, v in texts.items() if k not in manifest["texts"]}
    return Plan(items, texts, missing_items, missing_texts, empty_key, validation)


def encode_texts(tokenizer, text_encoder, captions: list[str], max_len: int) -> list:
    """UMT5 embeddings exactly as diffusers' Wan pipelines compute them, trailing padding trimmed."""
    import torch
    from diffusers import WanPipeline

    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=None, transformer=None, scheduler=None)
    out = []
    with torch.no_grad():
        for c in captions:
            e = pipe._get_t5_prompt_embeds([c], max_sequence_length=max_len, device=text_encoder.device)[0]
            nz = (e.abs().sum(-1) > 0).nonzero()
            n = int(nz.max()) + 1 if len(nz) else 1
            out.append(e[:n].cpu().contiguous())
    return out


def latent_stats(vae):
    import torch

    c = vae.config
    mean = torch.tensor(c.latents_mean).view(1, c.z_dim, 1, 1, 1)
    std = torch.tensor(c.latents_std).view(1, c.z_dim, 1, 1, 1)
    return mean, std


def encode_frames(vae, rgb: np.ndarray):
    """uint8 F×H×W×3 → normalised latents C×F'×H/s×W/s (Wan 2.1: 16 channels, s = 8; 2.2 TI2V: 48, 16), as
    Wan's pipelines normalise them."""
    import torch

    x = torch.from_numpy(rgb).permute(3, 0, 1, 2)[None].to(vae.device, vae.dtype) / 127.5 - 1.0
    with torch.no_grad():
        z = vae.encode(x).latent_dist.mode()
    mean, std = latent_stats(vae)
    return ((z.float().cpu() - mean) / std)[0].contiguous()


def _write_shard(cache_dir: Path, manifest: dict, prefix: str, tensors: dict) -> str:
    """Write a shard atomically and record its sha256 in the manifest; returns its name."""
    from safetensors.torch import save

    name = f"{prefix}-{_sha(sorted(tensors))[:12]}.safetensors"
    data = save(tensors)  # hashed as written: no read back
    write_bytes(cache_dir / name, data)
    manifest.setdefault("shards", {})[name] = hashlib.sha256(data).hexdigest()
    return name


PENDING = "pending"  # the name prefix of a one-entry shard not merged yet


class ShardWriter:
    """Adds entries of one kind (``items`` / ``texts``) to the cache, each durable as soon as it is added.

    ``add`` writes the entry's tensors as a pending shard and the manifest after it (both atomic),
    so a kill at any moment loses nothing finished; ``merge`` turns every pending shard of this kind
    in the manifest, this run's and a killed run's, into shards of ``size`` entries.
    """

    def __init__(self, cache_dir: Path, manifest: dict, kind: str, prefix: str, size: int):
        self.dir, self.manifest, self.kind, self.prefix, self.size = cache_dir, manifest, kind, prefix, size

    def _pending(self) -> list[str]:
        return [k for k, e in self.manifest[self.kind].items() if e["shard"].startswith(f"{PENDING}-{self.prefix}-")]

    def add(self, key: str, tensors: dict, entry: dict) -> None:
        shard = _write_shard(self.dir, self.manifest, f"{PENDING}-{self.prefix}", tensors)
        self.manifest[self.kind][key] = {**entry, "shard": shard}
        write_json(self.dir / MANIFEST, self.manifest)
        if len(self._pending()) >= self.size:
            self.merge()

    def merge(self) -> None:
        from safetensors.torch import load

        keys = self._pending()
        entries = self.manifest[self.kind]
        for start in range(0, len(keys), self.size):
            chunk = keys[start:start + self.size]
            old = sorted({entries[k]["shard"] for k in chunk})
            tensors = {}
            for name in old:
                tensors.update(load((self.dir / name).read_bytes()))
            shard = _write_shard(self.dir, self.manifest, self.prefix, tensors)
            for k in chunk:
                entries[k]["shard"] = shard
            for name in old:
                self.manifest["shards"].pop(name, None)
            write_json(self.dir / MANIFEST, self.manifest)  # the merged shard is in use before the old go
            for name in old:
                (self.dir / name).unlink(missing_ok=True)


def remove_unused_pending(cache_dir: Path, manifest: dict) -> None:
    """Pending shards no entry uses: left by a kill between a merge's manifest write and its clean-up."""
    used = {e["shard"] for kind in KINDS for e in manifest[kind].values()}
    for f in cache_dir.glob(f"{PENDING}-*.safetensors"):
        if f.name not in used:
            f.unlink()


def build_cache(cfg: Config, progress: bool = True, encode_hook=None) -> dict:
    """Bring the cache up to date; returns a summary (hits, misses, location).

    ``encode_hook(item)`` is called before each item is encoded (tests use it to interrupt).
    """
    cache_dir = cfg.cache_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    ds = discover(cfg.data.path)
    source = loading.resolve(cfg.model.path)
    latent_fp, text_fp = loading.fingerprint(source, ("vae",)), loading.fingerprint(source, ("text_encoder", "tokenizer"))
    manifest = load_manifest(cache_dir)
    recorded = dict(manifest.get("shards", {}))
    repaired = repair(cache_dir, manifest)
    for note in repaired:
        print(note)
    if manifest["shards"] != recorded:  # dropped entries, or checksums recorded for an older cache
        write_json(cache_dir / MANIFEST, manifest)
    plan = make_plan(cfg, ds, manifest, latent_fp, text_fp)
    summary = {"repaired": repaired, "cache_dir": str(cache_dir), "problems": ds.problems,
               "items": len(plan.items), "item_hits": len(plan.items) - len(plan.missing_items),
               "texts": len(plan.texts), "text_hits": len(plan.texts) - len(plan.missing_texts)}
    d = cfg.data

    if plan.missing_texts:
        tokenizer, text_encoder = loading.load_part(source, "tokenizer"), loading.load_part(source, "text_encoder")
        writer = ShardWriter(cache_dir, manifest, "texts", "text", cfg.cache.shard_size)
        for key, text in tqdm(plan.missing_texts.items(), desc="cache: text", disable=not progress):
            emb = encode_texts(tokenizer, text_encoder, [text], cfg.model.max_sequence_length)[0]
            writer.add(key, {key: emb}, {"text": text})
        del tokenizer, text_encoder

    if plan.missing_items:
        vae = loading.load_part(source, "vae")
        writer = ShardWriter(cache_dir, manifest, "items", "latents", cfg.cache.shard_size)
        for key, item in tqdm(plan.missing_items, desc="cache: latents", disable=not progress):
            if encode_hook:
                encode_hook(item)
            s = load_sample(item, d.resolution, d.num_frames, d.fps, d.frame_sampling, tuple(d.background))
            lat = encode_frames(vae, s.rgb)
            writer.add(key, {f"{key}.latents": lat},
                       {"file": str(item.path), "frames": int(s.rgb.shape[0]), "latent_shape": list(lat.shape)})
        del vae
    summary["layer_maps"] = add_layer_maps(cfg, plan, manifest, progress) if cfg.vector_loss.enabled else 0
    for kind, prefix in (("texts", "text"), ("items", "latents"), ("maps", "maps")):  # pending: this run's and a killed run's
        ShardWriter(cache_dir, manifest, kind, prefix, cfg.cache.shard_size).merge()
    remove_unused_pending(cache_dir, manifest)

    # the index of this config's items: what training reads
    index = {"settings": item_settings(cfg, latent_fp), "text_fingerprint": text_fp,
             "max_sequence_length": cfg.model.max_sequence_length, "empty_text": plan.empty_key,
             "validation_texts": plan.validation,
             "entries": [{"key": k, "file": str(it.path), "texts": tk,
                          **({"maps": maps_key(manifest, k)} if cfg.vector_loss.enabled else {})}
                         for k, it, tk in plan.items]}
    write_json(cache_dir / "index.json", index)
    summary["encoded_items"], summary["encoded_texts"] = len(plan.missing_items), len(plan.missing_texts)
    return summary


def maps_key(manifest: dict, item_key: str) -> str:
    """The key of an item's layer maps: its own key (content and settings), its latent shape, the maps' version."""
    return _sha(item_key, manifest["items"][item_key]["latent_shape"], layer_maps.VERSION)


def add_layer_maps(cfg: Config, plan: Plan, manifest: dict, progress: bool) -> int:
    """The layer maps of every item that lacks them (frames read again; no encoder); returns how many."""
    import torch

    d = cfg.data
    missing = [(k, it) for k, it, _ in plan.items if maps_key(manifest, k) not in manifest["maps"]]
    writer = ShardWriter(cfg.cache_dir, manifest, "maps", "maps", cfg.cache.shard_size)
    for key, item in tqdm(missing, desc="cache: layer maps", disable=not progress or not missing):
        s = load_sample(item, d.resolution, d.num_frames, d.fps, d.frame_sampling, tuple(d.background))
        maps = layer_maps.layer_maps(s.rgb, s.alpha, manifest["items"][key]["latent_shape"])
        mk = maps_key(manifest, key)
        writer.add(mk, {f"{mk}.{name}": torch.from_numpy(np.ascontiguousarray(v)) for name, v in maps.items()},
                   {"file": str(item.path)})
    return len(missing)


def cache_is_complete(cfg: Config) -> bool:
    """True when every item, caption and (with ``[vector_loss]``) layer map of this config is in the
    cache (no encoder needed)."""
    cache_dir = cfg.cache_dir
    if not (cache_dir / MANIFEST).is_file():
        return False
    source = loading.resolve(cfg.model.path)
    manifest = load_manifest(cache_dir)
    plan = make_plan(cfg, discover(cfg.data.path), manifest, loading.fingerprint(source, ("vae",)),
                     loading.fingerprint(source, ("text_encoder", "tokenizer")))
    if plan.missing_items or plan.missing_texts or not (cache_dir / "index.json").is_file():
        return False
    return not cfg.vector_loss.enabled or all(maps_key(manifest, k) in manifest["maps"] for k, _, _ in plan.items)


class CachedData:
    """What training sees: latents, caption embeddings and (with ``[vector_loss]``) layer maps,
    read from the cache only."""

    def __init__(self, cache_dir: Path):
        from safetensors.torch import load

        self.dir = Path(cache_dir)
        index_f = self.dir / "index.json"
        if not index_f.is_file():
            raise UserError(f"{index_f}: cache index missing; run `vectorwan cache CONFIG` first")
        self.index = json.loads(index_f.read_text())
        manifest = load_manifest(self.dir)
        shards: dict[str, dict] = {}

        def get(kind: str, key: str, suffix: str = ""):
            entry = manifest[kind].get(key)
            if entry is None:
                raise UserError(f"{self.dir}: cache entry {key} missing; run `vectorwan cache CONFIG` again")
            name = entry["shard"]
            if name not in shards:  # verified on read: the bytes hashed are the bytes loaded
                path = self.dir / name
                data = path.read_bytes() if path.is_file() else b""
                if hashlib.sha256(data).hexdigest() != manifest.get("shards", {}).get(name):
                    raise UserError(f"{path}: cache shard missing or corrupt (checksum); run `vectorwan cache CONFIG` "
                                    "to re-encode it")
                shards[name] = load(data)
            return shards[name][key + suffix]

        self.latents, self.maps, self.texts = [], [], []
        for e in self.index["entries"]:
            self.latents.append(get("items", e["key"], ".latents"))
            self.maps.append({n: get("maps", e["maps"], f".{n}") for n in layer_maps.NAMES} if "maps" in e else None)
            self.texts.append([get("texts", t) for t in e["texts"]])
        self.empty_text = get("texts", self.index["empty_text"]) if self.index.get("empty_text") else None
        self.validation_texts = [get("texts", k) for k in self.index.get("validation_texts", [])]
        self.max_len = int(self.index["max_sequence_length"])

    @classmethod
    def of(cls, latents: list, texts: list, maps: list, empty_text, max_len: int, where: str) -> "CachedData":
        """What training reads, from tensors already in memory (``vectorwan bench``'s random batch)."""
        data = cls.__new__(cls)
        data.dir, data.index = Path(where), {}
        data.latents, data.texts, data.maps, data.empty_text = latents, texts, maps, empty_text
        data.validation_texts, data.max_len = [], max_len
        return data

    def __len__(self) -> int:
        return len(self.latents)

    def padded_text(self, emb):
        import torch

        out = torch.zeros(self.max_len, emb.shape[-1], dtype=emb.dtype)
        out[: emb.shape[0]] = emb[: self.max_len]
        return out
