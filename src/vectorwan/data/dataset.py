"""Find a dataset's items and captions, check them, and report.

Formats, in order of precedence:
  * ``metadata.csv`` with columns ``file_name,text`` (the reference format; files beside the
    CSV or in ``train/``);
  * ``metadata.jsonl``, one ``{"file_name": ..., "text": ...}`` per line;
  * sidecar captions: ``name.png`` + ``name.txt`` (in the folder or ``train/``).
A ``file_name`` that resolves outside the dataset folder is refused.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from vectorwan.errors import UserError
from vectorwan.frames import IMAGE_EXTS, VIDEO_EXTS


@dataclass
class Item:
    path: Path
    caption: str
    kind: str  # "image" | "video"


@dataclass
class Dataset:
    root: Path
    items: list[Item]
    source: str  # which format was read
    problems: list[str] = field(default_factory=list)


MIN_SIDE = 8  # px: smaller images cannot be trained on (the cache refuses them; `data` reports them)


def too_small(path: Path, width: int, height: int) -> str | None:
    """Why an item of this size cannot be trained on, or None: the one rule `data` and `cache` share."""
    if min(width, height) < MIN_SIDE:
        return f"{path}: {width}x{height} is too small to train on; use images of at least 64 px"
    return None


def _image_size(path: Path) -> tuple[int, int] | None:
    try:
        with Image.open(path) as im:
            return im.size
    except Exception:  # noqa: BLE001 - unreadable files are reported when read
        return None


def _kind(path: Path) -> str | None:
    """"video" for video files and animated GIF/WebP/APNG, "image" for stills, None otherwise."""
    ext = path.suffix.lower()
    if ext in VIDEO_EXTS:
        return "video"
    if ext not in IMAGE_EXTS:
        return None
    if ext in (".gif", ".webp", ".png", ".apng") and path.is_file():
        try:
            with Image.open(path) as im:
                return "video" if getattr(im, "n_frames", 1) > 1 else "image"
        except Exception:  # noqa: BLE001 - unreadable files are reported when read
            return "image"
    return "image"


def resolve_row(root: Path, name: str, where: str) -> Path:
    """The file a row's ``file_name`` names: inside the dataset folder (or its ``train/``), or refused."""
    if "\0" in name:
        raise UserError(f"{where}: file_name {name!r} holds a NUL byte; fix that row")
    rel = Path(name)
    if rel.is_absolute():
        raise UserError(f"{where}: file_name '{name}' is an absolute path; give it relative to {root}")
    root_r = root.resolve()
    for base in (root, root / "train"):
        try:
            cand = (base / rel).resolve()
        except (OSError, RuntimeError) as e:  # a symlink loop
            raise UserError(f"{where}: file_name '{name}' cannot be resolved ({e}); fix the link") from None
        try:
            cand.relative_to(root_r)
        except ValueError:
            raise UserError(f"{where}: file_name '{name}' points outside the dataset folder {root}; "
                            "keep files inside it") from None
        if cand.exists():
            return cand
    return (root / rel).resolve()


def _read_csv(root: Path) -> list[tuple[str, str, str]]:
    f = root / "metadata.csv"
    try:
        with f.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or "file_name" not in reader.fieldnames or "text" not in reader.fieldnames:
                raise UserError(f"{f}: needs a header with columns file_name,text (found {reader.fieldnames})")
            rows = []
            for i, row in enumerate(reader):
                if any(x.strip() for x in row.get(None) or []):  # more fields: an unquoted comma cut the caption
                    raise UserError(f"{f}:{i + 2}: {2 + len(row[None])} fields where the header has file_name,text; "
                                    'quote a caption that holds commas ("tag one, tag two")')
                rows.append((row["file_name"] or "", row["text"] or "", f"{f}:{i + 2}"))
            return rows
    except (UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{f}: cannot parse CSV ({e}); save it as UTF-8 with columns file_name,text") from None


def _read_jsonl(root: Path) -> list[tuple[str, str, str]]:
    f = root / "metadata.jsonl"
    try:
        lines = f.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise UserError(f"{f}: not UTF-8 text; save it as UTF-8 JSON lines") from None
    rows = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{f}:{i + 1}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict) or "file_name" not in obj:
            raise UserError(f"{where}: expected a JSON object with file_name and text")
        name, text = obj["file_name"], obj.get("text", "")
        if not isinstance(name, (str, type(None))) or not isinstance(text, (str, type(None))):
            raise UserError(f"{where}: file_name and text must be strings, got {json.dumps(name)} and {json.dumps(text)}")
        rows.append((name or "", text or "", where))  # a null file_name is a named skip, as an empty one
    return rows


