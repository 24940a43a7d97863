"""The procedural toy world: one flat shape with a dark outline moving on white.

Clips are 17 frames of 64×64 RGB by default, drawn anti-aliased (drawn at 4× with Pillow,
then box-downsampled). Every clip is a pure function of ``(colour, shape, motion, seed)``,
and comes with its ground truth: per-frame masks, centroids and the palette.

The vocabulary and the caption template are fixed: other tools script against them.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageChops, ImageDraw

from vectorwan.atomic import atomic_path, check_output, is_temp_of, write_json, write_text
from vectorwan.errors import UserError
from vectorwan.frames import write_frames

# name -> fill RGB. Chosen far apart in Lab so a check can tell them apart after mp4 coding.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 38, 38),
    "orange": (247, 137, 20),
    "yellow": (250, 215, 35),
    "green": (46, 168, 72),
    "blue": (37, 99, 225),
    "purple": (140, 62, 196),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
MOTIONS: tuple[str, ...] = ("moving left", "moving right", "moving up", "moving down", "staying still")
# unit displacement per motion, image coordinates (x right, y down)
DIRECTIONS: dict[str, tuple[int, int]] = {
    "moving left": (-1, 0), "moving right": (1, 0), "moving up": (0, -1), "moving down": (0, 1),
    "staying still": (0, 0),
}
OUTLINE = (28, 28, 36)
BACKGROUND = (255, 255, 255)
STRIPE = (18, 16, 16)  # dark bands of striped bodies
TEMPLATE = "{colour} {shape}, {motion}, white background"

FRAMES = 17
SIZE = 64
FPS = 16.0
SUPERSAMPLE = 4
# ranges at SIZE=64 (scaled with size): half-extent of the shape, outline width, travel
RADIUS = (7.0, 12.0)
OUTLINE_W = 2.0
TRAVEL = (14.0, 30.0)  # total displacement over the clip for moving clips
MARGIN = 2.0  # keep the outline this far from the frame edge


@dataclass
class ToyClip:
    frames: np.ndarray  # uint8 T×H×W×3
    masks: np.ndarray  # bool T×H×W: pixels at least half covered by the shape (fill + outline)
    centroids: np.ndarray  # float32 T×2 (x, y) of the mask, pixels
    palette: dict  # {"fill": rgb, "outline": rgb, "background": rgb}
    colour: str
    shape: str
    motion: str
    seed: int
    params: dict = field(default_factory=dict)  # radius, start, end, outline width (pixels)

    @property
    def caption(self) -> str:
        return caption(self.colour, self.shape, self.motion)

    def ground_truth(self) -> dict:
        """JSON-able ground truth (masks excluded: they go to their own file)."""
        return {
            "text": self.caption, "colour": self.colour, "shape": self.shape, "motion": self.motion,
            "seed": self.seed, "palette": {k: list(v) for k, v in self.palette.items()},
            **self.params,
            "centroids": [[round(float(x), 3), round(float(y), 3)] for x, y in self.centroids],
        }


def _check(colour: str, shape: str, motion: str) -> None:
    for value, vocab, what in ((colour, COLOURS, "colour"), (shape, SHAPES, "shape"), (motion, MOTIONS, "motion")):
        if value not in vocab:
            raise UserError(f"unknown {what} '{value}'; use one of: {', '.join(vocab)}")


def caption(colour: str, shape: str, motion: str) -> str:
    _check(colour, shape, motion)
    return TEMPLATE.format(colour=colour, shape=shape, motion=motion)


def parse_caption(text: str) -> tuple[str, str, str]:
    """``"red circle, moving left, white background"`` → ``("red", "circle", "moving left")``.

    Tolerant of case, extra spaces and a missing ``white background`` part; anything else is
    a :class:`UserError`.
    """
    parts = [" ".join(p.split()) for p in str(text).strip().lower().split(",")]
    parts = [p for p in parts if p]
    if parts and parts[-1] == "white background":
        parts = parts[:-1]
    if len(parts) != 2 or len(parts[0].split()) != 2:
        raise UserError(f"caption '{text}' does not match '{TEMPLATE}'")
    colour, shape = parts[0].split()
    _check(colour, shape, parts[1])
    return colour, shape, parts[1]


def all_prompts() -> list[tuple[str, str, str]]:
    """The 90 (colour, shape, motion) combinations, in vocabulary order."""
    return [(c, s, m) for c in COLOURS for s in SHAPES for m in MOTIONS]


def _rng(colour: str, shape: str, motion: str, seed: int) -> np.random.Generator:
    ids = [list(COLOURS).index(colour), SHAPES.index(shape), MOTIONS.index(motion)]
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, *ids]))


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]] | None:
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":  # upright isosceles filling the 2r × 2r box: fill ratio 0.5
        return [(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    return None


def _draw(shape: str, cx: float, cy: float, r: float, fill, outline, ow: float, size: int,
          bands: list[tuple[float, float]] = ()) -> tuple[np.ndarray, np.ndarray]:
    """One anti-aliased frame and its coverage (float 0..1) at ``size``.

    ``bands``: dark vertical stripes across the fill, each (centre offset from ``cx``, width),
    both in units of ``r``."""
    s = SUPERSAMPLE
    big = size * s
    img = Image.new("RGB", (big, big), BACKGROUND)
    cov = Image.new("L", (big, big), 0)
    w = max(1, int(round(ow * s)))
    # Pillow's coordinates address pixel corners at integer + 0.5 offsets; map continuous
    # coordinates (pixel centres at i + 0.5) onto the supersampled grid
    sx, sy, sr = cx * s - 0.5, cy * s - 0.5, r * s
    poly = _polygon(shape, sx, sy, sr)
    inner = None if poly is None else _inset(poly, w)
    for canvas, f, o in ((ImageDraw.Draw(img), tuple(fill), tuple(outline)), (ImageDraw.Draw(cov), 255, 255)):
        if poly is None:
            canvas.ellipse([sx - sr, sy - sr, sx + sr, sy + sr], fill=f, outline=o, width=w)
        else:
            canvas.polygon(poly, fill=o)
            canvas.polygon(inner, fill=f)
    if bands:
        inner_mask = Image.new("L", (big, big), 0)
        d = ImageDraw.Draw(inner_mask)
        if poly is None:
            d.ellipse([sx - sr + w, sy - sr + w, sx + sr - w, sy + sr - w], fill=255)
        else:
            d.polygon(inner, fill=255)
        band_mask = Image.new("L", (big, big), 0)
        d = ImageDraw.Draw(band_mask)
        for off, bw in bands:
            x = sx + off * sr
            d.rectangle([x - bw * sr / 2, 0, x + bw * sr / 2, big], fill=255)
        img.paste(STRIPE, mask=ImageChops.multiply(inner_mask, band_mask))
    frame = np.asarray(img.resize((size, size), Image.BOX), dtype=np.uint8)
    coverage = np.asarray(cov.resize((size, size), Image.BOX), dtype=np.float32) / 255.0
    return frame, coverage


def stripe_bands(seed: int) -> list[tuple[float, float]]:
    """2-4 evenly spread dark bands (offset, width in units of the radius), each 30-50 % of
    the spacing wide, drawn from ``seed`` alone (the clip's other draws are unchanged):
    textured bodies for training the VAE."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x5717]))
    n = int(rng.integers(2, 5))
    span = float(rng.uniform(0.35, 0.6))
    width = 2 * span / (n - 1) * float(rng.uniform(0.3, 0.5))
    return [(float(x), width) for x in np.linspace(-span, span, n) + rng.uniform(-0.03, 0.03, n)]


def _inset(poly: list[tuple[float, float]], d: float) -> list[tuple[float, float]]:
    """Shrink a convex polygon (clockwise in image coordinates) by ``d``: the outline band."""
    n = len(poly)
    lines = []
    for i in range(n):
        (x0, y0), (x1, y1) = poly[i], poly[(i + 1) % n]
        ex, ey = x1 - x0, y1 - y0
        ln = math.hypot(ex, ey)
        nx, ny = -ey / ln, ex / ln  # inward normal for clockwise order in image coords
        lines.append((x0 + nx * d, y0 + ny * d, ex, ey))
    out = []
    for i in range(n):
        ax, ay, adx, ady = lines[i - 1]
        bx, by, bdx, bdy = lines[i]
        den = adx * bdy - ady * bdx
        t = ((bx - ax) * bdy - (by - ay) * bdx) / den
        out.append((ax + adx * t, ay + ady * t))
    return out


def start_position(rng: np.random.Generator, ranges, direction: tuple[int, int], travel: float) -> list[float]:
    """A start (x, y) inside ``ranges`` (per-axis allowed centre range) from which ``travel`` pixels
    along ``direction`` stay inside too; one uniform draw per axis."""
    start = []
    for (lo, hi), d in zip(ranges, direction):
        if d > 0:
            start.append(float(rng.uniform(lo, hi - travel)))
        elif d < 0:
            start.append(float(rng.uniform(lo + travel, hi)))
        else:
            start.append(float(rng.uniform(lo, hi)))
    return start


def render_clip(colour: str, shape: str, motion: str, seed: int = 0, frames: int = FRAMES, size: int = SIZE,
                striped: bool = False) -> ToyClip:
    """Render one clip; the same arguments always give the same pixels.

    ``striped``: dark bands across the body (:func:`stripe_bands`; not part of the caption
    vocabulary: texture for VAE training).

    The seed draws the shape's half-extent, its travel (for moving clips) and a start
    position such that the whole shape, outline included, stays inside the frame.
    """
    _check(colour, shape, motion)
    if frames < 2 or size < 16:
        raise UserError(f"toy clips need frames >= 2 and size >= 16 (got {frames}, {size})")
    rng = _rng(colour, shape, motion, seed)
    k = size / 64.0
    r = float(rng.uniform(*RADIUS)) * k
    ow = OUTLINE_W * k
    lo, hi = MARGIN * k + r, size - MARGIN * k - r  # allowed centre range per axis
    dx, dy = DIRECTIONS[motion]
    travel = float(rng.uniform(TRAVEL[0] * k, min(TRAVEL[1] * k, hi - lo))) if (dx or dy) else 0.0
    start = start_position(rng, ((lo, hi), (lo, hi)), (dx, dy), travel)
    fill = COLOURS[colour]
    bands = stripe_bands(seed) if striped else []
    imgs, masks, cents = [], [], []
    for t in range(frames):
        a = t / (frames - 1)
        cx, cy = start[0] + dx * travel * a, start[1] + dy * travel * a
        img, cov = _draw(shape, cx, cy, r, fill, OUTLINE, ow, size, bands)
        m = cov >= 0.5
        ys, xs = np.nonzero(m)
        imgs.append(img)
        masks.append(m)
        cents.append((xs.mean() + 0.5, ys.mean() + 0.5) if len(xs) else (cx, cy))
    end = [start[0] + dx * travel, start[1] + dy * travel]
    return ToyClip(
        frames=np.stack(imgs), masks=np.stack(masks), centroids=np.asarray(cents, np.float32),
        palette={"fill": fill, "outline": OUTLINE, "background": BACKGROUND},
        colour=colour, shape=shape, motion=motion, seed=int(seed),
        params={"radius": round(r, 3), "outline_width": round(ow, 3), "travel": round(travel, 3),
                "start": [round(v, 3) for v in start], "end": [round(v, 3) for v in end],
                **({"bands": [[round(o, 3), round(w, 3)] for o, w in bands]} if bands else {})},
    )


def clip_name(colour: str, shape: str, motion: str, k: int) -> str:
    return f"{colour}_{shape}_{motion.replace(' ', '_')}_{k:04d}"


DATASET_ENTRIES = {"train", "masks", "ground_truth.json", "character.json"}  # what a dataset writer puts in root


def new_dataset_dir(root: str | Path) -> Path:
    """``root`` as a folder to write a dataset into: refused when it is a file, already holds a dataset,
    or holds anything else (an interrupted run's ``train/`` may be written over)."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UserError(f"{root}: exists and is not a folder; give a folder to write the dataset into")
    if (root / "metadata.csv").exists():
        raise UserError(f"{root}: already holds a metadata.csv; give an empty or new folder")
    check_output(root, lambda n: n in DATASET_ENTRIES or is_temp_of(n, "ground_truth|metadata|character"))
    return root


def write_metadata(root: Path, rows: list[tuple[str, str]]) -> None:
    """``root/metadata.csv`` (``file_name,text``), atomically. Write it last: its presence marks a
    finished dataset."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file_name", "text"])
    w.writerows(rows)
    write_text(root / "metadata.csv", buf.getvalue())


