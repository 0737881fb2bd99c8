"""Evaluations the app starts: ``python -m training.evaluate`` as a background job
(training/jobs.py), one folder each under ``<runs>/evals/`` (training/layout.py).

    folder = start_evaluation(EvalRequest(data, "test.csv", adapter, "default / checkpoint-150",
                                          base_model=None, limit=50, total_rows=50), runs_dir)
    run = read_run(folder)            # state, done_rows of total_rows, why it failed
    stop_evaluation(run)

An adapter's review rule is chosen the same way (``start_rule_choice``: ``python -m
training.choose_review_rule``, one folder each under ``<runs>/review-rules/``), since it triages the
dev set too.

A process of its own, not a thread of the app: an evaluation takes minutes to half an hour on
a CPU, so it must outlive a page rerun or a closed tab, must not hold the inbox model's lock,
and can be stopped. The progress is the number of rows in predictions.csv, which evaluate.py
writes row by row.

One such job at a time (``JobAlreadyRunning``): each loads a model (a GB or more) and triages on
the CPU the inbox triages on, so a second one finishes no sooner and a tab's worth of them
would take the machine's memory. A job whose process is gone (stopped, killed) blocks nothing.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from core.settings import PROJECT_ROOT, public_url
from training import layout
from training.choose_review_rule import CHOICE_FILE, RULE_DATA
from training.jobs import (
    JobState,
    UnreadableJob,
    held_lock,
    is_alive,
    job_state,
    read_each,
    read_job,
    start_job,
    stop_job,
)

log = logging.getLogger(__name__)

START_LOCK_FILE = ".eval-start.lock"


class JobAlreadyRunning(RuntimeError):
    """An evaluation or review-rule choice the app started still runs; the message names it."""


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
    model_url: str | None = None
    """The model server to evaluate (``--model-url``); None = the model loaded in the job."""
    trained_rows: int = 0
    """Rows that are mails the adapter was trained on: its figures on them measure no model."""
    trained_on: tuple[str, ...] = ()
    """The training files those rows come from, by name."""
    distinct_rows: int | None = None
    """How many different mails the rows are (training/data_checks.text_keys); None = not counted."""


@dataclass(frozen=True)
class EvalRun:
    """One evaluation folder as it stands now."""

    folder: Path
    adapter_label: str
    data_label: str
    state: JobState
    done_rows: int
    total_rows: int
    started: float
    """Seconds since the epoch."""
    message: str = ""
    """Why it failed, in the evaluation's own words."""
    trained_rows: int = 0
    """As in EvalRequest: rows the evaluated adapter was trained on."""
    trained_on: tuple[str, ...] = ()
    distinct_rows: int | None = None
    """As in EvalRequest; None for runs that did not count them."""
    adapter: str | None = None
    """The evaluated adapter folder as recorded; None = the plain base model (or not recorded)."""
    base_model: str | None = None
    served: bool = False
    """Evaluated through the model server rather than a model loaded by the job."""

    @property
    def title(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.started))
        return f"{self.adapter_label} on {self.data_label} ({self.total_rows} rows, {when})"


def start_evaluation(request: EvalRequest, runs_dir: Path) -> Path:
    """Start the evaluation job; returns its folder. Only the model's own predictions are made (no
    base-model baseline: that model writes until cut off, slowly)."""
    with _start_guard(runs_dir):
        folder = _new_job_folder(layout.evals_root(runs_dir),
                                 f"{_slug(request.adapter_label)}-{_slug(request.data_label)}")
        command = [sys.executable, "-m", "training.evaluate", "--data", str(Path(request.data).resolve()),
                   "--out", str(folder.resolve()), "--adapter", request.adapter or "", "--skip-base-baseline"]
        if request.base_model:
            command += ["--base-model", request.base_model]
        if request.limit:
            command += ["--limit", str(request.limit)]
        env = None
        if request.model_url:  # through the environment: its credentials never on a command line (ps, job.json)
            command.append("--model-url-from-env")
            env = {**os.environ, "ACEDESK_MODEL_URL": request.model_url}
        start_job(command, folder, layout.EVAL_LOG, cwd=PROJECT_ROOT, env=env,
                  extra={**asdict(request), "data": str(request.data),
                         "model_url": public_url(request.model_url) if request.model_url else None})
    return folder


