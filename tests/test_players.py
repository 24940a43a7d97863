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

import cv2
import numpy as np
import pytest
from PIL import Image

from vectorwan.toy.world import render_clip as toy_clip
from vectorwan.vector.export import animated_svg, dotlottie, lottie_document
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
    doc = lottie_document(res.animation, res.palette, 16)
    path.write_text(json.dumps(doc))
    path.with_suffix(".lottie").write_bytes(dotlottie(doc))
    return request.param, clip, refs, path


def test_every_path_is_static_and_well_formed(traced):
    """No path keyframes at all (a path is one segment's trace; it moves by its group's transform and is
    shown by its opacity), so no vertex counts to keep equal, and no empty path (what lottie-web and rlottie
    need; checked on the file itself, so it holds where no player is installed)."""
    doc = json.loads(traced[3].read_text())
    paths = [it["ks"] for layer in doc["layers"] for g in layer["shapes"] for it in g["it"] if it["ty"] == "sh"]
    assert paths and all(ks["a"] == 0 for ks in paths)
    for ks in paths:
        assert len(ks["k"]["v"]) >= 2 and len(ks["k"]["i"]) == len(ks["k"]["o"]) == len(ks["k"]["v"])
    moving = [g["it"][-1]["p"] for layer in doc["layers"] for g in layer["shapes"]]
    assert any(p["a"] == 1 for p in moving)  # the clips move: some groups carry position keyframes


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


def _render_lottie(path: Path, out: Path, renderer: str, frames) -> None:
    _browser_player("lottie-web")
    r = subprocess.run(["node", str(PLAYERS / "render_lottie.mjs"), str(path), str(out), renderer, *map(str, frames)],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    errors = json.loads((out / f"{renderer}-errors.json").read_text())
    assert errors == [], errors[:3]


def _render_smil(path: Path, out: Path, fps: float, frames) -> None:
    _browser_player("puppeteer-core")
    r = subprocess.run(["node", str(PLAYERS / "render_svg.mjs"), str(path), str(out), str(fps), *map(str, frames)],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    errors = json.loads((out / "smil-errors.json").read_text())
    assert errors == [], errors[:3]


def _png(path: Path) -> np.ndarray:
    return _on_white(np.asarray(Image.open(path).convert("RGBA")))


def test_the_animated_svg_plays_every_sampled_frame_in_chromium(traced, tmp_path):
    """The SMIL document (paths moved by animateTransform, shown by animate on visibility) in Chromium,
    paused at each sampled frame, draws what the frame's own SVG draws."""
    name, clip, refs, path = traced
    res = vectorize_clip(clip, 16, VectorizeOptions(jobs=1, fidelity=False))
    svg = tmp_path / "clip.svg"
    svg.write_text(animated_svg(res.animation, res.palette, 16))
    _render_smil(svg, tmp_path, 16, list(refs))
    for t, ref in refs.items():
        shown = _png(tmp_path / f"smil-{t}.png")
        assert psnr(shown, ref) >= MIN_DB, (name, t, round(psnr(shown, ref), 2))


def _centre(img: np.ndarray) -> tuple[float, float]:
    ink = 255.0 - img.mean(-1)
    ys, xs = np.mgrid[:ink.shape[0], :ink.shape[1]]
    return float((ink * xs).sum() / ink.sum()), float((ink * ys).sum() / ink.sum())


def _between(a, m, b) -> bool:
    """``m`` lies strictly between ``a`` and ``b`` along their difference, well away from both ends."""
    d = np.subtract(b, a)
    u = float(np.dot(np.subtract(m, a), d) / np.dot(d, d))
    return 0.25 < u < 0.75


def test_a_rigid_motion_is_one_path_moved_by_transform_keyframes_and_played_at_2x_it_moves_between_frames(tmp_path):
    """The toy circle moves right by fractions of a pixel a frame, so its raster changes every frame: it is
    still one static path per colour plus linear position keyframes (≤ 5 kB in all). lottie-web at 2x the
    frame rate (frame 4.5), and the animated SVG in Chromium, draw it between its frames 4 and 5: interpolated,
    not held."""
    clip = toy_clip("orange", "circle", "moving right", seed=3).frames
    res = vectorize_clip(clip, 16, VectorizeOptions(jobs=1, fidelity=False))
    doc = lottie_document(res.animation, res.palette, 16)
    text = json.dumps(doc, separators=(",", ":"))
    assert len(text.encode()) <= 5000, len(text)
    groups = [g for layer in doc["layers"] for g in layer["shapes"]]
    assert len(groups) == len(doc["layers"])  # one group per colour: one trace for the whole clip
    assert all(it["ks"]["a"] == 0 for g in groups for it in g["it"] if it["ty"] == "sh")  # static paths
    assert all(g["it"][-1]["p"]["a"] == 1 and len(g["it"][-1]["p"]["k"]) <= 4 for g in groups)
    path = tmp_path / "clip.json"
    path.write_text(text)
    _render_lottie(path, tmp_path, "svg", ["4", "4.5", "5"])
    c4, c45, c5 = (_centre(_png(tmp_path / f"svg-{f}.png")) for f in ("4", "4.5", "5"))
    assert _between(c4, c45, c5), (c4, c45, c5)
    svg = tmp_path / "clip.svg"
    svg.write_text(animated_svg(res.animation, res.palette, 16))
    _render_smil(svg, tmp_path, 16, ["4", "4.5", "5"])
    c4, c45, c5 = (_centre(_png(tmp_path / f"smil-{f}.png")) for f in ("4", "4.5", "5"))
    assert _between(c4, c45, c5), (c4, c45, c5)


def test_a_turning_shape_turns_between_frames_in_lottie_web(tmp_path):
    """The scene's outlined yellow ellipse turns 5° a frame: one path per colour with rotation keyframes; at
    frame 4.5 lottie-web draws it turned between frames 4 and 5 (its principal axis), not held at either."""
    clip = render_clip(simple_scene_svg, 9, 96)
    res = vectorize_clip(clip, 12, VectorizeOptions(jobs=1, fidelity=False))
    doc = lottie_document(res.animation, res.palette, 12)
    rot = [g["it"][-1]["r"] for layer in doc["layers"] for g in layer["shapes"]]
    assert any(r["a"] == 1 for r in rot)
    path = tmp_path / "clip.json"
    path.write_text(json.dumps(doc))
    _render_lottie(path, tmp_path, "svg", ["4", "4.5", "5"])

    def angle(f):  # orientation of the yellow ellipse's pixels
        img = _png(tmp_path / f"svg-{f}.png").astype(int)
        m = ((img[..., 0] > 200) & (img[..., 1] > 140) & (img[..., 2] < 120))[48:, :].astype(np.uint8)
        mo = cv2.moments(m, binaryImage=True)
        return 0.5 * np.degrees(np.arctan2(2 * mo["mu11"], mo["mu20"] - mo["mu02"]))

    a4, a45, a5 = angle("4"), angle("4.5"), angle("5")
    assert abs(a5 - a4) > 2 and _between([a4], [a45], [a5]), (a4, a45, a5)
