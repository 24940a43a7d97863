"""How the real players draw vectorwan's files: PSNR of lottie-web (svg, canvas; headless Chromium), ThorVG
(dotlottie-web, the .lottie file; headless Chromium), rlottie, and Chromium playing the animated SVG (SMIL),
against the source frame and against cairosvg's render of the same vector frame, the minimum over the
sampled frames of each clip (the clips and frames of tests/test_players.py, plus more toy-world prompts;
with --clip, that clip instead, e.g. benchmarks/make_tiger_clip.py's, at frames 0, 1, ⅓, ½, the last two
and the worst frame of the fidelity report).

    .venv/bin/python benchmarks/bench_players.py      # after `make test` installed the players
    .venv/bin/python benchmarks/bench_players.py --clip runs/bench_tiger/tiger_81x512x640.mp4 \
        --sheet docs/img/vectorize_tiger_players.png

Prints a markdown table (docs/vectorize.md, "Players").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import rlottie_python as rl  # noqa: E402
from test_players import CLIPS, PLAYERS, _frames, _on_white  # noqa: E402

from vectorwan.toy.world import render_clip as toy_clip  # noqa: E402
from vectorwan.frames import read_frames  # noqa: E402
from vectorwan.vector.export import animated_svg, dotlottie, lottie_document  # noqa: E402
from vectorwan.vector.fidelity import psnr  # noqa: E402
from vectorwan.vector.pipeline import VectorizeOptions, vectorize_clip  # noqa: E402
from vectorwan.vector.trace import render_svg, svg_document  # noqa: E402

MORE = {f"toy {c} {s} {m}": (lambda c=c, s=s, m=m: toy_clip(c, s, m, seed=7).frames)
        for c, s, m in [("green", "square", "staying still"), ("purple", "circle", "moving down"),
                        ("yellow", "triangle", "moving left")]}


def _sheet(path: str, clip: np.ndarray, res, frames: list[int], d: Path) -> None:
    """Rows: the source, lottie-web (svg), rlottie, Chromium's SMIL; columns: the sampled frames."""
    anim = rl.LottieAnimation.from_file(str(d / "clip.json"))
    rows = [[clip[t][..., :3] for t in frames],
            [_on_white(np.asarray(Image.open(d / f"svg-{t}.png").convert("RGBA"))) for t in frames],
            [_on_white(np.asarray(anim.render_pillow_frame(frame_num=t).convert("RGBA"))) for t in frames],
            [_on_white(np.asarray(Image.open(d / f"smil-{t}.png").convert("RGBA"))) for t in frames]]
    gap = 12  # grey lines between frames and between rows

    def join(ims, axis):
        sep = np.full((ims[0].shape[0], gap, 3) if axis == 1 else (gap, ims[0].shape[1], 3), 160, np.uint8)
        return np.concatenate([x for im in ims for x in (im, sep)][:-1], axis)

    img = join([join(r, 1) for r in rows], 0)
    h, w = img.shape[:2]
    Image.fromarray(img).resize((w // 3, h // 3), Image.LANCZOS).save(path)


def _row(name: str, clip: np.ndarray, res, frames: list[int], sheet: str | None = None) -> str:
    d = Path(tempfile.mkdtemp())
    path = d / "clip.json"
    doc = lottie_document(res.animation, res.palette, 16)
    path.write_text(json.dumps(doc, separators=(",", ":")))
    path.with_suffix(".lottie").write_bytes(dotlottie(doc))
    d.joinpath("clip.svg").write_text(animated_svg(res.animation, res.palette, 16))
    for r in ("svg", "canvas"):
        subprocess.run(["node", str(PLAYERS / "render_lottie.mjs"), str(path), str(d), r, *map(str, frames)],
                       check=True)
    subprocess.run(["node", str(PLAYERS / "render_dotlottie.mjs"), str(path.with_suffix(".lottie")), str(d),
                    *map(str, frames)], check=True)
    subprocess.run(["node", str(PLAYERS / "render_svg.mjs"), str(d / "clip.svg"), str(d), "16", *map(str, frames)],
                   check=True)
    errors = [e for r in ("svg", "canvas", "thorvg", "smil") for e in json.loads((d / f"{r}-errors.json").read_text())]
    anim = rl.LottieAnimation.from_file(str(path))
    rows = []
    for t in frames:
        ref = render_svg(svg_document(res.frames[t], res.palette), clip.shape[2], clip.shape[1], background=res.matte)
        src = clip[t][..., :3]
        shown = [_on_white(np.asarray(Image.open(d / f"{r}-{t}.png").convert("RGBA")))
                 for r in ("svg", "canvas", "thorvg", "smil")]
        shown.insert(3, _on_white(np.asarray(anim.render_pillow_frame(frame_num=t).convert("RGBA"))))
        rows.append([psnr(ref, src)] + [v for s in shown for v in (psnr(s, src), psnr(s, ref))])
    if sheet:
        _sheet(sheet, clip, res, frames, d)
    m = np.min(np.array(rows), axis=0)
    return (f"| {name} | {m[0]:.1f} | " + " | ".join(f"{m[i]:.1f} / {m[i + 1]:.1f}" for i in (1, 3, 5, 7, 9))
            + f" | {len(errors)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=None, help="a clip to vectorize and play instead of the test clips")
    ap.add_argument("--sheet", default=None, help="with --clip: write a contact sheet (source, lottie-web, "
                                                  "rlottie, SMIL × the sampled frames) to this PNG")
    args = ap.parse_args()
    print("| clip | cairosvg vs source | lottie-web svg: source / vector | lottie-web canvas: source / vector "
          "| ThorVG: source / vector | rlottie: source / vector | Chromium SMIL: source / vector | player errors |")
    print("|---|---|---|---|---|---|---|---|")
    if args.clip:
        clip = read_frames(args.clip).frames
        res = vectorize_clip(clip, 16, VectorizeOptions(jobs=2))
        worst = min(range(len(clip)), key=lambda t: res.fidelity[t]["psnr"])
        print(_row(Path(args.clip).name, clip, res, sorted(set(_frames(len(clip))) | {worst}), args.sheet), flush=True)
        return
    for name, make in {**CLIPS, **MORE}.items():
        clip = make()
        res = vectorize_clip(clip, 16, VectorizeOptions(jobs=1, fidelity=False))
        print(_row(name, clip, res, _frames(len(clip))), flush=True)


if __name__ == "__main__":
    main()
