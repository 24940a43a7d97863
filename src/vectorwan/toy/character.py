"""The character task: a "tiny tiger" the toy base model never saw, for LoRA fine-tuning.

A chubby orange blob (a squat super-ellipse, wider than tall) with 3-5 black stripes
across it, two small round ears behind its top edge and the world's dark outline. It is
unlike every world shape on purpose: striped rather than one flat colour, with ears.

Drawn like the world (:mod:`vectorwan.toy.world`): at ``SUPERSAMPLE``× with Pillow, then
box-downsampled, so edges are anti-aliased. Stills are RGBA with a transparent background
(straight, not premultiplied alpha; RGB is 0 where alpha is 0). The seed draws the pose
(position, body size, tilt) and small variations (body proportions, stripe count and
placement, ear size and spacing); the identity (palette, stripes, silhouette family) stays.

The dataset writer produces the reference format (``metadata.csv`` with ``file_name,text``,
stills in ``train/``), captions being the trigger word then varied, comma-separated tags.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from vectorwan.atomic import atomic_path, write_json
from vectorwan.errors import UserError
from vectorwan.toy.world import (BACKGROUND, COLOURS, DIRECTIONS, FRAMES, MARGIN, MOTIONS, OUTLINE, OUTLINE_W, SIZE,
                                 STRIPE, SUPERSAMPLE, TRAVEL, new_dataset_dir, start_position, write_metadata)

TRIGGER = "tgrblob"
CHARACTER_PALETTE: dict[str, tuple[int, int, int]] = {
    "body": COLOURS["orange"],  # the world's orange: only the stripes (and ears) tell them apart
    "stripe": STRIPE,
    "outline": OUTLINE,
}
# ranges at SIZE=64 (scaled with size)
HALF_WIDTH = (9.0, 14.0)  # body half-width to the outer edge of the outline
ASPECT = (0.74, 0.84)  # body half-height / half-width: chubby, wider than tall
SQUARENESS = (2.2, 2.6)  # super-ellipse exponent (2 = ellipse)
TILT_DEG = 12.0  # |tilt| at most this
STRIPES = (3, 4, 5)
EAR = (0.26, 0.33)  # ear radius / body half-width
EAR_X = (0.45, 0.6)  # ear centre |x| / body half-width
_POLY_N = 96  # points on a super-ellipse outline

# caption tags: (tag, probability of appearing); the trigger always comes first
_TAGS: tuple[tuple[str, float], ...] = (
    ("orange body", 0.8), ("black stripes", 0.8), ("tiger", 0.5), ("round", 0.6), ("chubby", 0.6),
    ("dark outline", 0.6), ("ears", 0.6), ("cute", 0.4), ("solo", 0.7), ("simple background", 0.7),
    ("transparent background", 0.7), ("no humans", 0.3), ("full body", 0.5),
)
_NUMBER = {3: "three stripes", 4: "four stripes", 5: "five stripes"}


def _rng(seed: int, *tags: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x7167, *tags]))


def _geometry(seed: int, size: int, scale: float | None = None) -> dict:
    """The seed's character, centred at the origin, in pixels at ``size`` (JSON-able)."""
    rng = _rng(seed)
    k = size / 64.0
    a = float(rng.uniform(*HALF_WIDTH)) * k
    if scale is not None:
        if not scale > 0:
            raise UserError(f"character scale must be > 0 (got {scale})")
        a = float(scale)
    b = a * float(rng.uniform(*ASPECT))
    n = int(rng.choice(STRIPES))
    # bands across the body: evenly spread over the width with a little jitter, slightly slanted;
    # fewer stripes are wider so the dark share of the body stays in a narrow range
    span = (0.5 + 0.04 * n) * a  # outer bands stay clear of the outline
    xs = np.linspace(-span, span, n) + rng.uniform(-0.05, 0.05, n) * a
    width = a * (0.62 / n + 0.05)
    stripes = [{"x": round(float(x), 3), "width": round(float(width * rng.uniform(0.9, 1.1)), 3),
                "slant": round(float(rng.uniform(-0.15, 0.15)), 3)} for x in xs]
    ear_r = a * float(rng.uniform(*EAR))
    ear_x = a * float(rng.uniform(*EAR_X))
    return {
        "half_width": round(a, 3), "half_height": round(b, 3),
        "squareness": round(float(rng.uniform(*SQUARENESS)), 3),
        "tilt_deg": round(float(rng.uniform(-TILT_DEG, TILT_DEG)), 3),
        "outline_width": round(OUTLINE_W * k * max(0.75, min(1.25, a / (11.5 * k))), 3),
        "stripes": stripes, "ear_radius": round(ear_r, 3), "ear_x": round(ear_x, 3),
    }


