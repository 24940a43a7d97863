"""Writers' text: animated SVG (SMIL) and Lottie JSON from an :class:`~.animate.Animation`.

All functions return strings / dicts; writing files is the command's job. Both writers read the same
structure: per colour layer, segments, each one static path (its key's trace) moved about its anchor.

* Animated SVG: one ``<g class="layer">`` per colour; per segment, its paths inside translate / rotate /
  scale groups animated by looping linear ``animateTransform`` (only the channels that change), and an
  ``animate`` on visibility (discrete) where the segment is shown for part of the clip. A static renderer
  draws frame 0.
* Lottie: one shape layer per colour layer (top layer first, as Lottie stacks them); inside, one group
  per segment: its sub-paths (static: no path keyframes, so no vertex counts to keep equal and no empty
  path, what lottie-web and rlottie need), an even-odd fill, and the group transform with the anchor,
  linear position / rotation / scale keyframes, and hold keyframes on opacity for when it is shown.
  Coordinates are in source pixels.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile

from vectorwan.vector.animate import Animation, Segment
from vectorwan.vector.palette import Palette, hex_color
from vectorwan.vector.trace import TracedPath, _fmt, svg_document

__all__ = ["svg_document", "animated_svg", "lottie_document", "dotlottie", "parse_path"]


# ----------------------------------------------------------------------------- animated SVG
def _smil(attr_type: str, values: list[str], times: list[int], n: int, dur: str) -> str:
    """A looping linear ``animateTransform``: frame t's value at t/n, held after the last keyframe."""
    kt = [t / n for t in times]
    if kt[0] > 0:
        kt, values = [0.0] + kt, values[:1] + values
    if kt[-1] < 1:
        kt, values = kt + [1.0], values + values[-1:]
    return (f'<animateTransform attributeName="transform" type="{attr_type}" values="{";".join(values)}" '
            f'keyTimes="{";".join(_fmt(k, 6) for k in kt)}" dur="{dur}" calcMode="linear" repeatCount="indefinite"/>')


def _segment_svg(seg: Segment, scale: int, n: int, dur: str, indent: str) -> list[str]:
    """One segment: its key's paths inside translate / rotate / scale groups animated by SMIL (only the
    channels that change), shown only during its frames."""
    ax, ay = seg.anchor
    ts = [k[0] for k in seg.keys]
    moves = len({(k[1], k[2]) for k in seg.keys}) > 1
    turns = len({k[3] for k in seg.keys}) > 1 or seg.keys[0][3] != 0
    grows = len({k[4] for k in seg.keys}) > 1 or seg.keys[0][4] != 1
    x0, y0 = seg.keys[0][1], seg.keys[0][2]
    out, close = [], 0
    vis = ""
    if seg.start > 0 or seg.end < n:
        values = (["hidden"] if seg.start > 0 else []) + ["visible"] + (["hidden"] if seg.end < n else [])
        times = ([0.0] if seg.start > 0 else []) + [seg.start / n] + ([seg.end / n] if seg.end < n else [])
        # rounded down: a player at exactly frame t's time shows frame t
        times = [math.floor(t * 1e6) / 1e6 for t in times]
        vis = (f' visibility="{"visible" if seg.start == 0 else "hidden"}"><animate attributeName="visibility" '
               f'values="{";".join(values)}" keyTimes="{";".join(_fmt(t, 6) for t in times)}" dur="{dur}" '
               f'calcMode="discrete" repeatCount="indefinite"/')
    out.append(f'{indent}<g data-shape="{seg.shape}"{vis}>')
    close += 1
    if moves or turns or grows:
        out.append(f'{indent}<g transform="translate({_fmt(x0)},{_fmt(y0)})">' + (_smil(
            "translate", [f"{_fmt(k[1])} {_fmt(k[2])}" for k in seg.keys], ts, n, dur) if moves else ""))
        close += 1
        if turns:
            out.append(f'{indent}<g transform="rotate({_fmt(seg.keys[0][3])})">' + _smil(
                "rotate", [_fmt(k[3]) for k in seg.keys], ts, n, dur))
            close += 1
        if grows:
            out.append(f'{indent}<g transform="scale({_fmt(seg.keys[0][4], 5)})">' + _smil(
                "scale", [_fmt(k[4], 5) for k in seg.keys], ts, n, dur))
            close += 1
        ox, oy = -ax, -ay
    else:
        ox, oy = x0 - ax, y0 - ay
    for p in seg.paths:  # traced px → source px, then the anchor to the origin
        out.append(f'{indent} <path transform="matrix({_fmt(1 / scale)} 0 0 {_fmt(1 / scale)} '
                   f'{_fmt(p.tx / scale + ox)} {_fmt(p.ty / scale + oy)})" d="{p.d}"/>')
    out.append(indent + "</g>" * close)
    return out


