import io
import json
import xml.etree.ElementTree as ET

import pytest

from vectorwan.vector.export import animated_svg, lottie_document, parse_path
from vectorwan.vector.fidelity import psnr
from vectorwan.vector.pipeline import TraceOptions, VectorizeOptions, vectorize_clip
from vectorwan.vector.synth import render_clip, simple_clip, simple_scene_svg
from vectorwan.vector.trace import TracedPath, render_svg

SVG_NS = "{http://www.w3.org/2000/svg}"
N, SIZE, FPS = 6, 96, 12.0


@pytest.fixture(scope="module")
def clip():
    return simple_clip(N, SIZE)


@pytest.fixture(scope="module", params=["polygon", "spline"])
def result(request, clip):
    return vectorize_clip(clip, FPS, VectorizeOptions(jobs=1, trace=TraceOptions(mode=request.param)))


def test_parse_path_polygon_and_curves():
    p = TracedPath("M0,0 L4,0 L4,2 L0,2 Z", 10.0, 20.0, (0, 0, 0, 0))
    (sub,) = parse_path(p, scale=2)
    assert sub["c"] and sub["v"] == [[5, 10], [7, 10], [7, 11], [5, 11]]
    assert all(t == [0, 0] for t in sub["i"] + sub["o"])
    c = TracedPath("M0 0 C1 0 2 1 2 2 C2 3 1 4 0 4 C-1 4 -1 0 0 0 Z", 0.0, 0.0, (0, 0, 0, 0))
    (sub,) = parse_path(c)
    assert len(sub["v"]) == 3  # the closing point folded into the first
    assert sub["o"][0] == [1, 0] and sub["i"][1] == [0, -1]
    assert sub["i"][0] == [-1, 0]  # in-tangent of the first vertex comes from the closing curve
    with pytest.raises(ValueError):
        parse_path(TracedPath("M0 0 Q1 1 2 2 Z", 0, 0, (0, 0, 0, 0)))


def test_animated_svg_has_one_frame_group_per_frame(result):
    doc = animated_svg(result.frames, result.palette, FPS)
    root = ET.fromstring(doc)
    assert root.tag == f"{SVG_NS}svg" and root.get("width") == str(SIZE)
    groups = [g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "frame"]
    assert len(groups) == N
    assert [g.get("id") for g in groups] == [f"frame{t:05d}" for t in range(N)]
    assert groups[0].get("visibility") == "visible" and all(g.get("visibility") == "hidden" for g in groups[1:])
    for g in groups:
        anim = g.find(f"{SVG_NS}animate")
        assert anim.get("attributeName") == "visibility" and anim.get("calcMode") == "discrete"
        assert float(anim.get("dur").rstrip("s")) == pytest.approx(N / FPS)
        assert anim.get("repeatCount") == "indefinite"
        layers = [c for c in g if c.get("class") == "layer"]
        assert layers and all(c.get("fill", "").startswith("#") for c in layers)
    # colour layers keep their colour in every frame
    fills = {}
    for g in groups:
        for c in g:
            if c.get("class") == "layer":
                fills.setdefault(c.get("data-layer"), set()).add(c.get("fill"))
    assert all(len(v) == 1 for v in fills.values())
    # a static renderer shows the first frame
    out = render_svg(doc, SIZE, SIZE, background=result.matte)
    assert psnr(out, simple_clip(1, SIZE)[0]) >= 28


def test_lottie_parses_with_right_frames_fps_size_and_layers(result, clip):
    import lottie
    from lottie.exporters.svg import export_svg

    doc = lottie_document(result.frames, result.palette, FPS)
    text = json.dumps(doc)
    an = lottie.objects.Animation.load(json.loads(text))
    assert an.frame_rate == FPS
    assert an.in_point == 0 and an.out_point == N
    assert (an.width, an.height) == (SIZE, SIZE)
    used = [i for i in range(len(result.palette)) if any(fr.layers[i] for fr in result.frames)]
    assert len(an.layers) == len(used)  # one shape layer per colour layer
    assert an.layers[0].name.startswith(f"layer{used[-1]:02d}")  # top colour first, as Lottie stacks
    # every frame renders (through the lottie library) close to its source
    for t in (0, N // 2, N - 1):
        buf = io.StringIO()
        export_svg(an, buf, frame=t)
        img = render_svg(buf.getvalue(), SIZE, SIZE, background=result.matte)
        assert psnr(img, clip[t]) >= 28, t


def test_lottie_single_frame_is_static():
    res = vectorize_clip(simple_clip(1, 64), 16, VectorizeOptions(jobs=1, fidelity=False))
    doc = lottie_document(res.frames, res.palette, 16)
    shapes = [it for layer in doc["layers"] for g in layer["shapes"] for it in g["it"] if it["ty"] == "sh"]
    assert shapes and all(s["ks"]["a"] == 0 for s in shapes)
    assert doc["op"] == 1


def test_background_layer_mode_keeps_a_background_rect():
    frames = render_clip(simple_scene_svg, 2, 64, background="#c8e6ff")
    res = vectorize_clip(frames, 8, VectorizeOptions(jobs=1, background="layer"))
    assert res.background_rect and res.palette.background == (0xc8, 0xe6, 0xff)
    doc = animated_svg(res.frames, res.palette, 8, background_rect=True)
    root = ET.fromstring(doc)
    rect = root.find(f"{SVG_NS}rect")
    assert rect is not None and rect.get("id") == "background"
    lot = lottie_document(res.frames, res.palette, 8, background_rect=True)
    assert lot["layers"][-1]["nm"] == "background"
    assert all(r["psnr"] >= 28 for r in res.fidelity)
