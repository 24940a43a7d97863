import io
import json
import xml.etree.ElementTree as ET

import pytest

from vectorwan.vector.export import animated_svg, lottie_document, parse_path
from vectorwan.vector.fidelity import psnr
from vectorwan.vector.pipeline import TraceOptions, VectorizeOptions, vectorize_clip
from vectorwan.vector.synth import bench_scene_svg, render_clip, simple_clip, simple_scene_svg
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


def test_animated_svg_has_one_group_per_colour_layer_and_smil_per_segment(result):
    doc = animated_svg(result.animation, result.palette, FPS)
    root = ET.fromstring(doc)
    assert root.tag == f"{SVG_NS}svg" and root.get("width") == str(SIZE)
    layers = [g for g in root if g.get("class") == "layer"]
    used = [i for i in range(len(result.palette)) if result.animation.layer_segments(i)]
    assert [int(g.get("data-layer")) for g in layers] == used  # bottom colour first, each once
    assert all(g.get("fill") == result.palette.hex[int(g.get("data-layer"))] for g in layers)
    segments = [s for g in layers for s in g]
    assert len(segments) == sum(len(result.animation.layer_segments(i)) for i in used)
    for seg in segments:
        for a in seg.iter(f"{SVG_NS}animateTransform"):
            assert a.get("calcMode") == "linear" and a.get("repeatCount") == "indefinite"
            assert float(a.get("dur").rstrip("s")) == pytest.approx(N / FPS)
            kt = [float(k) for k in a.get("keyTimes").split(";")]
            assert kt[0] == 0 and kt[-1] == 1 and kt == sorted(kt) and len(kt) == len(a.get("values").split(";"))
    # the clip moves: some segment is moved by SMIL
    assert any(True for _ in root.iter(f"{SVG_NS}animateTransform"))
    # a static renderer shows the first frame
    out = render_svg(doc, SIZE, SIZE, background=result.matte)
    assert psnr(out, simple_clip(1, SIZE)[0]) >= 28


def test_a_segment_shown_for_part_of_the_clip_is_hidden_outside_it():
    frames = render_clip(bench_scene_svg, 12, 128)  # the star blinks
    res = vectorize_clip(frames, 12, VectorizeOptions(jobs=1, fidelity=False))
    partial = [s for s in res.animation.segments if s.paths and (s.start > 0 or s.end < 12)]
    assert partial
    root = ET.fromstring(animated_svg(res.animation, res.palette, 12))
    shown = {(g.get("data-shape"), g.find(f"{SVG_NS}animate")) for g in root.iter(f"{SVG_NS}g") if g.get("data-shape")}
    anims = [a for _, a in shown if a is not None]
    assert anims and all(a.get("attributeName") == "visibility" and a.get("calcMode") == "discrete" for a in anims)
    doc = lottie_document(res.animation, res.palette, 12)
    opac = [g["it"][-1]["o"] for layer in doc["layers"] for g in layer["shapes"]]
    assert sum(o["a"] == 1 for o in opac) == len(partial)  # shown by hold keyframes on its opacity
    for o in opac:
        if o["a"]:
            assert {k["s"][0] for k in o["k"]} <= {0, 100} and all("h" in k for k in o["k"][:-1])


def test_lottie_parses_with_right_frames_fps_size_and_layers(result, clip):
    import lottie
    from lottie.exporters.svg import export_svg

    doc = lottie_document(result.animation, result.palette, FPS)
    text = json.dumps(doc)
    an = lottie.objects.Animation.load(json.loads(text))
    assert an.frame_rate == FPS
    assert an.in_point == 0 and an.out_point == N
    assert (an.width, an.height) == (SIZE, SIZE)
    used = [i for i in range(len(result.palette)) if result.animation.layer_segments(i)]
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
    doc = lottie_document(res.animation, res.palette, 16)
    shapes = [it for layer in doc["layers"] for g in layer["shapes"] for it in g["it"] if it["ty"] == "sh"]
    assert shapes and all(s["ks"]["a"] == 0 for s in shapes)
    assert all(g["it"][-1]["p"]["a"] == 0 for layer in doc["layers"] for g in layer["shapes"])
    assert doc["op"] == 1


def test_background_layer_mode_keeps_a_background_rect():
    frames = render_clip(simple_scene_svg, 2, 64, background="#c8e6ff")
    res = vectorize_clip(frames, 8, VectorizeOptions(jobs=1, background="layer"))
    assert res.background_rect and res.palette.background == (0xc8, 0xe6, 0xff)
    doc = animated_svg(res.animation, res.palette, 8, background_rect=True)
    root = ET.fromstring(doc)
    rect = root.find(f"{SVG_NS}rect")
    assert rect is not None and rect.get("id") == "background"
    lot = lottie_document(res.animation, res.palette, 8, background_rect=True)
    assert lot["layers"][-1]["nm"] == "background"
    assert all(r["psnr"] >= 28 for r in res.fidelity)
