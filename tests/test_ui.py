"""`vectorwan ui`: the page's actions, its rules (root, login), and the page itself, served by the real
command on the toy model and driven over its API (gradio_client) and in headless Chromium (puppeteer-core).
"""

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import make_image_dataset
from vectorwan.config import load_config
from vectorwan.data.captions import item_names, set_captions
from vectorwan.data.dataset import discover
from vectorwan.errors import UserError
from vectorwan.ui import actions
from vectorwan.ui.workspace import Workspace

PLAYERS = Path(__file__).resolve().parent / "players"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


# ----------------------------------------------------------------------------- the root
def test_paths_outside_the_root_are_refused(tmp_path):
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    (tmp_path / "secret.txt").write_text("x")
    (root / "link").symlink_to(tmp_path)
    ws = Workspace.open(root)
    assert ws.inside("data") == (root / "data").resolve()
    assert ws.inside(str(root / "data")) == (root / "data").resolve()  # absolute, but inside
    for bad in ("../secret.txt", str(tmp_path / "secret.txt"), "link/secret.txt", "/etc/passwd", "data/../../secret.txt"):
        with pytest.raises(UserError, match="outside the UI's root folder"):
            ws.inside(bad, "clip")
    with pytest.raises(UserError, match="no such file"):
        ws.inside("data/none.mp4")
    with pytest.raises(UserError, match="empty"):
        ws.inside("  ")
    a, b = ws.new_output("generate", "A red ball!", ".mp4"), None
    a.write_bytes(b"x")
    b = ws.new_output("generate", "A red ball!", ".mp4")
    assert a.parent == b.parent == root.resolve() / "outputs" / "generate" and a != b and a.name.endswith("-a-red-ball.mp4")


def test_a_page_reachable_from_the_network_needs_a_login():
    from vectorwan.commands.ui import check_access

    assert check_access("127.0.0.1", None) is None
    assert check_access("0.0.0.0", "ann:s3cret") == ("ann", "s3cret")
    with pytest.raises(UserError, match=r"--host 0.0.0.0: .*add --auth USER:PASS"):
        check_access("0.0.0.0", None)
    for bad in ("ann", "ann:", ":pw"):
        with pytest.raises(UserError, match="--auth: give USER:PASS"):
            check_access("127.0.0.1", bad)


# ----------------------------------------------------------------------------- captions
def test_captions_are_saved_in_the_datasets_own_format(tmp_path):
    ds_dir = make_image_dataset(tmp_path / "d", n=3)
    f = ds_dir / "metadata.csv"
    rows = list(csv.DictReader(f.open()))
    with f.open("w", newline="") as fh:  # an extra column the user keeps there
        w = csv.DictWriter(fh, fieldnames=["file_name", "text", "artist"])
        w.writeheader()
        w.writerows({**r, "artist": "ann, b."} for r in rows)
    names = item_names(discover(ds_dir))
    ds = set_captions(ds_dir, {names[1]: 'blobby_tok, "quoted", with, commas'})
    assert ds.items[1].caption == 'blobby_tok, "quoted", with, commas'
    back = list(csv.DictReader(f.open()))
    assert [r["artist"] for r in back] == ["ann, b."] * 3 and back[0]["text"] == rows[0]["text"]

    jl = tmp_path / "j"
    (jl / "img").mkdir(parents=True)
    for i, p in enumerate(sorted((ds_dir / "train").glob("*.png"))):
        (jl / "img" / p.name).write_bytes(p.read_bytes())
    (jl / "metadata.jsonl").write_text("".join(json.dumps({"file_name": f"img/{p.name}", "text": f"c{i}", "w": i}) + "\n"
                                               for i, p in enumerate(sorted((jl / "img").glob("*.png")))))
    assert item_names(discover(jl))[0] == "img/00.png"
    set_captions(jl, {"img/00.png": "new"})
    objs = [json.loads(line) for line in (jl / "metadata.jsonl").read_text().splitlines()]
    assert objs[0] == {"file_name": "img/00.png", "text": "new", "w": 0} and objs[1]["text"] == "c1"

    sc = tmp_path / "s"
    sc.mkdir()
    (sc / "a.png").write_bytes((ds_dir / "train" / "00.png").read_bytes())
    set_captions(sc, {"a.png": "sidecar caption"})
    assert (sc / "a.txt").read_text() == "sidecar caption\n" and discover(sc).items[0].caption == "sidecar caption"

    with pytest.raises(UserError, match="no item 'zz.png'"):
        set_captions(ds_dir, {"zz.png": "x"})
    with pytest.raises(UserError, match="one line"):
        set_captions(ds_dir, {names[0]: "two\nlines"})
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]