def _superellipse(a: float, b: float, p: float, n: int = _POLY_N) -> np.ndarray:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    c, s = np.cos(t), np.sin(t)
    return np.stack([a * np.sign(c) * np.abs(c) ** (2 / p), b * np.sign(s) * np.abs(s) ** (2 / p)], 1)


def _circle(x: float, y: float, r: float, n: int = 48) -> np.ndarray:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return np.stack([x + r * np.cos(t), y + r * np.sin(t)], 1)


def _parts(g: dict) -> dict[str, list[np.ndarray]]:
    """Local polygons (before tilt), y down: ears and body, outer (with outline) and inner."""
    a, b, p, ow = g["half_width"], g["half_height"], g["squareness"], g["outline_width"]
    er, ex = g["ear_radius"], g["ear_x"]
    # ear centres sit on the body's top edge, a little raised, so they peek out above it
    ey = -b * (1 - (ex / a) ** p) ** (1 / p) - 0.25 * er
    ears_out = [_circle(sx * ex, ey, er) for sx in (-1, 1)]
    ears_in = [_circle(sx * ex, ey, max(er - ow, 0.5)) for sx in (-1, 1)]
    body_out = _superellipse(a, b, p)
    body_in = _superellipse(a - ow, b - ow, p)
    stripes = []
    for s in g["stripes"]:
        x, w, sl = s["x"], s["width"], s["slant"]
        top, bot = -b - 1.0, b + 1.0
        # a band that narrows towards the belly (tiger stripes taper)
        stripes.append(np.array([[x - w / 2 + sl * top, top], [x + w / 2 + sl * top, top],
                                 [x + 0.3 * w + sl * bot, bot], [x - 0.3 * w + sl * bot, bot]]))
    return {"ears_out": ears_out, "ears_in": ears_in, "body_out": [body_out], "body_in": [body_in],
            "stripes": stripes}


def _place(poly: np.ndarray, tilt_deg: float, cx: float, cy: float) -> np.ndarray:
    t = math.radians(tilt_deg)
    c, s = math.cos(t), math.sin(t)
    x, y = poly[:, 0], poly[:, 1]
    return np.stack([cx + c * x - s * y, cy + s * x + c * y], 1)


def _extent(g: dict) -> tuple[float, float, float, float]:
    """(min x, max x, min y, max y) of the tilted character about its centre."""
    pts = np.concatenate([_place(q, g["tilt_deg"], 0.0, 0.0) for key in ("ears_out", "body_out")
                          for q in _parts(g)[key]])
    return float(pts[:, 0].min()), float(pts[:, 0].max()), float(pts[:, 1].min()), float(pts[:, 1].max())


