"""Read and write clips as numpy frames — no torch here.

A clip is ``frames``: uint8 array T×H×W×C with C = 3 (RGB) or 4 (RGBA, alpha kept), plus its
``fps``. Inputs: video files (mp4, webm, mov, mkv, avi via ffmpeg), animated or still GIF /
WebP / PNG / APNG / JPEG (via Pillow), or a folder of image frames (sorted by name).
Every failure on a user's file is a one-line :class:`~vectorwan.errors.UserError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from vectorwan.atomic import atomic_path, check_output
from vectorwan.errors import UserError

VIDEO_EXTS = {".mp4", ".webm", ".mov", ".mkv", ".avi", ".m4v"}
IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".apng"}
DEFAULT_FPS = 16.0
_FRAME_FILE = re.compile(r"\d{5}\.png")  # what write_frames puts in a folder
MAX_SIDE = 8192  # larger frames are refused: nobody means to trace a 10k-pixel frame


@dataclass
class Clip:
    frames: np.ndarray  # uint8 T×H×W×C, C in {3, 4}
    fps: float
    source: str = ""

    @property
    def has_alpha(self) -> bool:
        return self.frames.shape[-1] == 4

    def __len__(self) -> int:
        return int(self.frames.shape[0])


def _check_size(path: Path, w: int, h: int, max_side: int) -> None:
    if w <= 0 or h <= 0:
        raise UserError(f"{path}: frame size {w}x{h} is empty; give a non-empty image or video")
    if max(w, h) > max_side:
        raise UserError(
            f"{path}: frame size {w}x{h} exceeds the {max_side}px limit; resize it first"
        )


def _pil_to_array(img: Image.Image) -> np.ndarray:
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
    return np.asarray(img.convert("RGBA" if has_alpha else "RGB"), dtype=np.uint8)


def _read_image_file(path: Path, max_side: int, max_frames: int | None) -> Clip:
    try:
        with Image.open(path) as im:
            _check_size(path, im.width, im.height, max_side)
            frames, durations = [], []
            info = dict(im.info)
            for frame in ImageSequence.Iterator(im):
                frames.append(_pil_to_array(frame))
                durations.append(frame.info.get("duration") or 0)
                if max_frames and len(frames) >= max_frames:
                    break
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise UserError(f"{path}: cannot read image ({e}); check the file is a valid image") from None
    if not frames:
        raise UserError(f"{path}: holds no frames; give an image or a clip with frames")
    if any(f.shape[-1] == 4 for f in frames):  # mixed modes in an animation: promote to RGBA
        frames = [f if f.shape[-1] == 4 else np.dstack([f, np.full(f.shape[:2], 255, np.uint8)]) for f in frames]
    tag = _read_tag(info)
    if tag and not max_frames:
        # GIF/WebP encoders merge identical consecutive frames: undo it from the durations
        n, fps = tag
        reps = [max(1, round(d * fps / 1000)) if d else 1 for d in durations]
        if sum(reps) != n:
            reps = [1] * (len(frames) - 1) + [max(1, n - len(frames) + 1)]
        frames = [f for f, r in zip(frames, reps) for _ in range(r)][:n]
        return Clip(np.stack(frames), fps, str(path))
    d = [x for x in durations if x]
    fps = 1000.0 / float(np.median(d)) if len(frames) > 1 and d else DEFAULT_FPS
    return Clip(np.stack(frames), fps, str(path))


_TAG = "vectorwan frames={} fps={}"


def _read_tag(info: dict) -> tuple[int, float] | None:
    """(frames, fps) that :func:`write_frames` stored in a GIF comment / WebP XMP, if any."""
    raw = info.get("comment") or info.get("xmp") or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if not text.startswith("vectorwan frames="):
        return None
    try:
        n, fps = text.split(" ")[1:3]
        return int(n.split("=")[1]), float(fps.split("=")[1])
    except (ValueError, IndexError):
        return None


def _read_video_file(path: Path, max_side: int, max_frames: int | None) -> Clip:
    try:
        gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
        meta = gen.__next__()
        w, h = meta["size"]
        _check_size(path, w, h, max_side)
        fps = float(meta.get("fps") or DEFAULT_FPS)
        frames = []
        for raw in gen:
            frames.append(np.frombuffer(raw, np.uint8).reshape(h, w, 3))
            if max_frames and len(frames) >= max_frames:
                break
        gen.close()
    except UserError:
        raise
    except (OSError, RuntimeError, StopIteration, KeyError, ValueError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path}: cannot decode video ({msg}); check the file is a valid video") from None
    if not frames:
        raise UserError(f"{path}: video has 0 frames; give a clip with at least one frame")
    return Clip(np.stack(frames), fps, str(path))


def read_frames(path: str | Path, *, max_side: int = MAX_SIDE, max_frames: int | None = None,
                fps: float | None = None) -> Clip:
    """Read a video file, an image (animated or not) or a folder of frames."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file or folder; check the path")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTS and not p.name.startswith("."))
        if not files:
            raise UserError(f"{path}: folder holds no image frames ({', '.join(sorted(IMAGE_EXTS))})")
        if max_frames:
            files = files[:max_frames]
        arrs = [_read_image_file(f, max_side, 1).frames[0] for f in files]
        shapes = {a.shape[:2] for a in arrs}
        if len(shapes) > 1:
            raise UserError(f"{path}: frames differ in size {sorted(shapes)}; give frames of one size")
        if any(a.shape[-1] == 4 for a in arrs):
            arrs = [a if a.shape[-1] == 4 else np.dstack([a, np.full(a.shape[:2], 255, np.uint8)]) for a in arrs]
        return Clip(np.stack(arrs), fps or DEFAULT_FPS, str(path))
    ext = path.suffix.lower()
    if ext in VIDEO_EXTS:
        clip = _read_video_file(path, max_side, max_frames)
    elif ext in IMAGE_EXTS:
        clip = _read_image_file(path, max_side, max_frames)
    else:
        raise UserError(
            f"{path}: unsupported extension '{ext}'; use one of "
            f"{', '.join(sorted(VIDEO_EXTS | IMAGE_EXTS))} or a folder of frames"
        )
    if fps:
        clip.fps = fps
    return clip


