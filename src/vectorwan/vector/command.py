"""``vectorwan vectorize INPUT --out OUT``: a clip or an image → layered vector animation.

OUT by extension: ``.svg`` (one frame, or an animated SVG for a clip), ``.json`` (Lottie) or
a folder (one SVG per frame, ``palette.json`` and ``manifest.json``). A manifest with the
fidelity report goes beside a file output (``NAME.EXT.manifest.json``) unless ``--manifest`` says
where. Everything is computed before anything is written, and every file is written
atomically: bad input leaves no partial output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

from vectorwan.errors import UserError

MIN_COLORS, MAX_COLORS_CLI = 2, 64
MAX_PIXELS = 600_000_000  # frames × height × width held in memory at once
OUTPUT_KINDS = {".svg": "svg", ".json": "lottie", "": "folder"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="a video, a folder of frames or an image")
    p.add_argument("--out", required=True,
                   help="output: .svg (frame or animated SVG), .json (Lottie) or a folder (SVG per frame)")
    p.add_argument("--colors", type=int, default=None, metavar="K",
                   help=f"palette size for the whole clip ({MIN_COLORS}..{MAX_COLORS_CLI}; default: automatic)")
    p.add_argument("--max-colors", type=int, default=32, metavar="N",
                   help="upper bound for the automatic palette size (default 32)")
    p.add_argument("--background", choices=("auto", "transparent", "layer", "none"), default="auto",
                   help="solid background: auto/transparent = removed, layer = kept as its own bottom layer, "
                        "none = traced like any colour (RGBA input: alpha decides)")
    p.add_argument("--order", choices=("luminance", "area", "greedy"), default="luminance",
                   help="stacking order of colour layers (default: light at the bottom, dark outlines on top)")
    p.add_argument("--mode", choices=("polygon", "spline"), default="polygon",
                   help="path kind: polygon (default: smaller files, closer fit) or spline (Bézier curves)")
    p.add_argument("--layering", choices=("stacked", "cutout"), default="stacked",
                   help="stacked: layers run under the ones above (no seams); cutout: each colour its own pixels")
    p.add_argument("--scale", type=int, default=2, metavar="S",
                   help="trace at S× the source size, scaled back in the SVG (1..4, default 2)")
    p.add_argument("--speckle", type=int, default=4, metavar="PX",
                   help="drop specks smaller than PX² traced pixels (0..64, default 4)")
    p.add_argument("--fps", type=float, default=None, help="frame rate (default: the clip's; 16 for a folder)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="use only the first N frames")
    p.add_argument("--deflicker-out", default=None, metavar="X.mp4",
                   help="also write the palette-locked frames as a video / gif / webp / folder")
    p.add_argument("--manifest", default=None, metavar="PATH",
                   help="where to write the manifest (default: OUT/manifest.json or OUT + .manifest.json)")
    p.add_argument("--no-fidelity", action="store_true", help="skip rendering frames back for the fidelity report")
    p.add_argument("--jobs", type=int, default=0, metavar="N", help="worker processes (default: one per core, ≤ 8)")


# ----------------------------------------------------------------------------- validation
def _check_args(args) -> tuple[Path, str]:
    out = Path(args.out)
    ext = out.suffix.lower()
    if ext not in OUTPUT_KINDS:
        raise UserError(f"--out {out}: unsupported extension '{ext}'; use .svg, .json (Lottie) or a folder name")
    if ext == "" and out.exists():
        if not out.is_dir():
            raise UserError(f"--out {out}: exists and is not a folder; choose another name")
        foreign = [p.name for p in out.iterdir() if not _is_own_output(p.name)]
        if foreign:
            raise UserError(f"--out {out}: folder exists and holds other files ({foreign[0]}, ...); "
                            f"give a new or empty folder")
    if ext and out.is_dir():
        raise UserError(f"--out {out}: is a folder; give a file name ending in {ext}")
    if args.colors is not None and not MIN_COLORS <= args.colors <= MAX_COLORS_CLI:
        raise UserError(f"--colors {args.colors} is out of range; use {MIN_COLORS}..{MAX_COLORS_CLI}")
    if not MIN_COLORS <= args.max_colors <= MAX_COLORS_CLI:
        raise UserError(f"--max-colors {args.max_colors} is out of range; use {MIN_COLORS}..{MAX_COLORS_CLI}")
    if not 1 <= args.scale <= 4:
        raise UserError(f"--scale {args.scale} is out of range; use 1..4")
    if not 0 <= args.speckle <= 64:
        raise UserError(f"--speckle {args.speckle} is out of range; use 0..64")
    if args.fps is not None and not 0 < args.fps <= 240:
        raise UserError(f"--fps {args.fps} is out of range; use a value in (0, 240]")
    if args.max_frames is not None and args.max_frames < 1:
        raise UserError(f"--max-frames {args.max_frames} must be at least 1")
    if args.jobs < 0:
        raise UserError(f"--jobs {args.jobs} must be 0 (automatic) or more")
    if args.deflicker_out:
        from vectorwan.frames import VIDEO_EXTS

        dext = Path(args.deflicker_out).suffix.lower()
        if dext not in VIDEO_EXTS | {".gif", ".webp", ".png", ""}:
            raise UserError(f"--deflicker-out {args.deflicker_out}: unsupported extension '{dext}'; "
                            f"use .mp4, .webm, .gif, .webp or a folder")
    return out, OUTPUT_KINDS[ext]


def _is_own_output(name: str) -> bool:
    """Files a previous run wrote into an output folder (replaced as a whole on success)."""
    return name in ("palette.json", "manifest.json") or (name.startswith("frame") and name.endswith(".svg"))


def manifest_path(out: Path, kind: str, override: str | None) -> Path:
    if override:
        return Path(override)
    if kind == "folder":
        return out / "manifest.json"
    return out.with_name(out.name + ".manifest.json")  # x.svg and x.json never share one


# ----------------------------------------------------------------------------- run
def run(args) -> int:
    out, kind = _check_args(args)
    t_start = time.perf_counter()

    from vectorwan.frames import read_frames

    clip = read_frames(args.input, max_frames=args.max_frames, fps=args.fps)
    t, h, w = clip.frames.shape[:3]
    if t == 0:
        raise UserError(f"{args.input}: holds 0 frames; give a clip with at least one frame")
    if t * h * w > MAX_PIXELS:
        raise UserError(f"{args.input}: {t} frames of {w}x{h} are too many pixels to vectorize at once; "
                        f"use --max-frames or resize the clip")
    if args.deflicker_out and Path(args.deflicker_out).suffix.lower() == ".png" and t > 1:
        raise UserError(f"--deflicker-out {args.deflicker_out}: a .png holds one frame but the clip has {t}; "
                        f"use .mp4, .gif, .webp or a folder")

    from vectorwan.vector.pipeline import TraceOptions, VectorizeOptions, vectorize_clip

    opts = VectorizeOptions(
        colors=args.colors, max_colors=args.max_colors, order=args.order, background=args.background,
        trace=TraceOptions(scale=args.scale, mode=args.mode, layering=args.layering, filter_speckle=args.speckle),
        fidelity=not args.no_fidelity, jobs=args.jobs)
    result = vectorize_clip(clip.frames, clip.fps, opts)
    files = write_outputs(result, out, kind, source=str(args.input), options=_options_json(args),
                          manifest=manifest_path(out, kind, args.manifest), deflicker=args.deflicker_out,
                          started=t_start)
    s = result.summary()
    fid = (f"; PSNR {s['psnr']['mean']:.2f} dB (min {s['psnr']['min']:.2f}), SSIM {s['ssim']['mean']:.4f}"
           if "psnr" in s else "")
    print(f"vectorize: {t} frame{'s' if t != 1 else ''} {w}x{h} → {len(result.palette)} "
          f"colour{'s' if len(result.palette) != 1 else ''}, "
          f"{s['paths_total']} paths{fid}; wrote {', '.join(str(f) for f in files)} "
          f"in {time.perf_counter() - t_start:.1f} s")
    return 0


def _options_json(args) -> dict:
    keys = ("colors", "max_colors", "background", "order", "mode", "layering", "scale", "speckle", "fps",
            "max_frames", "jobs")
    return {k: getattr(args, k) for k in keys}


def build_manifest(result, *, source: str, output: str, kind: str, options: dict, files: dict) -> dict:
    from vectorwan.vector.palette import hex_color

    layers = []
    for i, color in enumerate(result.palette.colors):
        frames_with = sum(1 for f in result.frames if i < len(f.layers) and f.layers[i])
        layers.append({"id": f"layer{i:02d}", "index": i, "color": hex_color(color),
                       "frames": frames_with, "shapes": result.tracking.shapes_per_layer[i]
                       if i < len(result.tracking.shapes_per_layer) else 0})
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
        "tracking": result.tracking.to_json(),
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


def write_outputs(result, out: Path, kind: str, *, source: str, options: dict, manifest: Path | None,
                  deflicker: str | None, started: float | None = None) -> list[Path]:
    """Build every output in memory, then write them all (temp names, renamed at the end)."""
    from vectorwan.atomic import atomic_path
    from vectorwan.frames import write_frames
    from vectorwan.vector.export import animated_svg, lottie_document
    from vectorwan.vector.trace import svg_document

    pal, bgr = result.palette, result.background_rect
    texts: dict[str, str] = {}
    if kind == "svg":
        if len(result.frames) == 1:
            body = svg_document(result.frames[0], pal, background_rect=bgr)
        else:
            body = animated_svg(result.frames, pal, result.fps, background_rect=bgr)
        texts[out.name] = body
    elif kind == "lottie":
        texts[out.name] = json.dumps(lottie_document(result.frames, pal, result.fps, background_rect=bgr,
                                                     name=Path(source).stem or "vectorwan"),
                                     separators=(",", ":"))
    else:
        for i, fr in enumerate(result.frames):
            texts[f"frame{i:05d}.svg"] = svg_document(fr, pal, background_rect=bgr)
        texts["palette.json"] = json.dumps(pal.to_json(), indent=2) + "\n"
    files = {name: len(text.encode("utf-8")) for name, text in texts.items()}
    written: list[Path] = []
    with contextlib.ExitStack() as stack:
        if kind == "folder":
            tmp = stack.enter_context(atomic_path(out))
            tmp.mkdir()
            for name, text in texts.items():
                (tmp / name).write_text(text, encoding="utf-8")
        else:
            tmp = stack.enter_context(atomic_path(out))
            tmp.write_text(texts[out.name], encoding="utf-8")
        written.append(out)
        if deflicker:
            dtmp = stack.enter_context(atomic_path(deflicker))
            write_frames(dtmp, result.locked_frames(), result.fps)
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


if __name__ == "__main__":  # pragma: no cover
    from vectorwan.cli import main

    sys.exit(main(["vectorize", *sys.argv[1:]]))
