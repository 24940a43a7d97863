"""The UI's root folder: every path the page names is resolved inside it, or refused.

A path typed or picked in the page is taken relative to the root (an absolute path must lie
inside it too); ``..`` and symlinks that lead outside are refused, as a dataset refuses a
``file_name`` outside its folder. What the page writes goes under ``ROOT/outputs/``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from vectorwan.errors import UserError

OUTPUTS = "outputs"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def open(cls, root: str | Path) -> Workspace:
        r = Path(root).expanduser()
        if not r.is_dir():
            raise UserError(f"--root {root}: no such folder; give an existing folder")
        return cls(r.resolve())

    def inside(self, path: str | Path, what: str = "path", *, must_exist: bool = True) -> Path:
        """``path`` resolved inside the root; a path outside it (or missing, with ``must_exist``) is refused."""
        text = str(path).strip()
        if not text:
            raise UserError(f"{what}: empty; give a path inside {self.root}")
        if "\0" in text:
            raise UserError(f"{what}: holds a NUL byte; give a plain path")
        try:
            p = (self.root / text).resolve()
        except (OSError, RuntimeError) as e:
            raise UserError(f"{what} {text}: cannot be resolved ({e}); fix the link") from None
        if p != self.root and self.root not in p.parents:
            raise UserError(f"{what} {text}: is outside the UI's root folder {self.root}; "
                            "pick a path inside it (or restart with --root)")
        if must_exist and not p.exists():
            raise UserError(f"{what} {text}: no such file or folder in {self.root}; check the path")
        return p

    def relative(self, path: str | Path) -> str:
        p = Path(path).resolve()
        return str(p.relative_to(self.root)) if p != self.root else "."

    def new_output(self, kind: str, name: str = "", ext: str = "") -> Path:
        """A fresh path ``ROOT/outputs/KIND/TIME-NAME[EXT]`` (its folder made; nothing there yet)."""
        slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40].lower()
        folder = self.root / OUTPUTS / kind
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for k in range(1000):
            p = folder / f"{stamp}{'-' + str(k) if k else ''}{'-' + slug if slug else ''}{ext}"
            if not p.exists():
                return p
        raise UserError(f"{folder}: too many outputs this second; try again")
