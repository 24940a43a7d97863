"""A clip or image file → vector files: the library behind ``vectorwan vectorize``.

:func:`vectorize_file` checks the request, reads the frames, runs
:func:`~vectorwan.vector.pipeline.vectorize_clip` and writes the output chosen by the extension
of OUT: ``.svg`` (one frame, or an animated SVG for a clip), ``.json`` (Lottie) or a folder
(one SVG per frame, ``palette.json`` and ``manifest.json``). A manifest with the fidelity
report goes beside a file output (``NAME.EXT.manifest.json``) unless ``manifest`` says where.
Everything is computed before anything is written, and every file is written atomically:
bad input leaves no partial output.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from vectorwan.atomic import atomic_path, check_output
from vectorwan.errors import UserError
from vectorwan.frames import VIDEO_EXTS, check_frames_output, read_frames, write_frames
from vectorwan.vector import export
from vectorwan.vector.palette import hex_color
from vectorwan.vector.pipeline import VectorizeOptions, VectorizeResult, vectorize_clip
from vectorwan.vector.trace import svg_document

MIN_COLORS, MAX_COLORS = 2, 64
MAX_PIXELS = 600_000_000  # frames × height × width held in memory at once
MAX_FRAMES = 2000  # about 2 minutes at 16 fps; every frame is traced, so more is refused up front
MAX_TOLERANCE = 3.0  # source px of mean outline distance: beyond this a reused path is another shape
OUTPUT_KINDS = {".svg": "svg", ".json": "lottie", ".lottie": "dotlottie", "": "folder"}
DEFLICKER_EXTS = VIDEO_EXTS | {".gif", ".webp", ".png", ""}


def vectorize_file(input: str | Path, out: str | Path, options: VectorizeOptions | None = None, *,
                   deflicker: str | Path | None = None, manifest: str | Path | None = None,
                   max_frames: int | None = None, fps: float | None = None) -> tuple[VectorizeResult, list[Path]]:
    """Vectorize the clip or image ``input`` into ``out``; returns the result and the paths written.

    ``deflicker``: also write the palette-locked frames there (video / gif / webp / png / folder);
    ``manifest``: where the manifest goes (default: OUT/manifest.json or OUT + .manifest.json);
    ``max_frames``: use only the first N frames; ``fps``: frame rate (default: the clip's).
    """
    out = Path(out)
    options = options or VectorizeOptions()
    deflicker = None if deflicker is None else str(deflicker)
    kind = check_request(out, options, deflicker=deflicker, max_frames=max_frames, fps=fps)
    started = time.perf_counter()
    clip = read_frames(input, max_frames=max_frames, fps=fps)
    t, h, w = clip.frames.shape[:3]
    if t > MAX_FRAMES:
        raise UserError(f"{input}: more than {MAX_FRAMES} frames; vectorize takes at most {MAX_FRAMES} "
                        f"(each is traced): use --max-frames N or cut the clip")
    if t == 0:
        raise UserError(f"{input}: holds 0 frames; give a clip with at least one frame")
    if t * h * w > MAX_PIXELS:
        raise UserError(f"{input}: {t} frames of {w}x{h} are too many pixels to vectorize at once; "
                        f"use --max-frames or resize the clip")
    if deflicker and Path(deflicker).suffix.lower() == ".png" and t > 1:
        raise UserError(f"--deflicker-out {deflicker}: a .png holds one frame but the clip has {t}; "
                        f"use .mp4, .gif, .webp or a folder")
    record = options_json(options, fps=fps, max_frames=max_frames)
    result = vectorize_clip(clip.frames, clip.fps, options)
    written = write_outputs(result, out, kind, source=str(input), options=record,
                            manifest=manifest_path(out, kind, manifest), deflicker=deflicker, started=started)
    return result, written


def summary_line(result: VectorizeResult, written: list[Path], seconds: float) -> str:
    """One line: frames, palette, paths, fidelity and the files written."""
    t, s = len(result.frames), result.summary()
    fid = (f"; PSNR {s['psnr']['mean']:.2f} dB (min {s['psnr']['min']:.2f}), SSIM {s['ssim']['mean']:.4f}"
           if "psnr" in s else "")
    return (f"vectorize: {t} frame{'s' if t != 1 else ''} {result.width}x{result.height} → {len(result.palette)} "
            f"colour{'s' if len(result.palette) != 1 else ''}, "
            f"{result.tracking['segments']} traced shapes moved by {result.tracking['keyframes']} keyframes "
            f"({s['paths_total']} paths drawn over the frames){fid}; wrote {', '.join(str(f) for f in written)} "
            f"in {seconds:.1f} s")


# ----------------------------------------------------------------------------- validation
def check_request(out: Path, options: VectorizeOptions, *, deflicker: str | None = None,
                  max_frames: int | None = None, fps: float | None = None) -> str:
    """Check the output path and the settings before any work; returns the output kind."""
    ext = out.suffix.lower()
    if ext not in OUTPUT_KINDS:
        raise UserError(f"--out {out}: unsupported extension '{ext}'; use .svg, .json (Lottie), .lottie (dotLottie) or a folder name")
    if ext == "":
        check_output(out, _is_own_output, what="--out")
    if ext and out.is_dir():
        raise UserError(f"--out {out}: is a folder; give a file name ending in {ext}")
    o, tr = options, options.trace
    if o.colors is not None and not MIN_COLORS <= o.colors <= MAX_COLORS:
        raise UserError(f"--colors {o.colors} is out of range; use {MIN_COLORS}..{MAX_COLORS}")
    if not MIN_COLORS <= o.max_colors <= MAX_COLORS:
        raise UserError(f"--max-colors {o.max_colors} is out of range; use {MIN_COLORS}..{MAX_COLORS}")
    if not 1 <= tr.scale <= 4:
        raise UserError(f"--scale {tr.scale} is out of range; use 1..4")
    if not 0 <= tr.filter_speckle <= 64:
        raise UserError(f"--speckle {tr.filter_speckle} is out of range; use 0..64")
    if not 0 <= tr.tolerance <= MAX_TOLERANCE:  # (a NaN fails this too)
        raise UserError(f"--tolerance {tr.tolerance} is out of range; use 0..{MAX_TOLERANCE}")
    if fps is not None and not 0 < fps <= 240:
        raise UserError(f"--fps {fps} is out of range; use a value in (0, 240]")
    if max_frames is not None and max_frames < 1:
        raise UserError(f"--max-frames {max_frames} must be at least 1")
    if o.jobs < 0:
        raise UserError(f"--jobs {o.jobs} must be 0 (automatic) or more")
    if deflicker:
        dext = Path(deflicker).suffix.lower()
        if dext not in DEFLICKER_EXTS:
            raise UserError(f"--deflicker-out {deflicker}: unsupported extension '{dext}'; "
                            f"use .mp4, .webm, .gif, .webp or a folder")
        check_frames_output(deflicker, what="--deflicker-out")
    return OUTPUT_KINDS[ext]


def _is_own_output(name: str) -> bool:
    """Files a previous run wrote into an output folder (replaced as a whole on success)."""
    return name in ("palette.json", "manifest.json") or (name.startswith("frame") and name.endswith(".svg"))


def manifest_path(out: Path, kind: str, override: str | Path | None) -> Path:
    if override:
        return Path(override)
    if kind == "folder":
        return out / "manifest.json"
    return out.with_name(out.name + ".manifest.json")  # x.svg and x.json never share one


# ----------------------------------------------------------------------------- outputs
def options_json(options: VectorizeOptions, *, fps: float | None, max_frames: int | None) -> dict:
    """The settings as the manifest records them (named like the command's flags)."""
    tr = options.trace
    return {"colors": options.colors, "max_colors": options.max_colors, "background": options.background,
            "order": options.order, "mode": tr.mode, "layering": tr.layering, "scale": tr.scale,
            "speckle": tr.filter_speckle, "tolerance": tr.tolerance, "fps": fps, "max_frames": max_frames, "jobs": options.jobs}


def build_manifest(result: VectorizeResult, *, source: str, output: str, kind: str, options: dict,
                   files: dict) -> dict:
    layers = []
    for i, color in enumerate(result.palette.colors):
        frames_with = sum(1 for f in result.frames if i < len(f.layers) and f.layers[i])
        segs = result.animation.layer_segments(i)
        layers.append({"id": f"layer{i:02d}", "index": i, "color": hex_color(color),
                       "frames": frames_with, "shapes": len({g.shape for g in segs}), "segments": len(segs)})
    return {
        "tool": "vectorwan vectorize",
        "source": source,
        "output": output,
        "kind": kind,
        "files": files,
        "frames": len(result.frames),
        "fps": result.fps,
        "width": result.width,
        "height": result.height,
        "source_has_alpha": result.has_alpha,
        "background": {
            "color": hex_color(result.palette.background) if result.palette.background is not None else None,
            "mode": "alpha" if result.has_alpha else (
                "layer" if result.background_rect else ("transparent" if result.palette.background is not None
                                                        else "none")),
            "compared_over": hex_color(result.matte),
        },
        "palette": result.palette.to_json(),
        "layers": layers,
        "tracking": result.tracking,
        "trace": result.trace.to_json(),
        "options": options,
        "fidelity": {
            "method": "each frame's SVG rendered with cairosvg and compared with the source frame composited "
                      "over the same background",
            "summary": result.summary(),
            "frames": result.fidelity,
        },
        "seconds": result.seconds,
    }


def write_outputs(result: VectorizeResult, out: Path, kind: str, *, source: str, options: dict,
                  manifest: Path | None, deflicker: str | None, started: float | None = None) -> list[Path]:
    """Build every output in memory, then write them all (temp names, renamed at the end)."""
    pal, bgr = result.palette, result.background_rect
    texts: dict[str, str | bytes] = {}
    if kind == "svg":
        if len(result.frames) == 1:
            body = svg_document(result.frames[0], pal, background_rect=bgr)
        else:
            body = export.animated_svg(result.animation, pal, result.fps, background_rect=bgr)
        texts[out.name] = body
    elif kind in ("lottie", "dotlottie"):
        doc = export.lottie_document(result.animation, pal, result.fps, background_rect=bgr,
                                     name=Path(source).stem or "vectorwan")
        texts[out.name] = export.dotlottie(doc) if kind == "dotlottie" else json.dumps(doc, separators=(",", ":"))
    else:
        for i, fr in enumerate(result.frames):
            texts[f"frame{i:05d}.svg"] = svg_document(fr, pal, background_rect=bgr)
        texts["palette.json"] = json.dumps(pal.to_json(), indent=2) + "\n"
    files = {name: len(text if isinstance(text, bytes) else text.encode("utf-8")) for name, text in texts.items()}
    written: list[Path] = []
    with contextlib.ExitStack() as stack:
        if kind == "folder":
            tmp = stack.enter_context(atomic_path(out))
            tmp.mkdir()
            for name, text in texts.items():
                (tmp / name).write_text(text, encoding="utf-8")
        else:
            tmp = stack.enter_context(atomic_path(out))
            body = texts[out.name]
            tmp.write_bytes(body) if isinstance(body, bytes) else tmp.write_text(body, encoding="utf-8")
        written.append(out)
        if deflicker:
            dext = Path(deflicker).suffix.lower()
            dtmp = stack.enter_context(atomic_path(deflicker, suffix=dext))
            write_frames(dtmp, result.locked_frames(), result.fps, fmt=dext)
            written.append(Path(deflicker))
        if manifest is not None:
            if started is not None:
                result.seconds["wall"] = round(time.perf_counter() - started, 3)
            doc = build_manifest(result, source=source, output=str(out), kind=kind, options=options,
                                 files={"outputs": files, "deflicker": deflicker})
            text = json.dumps(doc, indent=2) + "\n"
            if kind == "folder" and manifest.parent == out:
                (tmp / manifest.name).write_text(text, encoding="utf-8")
            else:
                mtmp = stack.enter_context(atomic_path(manifest))
                mtmp.write_text(text, encoding="utf-8")
                written.append(manifest)
    return written
