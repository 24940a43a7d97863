"""The page: Gradio components wired to :mod:`vectorwan.ui.actions`, top to bottom as the workflow goes.

Every handler goes through :func:`shown`, so a user's mistake is the CLI's one line in a toast,
never a stack trace. Files the page shows are served from the root only (Gradio's
``allowed_paths``); the Lottie player (lottie-web, MIT) ships in ``ui/static`` and loads from
there, so nothing comes from a CDN. No model is loaded until Generate is pressed.
"""

from __future__ import annotations

import functools
import html
import sys
import time
from pathlib import Path

import gradio as gr

from vectorwan.errors import UserError, os_error_line
from vectorwan.ui import actions
from vectorwan.ui.jobs import TrainJobs
from vectorwan.ui.workspace import Workspace

STATIC = Path(__file__).with_name("static")

# lottie-web from the package; every `.vw-lottie[data-src]` that appears in the page starts playing
HEAD = """
<script src="/gradio_api/file={static}/lottie_light.min.js"></script>
<script>
(function () {{
  function start(root) {{
    root.querySelectorAll('.vw-lottie[data-src]').forEach(function (el) {{
      if (el.dataset.started === el.dataset.src || !window.lottie) return;
      el.dataset.started = el.dataset.src;
      el.innerHTML = '';
      window.vwPlayer = lottie.loadAnimation({{container: el, renderer: 'svg', loop: true, autoplay: true,
                                             path: el.dataset.src}});
    }});
  }}
  new MutationObserver(function () {{ start(document); }}).observe(document.documentElement,
                                                                  {{childList: true, subtree: true, attributes: true}});
}})();
</script>
"""

CSS = """
.vw-lottie { width: 100%; max-width: 420px; aspect-ratio: 1; background: #fff; border: 1px solid #ddd; }
.vw-svg { width: 100%; max-width: 420px; border: 1px solid #ddd; background: #fff; }
"""


