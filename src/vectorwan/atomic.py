"""Write files so that nothing half-written is ever left behind: temp name, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from vectorwan.errors import UserError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    The temporary name keeps the final extension (writers such as ffmpeg or PIL pick the
    format from it). On any exception the temporary file or folder is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = suffix if suffix is not None else "".join(path.suffixes[-1:])
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{ext}", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp = Path(tmp)
    try:
        yield tmp
        if path.is_dir() and not tmp.is_dir():
            raise IsADirectoryError(f"{path} is a directory")
        if tmp.is_dir() and path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        os.replace(tmp, path)
    except BaseException as e:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        if isinstance(e, OSError) and e.errno is not None and e.filename and str(tmp) in str(e.filename):
            raise OSError(e.errno, e.strerror, str(path)) from e  # name the file the user asked for
        raise


def is_temp_of(name: str, stems: str) -> bool:
    """Whether ``name`` is a temporary name :func:`atomic_path` gives a file whose stem matches the
    regex ``stems`` (``.STEM.`` + mkstemp's 8 characters + ``.tmp`` + the extension)."""
    return re.fullmatch(rf"\.(?:{stems})\.[a-z0-9_]{{8}}\.tmp(\.[A-Za-z0-9]+)?", name) is not None


def remove_stale_temps(folder: str | os.PathLike, stems: str) -> list[str]:
    """Remove what killed writers left in ``folder``: :func:`atomic_path`'s temporary names of the
    files whose stems match ``stems`` (a regex) only; returns their names."""
    folder = Path(folder)
    stale = sorted(p for p in folder.iterdir() if is_temp_of(p.name, stems)) if folder.is_dir() else []
    for p in stale:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() and not p.is_symlink() else p.unlink(missing_ok=True)
    return [p.name for p in stale]


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def check_output(path: str | os.PathLike, own: Callable[[str], bool] | None = None, *, what: str = "") -> Path:
    """The one rule for an output path a user gave: a file output may not be an existing folder, and
    a folder output may replace an existing folder only when it is empty or holds nothing but what
    this writer writes there (``own(name)`` for each entry) — never a user's other files.
    ``what`` names the flag or field in the message (default: the path alone)."""
    path = Path(path)
    label = f"{what} {path}" if what else str(path)
    if own is None:  # a file
        if path.is_dir():
            raise UserError(f"{label}: is a folder; give a file name")
        return path
    if path.exists() and not path.is_dir():
        raise UserError(f"{label}: exists and is not a folder; choose another name")
    if path.is_dir():
        foreign = sorted(p.name for p in path.iterdir() if not own(p.name))
        if foreign:
            raise UserError(f"{label}: folder exists and holds other files ({foreign[0]}, ...); "
                            f"give a new or empty folder")
    return path