def composite(frames: np.ndarray, background=(255, 255, 255)) -> np.ndarray:
    """RGBA → RGB over a solid background (RGB input is returned unchanged)."""
    if frames.shape[-1] == 3:
        return frames
    a = frames[..., 3:4].astype(np.float32) / 255.0
    bg = np.asarray(background, np.float32)
    out = frames[..., :3].astype(np.float32) * a + bg * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def own_frame_file(name: str) -> bool:
    """Whether ``name`` is what :func:`write_frames` puts in a folder of frames."""
    return _FRAME_FILE.fullmatch(name) is not None


def check_frames_output(path: str | Path, fmt: str | None = None, what: str = "") -> Path:
    """:func:`vectorwan.atomic.check_output` for a clip output: a file, or (no extension) a folder of frames."""
    ext = Path(path).suffix.lower() if fmt is None else fmt
    return check_output(path, None if ext else own_frame_file, what=what)


def check_video(tmp: Path, n: int, final: Path) -> None:
    """ffmpeg's exit status is not checked by imageio-ffmpeg: read the file back, so a video whose
    trailer was never written (a full disk) is an error, never a file under its final name."""
    try:
        got, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp))
    except (RuntimeError, OSError):
        got = 0
    if got != n:
        raise UserError(f"{final}: ffmpeg did not finish the video ({got} of {n} frames read back); "
                        "check the free disk space and write again")


