"""Writers' text: single-frame SVG, animated SVG (SMIL) and Lottie JSON from traced frames.

All functions return strings / dicts; writing files is the command's job.

* Animated SVG: one ``<g class="frame">`` per frame holding the colour-layer groups; a SMIL
  ``<animate attributeName="visibility" calcMode="discrete">`` shows each frame for 1/fps
  seconds, looping. The first frame is visible without animation (static renderers).
* Lottie: one shape layer per colour layer (top layer first, as Lottie stacks them); inside,
  one group per tracked shape id. A shape traced as one path a frame keeps its path in its own
  coordinates, placed by the group's position keyframes (linear; a hold where the path changes),
  so a shape whose tracing is reused from frame to frame (held, or moved by whole pixels) is one
  static path plus its motion. Its sub-paths carry hold keyframes where they change. Every keyframe of
  a sub-path has the same vertex count and none is empty (a collapsed path while the shape is
  absent): lottie-web fails on a changing count and rlottie draws the smaller one. Coordinates are
  in source pixels.
"""

from __future__ import annotations

import bisect
import io
import json
import re
import zipfile

from vectorwan.vector.palette import Palette, hex_color
from vectorwan.vector.trace import TracedFrame, TracedPath, _fmt, frame_body, scale_attr, svg_document

__all__ = ["svg_document", "animated_svg", "lottie_document", "dotlottie", "parse_path"]


# ----------------------------------------------------------------------------- animated SVG
def animated_svg(frames: list[TracedFrame], palette: Palette, fps: float, *,
                 background_rect: bool = False) -> str:
    """One SVG document showing ``frames`` in sequence at ``fps`` (SMIL, loops forever)."""
    if not frames:
        raise ValueError("no frames")
    n = len(frames)
    w, h = frames[0].width, frames[0].height
    dur = n / float(fps)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}">',
           f"<title>vectorwan: {n} frames at {_fmt(fps)} fps, {len(palette)} colours</title>"]
    if background_rect and palette.background is not None:
        out.append(f'<rect id="background" width="{w}" height="{h}" fill="{hex_color(palette.background)}"/>')
    for t, fr in enumerate(frames):
        vis = "visible" if t == 0 else "hidden"
        out.append(f'<g id="frame{t:05d}" class="frame" data-frame="{t}" visibility="{vis}"'
                   f"{scale_attr(fr.scale)}>")
        if n > 1:
            a, b = t / n, (t + 1) / n
            if t == 0:
                values, times = "visible;hidden", f"0;{_fmt(b)}"
            elif t == n - 1:
                values, times = "hidden;visible", f"0;{_fmt(a)}"
            else:
                values, times = "hidden;visible;hidden", f"0;{_fmt(a)};{_fmt(b)}"
            out.append(f' <animate attributeName="visibility" values="{values}" keyTimes="{times}" '
                       f'dur="{_fmt(dur)}s" calcMode="discrete" repeatCount="indefinite"/>')
        body = frame_body(fr, palette, id_prefix=f"f{t:05d}-", indent=" ")
        if body:
            out.append(body)
        out.append("</g>")
    out.append("</svg>\n")
    return "\n".join(out)


