"""Change a dataset's captions in place, in the format it already has (the UI's caption editor).

:func:`set_captions` rewrites ``metadata.csv`` (every column and row kept, only ``text`` changed),
``metadata.jsonl`` (every key kept) or the sidecar ``.txt`` files, each atomically, and then reads
the dataset back with :func:`~vectorwan.data.dataset.discover`, so what was saved is what training sees.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from vectorwan.atomic import write_text
from vectorwan.data.dataset import Dataset, discover, read_rows, resolve_row
from vectorwan.errors import UserError


def item_names(ds: Dataset) -> list[str]:
    """Each item's ``file_name`` exactly as its row gives it (the key :func:`set_captions` takes)."""
    _, rows = read_rows(ds.root)
    by_path = {resolve_row(ds.root, name, where): name for name, _, where in rows if name}
    return [by_path[item.path] for item in ds.items]


def set_captions(root: str | Path, captions: dict[str, str]) -> Dataset:
    """Give the items named in ``captions`` (names as :func:`item_names` gives them) their new caption."""
    root = Path(root)
    ds = discover(root)
    known = {n: item for n, item in zip(item_names(ds), ds.items)}
    unknown = sorted(set(captions) - set(known))
    if unknown:
        raise UserError(f"{root}: no item '{unknown[0]}' in this dataset; pick one of its items")
    for name, text in captions.items():
        if "\n" in text or "\r" in text or "\0" in text:
            raise UserError(f"{name}: a caption is one line; remove the line breaks")
    if ds.source == "metadata.csv":
        _write_csv(root / "metadata.csv", captions)
    elif ds.source == "metadata.jsonl":
        _write_jsonl(root / "metadata.jsonl", captions)
    else:
        for name, text in captions.items():
            write_text(known[name].path.with_suffix(".txt"), text.strip() + "\n")
    return discover(root)


def _write_csv(f: Path, captions: dict[str, str]) -> None:
    with f.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for row in rows:
        if row["file_name"] in captions:
            row["text"] = captions[row["file_name"]].strip()
        w.writerow(row)
    write_text(f, buf.getvalue())


def _write_jsonl(f: Path, captions: dict[str, str]) -> None:
    lines = []
    for line in f.read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            if obj.get("file_name") in captions:
                obj["text"] = captions[obj["file_name"]].strip()
            line = json.dumps(obj, ensure_ascii=False)
        lines.append(line)
    write_text(f, "\n".join(lines) + "\n")
