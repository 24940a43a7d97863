"""How the real Lottie players draw vectorwan's Lottie files: PSNR of lottie-web (svg, canvas; headless
Chromium), ThorVG (dotlottie-web, the .lottie file; headless Chromium) and rlottie against the source frame and against cairosvg's render of the same vector frame,
the minimum over the sampled frames of each clip (the clips and frames of tests/test_players.py, plus
more toy-world prompts).

    .venv/bin/python benchmarks/bench_players.py      # after `make test` installed the players

Prints a markdown table (docs/vectorize.md, "Players").
"""

from __future__ import annotations

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
from vectorwan.vector.export import dotlottie, lottie_document  # noqa: E402
from vectorwan.vector.fidelity import psnr  # noqa: E402
from vectorwan.vector.pipeline import VectorizeOptions, vectorize_clip  # noqa: E402
from vectorwan.vector.trace import render_svg, svg_document  # noqa: E402

MORE = {f"toy {c} {s} {m}": (lambda c=c, s=s, m=m: toy_clip(c, s, m, seed=7).frames)
        for c, s, m in [("green", "square", "staying still"), ("purple", "circle", "moving down"),
                        ("yellow", "triangle", "moving left")]}


def main() -> None:
    print("| clip | cairosvg vs source | lottie-web svg: source / vector | lottie-web canvas: source / vector "
          "| ThorVG: source / vector | rlottie: source / vector |")
    print("|---|---|---|---|---|---|")
    for name, make in {**CLIPS, **MORE}.items():
        clip = make()
        res = vectorize_clip(clip, 16, VectorizeOptions(jobs=1, fidelity=False))
        d = Path(tempfile.mkdtemp())
        path = d / "clip.json"
        doc = lottie_document(res.frames, res.palette, 16)
        path.write_text(json.dumps(doc))
        path.with_suffix(".lottie").write_bytes(dotlottie(doc))
        frames = _frames(len(clip))
        for r in ("svg", "canvas"):
            subprocess.run(["node", str(PLAYERS / "render_lottie.mjs"), str(path), str(d), r, *map(str, frames)],
                           check=True)
        subprocess.run(["node", str(PLAYERS / "render_dotlottie.mjs"), str(path.with_suffix(".lottie")), str(d),
                        *map(str, frames)], check=True)
        anim = rl.LottieAnimation.from_file(str(path))
        rows = []
        for t in frames:
            ref = render_svg(svg_document(res.frames[t], res.palette), clip.shape[2], clip.shape[1],
                             background=res.matte)
            shown = [_on_white(np.asarray(Image.open(d / f"{r}-{t}.png").convert("RGBA")))
                     for r in ("svg", "canvas", "thorvg")]
            shown.append(_on_white(np.asarray(anim.render_pillow_frame(frame_num=t).convert("RGBA"))))
            rows.append([psnr(ref, clip[t])] + [v for s in shown for v in (psnr(s, clip[t]), psnr(s, ref))])
        m = np.min(np.array(rows), axis=0)
        print(f"| {name} | {m[0]:.1f} | " + " | ".join(f"{m[i]:.1f} / {m[i + 1]:.1f}" for i in (1, 3, 5, 7)) + " |")


if __name__ == "__main__":
    main()