# ----------------------------------------------------------------------------- path parsing
_TOKEN_RE = re.compile(r"[MLCZ]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

def parse_path(path: TracedPath, scale: int = 1, ndigits: int = 2) -> list[dict]:
    """A vtracer path (absolute M/L/C/Z) → Lottie beziers in source pixels.

    Each sub-path becomes ``{"c": True, "v": [...], "i": [...], "o": [...]}`` with tangents
    relative to their vertex, as the Lottie spec wants.
    """
    toks = _TOKEN_RE.findall(path.d)
    subs: list[dict] = []
    v: list[list[float]] = []
    ti: list[list[float]] = []
    to: list[list[float]] = []
    s = 1.0 / scale

    def pt(x, y):
        return [(float(x) + path.tx) * s, (float(y) + path.ty) * s]

    def close():
        if v:
            # a closing segment back onto the first vertex duplicates it: fold the tangents in
            if len(v) > 1 and abs(v[-1][0] - v[0][0]) < 1e-9 and abs(v[-1][1] - v[0][1]) < 1e-9:
                ti[0] = ti[-1]
                v.pop(), ti.pop(), to.pop()
            subs.append({
                "c": True,
                "v": [[round(x, ndigits), round(y, ndigits)] for x, y in v],
                "i": [[round(a - x, ndigits), round(b - y, ndigits)] for (a, b), (x, y) in zip(ti, v)],
                "o": [[round(a - x, ndigits), round(b - y, ndigits)] for (a, b), (x, y) in zip(to, v)],
            })

    i, n = 0, len(toks)
    while i < n:
        c = toks[i]
        if c == "M":
            close()
            p = pt(toks[i + 1], toks[i + 2])
            v, ti, to = [p], [p], [p]
            i += 3
        elif c == "L":
            p = pt(toks[i + 1], toks[i + 2])
            v.append(p), ti.append(p), to.append(p)
            i += 3
        elif c == "C":
            c1, c2, p = pt(toks[i + 1], toks[i + 2]), pt(toks[i + 3], toks[i + 4]), pt(toks[i + 5], toks[i + 6])
            to[-1] = c1
            v.append(p), ti.append(c2), to.append(p)
            i += 7
        elif c == "Z":
            close()
            v, ti, to = [], [], []
            i += 1
        else:  # implicit repeat of the previous command is never emitted by vtracer
            raise ValueError(f"unexpected token {c!r} in path data")
    close()
    return subs


# ----------------------------------------------------------------------------- Lottie
def _static(v):
    return {"a": 0, "k": v}


def _transform_shape(position: dict | None = None) -> dict:
    return {"ty": "tr", "nm": "Transform", "p": position or _static([0, 0]), "a": _static([0, 0]),
            "s": _static([100, 100]), "r": _static(0), "o": _static(100), "sk": _static(0), "sa": _static(0)}


def _layer_transform() -> dict:
    return {"o": _static(100), "r": _static(0), "p": _static([0, 0, 0]), "a": _static([0, 0, 0]),
            "s": _static([100, 100, 100])}


def _rgba01(rgb) -> list[float]:
    return [round(int(c) / 255.0, 4) for c in rgb] + [1]


def _padded(bez: dict, n: int) -> dict:
    """``bez`` with ``n`` vertices and the same geometry: the last vertex is repeated with zero tangents,
    its out-tangent moved to the last copy, so every added segment has zero length."""
    v, i, o = list(bez["v"]), list(bez["i"]), list(bez["o"])
    extra = n - len(v)
    if extra <= 0:
        return bez
    last_out, o[-1] = o[-1], [0, 0]
    v += [v[-1]] * extra
    i += [[0, 0]] * extra
    o += [[0, 0]] * (extra - 1) + [last_out]
    return {"c": bez["c"], "v": v, "i": i, "o": o}


def _collapsed(at: list[float], n: int) -> dict:
    """A closed path of ``n`` vertices all at ``at``: draws nothing, but has the slot's vertex count."""
    return {"c": True, "v": [list(at)] * n, "i": [[0, 0]] * n, "o": [[0, 0]] * n}


def _animated_path(per_frame: dict[int, dict], n_frames: int) -> dict:
    """Hold keyframes for one sub-path slot, well-formed for every player (lottie-web, rlottie, ThorVG,
    Skottie): every keyframe has the slot's largest vertex count (smaller shapes padded without changing
    their geometry), and where the slot is absent it holds a collapsed path, never an empty one."""
    n = max(len(b["v"]) for b in per_frame.values())
    shown = sorted(per_frame)
    kfs, last = [], None
    for t in range(n_frames):
        if t in per_frame:
            val = _padded(per_frame[t], n)
        else:  # collapse onto the nearest shown frame's first vertex (no stray dot at the origin)
            j = bisect.bisect(shown, t)
            near = min(shown[max(j - 1, 0):j + 1], key=lambda k: (abs(k - t), k))
            val = _collapsed(per_frame[near]["v"][0], n)
        if last is not None and val == last:
            continue
        kfs.append({"t": t, "s": [val], "h": 1, "i": {"x": [1], "y": [1]}, "o": {"x": [0], "y": [0]}})
        last = val
    if len(kfs) == 1:
        return _static(kfs[0]["s"][0])
    del kfs[-1]["i"], kfs[-1]["o"]  # the last keyframe has no segment after it
    return {"a": 1, "k": kfs}


def _animated_position(pos: dict[int, list[float]], held: set[int]) -> dict:
    """Linear position keyframes of a moving shape; ``held`` frames hold until the next keyframe (where
    its path changes). A keyframe that lies midway between its neighbours is left out: constant
    velocity costs two keyframes, and a player interpolates the frames between (and at 2× speed)."""
    ts = sorted(pos)
    kfs = []
    for k, t in enumerate(ts):
        inner = 0 < k < len(ts) - 1 and ts[k - 1] == t - 1 and ts[k + 1] == t + 1 and not held & {t - 1, t}
        if inner and all(abs(2 * c - a - b) < 1e-6 for c, a, b in zip(pos[t], pos[t - 1], pos[t + 1])):
            continue
        kf = {"t": t, "s": pos[t]}
        if k < len(ts) - 1:
            kf.update({"i": {"x": 1, "y": 1}, "o": {"x": 0, "y": 0}, **({"h": 1} if t in held else {})})
        kfs.append(kf)
    if len(kfs) == 1 or all(kf["s"] == kfs[0]["s"] for kf in kfs):
        return _static(kfs[0]["s"])
    return {"a": 1, "k": kfs}


def _shape_items(per_t: dict[int, list[TracedPath]], scale: int, n: int, parsed: dict) -> tuple[list[dict], dict | None]:
    """One tracked shape's sub-path slots and, when it is one path a frame, its position keyframes.

    Such a shape's path is kept in its own coordinates and placed by the group's position, so a
    shape that moves without changing (its tracing reused) is one static path and a moving
    position; its path gets a (hold) keyframe only where the traced path itself changes."""
    def parse(path: TracedPath, local: bool) -> list[dict]:
        key = (path.d, None if local else (path.tx, path.ty))
        if key not in parsed:
            parsed[key] = parse_path(TracedPath(path.d, 0.0, 0.0, path.bbox) if local else path, scale)
        return parsed[key]

    local = all(len(ps) == 1 for ps in per_t.values())
    subs = {t: parse(ps[0], True) if local else [b for p in ps for b in parse(p, False)] for t, ps in per_t.items()}
    slots = max(len(v) for v in subs.values())
    items = [{"ty": "sh", "nm": f"path {j}", "ks": _animated_path(
        {t: s[j] for t, s in subs.items() if j < len(s)}, n)} for j in range(slots)]
    if not local:
        return items, None
    pos = {t: [round(ps[0].tx / scale, 4), round(ps[0].ty / scale, 4)] for t, ps in per_t.items()}
    held = {t for t in per_t if t + 1 not in per_t or per_t[t + 1][0].d != per_t[t][0].d}
    return items, _animated_position(pos, held)


def lottie_document(frames: list[TracedFrame], palette: Palette, fps: float, *,
                    background_rect: bool = False, name: str = "vectorwan") -> dict:
    """Lottie (bodymovin) JSON: one shape layer per colour layer, per-frame shape keyframes."""
    if not frames:
        raise ValueError("no frames")
    n = len(frames)
    w, h = frames[0].width, frames[0].height
    layers, parsed = [], {}  # parsed: path data → beziers, each distinct path parsed once
    for li in range(len(palette)):
        # shape id -> frame -> its traced paths
        shapes: dict[int, dict[int, list[TracedPath]]] = {}
        for t, fr in enumerate(frames):
            if li >= len(fr.layers):
                continue
            for k, p in enumerate(fr.layers[li]):
                sid = p.shape if p.shape >= 0 else 1_000_000 + k
                shapes.setdefault(sid, {}).setdefault(t, []).append(p)
        if not shapes:
            continue
        groups = []
        for sid in sorted(shapes):
            items, position = _shape_items(shapes[sid], frames[0].scale, n, parsed)
            items.append({"ty": "fl", "nm": "Fill", "c": _static(_rgba01(palette.colors[li])),
                          "o": _static(100), "r": 2})
            items.append(_transform_shape(position))
            groups.append({"ty": "gr", "nm": f"shape {sid}", "it": items})
        layers.append({"ddd": 0, "ty": 4, "nm": f"layer{li:02d} {hex_color(palette.colors[li])}", "sr": 1,
                       "ks": _layer_transform(), "ao": 0, "shapes": groups, "ip": 0, "op": n, "st": 0, "bm": 0})
    if background_rect and palette.background is not None:
        rect = {"ty": "rc", "nm": "Rect", "d": 1, "p": _static([w / 2, h / 2]), "s": _static([w, h]), "r": _static(0)}
        fill = {"ty": "fl", "nm": "Fill", "c": _static(_rgba01(palette.background)), "o": _static(100), "r": 1}
        layers.append({"ddd": 0, "ty": 4, "nm": "background", "sr": 1, "ks": _layer_transform(), "ao": 0,
                       "shapes": [{"ty": "gr", "nm": "background", "it": [rect, fill, _transform_shape()]}],
                       "ip": 0, "op": n, "st": 0, "bm": 0})
    # Lottie draws the first layer on top: palette index 0 is the bottom layer
    layers = layers[-1::-1] if not background_rect else layers[:-1][::-1] + layers[-1:]
    for ind, layer in enumerate(layers, 1):
        layer["ind"] = ind
    return {"v": "5.7.0", "fr": float(fps), "ip": 0, "op": n, "w": int(w), "h": int(h), "nm": name,
            "ddd": 0, "assets": [], "layers": layers,
            "meta": {"g": "vectorwan vectorize", "palette": palette.hex}}


# ----------------------------------------------------------------------------- dotLottie
DOTLOTTIE_ID = "animation"


def dotlottie(doc: dict, *, generator: str = "vectorwan vectorize") -> bytes:
    """A ``.lottie`` file (dotLottie 2.0, the LottieFiles player's format): a zip holding
    ``manifest.json`` and the animation as ``a/animation.json``. Deterministic bytes (fixed times)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, obj in (("manifest.json", {"version": "2", "generator": generator,
                                             "animations": [{"id": DOTLOTTIE_ID}]}),
                          (f"a/{DOTLOTTIE_ID}.json", doc)):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, json.dumps(obj, separators=(",", ":")))
    return buf.getvalue()
