"""Turn one dataset item into model-ready frames: read, composite RGBA, sample frames
(4n+1 at the target fps), resize to cover and centre-crop to the training resolution."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from vectorwan.data.dataset import Item, round_frames, too_small
from vectorwan.errors import UserError
from vectorwan.frames import composite, evenly_spaced, read_frames


@dataclass
class Sample:
    rgb: np.ndarray  # uint8 F×H×W×3, composited onto the background
    alpha: np.ndarray  # uint8 F×H×W (255 where the source has no alpha channel)
    source_size: tuple[int, int]  # (width, height) before resizing
    source_frames: int


def sample_indices(n_src: int, src_fps: float, num_frames: int, fps: float, mode: str) -> list[int]:
    """Frame indices to take from a clip of ``n_src`` frames (result length is 4k+1)."""
    if mode == "uniform":
        n = round_frames(min(num_frames, n_src))
        return evenly_spaced(n_src, n).tolist()
    step = src_fps / fps if src_fps > 0 and fps > 0 else 1.0
    avail = int(np.floor((n_src - 1) / step)) + 1  # frames available at the target rate
    n = round_frames(min(num_frames, avail))
    return [min(int(round(i * step)), n_src - 1) for i in range(n)]


def resize_crop(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    """Scale to cover height×width (Lanczos), then centre-crop."""
    t, h, w, c = frames.shape
    scale = max(height / h, width / w)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
    y0, x0 = (nh - height) // 2, (nw - width) // 2
    out = np.empty((t, height, width, c), np.uint8)
    for i, f in enumerate(frames):
        img = Image.fromarray(f) if (nh, nw) == (h, w) else Image.fromarray(f).resize((nw, nh), Image.LANCZOS)
        out[i] = np.asarray(img)[y0:y0 + height, x0:x0 + width]
    return out


def load_sample(item: Item, resolution: list[int], num_frames: int = 1, fps: float = 16.0,
                frame_sampling: str = "start", background=(255, 255, 255)) -> Sample:
    clip = read_frames(item.path, max_frames=None if item.kind == "video" else 1)
    frames = clip.frames
    if item.kind == "video" and len(frames) > 1:
        frames = frames[sample_indices(len(frames), clip.fps, num_frames, fps, frame_sampling)]
    else:
        frames = frames[:1]
    h, w = resolution
    src_h, src_w = clip.frames.shape[1:3]
    if small := too_small(item.path, src_w, src_h):
        raise UserError(small)
    frames = resize_crop(frames, h, w)
    alpha = frames[..., 3] if frames.shape[-1] == 4 else np.full(frames.shape[:3], 255, np.uint8)
    return Sample(composite(frames, background), alpha, (src_w, src_h), len(clip.frames))