def read_run(folder: Path) -> EvalRun | None:
    """The state of an app-started evaluation, or of a finished command-line one (a folder with
    metrics.json); None for any other folder. Raises UnreadableJob for a job.json that cannot be
    read (training/jobs.py ``read_job``); a metrics.json that does not hold what evaluate.py writes
    (a count that is no whole number, a config that is no object) counts as none."""
    folder = Path(folder)
    job = read_job(folder)
    metrics = layout.read_json_object(folder / layout.METRICS_FILE)
    if job is None:
        return _command_line_run(folder, metrics) if isinstance(metrics.get("config"), dict) else None
    request = job.extra
    total = request.get("total_rows") or 0
    if isinstance(total, bool) or not isinstance(total, int):
        raise UnreadableJob(f"{folder / layout.JOB_FILE}: total_rows is {total!r}, not a whole number")
    state, message = job_state(job, succeeded=bool(metrics), log=folder / layout.EVAL_LOG)
    done = _whole(metrics.get("n"), total) if metrics else count_predictions(folder)
    trained_on = request.get("trained_on")
    return EvalRun(folder, request.get("adapter_label", "?"), request.get("data_label", "?"), state,
                   min(done, total) if total else done, total, job.started_at, message or "",
                   _whole(request.get("trained_rows"), 0),
                   tuple(map(str, trained_on)) if isinstance(trained_on, list) else (),
                   _whole(request.get("distinct_rows"), None),  # None: started before mails were counted
                   *_evaluated_model(request))


def list_runs(runs_dir: Path) -> list[EvalRun]:
    """App-started evaluations and command-line ones (``runs/<name>/metrics.json``), newest first."""
    folders = [*layout.subfolders(layout.evals_root(runs_dir)), *layout.subfolders(runs_dir)]
    return sorted(read_each(folders, read_run), key=lambda run: run.started, reverse=True)


def stop_evaluation(run: EvalRun) -> None:
    """Stop a running evaluation; what it predicted so far stays on disk."""
    stop_job(run.folder, grace_s=5.0)


def count_predictions(folder: Path) -> int:
    """Rows written to predictions.csv so far (its header not counted)."""
    try:
        with (Path(folder) / layout.PREDICTIONS_FILE).open(newline="", encoding="utf-8") as handle:
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    except (OSError, csv.Error, UnicodeDecodeError):  # not there yet, or caught mid-write
        return 0


def load_metrics(folder: Path) -> dict:
    return layout.read_json_object(Path(folder) / layout.METRICS_FILE)


def load_predictions(folder: Path) -> pd.DataFrame:
    """predictions.csv as text columns (empty cells stay empty strings)."""
    path = Path(folder) / layout.PREDICTIONS_FILE
    if not path.exists():
        return pd.DataFrame()
    return pd.read_csv(path, keep_default_na=False, dtype=str)


RULE_LOG = "choose.log"
RULE_TIME_BUDGET_S = 120.0
"""Seconds per triage for a rule chosen from the app: the inbox may triage on the same CPU meanwhile,
and a mail abandoned at the worker's budget would go to review and skew the thresholds."""


@dataclass(frozen=True)
class RuleChoice:
    """One review-rule choice the app started, as it stands now."""

    folder: Path
    adapter: str
    state: JobState
    done_rows: int
    """Rows of the dev set triaged so far (after the check's weight is chosen on its even rows)."""
    total_rows: int
    message: str = ""