# ----------------------------------------------------------------------------- the config form
@pytest.mark.parametrize("preset", sorted(p.stem for p in (Path(__file__).parents[1] / "configs").glob("*.toml")))
def test_the_form_holds_every_key_of_a_preset_and_gives_the_same_config_back(tmp_path, preset):
    ws = Workspace.open(tmp_path)
    values = actions.preset_values(ws, preset)
    assert set(values) == {f.key for f in actions.form_fields()}
    shown = {f.key: actions.form_text(f, values[f.key]) for f in actions.form_fields()}
    shown["data.path"] = "data"  # a preset's dataset may lie outside this root (tiger16: ../shared/...)
    (tmp_path / "data").mkdir()
    cfg = actions.config_from_form(ws, shown)
    assert cfg.to_dict() == load_config(actions.presets(ws)[preset], ['data.path="data"']).to_dict()


def test_bad_form_values_are_one_line(tmp_path):
    ws = Workspace.open(tmp_path)
    (tmp_path / "data").mkdir()
    base = {f.key: actions.form_text(f, v) for f, v in zip(actions.form_fields(), actions.preset_values(ws, None).values())}
    base["data.path"] = "data"
    for key, value, needle in [("data.resolution", "[64, 64", "data.resolution: '[64, 64' is not a value"),
                               ("train.learning_rate", float("inf"), "train.learning_rate: expected a finite number"),
                               ("output_dir", "../elsewhere", "output_dir ../elsewhere: is outside"),
                               ("data.path", "/etc", "data.path /etc: is outside"),
                               ("lora.targets", '["q", "nonsense"]', "nonsense")]:
        with pytest.raises(UserError, match=re.escape(needle)):
            actions.config_from_form(ws, {**base, key: value})


def test_the_shipped_lottie_player_is_lottie_web_as_tested():
    shipped = Path(actions.__file__).with_name("static") / "lottie_light.min.js"
    npm = PLAYERS / "node_modules" / "lottie-web" / "build" / "player" / "lottie_light.min.js"
    if not npm.is_file():
        pytest.skip("tests/players/node_modules is not installed (`make test` installs it)")
    assert shipped.read_bytes() == npm.read_bytes()
    version = json.loads((npm.parents[2] / "package.json").read_text())["version"]
    assert version == json.loads((PLAYERS / "package.json").read_text())["dependencies"]["lottie-web"]


# ----------------------------------------------------------------------------- the page, served
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("uiroot")
    make_image_dataset(root / "data", n=4)
    port = _free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "vectorwan", "ui", "--root", str(root), "--port", str(port),
                             "--model", "toy"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    line = proc.stdout.readline()  # the address, printed once the page is served
    started = time.perf_counter() - t0
    try:
        assert line.startswith("vectorwan ui: http://127.0.0.1:"), line + (proc.stdout.read() if proc.poll() else "")
        yield {"root": root, "url": f"http://127.0.0.1:{port}/", "started_s": started, "pid": proc.pid}
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_the_page_starts_quickly_without_loading_a_model(served):
    assert served["started_s"] < 30  # the ≤ 10 s goal is measured by benchmarks/bench_ui.py, not timed here
    maps = _maps(served["pid"])
    assert "libtorch" not in maps and "libc10" not in maps  # torch is imported by the first Generate only


