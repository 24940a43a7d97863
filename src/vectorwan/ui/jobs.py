"""Training runs started from the page: ``vectorwan train`` as a subprocess, one at a time.

The run is the CLI itself (``python -m vectorwan train CONFIG``) in its own session, so it goes
on when the browser closes and is unaffected by the page; its output goes to a log file. The
job's record (``ROOT/outputs/jobs/current.json``) lets a restarted UI find a run still going.
Stopping sends SIGINT, as Ctrl-C does: the run stops at once and resumes exactly from its last
checkpoint (``--resume``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from vectorwan.atomic import write_json, write_text
from vectorwan.errors import UserError
from vectorwan.ui.workspace import OUTPUTS, Workspace


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a finished child of this process that nobody waited for yet
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class TrainJobs:
    def __init__(self, ws: Workspace):
        self.ws = ws
        self.dir = ws.root / OUTPUTS / "jobs"
        self._proc: subprocess.Popen | None = None

    @property
    def record_path(self) -> Path:
        return self.dir / "current.json"

    def record(self) -> dict | None:
        try:
            return json.loads(self.record_path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def running(self) -> dict | None:
        rec = self.record()
        if rec is None:
            return None
        if self._proc is not None and self._proc.pid == rec["pid"]:
            return rec if self._proc.poll() is None else None
        return rec if _alive(rec["pid"]) else None

    def start(self, config_toml: str, output_dir: str | Path, resume: bool = False) -> dict:
        """Start ``vectorwan train`` on ``config_toml`` (its text); refused while a run is going."""
        busy = self.running()
        if busy:
            raise UserError(f"a training run is already going (pid {busy['pid']}, {busy['output_dir']}); "
                            "stop it first: one run per device")
        folder = self.ws.new_output("jobs", "train")
        folder.mkdir()
        config = folder / "config.toml"
        write_text(config, config_toml)
        log = folder / "train.log"
        cmd = [sys.executable, "-m", "vectorwan", "train", str(config)] + (["--resume"] if resume else [])
        with log.open("wb") as fh:
            self._proc = subprocess.Popen(cmd, cwd=self.ws.root, stdout=fh, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True,
                                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
        rec = {"pid": self._proc.pid, "config": str(config), "log": str(log), "output_dir": str(output_dir),
               "resume": resume, "started": time.time()}
        write_json(self.record_path, rec)
        return rec

    def stop(self, timeout: float = 60.0) -> str:
        rec = self.running()
        if rec is None:
            return "no training run is going"
        try:
            os.killpg(rec["pid"], signal.SIGINT)  # the run's whole session, as Ctrl-C in its terminal
        except ProcessLookupError:
            return "the run had already ended"
        end = time.monotonic() + timeout
        while self.running() and time.monotonic() < end:
            time.sleep(0.2)
        if self.running():
            os.killpg(rec["pid"], signal.SIGKILL)
        return f"stopped the run in {rec['output_dir']}; start it again with 'resume' to continue"

    def status(self) -> dict:
        """What the page shows: state, the log's tail, the loss records and the sample sheets."""
        rec = self.record()
        if rec is None:
            return {"state": "none", "log": "", "records": [], "samples": [], "output_dir": None}
        going = self.running() is not None
        code = self._proc.poll() if (self._proc is not None and self._proc.pid == rec["pid"]) else None
        state = "running" if going else {None: "finished", 0: "finished", 130: "stopped"}.get(code, "failed")
        log = Path(rec["log"])
        tail = log.read_text(errors="replace")[-4000:] if log.is_file() else ""
        out = self.ws.inside(rec["output_dir"], "output_dir", must_exist=False)
        return {"state": state, "log": tail, "records": read_log(out / "train_log.jsonl"),
                "samples": sorted(str(p) for p in (out / "samples").glob("step-*/sheet.png")),
                "output_dir": str(out), "returncode": code}


def read_log(path: Path) -> list[dict]:
    """``train_log.jsonl``'s complete lines (the last may be in the middle of being written)."""
    if not path.is_file():
        return []
    recs = []
    for line in path.read_text().splitlines():
        try:
            recs.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return recs