def start_rule_choice(adapter: str | Path, runs_dir: Path) -> Path:
    """Choose ``adapter``'s review rule in a job of its own (it writes review_rule.json beside the
    adapter when it is done); returns the job's folder."""
    from training.evaluate import load_rows  # pandas reads the rows: only when a choice starts

    adapter = Path(adapter).resolve()
    total_rows = len(load_rows(RULE_DATA))
    with _start_guard(runs_dir):
        folder = _new_job_folder(layout.review_rules_root(runs_dir), _slug(f"{adapter.parent.name}-{adapter.name}"))
        command = [sys.executable, "-m", "training.choose_review_rule", "--adapter", str(adapter),
                   "--out", str(folder.resolve()), "--time-budget", str(RULE_TIME_BUDGET_S)]
        start_job(command, folder, RULE_LOG, cwd=PROJECT_ROOT, extra={"adapter": str(adapter), "total_rows": total_rows})
    return folder


def running_job(runs_dir: Path) -> str | None:
    """What the app's running evaluation or review-rule choice is, in words; None when none runs."""
    for run in list_runs(runs_dir):
        if run.state == JobState.RUNNING:
            return f"the evaluation of {run.title}"
    for folder in layout.subfolders(layout.review_rules_root(runs_dir)):
        try:
            job = read_job(folder)
        except UnreadableJob:
            continue  # latest_rule_choice names it; a job.json nobody can read starts no process
        if is_alive(job):
            return f"the choice of {job.extra.get('adapter', '?')}'s review rule"
    return None


@contextlib.contextmanager
def _start_guard(runs_dir: Path):
    """Serialises the check for a running job and the start of the next (two tabs at once), then
    raises JobAlreadyRunning while one runs."""
    root = layout.evals_root(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    with held_lock(root / START_LOCK_FILE):
        if (running := running_job(runs_dir)) is not None:
            raise JobAlreadyRunning(f"{running} is still running")
        yield


def _new_job_folder(root: Path, name: str) -> Path:
    """A new folder ``<stamp>-<name>``; a job that began and ended within the same second keeps its own."""
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{name}"
    for attempt in range(1, 100):
        folder = Path(root) / (stem if attempt == 1 else f"{stem}-{attempt}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"{root} already holds 99 folders named {stem}")


def latest_rule_choice(adapter: str | Path, runs_dir: Path) -> RuleChoice | None:
    """The newest review-rule choice the app started for ``adapter``, or None."""
    adapter = str(Path(adapter).resolve())
    for folder in sorted(layout.subfolders(layout.review_rules_root(runs_dir)), reverse=True):
        try:
            job = read_job(folder)
        except UnreadableJob as error:
            log.warning("left out %s: %s", folder, error)
            continue
        if job is None or job.extra.get("adapter") != adapter:
            continue
        state, message = job_state(job, succeeded=(folder / CHOICE_FILE).exists(), log=folder / RULE_LOG)
        return RuleChoice(folder, adapter, state, count_predictions(folder), int(job.extra.get("total_rows") or 0),
                          message or "")
    return None


def _command_line_run(folder: Path, metrics: dict) -> EvalRun:
    config = metrics["config"]
    adapter = str(config.get("adapter") or "")
    adapter_label = f"{Path(adapter).parent.name} / {Path(adapter).name}" if adapter else "base model"
    n = _whole(metrics.get("n"), 0)
    return EvalRun(folder, adapter_label, Path(str(config.get("data", "?"))).name, JobState.FINISHED, n, n,
                   layout.modified(folder / layout.METRICS_FILE), adapter=adapter or None,
                   base_model=_text(config.get("base_model")), served=bool(config.get("model_url")),
                   distinct_rows=_whole(metrics.get("distinct_rows"), None))


def _evaluated_model(recorded: dict) -> tuple[str | None, str | None, bool]:
    """The adapter, base model and served-ness a job.json records (hand-edited values read as none)."""
    return _text(recorded.get("adapter")), _text(recorded.get("base_model")), bool(recorded.get("model_url"))


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _whole(value, default: int | None) -> int | None:
    """``value`` when it is a whole number, else ``default``."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:60] or "x"