def shown(fn):
    """A handler whose bad input shows as one line in the page (a toast), as the CLI prints it."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except OSError as e:
            line = os_error_line(e)
            if line is None:
                raise
            raise gr.Error(line, print_exception=False) from None
    return wrapper


def file_url(path: str | Path) -> str:
    return f"/gradio_api/file={Path(path).resolve()}"


def build(ws: Workspace, model: str = "toy") -> gr.Blocks:
    jobs, engines = TrainJobs(ws), actions.Engines()
    with gr.Blocks(title="vectorwan", analytics_enabled=False) as page:
        gr.Markdown(f"# vectorwan\nFrom a few drawings to an animated character, as video and as Lottie. "
                    f"Every path is inside **{ws.root}**; what the page makes goes to `outputs/` there.")
        with gr.Tab("1 · Data", id="data"):
            _data_tab(ws)
        with gr.Tab("2 · Train", id="train"):
            _train_tab(ws, jobs)
        with gr.Tab("3 · Generate", id="generate"):
            gen_out = _generate_tab(ws, engines, model)
        with gr.Tab("4 · Evaluate", id="evaluate"):
            eval_clips = _evaluate_tab(ws)
        with gr.Tab("5 · Vectorize", id="vectorize"):
            vec_clip = _vectorize_tab(ws)
        gen_out.change(lambda p: (p, p), gen_out, [eval_clips, vec_clip], api_visibility="private")  # the new clip is the next step's input
    return page


def _data_tab(ws: Workspace) -> None:
    with gr.Row():
        path = gr.Textbox(label="Dataset folder (inside the root)", placeholder="data/tiger16", elem_id="data-path",
                          scale=3)
        trigger = gr.Textbox(label="Trigger word", placeholder="tgrblob", elem_id="data-trigger", scale=2)
        load = gr.Button("Load", variant="primary", elem_id="data-load", scale=1)
    with gr.Accordion("…or upload drawings and clips as a new dataset", open=False, elem_id="acc-upload"):
        with gr.Row():
            upload = gr.File(label="Images, clips, metadata.csv or .txt captions", file_count="multiple",
                             elem_id="data-upload", scale=3)
            new_name = gr.Textbox(label="New dataset name (under datasets/)", elem_id="data-new-name", scale=1)
            add = gr.Button("Create dataset", elem_id="data-create", scale=1)
    grid = gr.Gallery(label="Items (click one to edit its caption)", columns=8, height="auto", allow_preview=False,
                      elem_id="data-grid")
    report = gr.Textbox(label="Dataset report", lines=8, interactive=False, elem_id="data-report")
    names = gr.State([])
    with gr.Row():
        item = gr.Textbox(label="Item", interactive=False, elem_id="caption-item", scale=1)
        caption = gr.Textbox(label="Caption", elem_id="caption-text", scale=4)
        save = gr.Button("Save caption", elem_id="caption-save", scale=1)
        add_tr = gr.Button("Add the trigger to every caption", elem_id="caption-trigger", scale=1)

    def show(d: dict):
        ordered = [i for i in d["items"] if i["kind"] == "image"] + [i for i in d["items"] if i["kind"] == "video"]
        cells = [(i["file"], ("⚠ " + "; ".join(i["problems"]) + " — " if i["problems"] else "") + i["caption"])
                 for i in ordered]
        return cells, "\n".join(d["report"]), [(i["name"], i["caption"]) for i in ordered]

    @shown
    def on_load(p, t):
        return show(actions.load_dataset(ws, p, t))

    def on_pick(ordered, evt: gr.SelectData):
        return ordered[evt.index]

    @shown
    def on_save(p, t, name, text):
        return show(actions.save_caption(ws, p, name, text, t))

    @shown
    def on_create(files, nm, t):
        rel = actions.import_dataset(ws, [f if isinstance(f, str) else f.name for f in files or []], nm)
        return (rel, *show(actions.load_dataset(ws, rel, t)))

    add.click(on_create, [upload, new_name, trigger], [path, grid, report, names], api_name="create_dataset")
    load.click(on_load, [path, trigger], [grid, report, names], api_name="load_dataset")
    path.submit(on_load, [path, trigger], [grid, report, names], api_visibility="private")
    grid.select(on_pick, [names], [item, caption], api_visibility="private")
    save.click(on_save, [path, trigger, item, caption], [grid, report, names], api_name="save_caption")
    add_tr.click(shown(lambda p, t: show(actions.add_trigger(ws, p, t))), [path, trigger], [grid, report, names],
                 api_name="add_trigger")


def _train_tab(ws: Workspace, jobs: TrainJobs) -> None:
    table = actions.presets(ws)
    first = "toy_character" if "toy_character" in table else (next(iter(table), None))
    preset = gr.Dropdown(choices=[("defaults", "")] + [(n, n) for n in table], value=first or "",
                         label="Preset", elem_id="train-preset")
    values = actions.preset_values(ws, first)
    fields = actions.form_fields()
    widgets = []
    sections: dict[str, list] = {}
    for f in fields:
        sections.setdefault(f.key.rpartition(".")[0] or "run", []).append(f)
    for section, fs in sections.items():
        with gr.Accordion(f"[{section}]", open=section in ("run", "data", "lora", "train"), elem_id=f"acc-{section}"):
            with gr.Row():
                for f in fs:
                    info = f"default {actions.form_text(f, f.default)!s}" + (f" — {f.help}" if f.help else "")
                    kind, v = actions.field_kind(f), actions.form_text(f, values[f.key])
                    eid = "cfg-" + f.key.replace(".", "-").replace("_", "-")
                    if kind == "choice":
                        w = gr.Dropdown(choices=list(f.choices), value=v, label=f.key, info=info, elem_id=eid)
                    elif kind == "checkbox":
                        w = gr.Checkbox(value=v, label=f.key, info=info, elem_id=eid)
                    elif kind in ("integer", "number"):
                        w = gr.Number(value=v, label=f.key, info=info, precision=0 if kind == "integer" else None,
                                      elem_id=eid)
                    else:
                        w = gr.Textbox(value=v, label=f.key, info=info, elem_id=eid)
                    widgets.append(w)
    with gr.Row():
        start = gr.Button("Start", variant="primary", elem_id="train-start")
        resume = gr.Button("Resume", elem_id="train-resume")
        stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
        download = gr.Button("Download TOML", elem_id="train-toml")
    toml_file = gr.File(label="config.toml", interactive=False, elem_id="train-toml-file")
    status = gr.Textbox(label="Run", interactive=False, elem_id="train-status")
    plot = gr.LinePlot(x="step", y="loss", color="series", title="loss (train_log.jsonl)", height=260,
                       elem_id="train-loss")
    samples = gr.Gallery(label="Validation samples (a contact sheet per validation step)", columns=4, height=280,
                         object_fit="contain", elem_id="train-samples")
    log = gr.Textbox(label="Log", lines=6, max_lines=12, interactive=False, autoscroll=True, elem_id="train-log")

    def form(vals) -> dict:
        return {f.key: v for f, v in zip(fields, vals)}

    @shown
    def on_preset(name):
        vals = actions.preset_values(ws, name or None)
        return [actions.form_text(f, vals[f.key]) for f in fields]

    @shown
    def on_toml(*vals):
        return str(actions.save_config(ws, form(vals)))

    def launcher(resume_run: bool):
        @shown
        def on_start(*vals):
            rec = actions.start_training(ws, jobs, form(vals), resume=resume_run)
            return f"started (pid {rec['pid']}) → {rec['output_dir']}"
        return on_start

    @shown
    def on_stop():
        return jobs.stop()

    def on_tick(seen):
        s = jobs.status()
        recs = s["records"]
        now = (s["state"], len(recs), len(s["samples"]), len(s["log"]))
        if now == seen:  # nothing new: leave the page alone (no redraw of the plot)
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), seen
        import pandas as pd

        head = {"none": "no run yet", "stopped": "stopped (resume continues it)"}.get(s["state"], s["state"])
        line = f"{head} — {actions.speed_line(recs)}" + (f" — {s['output_dir']}" if s["output_dir"] else "")
        plot_data = pd.DataFrame(actions.loss_rows(recs)) if recs else None  # (an empty frame breaks the chart)
        return line, plot_data, s["samples"], s["log"], now

    preset.change(on_preset, preset, widgets, api_visibility="private")
    download.click(on_toml, widgets, toml_file, api_name="train_config")
    start.click(launcher(False), widgets, status, api_name="train_start")
    resume.click(launcher(True), widgets, status, api_name="train_resume")
    stop.click(on_stop, None, status, api_name="train_stop")
    seen = gr.State(None)
    gr.Timer(2.0).tick(on_tick, seen, [status, plot, samples, log, seen], show_progress="hidden",
                       api_name="train_status")


def _generate_tab(ws: Workspace, engines: actions.Engines, model: str) -> gr.Textbox:
    with gr.Row():
        with gr.Column(scale=2):
            mdl = gr.Textbox(value=model, label="Model (tiny | toy | a folder in the root | hub id)", elem_id="gen-model")
            prompt = gr.Textbox(label="Prompt", lines=2, elem_id="gen-prompt")
            negative = gr.Textbox(label="Negative prompt (empty: the model's default)", elem_id="gen-negative")
            task = gr.Radio(["t2v", "t2i", "v2v"], value="t2v", label="Task", elem_id="gen-task")
            loras = gr.Textbox(label="LoRAs, one per line: FILE or FILE:SCALE", lines=2, elem_id="gen-loras")
            video = gr.Textbox(label="Input clip (v2v)", elem_id="gen-video-in")
            with gr.Row():
                strength = gr.Slider(0, 1, value=0.7, step=0.05, label="V2V strength")
                seed = gr.Number(value=0, precision=0, label="Seed", elem_id="gen-seed")
                steps = gr.Number(value=0, precision=0, label="Steps (0: model's)", elem_id="gen-steps")
            with gr.Row():
                frames = gr.Number(value=0, precision=0, label="Frames (0: model's)", elem_id="gen-frames")
                height = gr.Number(value=0, precision=0, label="Height (0: model's)")
                width = gr.Number(value=0, precision=0, label="Width (0: model's)")
                guidance = gr.Number(value=0, label="Guidance (0: model's)")
            run = gr.Button("Generate", variant="primary", elem_id="gen-run")
        with gr.Column(scale=2):
            clip = gr.Video(label="Clip", autoplay=True, loop=True, elem_id="gen-video", interactive=False)
            still = gr.Image(label="Contact sheet", elem_id="gen-sheet", interactive=False)
            out_path = gr.Textbox(label="Written to", interactive=False, elem_id="gen-out")
            sidecar = gr.JSON(label="Sidecar", elem_id="gen-sidecar")

    @shown
    def on_run(m, p, n, t, lo, v, st, sd, steps_, fr, h, w, g):
        r = actions.generate_clip(ws, engines, model=m, prompt=p, negative_prompt=n, task=t, loras=lo, video=v,
                                  strength=st, seed=sd, steps=steps_, frames=fr, height=h, width=w, guidance=g)
        is_video = Path(r["output"]).suffix == ".mp4"
        return (r["output"] if is_video else None, r["contact_sheet"], ws.relative(r["output"]), r["record"])

    run.click(on_run, [mdl, prompt, negative, task, loras, video, strength, seed, steps, frames, height, width,
                       guidance], [clip, still, out_path, sidecar], api_name="generate")
    return out_path


def _evaluate_tab(ws: Workspace) -> gr.Textbox:
    clips = gr.Textbox(label="Clips, one path per line", lines=3, elem_id="eval-clips")
    base = gr.Textbox(label="Baselines, one per clip (optional)", lines=3, elem_id="eval-baselines")
    run = gr.Button("Evaluate", variant="primary", elem_id="eval-run")
    md = gr.Markdown(elem_id="eval-report")
    plots = gr.Gallery(label="Plots", columns=1, height="auto", elem_id="eval-plots")

    @shown
    def on_run(c, b):
        r = actions.evaluate(ws, c, b)
        md = r["markdown"].replace("](plots/", f"]({file_url(r['folder'])}/plots/")  # the report's own pictures
        return md, r["plots"]

    run.click(on_run, [clips, base], [md, plots], api_name="evaluate")
    return clips


def _vectorize_tab(ws: Workspace) -> gr.Textbox:
    with gr.Row():
        clip = gr.Textbox(label="Clip or image (inside the root)", elem_id="vec-clip", scale=3)
        colors = gr.Number(value=0, precision=0, label="Colours (0: automatic)", elem_id="vec-colors", scale=1)
        mode = gr.Radio(["polygon", "spline"], value="polygon", label="Paths", scale=1)
        background = gr.Dropdown(["auto", "transparent", "layer", "none"], value="auto", label="Background", scale=1)
        tolerance = gr.Slider(0, 3, value=0.25, step=0.05, label="Closer fit ← → smaller file (tolerance, px)", scale=1,
                              info="a shape within this many pixels of an earlier one moved reuses its path")
    run = gr.Button("Vectorize", variant="primary", elem_id="vec-run")
    summary = gr.Markdown(elem_id="vec-summary")
    with gr.Row():
        player = gr.HTML(label="Lottie (lottie-web)", elem_id="vec-player")
        svg = gr.HTML(label="Animated SVG", elem_id="vec-svg")
    files = gr.File(label="Downloads: Lottie, dotLottie, SVG, palette-locked video", file_count="multiple",
                    interactive=False, elem_id="vec-files")

    @shown
    def on_run(c, k, m, bg, ru):
        t = time.perf_counter()
        r = actions.vectorize(ws, c, k, m, bg, ru)
        s = r["summary"]
        psnr = (s.get("psnr") or {}).get("mean")
        text = (f"{r['frames']} frame(s), {r['colors']} colours, {r['size'][0]}×{r['size'][1]}"
                + (f", {psnr:.1f} dB PSNR against the clip" if isinstance(psnr, (int, float)) else "")
                + f" — {time.perf_counter() - t:.1f} s → `{ws.relative(r['folder'])}`")
        play = f'<div class="vw-lottie" id="vw-lottie" data-src="{html.escape(file_url(r["lottie"]))}"></div>'
        pic = f'<img class="vw-svg" alt="animated SVG" src="{html.escape(file_url(r["svg"]))}">'
        return text, play, pic, [r["lottie"], r["dotlottie"], r["svg"], r["video"]]

    run.click(on_run, [clip, colors, mode, background, tolerance], [summary, player, svg, files], api_name="vectorize")
    return clip


def serve(root: str | Path, *, model: str = "toy", host: str = "127.0.0.1", port: int = 7860,
          auth: tuple[str, str] | None = None, block: bool = True):
    """Build the page for ``root`` and serve it; prints the address. ``block=False`` returns the app."""
    ws = Workspace.open(root)
    page = build(ws, model)
    page.queue(default_concurrency_limit=1)  # one model, one job at a time
    _, url, _ = page.launch(server_name=host, server_port=port, auth=auth, prevent_thread_lock=True, quiet=True,
                            allowed_paths=[str(ws.root), str(STATIC)], head=HEAD.format(static=STATIC.resolve()),
                            css=CSS, footer_links=["api"], show_error=False, ssr_mode=False,
                            max_file_size="500mb")
    print(f"vectorwan ui: {url} (root {ws.root}; Ctrl-C stops)", flush=True)
    if not block:
        return page
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        page.close()
        print("vectorwan ui: stopped", file=sys.stderr)