def test_the_api_runs_the_workflow_and_refuses_paths_outside_the_root(served):
    from gradio_client import Client

    root, c = served["root"], Client(served["url"], verbose=False)
    grid, report = c.predict("data", "blobby_tok", api_name="/load_dataset")
    assert len(grid) == 4 and "4 items" in report
    name = sorted(Path(g["image"]).name for g in grid)[2]
    grid, _ = c.predict("data", "blobby_tok", name, "blobby_tok, set over the API", api_name="/save_caption")
    rows = {r["file_name"]: r["text"] for r in csv.DictReader((root / "data" / "metadata.csv").open())}
    assert rows[name] == "blobby_tok, set over the API"
    with pytest.raises(Exception, match="is outside the UI's root folder"):
        c.predict("../", "", api_name="/load_dataset")
    with pytest.raises(Exception, match="is outside the UI's root folder"):
        c.predict("/etc/hostname", 0, "polygon", "auto", 0, api_name="/vectorize")
    with pytest.raises(Exception, match=r"--colors 1 is out of range"):  # the CLI's own line
        c.predict("data/train/00.png", 1, "polygon", "auto", 0, api_name="/vectorize")

    video, sheet, out, sidecar = c.predict("toy", "blobby_tok, moving left, white background", "", "t2v", "", "",
                                           0.7, 3, 2, 5, 0, 0, 0, api_name="/generate")
    assert out.startswith("outputs/generate/") and (root / out).is_file() and sidecar["settings"]["frames"] == 5
    summary, player, svg, files = c.predict(out, 6, "polygon", "auto", 0.05, api_name="/vectorize")
    assert "5 frame(s), 6 colours" in summary and 'class="vw-lottie"' in player
    assert sorted(Path(f).suffix for f in files) == [".json", ".lottie", ".mp4", ".svg"]
    doc = json.loads(Path(next(f for f in files if f.endswith(".json"))).read_text())
    assert doc["op"] == 5
    assert not list(root.glob("*.tmp*")) and sorted(p.name for p in root.iterdir()) == ["data", "outputs"]


def test_the_page_in_a_browser(served):
    """Every step of the workflow as a user clicks it; screenshots go to $VECTORWAN_UI_SHOTS (docs/ui)."""
    import shutil

    if not (shutil.which("node") and Path(CHROMIUM).is_file() and (PLAYERS / "node_modules" / "puppeteer-core").is_dir()):
        if os.environ.get("VECTORWAN_REQUIRE_PLAYERS") == "1":
            pytest.fail("node, chromium or tests/players/node_modules is missing; `make test` installs them")
        pytest.skip("node, chromium or tests/players/node_modules is missing (`make test` installs them)")
    root = served["root"]
    shots = Path(os.environ.get("VECTORWAN_UI_SHOTS") or root / "shots")
    steps = {"dataset": "data", "trigger": "blobby_tok", "caption": "blobby_tok, edited in the browser",
             "outside": "/etc", "prompt": "blobby_tok, moving left, white background", "open": ["validation"],
             "train": {"cfg-output-dir": "outputs/train-ui", "cfg-data-path": "data", "cfg-data-trigger": "blobby_tok",
                       "cfg-train-max-steps": 5, "cfg-train-batch-size": 1, "cfg-validation-every": 5,
                       "cfg-validation-num-frames": 1},
             "generate": {"gen-steps": 10, "gen-frames": 9}}
    r = subprocess.run(["node", str(PLAYERS / "ui_flow.mjs"), served["url"], str(shots), json.dumps(steps)],
                       capture_output=True, text=True, timeout=900, env={**os.environ, "CHROMIUM": CHROMIUM})
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    found, errors = out["found"], out["errors"]
    assert errors == [] and found["http_errors"] == [], (errors, found.get("http_errors"))
    assert found["grid_images"] == 4 and "4 items" in found["report"]
    assert found["caption_saved"]
    rows = {r["file_name"]: r["text"] for r in csv.DictReader((root / "data" / "metadata.csv").open())}
    assert rows[found["picked"]] == steps["caption"]  # read back from the file
    assert "is outside the UI's root folder" in found["outside_message"] and "Traceback" not in found["outside_message"]
    assert found["train_status"].startswith("finished — step 5:") and found["train_samples"] >= 1
    log = [json.loads(line) for line in (root / "outputs" / "train-ui" / "train_log.jsonl").read_text().splitlines()]
    assert [x["step"] for x in log] == [1, 2, 3, 4, 5] and (root / "outputs" / "train-ui" / "lora.safetensors").is_file()
    assert found["video_src"].endswith(".mp4")
    assert found["lottie_frames"] == 9 and len(found["frames_shown"]) >= 4  # playing: frame after frame
    assert found["distinct_screens"] >= 2, found  # and what it draws changes
    assert found["svg_img"] > 0 and found["eval_plots"] >= 1
    assert {p.name for p in shots.glob("*.png")} >= {"1-data.png", "2-train.png", "3-generate.png", "4-evaluate.png",
                                                     "5-vectorize.png", "1-data-outside-root.png"}


