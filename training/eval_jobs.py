"""Evaluations the app starts: ``python -m training.evaluate`` in a process of its own, one
folder each under ``<runs>/evals/``, watched through the files it writes.

    folder = start_evaluation(EvalRequest(data, "test.csv", adapter, "default / checkpoint-150",
                                          base_model=None, limit=50, total_rows=50), runs_dir)
    run = read_run(folder)            # state, done_rows of total_rows, why it failed
    stop_evaluation(run)

A process of its own, not a thread of the app: an evaluation takes minutes to half an
hour on a CPU, so it must outlive a page rerun or a closed tab, must not hold the inbox
model's lock, and can be stopped. The progress is the number of rows in predictions.csv,
which evaluate.py writes row by row.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from model.catalog import read_json_object

REPO_ROOT = Path(__file__).resolve().parent.parent
EVALS_FOLDER = "evals"
JOB_FILE = "job.json"
LOG_FILE = "eval.log"
STOPPED_FILE = "stopped"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"

RUNNING, FINISHED, FAILED, STOPPED = "running", "finished", "failed", "stopped"

# Processes this app started, so that poll() reaps them when they end (no zombies).
_children: dict[str, subprocess.Popen] = {}


@dataclass(frozen=True)
class EvalRequest:
    data: Path
    data_label: str
    """How people call the data: ``test split``, ``realworld_eval.csv``, an upload's name."""
    adapter: str | None
    """Adapter folder; None = the plain base model."""
    adapter_label: str
    base_model: str | None
    """None = the adapter's own base (or the default base without an adapter)."""
    limit: int | None
    total_rows: int
    """Rows it will triage (the page counted them while checking the CSV)."""


@dataclass(frozen=True)
class EvalRun:
    """One evaluation folder as it stands now."""

    folder: Path
    adapter_label: str
    data_label: str
    state: str
    """``running``, ``finished``, ``failed`` or ``stopped``."""
    done_rows: int
    total_rows: int
    started: float
    """Seconds since the epoch."""
    message: str = ""
    """Why it failed, in the evaluation's own words."""

    @property
    def title(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started))
        return f"{self.adapter_label} on {self.data_label} ({self.total_rows} rows, {when})"


def evals_root(runs_dir: Path) -> Path:
    return Path(runs_dir) / EVALS_FOLDER


def start_evaluation(request: EvalRequest, runs_dir: Path) -> Path:
    """Start the evaluation process; returns its folder. Only the model's own predictions are
    made (no base-model baseline: that model writes until cut off, slowly)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = evals_root(runs_dir) / f"{stamp}-{_slug(request.adapter_label)}-{_slug(request.data_label)}"
    folder.mkdir(parents=True, exist_ok=False)
    command = [sys.executable, "-m", "training.evaluate", "--data", str(Path(request.data).resolve()),
               "--out", str(folder.resolve()), "--adapter", request.adapter or "", "--skip-base-baseline"]
    if request.base_model:
        command += ["--base-model", request.base_model]
    if request.limit:
        command += ["--limit", str(request.limit)]
    with (folder / LOG_FILE).open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    _children[str(folder.resolve())] = process
    job = {**asdict(request), "data": str(request.data), "pid": process.pid, "started": time.time(),
           "command": command}
    _write_json_atomically(folder / JOB_FILE, job)
    return folder


def read_run(folder: Path) -> EvalRun | None:
    """The state of an app-started evaluation, or of a finished command-line one
    (a folder with metrics.json); None for any other folder."""
    folder = Path(folder)
    job = read_json_object(folder / JOB_FILE)
    metrics = read_json_object(folder / METRICS_FILE)
    if not job:
        return _command_line_run(folder, metrics) if metrics.get("config") else None
    total = int(job.get("total_rows") or 0)
    fields = {"folder": folder, "adapter_label": job.get("adapter_label", "?"),
              "data_label": job.get("data_label", "?"), "total_rows": total,
              "started": float(job.get("started") or 0)}
    if metrics:
        return EvalRun(state=FINISHED, done_rows=int(metrics.get("n", total)), **fields)
    done = min(count_predictions(folder), total) if total else count_predictions(folder)
    if (folder / STOPPED_FILE).exists():
        return EvalRun(state=STOPPED, done_rows=done, message="stopped by a person", **fields)
    if _is_alive(int(job.get("pid") or 0), folder):
        return EvalRun(state=RUNNING, done_rows=done, **fields)
    return EvalRun(state=FAILED, done_rows=done, message=failure_reason(_read_log(folder)), **fields)


def list_runs(runs_dir: Path) -> list[EvalRun]:
    """App-started evaluations and command-line ones (``runs/<name>/metrics.json``), newest first."""
    folders = [*_subfolders(evals_root(runs_dir)), *_subfolders(runs_dir)]
    runs = [run for folder in folders if (run := read_run(folder))]
    return sorted(runs, key=lambda run: run.started, reverse=True)


def stop_evaluation(run: EvalRun) -> None:
    """Stop a running evaluation; what it predicted so far stays on disk."""
    (run.folder / STOPPED_FILE).write_text(time.strftime("%Y-%m-%d %H:%M:%S\n"))
    pid = int(read_json_object(run.folder / JOB_FILE).get("pid") or 0)
    if _is_alive(pid, run.folder):
        os.kill(pid, signal.SIGTERM)


def count_predictions(folder: Path) -> int:
    """Rows written to predictions.csv so far (its header not counted)."""
    try:
        with (Path(folder) / PREDICTIONS_FILE).open(newline="", encoding="utf-8") as handle:
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    except (OSError, csv.Error, UnicodeDecodeError):  # not there yet, or caught mid-write
        return 0


def load_metrics(folder: Path) -> dict:
    return read_json_object(Path(folder) / METRICS_FILE)


def load_predictions(folder: Path) -> pd.DataFrame:
    """predictions.csv as text columns (empty cells stay empty strings)."""
    path = Path(folder) / PREDICTIONS_FILE
    if not path.exists():
        return pd.DataFrame()
    return pd.read_csv(path, keep_default_na=False, dtype=str)


_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Interrupt)\b.*")


def failure_reason(log: str) -> str:
    """The line of an evaluation's output that says why it ended: evaluate.py's own
    ``error: ...`` message, else the exception's last line; never the whole traceback."""
    lines = [line.strip() for line in log.replace("\r", "\n").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return line
    return lines[-1] if lines else "the evaluation process ended without writing metrics.json"


def _command_line_run(folder: Path, metrics: dict) -> EvalRun:
    config = metrics["config"]
    adapter = config.get("adapter")
    adapter_label = f"{Path(adapter).parent.name} / {Path(adapter).name}" if adapter else "base model"
    n = int(metrics.get("n") or 0)
    return EvalRun(folder, adapter_label, Path(str(config.get("data", "?"))).name, FINISHED, n, n,
                   (folder / METRICS_FILE).stat().st_mtime)


def _is_alive(pid: int, folder: Path) -> bool:
    """Whether the evaluation process for this folder still runs. The pid alone is not enough:
    after a restart of the app it may belong to another process by now."""
    child = _children.get(str(folder.resolve()))
    if child is not None:
        return child.poll() is None
    if pid <= 0:
        return False
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False  # no such process (or no /proc: then it is not one this app can watch)
    return str(folder.resolve()) in command_line


def _read_log(folder: Path) -> str:
    try:
        return (folder / LOG_FILE).read_text(errors="replace")[-20_000:]
    except OSError:
        return ""


def _write_json_atomically(path: Path, data: dict) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    temporary.replace(path)


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [path for path in Path(folder).iterdir() if path.is_dir()]
    except OSError:
        return []


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "x"
