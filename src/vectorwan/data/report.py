"""The dataset report printed before training: what is there and what is wrong with it.

:func:`dataset_report` is the entry (a dataset path → printable lines); :func:`build_report`
summarises an already discovered :class:`~vectorwan.data.dataset.Dataset`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vectorwan.data.dataset import Dataset, discover, lacks_trigger, split_tags
from vectorwan.errors import UserError
from vectorwan.frames import read_frames


@dataclass
class Report:
    items: int
    kinds: dict
    sizes: dict  # "WxH" -> count
    frames: dict  # frame count -> count
    alpha_items: int  # items with an alpha channel
    alpha_coverage: float  # mean share of opaque-or-partial pixels (alpha > 0) in items with alpha
    alpha_partial: float  # mean share of partially transparent pixels (0 < alpha < 255)
    caption_tags: tuple[int, float, int]  # min / mean / max tags per caption
    caption_chars: tuple[int, float, int]
    trigger_missing: int  # captions that do not contain the trigger
    problems: list[str] = field(default_factory=list)

    def lines(self, ds: Dataset) -> list[str]:
        out = [
            f"dataset {ds.root} ({ds.source}): {self.items} items "
            + ", ".join(f"{v} {k}s" for k, v in sorted(self.kinds.items())),
            "  sizes:    " + ", ".join(f"{k} ×{v}" for k, v in sorted(self.sizes.items())),
            "  frames:   " + ", ".join(f"{k} ×{v}" for k, v in sorted(self.frames.items())),
            f"  alpha:    {self.alpha_items} items with alpha; covered {self.alpha_coverage:.1%} of pixels, "
            f"partial {self.alpha_partial:.1%}",
            "  captions: tags min/mean/max {}/{:.1f}/{}, chars {}/{:.0f}/{}".format(*self.caption_tags, *self.caption_chars),
        ]
        if self.trigger_missing:
            out.append(f"  trigger:  missing from {self.trigger_missing} captions (it is prepended when training)")
        out += [f"  problem:  {p}" for p in self.problems] or ["  problems: none"]
        return out


def dataset_report(path: str | Path, trigger: str = "") -> list[str]:
    """Discover the dataset at ``path``, read every item and return the report's lines.

    An unreadable item or a bad metadata file raises :class:`~vectorwan.errors.UserError`.
    """
    ds = discover(path)
    return build_report(ds, trigger).lines(ds)


def build_report(ds: Dataset, trigger: str = "", strict: bool = True) -> Report:
    """Read every item once (cheaply) and summarise; unreadable files are problems.

    With ``strict``, an unreadable item is an error (one line naming the file).
    """
    sizes, frames, kinds = Counter(), Counter(), Counter()
    cov, partial, alpha_items = [], [], 0
    problems = list(ds.problems)
    for item in ds.items:
        try:
            clip = read_frames(item.path)
        except UserError as e:
            if strict:
                raise
            problems.append(str(e))
            continue
        f = clip.frames
        kinds[item.kind] += 1
        sizes[f"{f.shape[2]}x{f.shape[1]}"] += 1
        frames[len(f)] += 1
        if clip.has_alpha:
            alpha_items += 1
            a = f[..., 3]
            cov.append(float((a > 0).mean()))
            partial.append(float(((a > 0) & (a < 255)).mean()))
    tags = [len(split_tags(i.caption)) for i in ds.items]
    chars = [len(i.caption) for i in ds.items]
    return Report(
        items=len(ds.items), kinds=dict(kinds), sizes=dict(sizes), frames=dict(frames), alpha_items=alpha_items,
        alpha_coverage=float(np.mean(cov)) if cov else 1.0, alpha_partial=float(np.mean(partial)) if partial else 0.0,
        caption_tags=(min(tags), float(np.mean(tags)), max(tags)),
        caption_chars=(min(chars), float(np.mean(chars)), max(chars)),
        trigger_missing=sum(1 for i in ds.items if lacks_trigger(i.caption, trigger)),
        problems=problems,
    )