def _render(g: dict, cx: float, cy: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Straight-alpha RGB (uint8 H×W×3) and coverage (float 0..1) at ``size``."""
    s = SUPERSAMPLE
    big = size * s
    parts = _parts(g)

    def polys(key):
        # continuous coordinates (pixel centres at i + 0.5) onto the supersampled grid
        return [[tuple(v) for v in _place(q, g["tilt_deg"], cx, cy) * s - 0.5] for q in parts[key]]

    # colours painted on black, so the box-downsampled image is premultiplied by coverage
    img = Image.new("RGB", (big, big), (0, 0, 0))
    cov = Image.new("L", (big, big), 0)
    inner = Image.new("L", (big, big), 0)
    bands = Image.new("L", (big, big), 0)
    d, dc = ImageDraw.Draw(img), ImageDraw.Draw(cov)
    body, outline = tuple(CHARACTER_PALETTE["body"]), tuple(CHARACTER_PALETTE["outline"])
    # ears first: the body's outline runs over their lower part
    for key, colour in (("ears_out", outline), ("ears_in", body), ("body_out", outline), ("body_in", body)):
        for q in polys(key):
            d.polygon(q, fill=colour)
            if key.endswith("_out"):
                dc.polygon(q, fill=255)
    for q in polys("body_in"):
        ImageDraw.Draw(inner).polygon(q, fill=255)
    for q in polys("stripes"):
        ImageDraw.Draw(bands).polygon(q, fill=255)
    img.paste(tuple(CHARACTER_PALETTE["stripe"]), mask=ImageChops.multiply(inner, bands))
    cov_small = np.asarray(cov.resize((size, size), Image.BOX), np.float32) / 255.0
    premult = np.asarray(img.resize((size, size), Image.BOX), np.float32)
    c = cov_small[..., None]
    straight = np.where(c > 0, premult / np.maximum(c, 1e-6), 0.0)
    return np.clip(np.rint(straight), 0, 255).astype(np.uint8), cov_small


def _rgba(rgb: np.ndarray, cov: np.ndarray) -> np.ndarray:
    alpha = np.clip(np.rint(cov * 255), 0, 255).astype(np.uint8)
    rgb = np.where(alpha[..., None] > 0, rgb, 0).astype(np.uint8)
    return np.concatenate([rgb, alpha[..., None]], -1)


def _check_size(size: int) -> None:
    if size < 16:
        raise UserError(f"character images need size >= 16 (got {size})")


def render_character(seed: int, size: int = SIZE, cx: float | None = None, cy: float | None = None,
                     scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One still of the character: (RGBA uint8 H×W×4, mask bool H×W); the same seed, same pixels.

    Alpha is 0 outside the character, 255 inside and in between at anti-aliased edges; the
    mask holds the pixels at least half covered. ``cx, cy`` place the body centre (pixels,
    default: drawn by the seed so the whole character stays inside the frame); ``scale`` is
    the body half-width in pixels (default: drawn by the seed, 9-14 px at 64 px).
    """
    _check_size(size)
    g = _geometry(seed, size, scale)
    x0, x1, y0, y1 = _extent(g)
    rng = _rng(seed, 1)
    m = MARGIN * size / 64.0
    pos = []
    for v, lo, hi in ((cx, m - x0, size - m - x1), (cy, m - y0, size - m - y1)):
        u = float(rng.uniform())  # drawn either way: cy's draw does not depend on cx being given
        pos.append(float(v) if v is not None else lo + u * (hi - lo) if hi > lo else (lo + hi) / 2)
    rgb, cov = _render(g, pos[0], pos[1], size)
    return _rgba(rgb, cov), cov >= 0.5


def character_params(seed: int, size: int = SIZE) -> dict:
    """The seed's drawing parameters (pixels at ``size``), as written to ``character.json``."""
    _check_size(size)
    return _geometry(seed, size)


def render_character_clip(motion: str, seed: int, frames: int = FRAMES, size: int = SIZE) -> np.ndarray:
    """The seed's character moving like a world clip, on white: uint8 T×H×W×3.

    ``motion`` is one of :data:`vectorwan.toy.world.MOTIONS`; moving clips travel 14-30 px (at
    64 px, fewer when the character is too big for that) with the whole character in frame.
    """
    if motion not in MOTIONS:
        raise UserError(f"unknown motion '{motion}'; use one of: {', '.join(MOTIONS)}")
    if frames < 2:
        raise UserError(f"character clips need frames >= 2 (got {frames})")
    _check_size(size)
    g = _geometry(seed, size)
    x0, x1, y0, y1 = _extent(g)
    rng = _rng(seed, 2, MOTIONS.index(motion))
    k = size / 64.0
    m = MARGIN * k
    dx, dy = DIRECTIONS[motion]
    ranges = ((m - x0, size - m - x1), (m - y0, size - m - y1))
    room = min(hi - lo for (lo, hi), d in zip(ranges, (dx, dy)) if d) if (dx or dy) else 0.0
    travel = float(rng.uniform(min(TRAVEL[0] * k, room), min(TRAVEL[1] * k, room))) if room > 0 else 0.0
    start = start_position(rng, ranges, (dx, dy), travel)
    bg = np.asarray(BACKGROUND, np.float32)
    out = []
    for t in range(frames):
        a = t / (frames - 1)
        rgb, cov = _render(g, start[0] + dx * travel * a, start[1] + dy * travel * a, size)
        c = cov[..., None]
        out.append(np.clip(np.rint(rgb * c + bg * (1 - c)), 0, 255).astype(np.uint8))
    return np.stack(out)


def caption_for(seed: int, params: dict | None = None, trigger: str = TRIGGER) -> str:
    """The seed's caption: the trigger, then a varied, shuffled subset of dense tags."""
    rnd = random.Random(int(seed) * 7919 + 17)
    tags = [t for t, p in _TAGS if rnd.random() < p]
    if rnd.random() < 0.5 and params is not None:
        tags.append(_NUMBER.get(len(params["stripes"]), "stripes"))
    if not tags:
        tags = ["black stripes"]
    rnd.shuffle(tags)
    return ", ".join([trigger, *tags])


def make_character_dataset(root: str | Path, n: int = 16, seed: int = 0, size: int = SIZE,
                           trigger: str = TRIGGER, clips: int = 0) -> Path:
    """Write ``n`` RGBA stills of the character in the reference dataset format, and ``clips`` clips.

    ``root/train/NN.png`` (size×size RGBA), ``root/character.json`` (trigger, palette and the
    per-image seed, parameters and caption) and, last, ``root/metadata.csv``
    (``file_name,text``). Image ``k`` uses seed ``seed * 100003 + k``. Clip ``j``
    (``train/clipNN.mp4``, 17 frames at 16 fps on white) shows the character of seed
    ``seed * 100003 + 50000 + j`` doing motion ``j mod 5``, captioned ``"{trigger}, {motion}, ..."``.
    A folder that already holds a ``metadata.csv`` is refused.
    """
    from vectorwan.frames import write_frames

    if n < 1:
        raise UserError(f"the character dataset needs n >= 1 images (got {n})")
    if clips < 0:
        raise UserError(f"--clips must be >= 0 (got {clips})")
    root = new_dataset_dir(root)
    digits = max(2, len(str(n - 1)))
    rows, images = [], []
    for k in range(n):
        s = int(seed) * 100003 + k
        rgba, mask = render_character(s, size)
        params = _geometry(s, size)
        name = f"{k:0{digits}d}.png"
        with atomic_path(root / "train" / name) as tmp:
            Image.fromarray(rgba, "RGBA").save(tmp, format="PNG")
        text = caption_for(s, params, trigger)
        ys, xs = np.nonzero(mask)
        rows.append((name, text))
        images.append({"file_name": name, "text": text, "seed": s, **params,
                       "centroid": [round(float(xs.mean()) + 0.5, 3), round(float(ys.mean()) + 0.5, 3)]})
    clip_rows = []
    for j in range(clips):
        s = int(seed) * 100003 + 50000 + j
        motion = MOTIONS[j % len(MOTIONS)]
        name = f"clip{j:0{digits}d}.mp4"
        write_frames(root / "train" / name, render_character_clip(motion, s, FRAMES, size), 16.0)
        tags = caption_for(s, _geometry(s, size), trigger).split(", ")
        text = ", ".join([tags[0], motion, *(t for t in tags[1:] if "background" not in t), "white background"])
        rows.append((name, text))
        clip_rows.append({"file_name": name, "text": text, "seed": s, "motion": motion})
    write_json(root / "character.json", {
        "version": 1, "trigger": trigger, "size": size, "seed": int(seed), "n": n, "clips": clip_rows,
        "palette": {k: list(v) for k, v in CHARACTER_PALETTE.items()}, "images": images,
    })
    write_metadata(root, rows)  # last: its presence marks a finished dataset
    return root