def write_frames(path: str | Path, frames: np.ndarray, fps: float = DEFAULT_FPS, *, quality: int = 8,
                 fmt: str | None = None) -> Path:
    """Write T×H×W×C uint8 frames by extension, atomically.

    ``.mp4``/``.webm``/``.mov``/``.mkv`` → video (ffmpeg), ``.gif``/``.webp`` → animation,
    ``.png`` → one image (a single frame; RGBA kept), no extension → folder of PNG frames.
    ``fmt``: the extension that decides ("" for a folder), when ``path`` is a temporary name.
    """
    path = check_frames_output(path, fmt)
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] not in (3, 4):
        raise ValueError(f"frames must be uint8 T×H×W×3|4, got {frames.dtype} {frames.shape}")
    ext = path.suffix.lower() if fmt is None else fmt.lower()
    with atomic_path(path, suffix=ext) as tmp:
        if ext in VIDEO_EXTS:
            rgb = composite(frames)
            h, w = rgb.shape[1:3]
            codec = {".webm": "libvpx-vp9"}.get(ext, "libx264")
            # yuv420p needs even sizes: pad by one pixel at most
            ph, pw = h + h % 2, w + w % 2
            if (ph, pw) != (h, w):
                rgb = np.pad(rgb, ((0, 0), (0, ph - h), (0, pw - w), (0, 0)), mode="edge")
            writer = imageio_ffmpeg.write_frames(
                str(tmp), (pw, ph), fps=fps, codec=codec, quality=quality, macro_block_size=1,
                pix_fmt_out="yuv420p", ffmpeg_log_level="error",
                output_params=["-f", {".webm": "webm", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}.get(ext, "mp4")],
            )
            writer.send(None)
            for f in rgb:
                writer.send(np.ascontiguousarray(f))
            writer.close()
            check_video(tmp, len(rgb), path)
        elif ext in (".gif", ".webp"):
            imgs = [Image.fromarray(f) for f in frames]
            kw = dict(save_all=True, append_images=imgs[1:], duration=int(round(1000 / fps)), loop=0)
            tag = _TAG.format(len(frames), fps).encode()  # lets read_frames undo merged identical frames
            if ext == ".webp":
                kw.update(lossless=True, xmp=tag)
            else:
                kw.update(disposal=2, comment=tag)
            imgs[0].save(tmp, format=ext[1:].upper(), **kw)
        elif ext in (".png", ".jpg", ".jpeg"):
            if len(frames) != 1:
                raise ValueError(f"{path}: a {ext} holds one frame, got {len(frames)}; use a folder or a video")
            img = Image.fromarray(frames[0] if ext == ".png" else composite(frames)[0])
            img.save(tmp, format="PNG" if ext == ".png" else "JPEG")
        elif ext == "":
            tmp.mkdir()
            for i, f in enumerate(frames):
                Image.fromarray(f).save(tmp / f"{i:05d}.png")
        else:
            raise UserError(f"{path}: unsupported output extension '{ext}'; use .mp4, .webm, .gif, .webp, .png or a folder")
    return path


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] (a pipeline's ``output_type="np"``) → uint8, rounded and clipped."""
    return np.clip(np.rint(frames * 255.0), 0, 255).astype(np.uint8)


def evenly_spaced(t: int, n: int) -> np.ndarray:
    """Indices of ``n`` frames spread evenly over a clip of ``t``, first and last included:
    ``np.unique(np.linspace(0, t - 1, min(n, t)).round().astype(int))``: int, sorted, distinct,
    min(n, t) of them; all of 0..t−1 when n ≥ t, ``[0]`` when n = 1 or
    t = 1, empty when n = 0 or t = 0."""
    return np.unique(np.linspace(0, t - 1, min(n, t)).round().astype(int))


def contact_sheet(frames: np.ndarray, n: int = 8, cols: int | None = None, pad: int = 2,
                  labels: list[str] | None = None) -> np.ndarray:
    """Sample ``n`` frames evenly and tile them into one RGB image (uint8 H×W×3)."""
    frames = composite(np.asarray(frames))
    t = len(frames)
    idx = evenly_spaced(t, n)
    cols = cols or len(idx)
    rows = int(np.ceil(len(idx) / cols))
    h, w = frames.shape[1:3]
    sheet = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for k, i in enumerate(idx):
        r, c = divmod(k, cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        sheet[y:y + h, x:x + w] = frames[i]
    if labels:
        import cv2

        for k, text in enumerate(labels[: len(idx)]):
            r, c = divmod(k, cols)
            cv2.putText(sheet, str(text), (pad + c * (w + pad) + 2, pad + r * (h + pad) + 12),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet
