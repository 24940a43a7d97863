"""`vectorwan toy check` as a library: score clip files against toy-world prompts.

A clip's prompt is given, or read from its sidecar: ``CLIP.json`` (``vectorwan generate``'s,
``request.prompt``) or the ``.txt`` caption beside it. Every prompt is read before any clip is
scored, so a bad one fails before any work.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

from vectorwan.atomic import write_json
from vectorwan.errors import UserError
from vectorwan.frames import read_frames
from vectorwan.toy import checks, world


def sidecar_prompt(path: str | Path) -> str:
    """The prompt of clip ``path`` from ``path.json`` (``request.prompt`` or ``prompt``) or ``path``'s .txt."""
    path = Path(path)
    side = path.with_name(path.name + ".json")
    if side.is_file():
        try:
            rec = json.loads(side.read_text(encoding="utf-8"))
            prompt = (rec.get("request") or {}).get("prompt") or rec.get("prompt")
        except (json.JSONDecodeError, AttributeError):
            raise UserError(f"{side}: not a JSON object with request.prompt; fix it or use --prompt") from None
        if prompt:
            return str(prompt)
        raise UserError(f"{side}: has no request.prompt; use --prompt")
    txt = path.with_suffix(".txt")
    if txt.is_file():
        return txt.read_text(encoding="utf-8").strip()
    raise UserError(f"{path}: no sidecar {side.name} or {txt.name} with its prompt; use --prompt")


def result_line(r: dict) -> str:
    """``CLIP: caption -> colour ok  shape ok  motion NO (got)`` for one of :func:`check_clips`' results."""
    marks = "  ".join(f"{a} {'ok' if r[a + '_ok'] else 'NO (' + r['got_' + a] + ')'}" for a in checks.ATTRS)
    return f"{r['clip']}: {world.caption(r['colour'], r['shape'], r['motion'])} -> {marks}"


def check_clips(clips: Iterable[str | Path], prompt: str | None = None, from_sidecar: bool = False, *,
                json_out: str | Path | None = None,
                on_result: Callable[[dict], None] | None = None) -> tuple[list[dict], dict]:
    """Score every clip (video / animated image / folder of frames) against ``prompt`` or, with
    ``from_sidecar``, its own :func:`sidecar_prompt`.

    Returns ``(results, table)``: :func:`checks.score_clip`'s dict per clip (plus ``"clip"``) and
    their :func:`checks.accuracy_table`. ``on_result`` sees each result as it is scored;
    ``json_out`` also gets ``{"results", "accuracy"}``.
    """

    if (prompt is None) != bool(from_sidecar):
        raise UserError("give exactly one of --prompt or --prompts-from-sidecar")
    clips = [str(c) for c in clips]
    prompts = [world.parse_caption(prompt if prompt is not None else sidecar_prompt(c)) for c in clips]
    results = []
    for c, p in zip(clips, prompts):
        r = checks.score_clip(read_frames(c).frames, p)
        r["clip"] = c
        results.append(r)
        if on_result is not None:
            on_result(r)
    table = checks.accuracy_table(results)
    if json_out:
        write_json(json_out, {"results": results, "accuracy": table})
    return results, table
