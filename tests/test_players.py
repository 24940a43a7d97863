"""Lottie output plays in the real players: lottie-web (svg and canvas renderers) in headless Chromium,
ThorVG (@lottiefiles/dotlottie-web, the LottieFiles player, reading the .lottie file) in headless
Chromium, and rlottie (rlottie-python, the engine of Telegram and Samsung). Each sampled frame a player draws is
compared with the same frame's SVG rendered by cairosvg (the vectorizer's own reference render): two
correct rasterizers differ only in anti-aliasing (measured 35-50 dB), while a player that misreads the
file draws garbage or a held frame (13 dB on the moving circle before shape keyframes were padded).

`make test` installs the players (Debian's chromium, `npm ci` in tests/players, rlottie-python); where
one is missing these tests skip, unless VECTORWAN_REQUIRE_PLAYERS=1 (CI) makes that a failure.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vectorwan.toy.world import render_clip as toy_clip
from vectorwan.vector.export import dotlottie, lottie_document
from vectorwan.vector.fidelity import psnr
from vectorwan.vector.pipeline import VectorizeOptions, vectorize_clip
from vectorwan.vector.synth import bench_scene_svg, render_clip, simple_scene_svg
from vectorwan.vector.trace import render_svg, svg_document

PLAYERS = Path(__file__).resolve().parent / "players"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
MIN_DB = 33.0  # player vs the reference render of the same vector frame


def _missing(what: str):
    if os.environ.get("VECTORWAN_REQUIRE_PLAYERS") == "1":
        pytest.fail(f"{what} is missing; `make test` installs it")
    pytest.skip(f"{what} is missing (`make test` installs it)")


def _browser_player(package: str) -> None:
    if not (shutil.which("node") and Path(CHROMIUM).is_file()):
        _missing("node or chromium")
    if not (PLAYERS / "node_modules" / package).is_dir():
        _missing(f"tests/players/node_modules/{package} (npm ci)")


CLIPS = {
    # one shape moving: its traced outline changes vertex count from frame to frame
    "toy circle moving right": lambda: toy_clip("orange", "circle", "moving right", seed=3).frames,
    "toy triangle moving up": lambda: toy_clip("red", "triangle", "moving up", seed=7).frames,
    "toy striped square moving up": lambda: toy_clip("blue", "square", "moving up", seed=5, striped=True).frames,
    # three shapes, one turning: sub-paths (outline rings) and several layers
    "three shapes": lambda: render_clip(simple_scene_svg, 9, 96),
    # a blinking star: shapes that are absent in some frames
    "busy scene with a blinking star": lambda: render_clip(bench_scene_svg, 12, 128),
}


@pytest.fixture(scope="module", params=sorted(CLIPS))
def traced(request, tmp_path_factory):
    """(name, source clip, reference renders of the traced frames, Lottie file)."""
    clip = CLIPS[request.param]()
    res = vectorize_clip(clip, 16, VectorizeOptions(jobs=1, fidelity=False))
    refs = {t: render_svg(svg_document(res.frames[t], res.palette), clip.shape[2], clip.shape[1], background=res.matte)
            for t in _frames(len(clip))}
    path = tmp_path_factory.mktemp("lottie") / "clip.json"
    doc = lottie_document(res.frames, res.palette, 16)
    path.write_text(json.dumps(doc))
    path.with_suffix(".lottie").write_bytes(dotlottie(doc))
    return request.param, clip, refs, path


def test_every_shape_keyframe_is_well_formed(traced):
    """The same vertex count in every keyframe of a path, and no empty path (what lottie-web and
    rlottie need; checked on the file itself, so it holds where no player is installed)."""
    doc = json.loads(traced[3].read_text())
    paths = [it["ks"] for layer in doc["layers"] for g in layer["shapes"] for it in g["it"] if it["ty"] == "sh"]
    assert paths and any(ks["a"] == 1 for ks in paths)
    for ks in paths:
        values = [k["s"][0] for k in ks["k"]] if ks["a"] else [ks["k"]]
        counts = {len(v["v"]) for v in values}
        assert len(counts) == 1 and min(counts) >= 1, counts
        assert all(len(v["i"]) == len(v["o"]) == len(v["v"]) for v in values)


def _on_white(rgba: np.ndarray) -> np.ndarray:
    a = rgba[..., 3:4].astype(np.float64) / 255.0
    return np.rint(rgba[..., :3] * a + 255.0 * (1.0 - a)).astype(np.uint8)


def _frames(n: int) -> list[int]:
    return sorted({0, 1, n // 3, n // 2, n - 2, n - 1})


@pytest.mark.parametrize("renderer", ["svg", "canvas"])
def test_lottie_web_renders_every_sampled_frame_without_errors(traced, renderer, tmp_path):
    name, clip, refs, path = traced
    _browser_player("lottie-web")
    r = subprocess.run(["node", str(PLAYERS / "render_lottie.mjs"), str(path), str(tmp_path), renderer,
                        *map(str, refs)], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    errors = json.loads((tmp_path / f"{renderer}-errors.json").read_text())
    assert errors == [], errors[:3]
    for t, ref in refs.items():
        shown = _on_white(np.asarray(Image.open(tmp_path / f"{renderer}-{t}.png").convert("RGBA")))
        assert shown.shape == ref.shape
        assert psnr(shown, ref) >= MIN_DB, (name, renderer, t, round(psnr(shown, ref), 2))


def test_thorvg_plays_the_dotlottie_file(traced, tmp_path):
    name, clip, refs, path = traced
    _browser_player("@lottiefiles/dotlottie-web")
    r = subprocess.run(["node", str(PLAYERS / "render_dotlottie.mjs"), str(path.with_suffix(".lottie")), str(tmp_path),
                        *map(str, refs)], capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    errors = json.loads((tmp_path / "thorvg-errors.json").read_text())
    assert errors == [], errors[:3]
    for t, ref in refs.items():
        shown = _on_white(np.asarray(Image.open(tmp_path / f"thorvg-{t}.png").convert("RGBA")))
        assert shown.shape == ref.shape
        assert psnr(shown, ref) >= MIN_DB, (name, t, round(psnr(shown, ref), 2))


def test_rlottie_renders_every_sampled_frame(traced):
    if os.environ.get("VECTORWAN_REQUIRE_PLAYERS") == "1":
        import rlottie_python as rl
    else:
        rl = pytest.importorskip("rlottie_python")
    name, clip, refs, path = traced
    anim = rl.LottieAnimation.from_file(str(path))
    assert anim.lottie_animation_get_size() == (clip.shape[2], clip.shape[1])
    for t, ref in refs.items():
        shown = _on_white(np.asarray(anim.render_pillow_frame(frame_num=t).convert("RGBA")))
        assert psnr(shown, ref) >= MIN_DB, (name, t, round(psnr(shown, ref), 2))


def test_a_rigid_motion_is_one_path_moved_by_position_keyframes_and_played_at_2x_it_moves_between_frames(tmp_path):
    """The toy triangle moves up by whole pixels, so its tracing is reused frame to frame: its Lottie is
    one static path per shape and a linear position (≤ 5 kB in all). lottie-web at 2x the frame rate
    (frame 4.5) draws it between its frames 4 and 5: interpolated, not held."""
    clip = toy_clip("red", "triangle", "moving up", seed=7).frames
    res = vectorize_clip(clip, 16, VectorizeOptions(jobs=1, fidelity=False))
    doc = lottie_document(res.frames, res.palette, 16)
    text = json.dumps(doc, separators=(",", ":"))
    assert len(text.encode()) <= 5000, len(text)
    groups = [g for layer in doc["layers"] for g in layer["shapes"] if g["nm"] != "background"]
    rigid = [g for g in groups if all(it["ks"]["a"] == 0 for it in g["it"] if it["ty"] == "sh")]
    assert rigid and all(g["it"][-1]["p"]["a"] == 1 and len(g["it"][-1]["p"]["k"]) <= 3 for g in rigid)
    _browser_player("lottie-web")
    path = tmp_path / "clip.json"
    path.write_text(text)
    r = subprocess.run(["node", str(PLAYERS / "render_lottie.mjs"), str(path), str(tmp_path), "svg", "4", "4.5", "5"],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0 and json.loads((tmp_path / "svg-errors.json").read_text()) == [], r.stderr[-2000:]

    def centre_y(f):  # darkness-weighted row centre of what is drawn
        ink = 255.0 - _on_white(np.asarray(Image.open(tmp_path / f"svg-{f}.png").convert("RGBA"))).mean(-1)
        return float((ink.sum(1) * np.arange(ink.shape[0])).sum() / ink.sum())

    y4, y45, y5 = centre_y("4"), centre_y("4.5"), centre_y("5")
    assert y4 > y45 > y5 and min(y4 - y45, y45 - y5) > 0.25 * (y4 - y5), (y4, y45, y5)