def _read_sidecars(root: Path) -> list[tuple[str, str, str]]:
    rows = []
    for base in (root, root / "train"):
        if not base.is_dir():
            continue
        for p in sorted(base.iterdir()):
            if _kind(p) and not p.name.startswith("."):
                txt = p.with_suffix(".txt")
                try:
                    cap = txt.read_text(encoding="utf-8").strip() if txt.is_file() else ""
                except UnicodeDecodeError:
                    raise UserError(f"{txt}: not UTF-8 text; save the caption as UTF-8") from None
                rows.append((str(p.relative_to(root)), cap, str(txt if txt.is_file() else p)))
    return rows


def read_rows(path: str | Path) -> tuple[str, list[tuple[str, str, str]]]:
    """The dataset's format and its rows as written: ``(file_name, caption, where)``."""
    root = Path(path)
    if not str(path) or not root.is_dir():
        raise UserError(f"{root}: dataset folder not found; set data.path to a folder with metadata.csv or images")
    if (root / "metadata.csv").is_file():
        return "metadata.csv", _read_csv(root)
    if (root / "metadata.jsonl").is_file():
        return "metadata.jsonl", _read_jsonl(root)
    return "sidecar .txt", _read_sidecars(root)


def discover(path: str | Path) -> Dataset:
    root = Path(path)
    source, rows = read_rows(root)
    items, problems = [], []
    for name, caption, where in rows:
        if not name:
            problems.append(f"{where}: empty file_name")
            continue
        p = resolve_row(root, name, where)
        kind = _kind(p)
        if kind is None:
            problems.append(f"{where}: '{name}' has an unsupported extension")
        elif p.exists() and not p.is_file():
            problems.append(f"{where}: '{name}' is not a regular file (a folder, FIFO or device); give an image or video")
        elif not p.is_file():
            problems.append(f"{where}: '{name}' not found in {root} or {root / 'train'}")
        elif kind == "image" and (size := _image_size(p)) and (small := too_small(p, *size)):
            problems.append(f"{where}: {small}")
        else:
            if not caption.strip():
                problems.append(f"{where}: '{name}' has an empty caption (trains on the trigger alone)")
            items.append(Item(p, caption.strip(), kind))
    if not items:
        raise UserError(f"{root}: no usable items ({len(problems)} problems{': ' + problems[0] if problems else ''}); "
                        "fix the rows named, or give a folder with images or videos")
    return Dataset(root, items, source, problems)


def split_tags(caption: str) -> list[str]:
    return [t.strip() for t in caption.split(",") if t.strip()]


def lacks_trigger(caption: str, trigger: str) -> bool:
    """Whether a caption does not hold the trigger as one of its tags (training prepends it then)."""
    return bool(trigger) and trigger not in split_tags(caption)


def build_caption(caption: str, trigger: str = "", shuffle: bool = False, rng: random.Random | None = None) -> str:
    """Trigger word first, then the caption's tags (optionally shuffled)."""
    tags = split_tags(caption)
    if trigger:
        tags = [t for t in tags if t != trigger]
    if shuffle:
        (rng or random.Random(0)).shuffle(tags)
    return ", ".join(([trigger] if trigger else []) + tags)


def caption_variants(caption: str, trigger: str, shuffle: bool, n: int, seed: int, tag_dropout: float = 0.0) -> list[str]:
    """The captions cached for one item: the full, ordered one, plus ``n-1`` seeded variants.

    A variant drops each tag with probability ``tag_dropout`` (never the trigger; so some
    variants are the trigger alone, which then has to carry the look) and, with ``shuffle``,
    shuffles the rest. Without either there is only the full caption.
    """
    out = [build_caption(caption, trigger)]
    rng = random.Random(seed)
    for _ in range(n - 1 if (shuffle or tag_dropout > 0) else 0):
        tags = split_tags(caption)
        if tag_dropout > 0:
            tags = [t for t in tags if t == trigger or rng.random() >= tag_dropout]
        out.append(build_caption(", ".join(tags), trigger, shuffle=shuffle, rng=rng))
    return out


def round_frames(n: int) -> int:
    """Largest 4k+1 not above ``n`` (Wan's VAE compresses time 4×, keeping the first frame)."""
    if n < 1:
        raise ValueError("need at least one frame")
    return 4 * ((n - 1) // 4) + 1