def still_caption(colour: str, shape: str) -> str:
    """A still shows no motion: the clip caption without it."""
    return f"{colour} {shape}, white background"


def parse_repeat(specs: Iterable[str]) -> dict[str, int]:
    """``--repeat``'s ``COLOUR=N`` strings -> ``{colour: N}`` (make_dataset checks the colours)."""
    repeat = {}
    for spec in specs:
        colour, _, n = spec.partition("=")
        if not n.isdigit():
            raise UserError(f"--repeat {spec}: give COLOUR=N, e.g. --repeat purple=3")
        repeat[colour] = int(n)
    return repeat


def make_dataset(root: str | Path, n_per_prompt: int = 1, seed: int = 0, *, frames: int = FRAMES,
                 size: int = SIZE, fps: float = FPS, stills_per_prompt: int = 0,
                 repeat: Mapping[str, int] | Iterable[str] | None = None) -> Path:
    """Write ``90 × n_per_prompt`` clips (and ``90 × stills_per_prompt`` stills) in the reference
    dataset format.

    ``root/metadata.csv`` (``file_name,text``), clips in ``root/train/*.mp4``, masks in
    ``root/masks/*.npz`` (``masks``: bool T×H×W) and ``root/ground_truth.json`` (vocabulary,
    palette and, per clip, its attributes, seed, size, start/end and per-frame centroids).
    Clip ``k`` of a prompt uses seed ``seed * 100003 + k``. Still ``k`` of a prompt is frame
    ``k mod frames`` of the clip with seed ``seed * 100003 + 50000 + k``, written as
    ``root/train/*.png`` with :func:`still_caption`: a model trained on both learns images (one
    latent frame) beside clips, as Wan was, so a LoRA trained on stills carries over to video.
    ``repeat`` (colour -> N) lists every clip and still of that colour N times in metadata.csv
    (the N-1 extra rows after all others, in order; files are written once), so training draws
    that colour N times as often; it may also be ``COLOUR=N`` strings (see :func:`parse_repeat`).
    """

    repeat = dict(repeat) if isinstance(repeat, Mapping) else parse_repeat(repeat or ())
    if n_per_prompt < 1:
        raise UserError(f"--per-prompt must be >= 1 (got {n_per_prompt})")
    if stills_per_prompt < 0:
        raise UserError(f"--stills-per-prompt must be >= 0 (got {stills_per_prompt})")
    for colour, n in repeat.items():
        if colour not in COLOURS or int(n) < 1:
            raise UserError(f"--repeat {colour}={n}: give COLOUR=N with a colour of {', '.join(COLOURS)} and N >= 1")
    root = new_dataset_dir(root)
    rows, clips, stills, extra = [], [], [], []
    for colour, shape, motion in all_prompts():
        first = len(rows)
        for k in range(n_per_prompt):
            s = int(seed) * 100003 + k
            clip = render_clip(colour, shape, motion, s, frames, size)
            name = clip_name(colour, shape, motion, k)
            write_frames(root / "train" / f"{name}.mp4", clip.frames, fps)
            with atomic_path(root / "masks" / f"{name}.npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez_compressed(fh, masks=clip.masks)
            rows.append((f"{name}.mp4", clip.caption))
            clips.append({"file_name": f"{name}.mp4", "masks": f"masks/{name}.npz", **clip.ground_truth()})
        for k in range(stills_per_prompt):
            clip = render_clip(colour, shape, motion, int(seed) * 100003 + 50000 + k, frames, size)
            name = "still_" + clip_name(colour, shape, motion, k)
            t = k % frames
            with atomic_path(root / "train" / f"{name}.png") as tmp:
                Image.fromarray(clip.frames[t]).save(tmp, format="PNG")
            rows.append((f"{name}.png", still_caption(colour, shape)))
            stills.append({"file_name": f"{name}.png", "colour": colour, "shape": shape, "seed": clip.seed,
                           "frame": t, "centroid": [round(float(v), 3) for v in clip.centroids[t]]})
        extra += [r for r in rows[first:] for _ in range(repeat.get(colour, 1) - 1)]
    write_json(root / "ground_truth.json", {
        "version": 1, "frames": frames, "size": size, "fps": fps, "template": TEMPLATE,
        "colours": {k: list(v) for k, v in COLOURS.items()}, "shapes": list(SHAPES), "motions": list(MOTIONS),
        "outline": list(OUTLINE), "background": list(BACKGROUND), "seed": int(seed),
        "per_prompt": n_per_prompt, "clips": clips, "stills_per_prompt": stills_per_prompt, "stills": stills,
        "repeat": repeat,
    })
    write_metadata(root, rows + extra)
    return root
