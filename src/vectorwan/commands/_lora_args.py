"""``--lora FILE[:SCALE]``, shared by generate and toy accuracy."""

from __future__ import annotations

import re
from pathlib import Path

from vectorwan.errors import UserError


def parse_lora(spec: str) -> tuple[str, float]:
    m = re.fullmatch(r"(.+?)(?::(-?[0-9]*\.?[0-9]+(?:e-?\d+)?))?", spec)
    path, scale = m.group(1), float(m.group(2)) if m.group(2) else 1.0
    if not Path(path).is_file():
        head, sep, tail = spec.rpartition(":")
        if sep and Path(head).is_file():  # FILE:SCALE with a scale that is not a number
            raise UserError(f"--lora {spec}: scale '{tail}' is not a number; write FILE:SCALE, e.g. {head}:0.8")
        raise UserError(f"--lora {path}: file not found; check the path")
    return path, scale