def animated_svg(animation: Animation, palette: Palette, fps: float, *, background_rect: bool = False) -> str:
    """One SVG document playing ``animation`` at ``fps`` (SMIL, loops forever): per colour layer, each
    segment's path moved by ``animateTransform`` and shown by ``animate`` on visibility. A static renderer
    draws frame 0."""
    n = animation.n_frames
    if n < 1:
        raise ValueError("no frames")
    w, h = animation.width, animation.height
    dur = f"{_fmt(n / float(fps))}s"
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{w}" height="{h}" '
           f'viewBox="0 0 {w} {h}">',
           f"<title>vectorwan: {n} frames at {_fmt(fps)} fps, {len(palette)} colours</title>"]
    if background_rect and palette.background is not None:
        out.append(f'<rect id="background" width="{w}" height="{h}" fill="{hex_color(palette.background)}"/>')
    for li in range(animation.n_layers):
        segs = animation.layer_segments(li)
        if not segs:
            continue
        out.append(f'<g id="layer{li:02d}" class="layer" data-layer="{li}" fill="{hex_color(palette.colors[li])}">')
        for seg in segs:
            out += _segment_svg(seg, animation.scale, n, dur, " ")
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
            if len(v) < 2:  # a lone point draws nothing, and some players choke on it
                return
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


def _transform_shape() -> dict:
    return {"ty": "tr", "nm": "Transform", "p": _static([0, 0]), "a": _static([0, 0]),
            "s": _static([100, 100]), "r": _static(0), "o": _static(100), "sk": _static(0), "sa": _static(0)}


def _layer_transform() -> dict:
    return {"o": _static(100), "r": _static(0), "p": _static([0, 0, 0]), "a": _static([0, 0, 0]),
            "s": _static([100, 100, 100])}


def _rgba01(rgb) -> list[float]:
    return [round(int(c) / 255.0, 4) for c in rgb] + [1]


_LINEAR_1 = {"i": {"x": [1], "y": [1]}, "o": {"x": [0], "y": [0]}}
_LINEAR_2 = {"i": {"x": [1, 1], "y": [1, 1]}, "o": {"x": [0, 0], "y": [0, 0]}}
_LINEAR_P = {"i": {"x": 1, "y": 1}, "o": {"x": 0, "y": 0}}


def _keyed(keys: list[tuple[int, list[float]]], easing: dict) -> dict:
    """A property from (frame, value) keyframes: static when it never changes, else linear."""
    if all(v == keys[0][1] for _, v in keys):
        v = keys[0][1]
        return _static(v[0] if len(v) == 1 else v)
    kfs = [{"t": t, "s": v, **easing} for t, v in keys]
    del kfs[-1]["i"], kfs[-1]["o"]  # the last keyframe has no segment after it
    return {"a": 1, "k": kfs}


def _shown(start: int, end: int, n: int) -> dict:
    """Opacity 100 during frames [start, end), 0 elsewhere: hold keyframes."""
    if start <= 0 and end >= n:
        return _static(100)
    kfs = ([{"t": 0, "s": [0], "h": 1}] if start > 0 else []) + [{"t": start, "s": [100], "h": 1}]
    if end < n:
        kfs.append({"t": end, "s": [0], "h": 1})
    del kfs[-1]["h"]
    return {"a": 1, "k": kfs}


def _segment_group(seg: Segment, scale: int, n: int, color: list[float], parsed: dict) -> dict:
    """One segment: its key's sub-paths (static: no path keyframes, so no vertex counts to keep equal),
    an even-odd fill, and a transform about its anchor with linear position / rotation / scale
    keyframes and an opacity that shows it only during its frames."""
    items = []
    for p in seg.paths:
        key = (p.d, p.tx, p.ty)
        if key not in parsed:
            parsed[key] = parse_path(p, scale)
        items += [{"ty": "sh", "nm": f"path {j}", "ks": _static(b)} for j, b in enumerate(parsed[key], len(items))]
    items.append({"ty": "fl", "nm": "Fill", "c": _static(color), "o": _static(100), "r": 2})
    items.append({"ty": "tr", "nm": "Transform", "a": _static([round(seg.anchor[0], 3), round(seg.anchor[1], 3)]),
                  "p": _keyed([(k[0], [k[1], k[2]]) for k in seg.keys], _LINEAR_P),
                  "r": _keyed([(k[0], [k[3]]) for k in seg.keys], _LINEAR_1),
                  "s": _keyed([(k[0], [round(100 * k[4], 3)] * 2) for k in seg.keys], _LINEAR_2),
                  "o": _shown(seg.start, seg.end, n), "sk": _static(0), "sa": _static(0)})
    return {"ty": "gr", "nm": f"shape {seg.shape} from {seg.start}", "it": items}


def lottie_document(animation: Animation, palette: Palette, fps: float, *,
                    background_rect: bool = False, name: str = "vectorwan") -> dict:
    """Lottie (bodymovin) JSON: one shape layer per colour layer; in it, one group per segment."""
    n = animation.n_frames
    if n < 1:
        raise ValueError("no frames")
    w, h = animation.width, animation.height
    layers, parsed = [], {}  # parsed: (path data, offset) → beziers, each distinct placed path parsed once
    for li in range(animation.n_layers):
        segs = animation.layer_segments(li)
        if not segs:
            continue
        color = _rgba01(palette.colors[li])
        groups = [_segment_group(seg, animation.scale, n, color, parsed) for seg in segs]
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
