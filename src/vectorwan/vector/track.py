"""Matching boxes from one frame to the next: by overlap (IoU), then, for shapes that moved further
than their own size, by nearest centre among boxes of similar area. :mod:`.animate` tracks pieces with it.
"""

from __future__ import annotations

import numpy as np


def bbox_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between boxes a (N×4) and b (M×4), boxes as x0, y0, x1, y1."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _greedy(score: np.ndarray, thresh: float, higher_is_better: bool = True) -> list[tuple[int, int]]:
    """Greedy one-to-one assignment on a score matrix (rows: previous, cols: current)."""
    if score.size == 0:
        return []
    s = score if higher_is_better else -score
    t = thresh if higher_is_better else -thresh
    order = np.argsort(-s, axis=None, kind="stable")
    used_r, used_c, pairs = set(), set(), []
    for flat in order:
        r, c = divmod(int(flat), score.shape[1])
        if s[r, c] < t:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c))
    return pairs


def match_boxes(prev: np.ndarray, cur: np.ndarray, *, min_iou: float = 0.1,
                max_shift: float = 1.5, min_area_ratio: float = 0.5) -> dict[int, int]:
    """Match current boxes to previous ones; returns {current index: previous index}.

    First by IoU ≥ ``min_iou``; the rest by nearest centre within ``max_shift`` × the box
    size, for boxes whose areas are within ``min_area_ratio`` of each other.
    """
    prev = np.asarray(prev, np.float64).reshape(-1, 4)
    cur = np.asarray(cur, np.float64).reshape(-1, 4)
    out: dict[int, int] = {}
    if len(prev) == 0 or len(cur) == 0:
        return out
    for r, c in _greedy(bbox_iou(prev, cur), min_iou):
        out[c] = r
    free_p = np.array([r for r in range(len(prev)) if r not in out.values()], int)
    free_c = np.array([c for c in range(len(cur)) if c not in out], int)
    if len(free_p) and len(free_c):
        p, q = prev[free_p], cur[free_c]
        cp, cq = (p[:, :2] + p[:, 2:]) / 2, (q[:, :2] + q[:, 2:]) / 2
        ap = np.maximum((p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1]), 1e-6)
        aq = np.maximum((q[:, 2] - q[:, 0]) * (q[:, 3] - q[:, 1]), 1e-6)
        dist = np.linalg.norm(cp[:, None] - cq[None], axis=-1)
        size = np.maximum(np.sqrt(ap)[:, None], np.sqrt(aq)[None])
        ratio = np.minimum(ap[:, None], aq[None]) / np.maximum(ap[:, None], aq[None])
        cost = np.where((dist <= max_shift * size) & (ratio >= min_area_ratio), dist / size, np.inf)
        for r, c in _greedy(cost, max_shift, higher_is_better=False):
            if np.isfinite(cost[r, c]):
                out[int(free_c[c])] = int(free_p[r])
    return out