def test_a_run_started_from_the_page_stops_resumes_and_is_one_per_device(tmp_path):
    from helpers import tiny_overrides
    from vectorwan.config import dump_toml
    from vectorwan.ui.jobs import TrainJobs

    ws = Workspace.open(tmp_path)
    data = make_image_dataset(tmp_path / "data", n=2)
    cfg = load_config(None, tiny_overrides(tmp_path / "run", data, steps=400, **{"train.save_every": 3}))
    jobs = TrainJobs(ws)

    def wait(cond, timeout=240):
        end = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < end, jobs.status()["log"][-2000:]
            time.sleep(0.2)

    jobs.start(dump_toml(cfg), tmp_path / "run")
    with pytest.raises(UserError, match="already going .* one run per device"):
        jobs.start(dump_toml(cfg), tmp_path / "run")
    wait(lambda: list((tmp_path / "run" / "checkpoints").glob("step-*")) and len(jobs.status()["records"]) >= 4)
    assert "stopped the run" in jobs.stop()
    s = jobs.status()
    assert s["state"] == "stopped" and jobs.running() is None, s["log"][-2000:]
    stopped_at = len(s["records"])
    assert stopped_at < 400
    cfg.train.max_steps = stopped_at + 6  # resume and finish a few steps later
    jobs.start(dump_toml(cfg), tmp_path / "run", resume=True)
    wait(lambda: jobs.status()["state"] != "running")
    s = jobs.status()
    assert s["state"] == "finished", s["log"][-2000:]
    assert [r["step"] for r in s["records"]] == list(range(1, stopped_at + 7))  # from its checkpoint, no gap
    assert (tmp_path / "run" / "lora.safetensors").is_file()


def test_uploaded_files_become_a_new_dataset_and_never_overwrite_one(tmp_path):
    src = make_image_dataset(tmp_path / "src", n=2)
    (tmp_path / "root").mkdir()
    ws = Workspace.open(tmp_path / "root")
    files = [str(src / "metadata.csv"), *map(str, sorted((src / "train").glob("*.png")))]
    rel = actions.import_dataset(ws, files, "my-tiger")
    assert rel == "datasets/my-tiger" and len(actions.load_dataset(ws, rel)["items"]) == 2
    for bad_files, name, needle in [(files, "my-tiger", "already exists"), (files, "../up", "dataset name '../up'"),
                                    ([str(tmp_path / "src" / "character.json")], "x", "not an image, clip or caption"),
                                    ([], "x", "no files")]:
        with pytest.raises(UserError, match=re.escape(needle)):
            actions.import_dataset(ws, bad_files, name)
    assert sorted(p.name for p in (tmp_path / "root" / "datasets").iterdir()) == ["my-tiger"]


def test_the_trigger_is_added_where_the_report_says_it_is_missing(tmp_path):
    from vectorwan.data.report import build_report

    ws = Workspace.open(tmp_path)
    make_image_dataset(tmp_path / "d", n=3)
    set_captions(tmp_path / "d", {"00.png": "ears, stripes", "01.png": "blobby_tokens, round"})  # a longer word is not it
    before = actions.load_dataset(ws, "d", "blobby_tok")
    flagged = [i["name"] for i in before["items"] if any("lacks the trigger" in p for p in i["problems"])]
    assert flagged == ["00.png", "01.png"] and build_report(discover(tmp_path / "d"), "blobby_tok").trigger_missing == 2
    after = actions.add_trigger(ws, "d", "blobby_tok")
    assert [i["caption"] for i in after["items"]][:2] == ["blobby_tok, ears, stripes", "blobby_tok, blobby_tokens, round"]
    assert build_report(discover(tmp_path / "d"), "blobby_tok").trigger_missing == 0
    assert not any(i["problems"] for i in after["items"])
