"""Write an evaluation: ``report.json`` (every number), ``report.md`` (tables) and plots."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from vectorwan.atomic import atomic_path, check_output, is_temp_of, write_json, write_text
from vectorwan.evaluate.compare import METRICS, Metric, metric_value
from vectorwan.evaluate.plots import label_row, line_chart, scatter, stack
from vectorwan.frames import contact_sheet, evenly_spaced

REPORT_ENTRIES = ("report.json", "report.md", "plots")
SHEET_FRAMES = 8
THUMB_HEIGHT = 112

HEADLINE_WORDS = (
    "**Temporal-consistency improvement** = relative reduction of the warping error E_warp "
    "versus the baseline at matched motion: over the pairs (candidate i, baseline i) whose "
    "net motion (mean normal flow over ~0.5 s windows, px/frame, so jitter is not motion) "
    "differs by at most a factor τ, "
    "`improvement = 1 − Σᵢ E_warp(candidateᵢ) / Σᵢ E_warp(baselineᵢ)`. "
    "Positive means the candidate is more temporally consistent. 95 % CI: percentile bootstrap over pairs."
)


def thumbnails(frames_rgb: np.ndarray, n: int = SHEET_FRAMES, height: int = THUMB_HEIGHT) -> np.ndarray:
    """``n`` evenly sampled frames resized to ``height`` px (uint8 n×height×w×3) for contact sheets."""
    t, h, w = frames_rgb.shape[:3]
    idx = evenly_spaced(t, n)
    tw = max(1, round(w * height / h))
    return np.stack([cv2.resize(frames_rgb[i], (tw, height), interpolation=cv2.INTER_AREA) for i in idx])


def _clean(o):
    """JSON-safe copy: NaN/inf → None, numpy scalars → Python."""
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, np.ndarray):
        return _clean(o.tolist())
    if isinstance(o, (np.bool_, bool)):
        return bool(o)
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return float(o) if math.isfinite(o) else None
    return o


def _cell(v: float, m: Metric) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return m.fmt.format(v * m.scale)


def _pct(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:+.1f} %"


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _name(r: dict) -> str:
    return Path(r["source"]).name or r["source"]


def markdown(rep: dict) -> str:
    """The human-readable report."""
    cands, bases = rep["clips"], rep.get("baselines") or []
    s = rep["settings"]
    lines = ["# vectorwan eval report", ""]
    lines.append(f"{len(cands)} candidate clip(s)" + (f", {len(bases)} baseline clip(s)" if bases else "")
                 + f". Flow: OpenCV DIS ({s['preset']}) on luminance at ≤ {s['flow_side'] or 'native'} px; "
                 f"style on {s['style_frames']} sampled frames, vectorizability on {s['trace_frames']}. "
                 "Metric definitions: `docs/eval.md`.")
    lines.append("")
    cmp_ = rep.get("comparison")
    if cmp_:
        h = cmp_["headline"]
        lines += ["## Headline", "", HEADLINE_WORDS.replace("τ", f"τ = {h['tolerance']:g}"), ""]
        if h["value"] is None:
            lines.append(f"**Result: not defined** ({h['reason']}).")
        else:
            lo, hi = h["ci"]
            lines.append(f"**Result: {_pct(h['value'])}** (95 % CI {_pct(lo)} … {_pct(hi)}; "
                         f"{h['matched']} of {h['pairs']} pair(s) at matched motion"
                         + (f"; excluded: {', '.join(str(i) for i in h['excluded'])}" if h["excluded"] else "") + ").")
            if h["matched"] < 5:
                lines.append("")
                lines.append(f"_With {h['matched']} pair(s) the bootstrap CI is not informative; use ≥ 10 prompts/seeds._")
        lines.append("")

    lines += ["## Clips", ""]
    rows = []
    for group, rs in (("candidate", cands), ("baseline", bases)):
        for i, r in enumerate(rs):
            rows.append([f"{group[0]}{i}", _name(r), r.get("prompt") or "", str(r["frames"]),
                         f"{r['size'][0]}×{r['size'][1]}", f"{r['fps']:g}", r.get("skipped") or ""])
    lines += [_md_table(["id", "clip", "prompt", "frames", "size", "fps", "note"], rows), ""]

    titles = {"temporal": "Temporal consistency (with motion beside it)", "style": "Vector style",
              "identity": "Identity and shape", "reference": "Distance to reference images"}
    for sec, title in titles.items():
        ms = [m for m in METRICS if m.section == sec]
        if all(r.get(sec) is None for r in cands + bases):
            continue
        extra = ["dynamic (DIS)", "static"] if sec == "temporal" else []
        rows = []
        for group, rs in (("c", cands), ("b", bases)):
            for i, r in enumerate(rs):
                row = [f"{group}{i}"] + [_cell(metric_value(r, m), m) for m in ms]
                if extra:
                    t = r.get("temporal") or {}
                    row += [str(t.get("dynamic", "–")).lower() if t else "–", str(t.get("static", "–")).lower() if t else "–"]
                rows.append(row)
        arrows = {"lower": " ↓", "higher": " ↑", None: ""}
        lines += [f"## {title}", "", _md_table(["id"] + [m.label + arrows[m.better] for m in ms] + extra, rows), ""]
        if sec == "temporal":
            lines += ["↓ lower is better, ↑ higher is better. E_warp is only comparable between clips of similar "
                      "motion. VBench flicker is meaningful for static clips only.", ""]

    if cmp_:
        rows = []
        for m in METRICS:
            p = cmp_["metrics"].get(m.key)
            if not p:
                continue
            lo, hi = p["diff_ci"]
            rows.append([m.label, {"lower": "↓", "higher": "↑", None: "·"}[m.better], _cell(p["cand_mean"], m),
                         _cell(p["base_mean"], m), f"{_cell(p['diff'], m)} [{_cell(lo, m)}, {_cell(hi, m)}]",
                         _pct(p["rel"]), f"{p['wins']}/{p['losses']}/{p['ties']}" if m.better else ""])
        lines += ["## Candidate vs baseline (paired)", "",
                  _md_table(["metric", "better", "candidate mean", "baseline mean", "Δ mean [95 % CI]",
                             "relative (ratio of means − 1)", "wins/losses/ties"], rows), ""]

    agg = rep.get("aggregate", {})
    if agg.get("candidates"):
        rows = []
        for m in METRICS:
            a = agg["candidates"].get(m.key)
            if a:
                b = (agg.get("baselines") or {}).get(m.key)
                rows.append([m.label, _cell(a["mean"], m), _cell(a["median"], m), _cell(a["std"], m),
                             _cell(b["mean"], m) if b else "–"])
        lines += ["## Aggregate over clips", "", _md_table(["metric", "candidate mean", "median", "std", "baseline mean"], rows), ""]

    if rep.get("plots"):
        lines += ["## Plots", ""]
        for p in rep["plots"]:
            lines += [f"![{Path(p).stem}]({p})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _save_png(path: Path, img: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(img).save(tmp, format="PNG")


def write_plots(out: Path, cands: list[dict], bases: list[dict], thumbs_c: list, thumbs_b: list) -> list[str]:
    """Per-clip curves + contact sheets and one E_warp-vs-motion scatter; returns relative paths."""
    paths = []
    pdir = out / "plots"
    pts = []
    for i, r in enumerate(cands):
        b = bases[i] if i < len(bases) else None
        sheets = [label_row(_sheet(thumbs_c[i]), f"c{i} candidate: {_name(r)}")]
        if b is not None:
            sheets.append(label_row(_sheet(thumbs_b[i]), f"b{i} baseline: {_name(b)}"))
        panels = []
        if r.get("temporal"):
            def ser(key, sec="temporal", per="per_pair"):
                s = [("candidate", (r[sec] or {}).get(per, {}).get(key, []))]
                if b is not None and b.get(sec):
                    s.append(("baseline", b[sec].get(per, {}).get(key, [])))
                return s
            size = (min(max(640, sheets[0].shape[1]), 1000), 200)
            panels += [line_chart(ser("e_warp"), "E_warp per pair (t+1 warped onto t)", "pair t", size),
                       line_chart(ser("motion_px"), "motion: mean normal flow per pair (px)", "pair t", size),
                       line_chart(ser("palette_drift_first", "identity", "per_frame"),
                                  "palette drift vs first frame (dE)", "frame", size),
                       line_chart(ser("layer_iou_warp", "identity", "per_pair"),
                                  "colour-layer IoU, t+1 warped onto t", "pair t", size)]
        img = stack(sheets + panels, pad=8)
        p = pdir / f"clip{i:02d}.png"
        _save_png(p, img)
        paths.append(f"plots/{p.name}")
        for g, rr in ((0, r), (1, b)):
            if rr is not None and rr.get("temporal"):
                pts.append((f"{'cb'[g]}{i}", rr["temporal"]["motion_net_px"], rr["temporal"]["e_warp"] * 1e3, g))
    if pts:
        p = pdir / "ewarp_vs_motion.png"
        _save_png(p, scatter(pts, "E_warp x1000 vs motion (blue: candidate c, orange: baseline b)",
                             "net motion (px/frame)", "E_warp x1000"))
        paths.append(f"plots/{p.name}")
    return paths


def _sheet(thumbs: np.ndarray) -> np.ndarray:
    return contact_sheet(thumbs, n=len(thumbs), pad=2)


def own_report_entry(name: str) -> bool:
    """What an evaluation writes into its folder (and the temporary names of a killed one)."""
    return name in REPORT_ENTRIES or is_temp_of(name, "report")


def check_report_folder(out: str | Path) -> Path:
    """The output rule for a report folder: new, empty, or an earlier report (which is replaced)."""
    return check_output(out, own_report_entry, what="--out")


def write_report(out: str | Path, rep: dict, thumbs_c: list | None = None, thumbs_b: list | None = None,
                 plots: bool = True) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and (``plots``) PNGs into the folder ``out``, all or nothing:
    they are written into a temporary folder that then replaces ``out``. Returns their paths."""
    out = check_report_folder(out)
    rep = dict(rep)
    with atomic_path(out, suffix="") as tmp:
        tmp.mkdir()
        if plots and thumbs_c is not None:
            rep["plots"] = write_plots(tmp, rep["clips"], rep.get("baselines") or [], thumbs_c, thumbs_b or [])
        rep = _clean(rep)
        write_json(tmp / "report.json", rep)
        write_text(tmp / "report.md", markdown(rep))
    return {"json": out / "report.json", "md": out / "report.md"}
