import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vectorwan.cli import main
from vectorwan.frames import read_frames, write_frames
from vectorwan.vector.synth import simple_clip

N, SIZE = 5, 96


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    write_frames(d / "anim.webp", simple_clip(N, SIZE), fps=10)
    write_frames(d / "frames", simple_clip(N, SIZE), fps=10)
    write_frames(d / "still.png", simple_clip(1, SIZE, rgba=True))
    return d


def _run(capsys, *argv):
    rc = main(["vectorize", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def _listing(path):
    return sorted(p.name for p in path.iterdir())


def test_folder_output_has_svg_per_frame_palette_and_manifest(tmp_path, clip_dir, capsys):
    out = tmp_path / "vec"
    rc, stdout, err = _run(capsys, clip_dir / "anim.webp", "--out", out, "--jobs", 2,
                           "--deflicker-out", tmp_path / "locked.gif")
    assert rc == 0, err
    names = _listing(out)
    assert names == sorted([f"frame{i:05d}.svg" for i in range(N)] + ["palette.json", "manifest.json"])
    pal = json.loads((out / "palette.json").read_text())
    man = json.loads((out / "manifest.json").read_text())
    assert man["frames"] == N and man["fps"] == pytest.approx(10) and (man["width"], man["height"]) == (SIZE, SIZE)
    assert man["palette"]["colors"] == pal["colors"]
    summary = man["fidelity"]["summary"]
    assert summary["palette_size"] == pal["size"]
    assert summary["psnr"]["min"] >= 30 and summary["ssim"]["min"] > 0.95
    assert {"paths", "bytes", "path_count_variation"} <= set(summary)
    assert len(man["fidelity"]["frames"]) == N and all("psnr" in f and "bytes" in f for f in man["fidelity"]["frames"])
    assert man["seconds"]["jobs"] == 2
    # the palette is the same in every frame: each layer id has one colour across all frame SVGs
    fills = {}
    for i in range(N):
        root = ET.parse(out / f"frame{i:05d}.svg").getroot()
        for g in root.iter("{http://www.w3.org/2000/svg}g"):
            if g.get("class") == "layer":
                fills.setdefault(g.get("id"), set()).add(g.get("fill"))
    assert fills and all(len(v) == 1 for v in fills.values())
    assert {next(iter(v)) for v in fills.values()} <= set(pal["colors"])
    # the deflickered raster holds palette colours only
    locked = read_frames(tmp_path / "locked.gif").frames
    assert len(locked) == N
    assert "PSNR" in stdout


def test_rerun_replaces_previous_folder_output(tmp_path, clip_dir, capsys):
    out = tmp_path / "vec"
    for n in (N, 2):
        rc, _, err = _run(capsys, clip_dir / "frames", "--out", out, "--max-frames", n, "--no-fidelity")
        assert rc == 0, err
    assert len(list(out.glob("frame*.svg"))) == 2


def test_animated_svg_and_manifest_beside_it(tmp_path, clip_dir, capsys):
    out = tmp_path / "a.svg"
    rc, _, err = _run(capsys, clip_dir / "frames", "--out", out, "--fps", 12, "--jobs", 1)
    assert rc == 0, err
    root = ET.parse(out).getroot()
    smil = list(root.iter("{http://www.w3.org/2000/svg}animateTransform"))
    assert smil and all(a.get("dur") == f"{N / 12:.4f}".rstrip("0") + "s" for a in smil)
    man = json.loads((tmp_path / "a.svg.manifest.json").read_text())
    assert man["kind"] == "svg" and man["fps"] == 12
    assert man["tracking"]["segments"] >= 1 and man["tracking"]["keyframes"] >= man["tracking"]["segments"]


def test_lottie_output(tmp_path, clip_dir, capsys):
    import lottie

    out = tmp_path / "anim.json"
    rc, _, err = _run(capsys, clip_dir / "anim.webp", "--out", out, "--colors", 6, "--no-fidelity")
    assert rc == 0, err
    an = lottie.objects.Animation.load(json.loads(out.read_text()))
    assert an.out_point == N and an.frame_rate == pytest.approx(10) and (an.width, an.height) == (SIZE, SIZE)
    man = json.loads((tmp_path / "anim.json.manifest.json").read_text())
    assert man["palette"]["size"] <= 6 and man["fidelity"]["frames"] == []


def test_single_rgba_image_to_svg_keeps_transparency(tmp_path, clip_dir, capsys):
    out = tmp_path / "still.svg"
    rc, _, err = _run(capsys, clip_dir / "still.png", "--out", out, "--manifest", tmp_path / "m.json")
    assert rc == 0, err
    root = ET.parse(out).getroot()
    assert not [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "frame"]
    from vectorwan.vector.trace import render_svg

    rgba = render_svg(out.read_text(), SIZE, SIZE)
    src = np.asarray(Image.open(clip_dir / "still.png"))
    assert (rgba[..., 3][src[..., 3] == 0] <= 8).mean() > 0.99
    man = json.loads((tmp_path / "m.json").read_text())
    assert man["background"]["mode"] == "alpha" and man["source_has_alpha"]


@pytest.mark.parametrize("case", ["missing", "corrupt", "empty_dir", "huge", "k_low", "k_high", "bad_ext",
                                  "bad_scale", "bad_deflicker", "busy_folder"])
def test_bad_input_one_line_and_no_output(tmp_path, clip_dir, capsys, case):
    src = clip_dir / "anim.webp"
    out = tmp_path / "out" / "x.svg"
    extra = []
    if case == "missing":
        src = tmp_path / "nope.mp4"
    elif case == "corrupt":
        src = tmp_path / "bad.png"
        src.write_bytes(b"not a png at all")
    elif case == "empty_dir":
        src = tmp_path / "empty"
        src.mkdir()
    elif case == "huge":
        src = tmp_path / "huge.png"
        Image.new("L", (9000, 8)).save(src)
    elif case == "k_low":
        extra = ["--colors", "1"]
    elif case == "k_high":
        extra = ["--colors", "300"]
    elif case == "bad_ext":
        out = tmp_path / "out" / "x.pdf"
    elif case == "bad_scale":
        extra = ["--scale", "9"]
    elif case == "bad_deflicker":
        extra = ["--deflicker-out", tmp_path / "out" / "d.xyz"]
    elif case == "busy_folder":  # never replace a folder holding someone's files
        out = tmp_path / "busy"
        out.mkdir()
        (out / "notes.txt").write_text("keep me")
    rc, stdout, err = _run(capsys, src, "--out", out, *extra)
    assert rc == 2
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert len(lines) == 1 and lines[0].startswith("vectorwan vectorize: error:"), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert not list(tmp_path.glob("*.manifest.json"))
    if case == "busy_folder":
        assert _listing(out) == ["notes.txt"]


def test_failure_while_writing_leaves_nothing(tmp_path, clip_dir, capsys, monkeypatch):
    import vectorwan.vector.export as export

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(export, "animated_svg", boom)
    out_dir = tmp_path / "o"
    with pytest.raises(RuntimeError):
        main(["vectorize", str(clip_dir / "anim.webp"), "--out", str(out_dir / "a.svg"), "--no-fidelity",
              "--deflicker-out", str(out_dir / "d.mp4")])
    assert not out_dir.exists() or not any(out_dir.iterdir())


def test_dotlottie_output_is_the_lottie_document_in_a_zip(tmp_path, clip_dir):
    import zipfile

    src = clip_dir / "anim.webp"
    assert main(["vectorize", str(src), "--out", str(tmp_path / "a.json"), "--no-fidelity"]) == 0
    assert main(["vectorize", str(src), "--out", str(tmp_path / "a.lottie"), "--no-fidelity"]) == 0
    with zipfile.ZipFile(tmp_path / "a.lottie") as z:
        assert sorted(z.namelist()) == ["a/animation.json", "manifest.json"]
        manifest = json.loads(z.read("manifest.json"))
        animation = json.loads(z.read("a/animation.json"))
    assert manifest["version"] == "2" and manifest["animations"] == [{"id": "animation"}]
    assert animation == json.loads((tmp_path / "a.json").read_text())
    assert json.loads((tmp_path / "a.lottie.manifest.json").read_text())["kind"] == "dotlottie"


def test_deflicker_out_to_a_folder_works_and_never_replaces_a_users_folder(tmp_path, clip_dir, capsys):
    src = clip_dir / "anim.webp"
    assert main(["vectorize", str(src), "--out", str(tmp_path / "a.svg"), "--no-fidelity",
                 "--deflicker-out", str(tmp_path / "locked")]) == 0
    assert len(list((tmp_path / "locked").glob("*.png"))) == N
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "holiday.jpg").write_bytes(b"precious")
    (tmp_path / "d.mp4").mkdir()
    for target in ("mine", "d.mp4"):
        rc, _, err = _run(capsys, src, "--out", tmp_path / "b.svg", "--no-fidelity", "--deflicker-out", tmp_path / target)
        assert rc == 2 and "--deflicker-out" in err and "Traceback" not in err, err
    assert (tmp_path / "mine" / "holiday.jpg").read_bytes() == b"precious" and not (tmp_path / "b.svg").exists()


def test_a_clip_too_long_to_trace_is_refused_up_front_with_the_limit(tmp_path, capsys):
    import time

    from vectorwan.vector.files import MAX_FRAMES

    long = write_frames(tmp_path / "long", np.zeros((MAX_FRAMES + 1, 16, 16, 3), np.uint8))
    t0 = time.perf_counter()
    rc, _, err = _run(capsys, long, "--out", tmp_path / "x.json")
    assert rc == 2 and f"more than {MAX_FRAMES} frames" in err and "--max-frames" in err
    assert time.perf_counter() - t0 < 60 and not (tmp_path / "x.json").exists()
    assert _run(capsys, long, "--out", tmp_path / "y.json", "--max-frames", "3", "--no-fidelity")[0] == 0


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_killing_vectorize_leaves_no_worker_processes(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    clip = write_frames(tmp_path / "clip", simple_clip(200, 256))
    p = subprocess.Popen([sys.executable, "-m", "vectorwan", "vectorize", str(clip), "--out", str(tmp_path / "x.json"),
                          "--jobs", "2", "--no-fidelity"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers: list[int] = []
        deadline = time.time() + 120
        while len(workers) < 2 and time.time() < deadline and p.poll() is None:
            workers = [c for c in _children(p.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]
            time.sleep(0.2)
        assert len(workers) == 2, "the workers never started"
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        deadline = time.time() + 10
        while any(_alive(w) for w in workers) and time.time() < deadline:
            time.sleep(0.2)
        assert not any(_alive(w) for w in workers)
        assert not (tmp_path / "x.json").exists()
    finally:
        if p.poll() is None:
            p.kill()
