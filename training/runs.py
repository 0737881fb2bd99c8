"""Training runs started from the app: each a background job (training/jobs.py) running
``training/finetune_lora.py`` in a run folder of its own (layout: training/layout.py).

One run at a time: a second launch is refused while the locked run's process lives; a lock
left by a dead process (crash, reboot) does not block. The lock records the process itself, so
it holds (and Stop reaches the process) even when the run's folder is deleted while it trains.
Folders written by the command line (runs/default) are listed too; they have no job.json.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import inspect
import itertools
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from core.files import write_json_atomically
from core.settings import PROJECT_ROOT, load_settings
from model.metadata import DEFAULT_BASE_MODEL, METADATA_FILE, outside_homes_problem
from training import catalog, corrections, data_checks, layout, uploads
from training.config import TrainConfig, path_list, setting_value
from training.generate_data import HANDWRITTEN
from training.jobs import (
    Job,
    JobState,
    UnreadableJob,
    held_lock,
    is_alive,
    job_from_record,
    job_state,
    read_each,
    read_job,
    start_job,
    stop_job,
)
from training.progress import append_event, read_events

log = logging.getLogger(__name__)

DATA_DIR = PROJECT_ROOT / "training" / "data"
CONFIG_DIR = PROJECT_ROOT / "training" / "configs"
TRAIN_SCRIPT = PROJECT_ROOT / "training" / "finetune_lora.py"

_PATH_FIELDS = ("train_file", "extra_train_file", "val_file", "init_adapter")
_RUN_MARKERS = (layout.RUN_CONFIG, layout.JOB_FILE, layout.PROGRESS_FILE)

ADAPTER_FILE_LIMIT = 1_000_000
"""Bytes: an adapter's adapter_config.json and acedesk.json are a few KB (the shipped adapter's 4 KB
and 1 KB); a far larger one is no adapter's, and is not read."""

QUIET_AFTER_S = 600
"""A command-line run (no job.json) whose progress file is older than this is not running."""

NUMERIC_METRICS = ("train_loss", "eval_loss", "wall_seconds", "train_examples")
"""The final metrics the list of runs shows as numbers: one its file does not hold as a number is
left out (training/catalog.py ``LOSS_KEYS`` does the same for the adapters' labels)."""


class RunAlreadyActive(RuntimeError):
    def __init__(self, run: Run):
        super().__init__(f"run {run.name} is still running: wait for it or stop it first")
        self.run = run


@dataclass
class Run:
    """A run folder as it is now."""

    name: str
    folder: Path
    state: JobState
    """running, finished (adapter saved), failed, stopped, or incomplete (a command-line run that
    ended without saving)."""
    config: dict = field(default_factory=dict)
    started_at: float | None = None
    metrics: dict = field(default_factory=dict)
    """``adapter/train_metrics.json``: train_loss, eval_loss, wall_seconds, ...; empty until saved."""
    checkpoints: list[Path] = field(default_factory=list)
    error: str | None = None
    """Why a failed run failed, in one line."""
    launched_here: bool = False
    """Started by launch_run (it has a job.json), not from the command line."""

    @property
    def folder_deleted(self) -> bool:
        """Its folder is gone (deleted by hand) while the run was read as launched here."""
        return self.launched_here and not (self.folder / layout.JOB_FILE).exists()

    @property
    def adapter(self) -> Path | None:
        folder = self.folder / layout.FINAL_ADAPTER
        return folder if (folder / "adapter_config.json").exists() else None


@dataclass
class RunStatus:
    """A run's progress, from its progress.jsonl."""

    state: JobState
    step: int = 0
    max_steps: int | None = None
    """None until the training has started (the base model loads and the data tokenizes first)."""
    eta_s: float | None = None
    tokens_per_s: float | None = None
    epoch: float | None = None
    learning_rate: float | None = None
    losses: list[tuple[int, float]] = field(default_factory=list)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)
    elapsed_s: float | None = None
    dropped: dict[str, str] = field(default_factory=dict)
    """Split -> the run's own sentence on how many of its rows were left out for not fitting
    max_length (training/finetune_lora.py ``say_dropped``); the latest per split."""

    @property
    def fraction(self) -> float:
        """Share of the steps done, 0..1 (1 for a finished run)."""
        if self.state == JobState.FINISHED:
            return 1.0
        if not self.max_steps:
            return 0.0
        return min(self.step / self.max_steps, 1.0)

    @property
    def training_started(self) -> bool:
        return self.max_steps is not None


# ---------------------------------------------------------------- where things are


def presets() -> list[Path]:
    """The YAML configs a new run can start from, default.yaml first."""
    return sorted(CONFIG_DIR.glob("*.yaml"), key=lambda path: (path.stem != "default", path.stem))


def preset_values(path: str | Path) -> dict:
    """TrainConfig's defaults overlaid with a YAML's settings, each as its field's type
    (training/config.py ``setting_value``); ValueError for a setting TrainConfig does not have
    (a typo would silently train with the default) or a value of another kind. Its files are not
    checked: they may not exist here."""
    values = {spec.name: spec.default for spec in dataclasses.fields(TrainConfig)}
    try:
        settings = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        if not isinstance(settings, dict):
            raise TypeError(f"a {type(settings).__name__}, not settings by name")
        values.update({str(name): typed for name, value in settings.items()
                       if (typed := setting_value(str(name), value)) is not None})
    except (OSError, yaml.YAMLError, TypeError, ValueError) as error:  # ValueError: also a file that is not UTF-8
        raise ValueError(f"{Path(path).name} is not a valid training config ({error})") from error
    return values


def field_help() -> dict[str, str]:
    """Each TrainConfig field's docstring (the string under it in training/config.py)."""
    body = ast.parse(inspect.getsource(TrainConfig)).body[0].body
    docs = {}
    for statement, following in itertools.pairwise(body):
        if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)):
            docs[statement.target.id] = " ".join(str(following.value.value).split())
    return docs


EVALUATION_ONLY = ("test.csv", "dev.csv", "second_requests.csv", "second_requests_one_sentence.csv",
                   "second_requests_subject.csv", "injection_eval.csv")
"""Files in training/data that measure models: never offered as training data."""
REALWORLD_CSV = PROJECT_ROOT.parent / "shared" / "benchmarks" / "realworld" / "realworld_eval.csv"
"""The real-world benchmark, where a workplace has it beside the project: evaluation only."""


SOURCE_ONLY = (HANDWRITTEN.name,)
"""Files in training/data that the splits are built from (training/generate_data.py): each of their
mails is in one split, some in the test split, so training on one whole would train on test mails."""


def measuring_files() -> list[Path]:
    """The files models are measured on whose mails a training file may not hold, however named."""
    return [*(DATA_DIR / name for name in EVALUATION_ONLY), REALWORLD_CSV]


def measures_models(path: str | Path) -> bool:
    """A file models are measured on (the evaluation-only files, the real-world benchmark, held-out
    corrections), however its path is written: a model trained on it would be measured on what it
    learnt."""
    resolved = Path(path).resolve()
    return corrections.is_held_out(resolved) or resolved in {path.resolve() for path in measuring_files()}


def csv_choices(runs_root: Path) -> list[Path]:
    """CSVs a run can train on: training/data/ (not the evaluation-only files, nor the splits'
    sources) and earlier uploads (not held-out corrections)."""
    own = [path for path in sorted(DATA_DIR.glob("*.csv")) if path.name not in (*EVALUATION_ONLY, *SOURCE_ONLY)]
    return own + [path for path in uploads.uploaded_csvs(runs_root) if not corrections.is_held_out(path)]


def with_corrections(values: dict, split: corrections.CorrectionsSplit) -> dict:
    """The form's values with the operator corrections' training part appended to the extra
    training files (after those the form names, if any): "base data + operator corrections"."""
    if split.train is None:
        return values
    extra = path_list(values.get("extra_train_file", ""))
    return {**values, "extra_train_file": ",".join([*map(_project_path, extra), str(split.train)])}


def display_path(path: str | Path) -> str:
    """A path as short as it can be said: relative to the project when inside it."""
    path = Path(path)
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(PROJECT_ROOT))
    return str(path)


def base_model_problem(base_model: str) -> str | None:
    """Why ``base_model`` cannot work, caught before a run starts; None when it may.

    A hub id passes: it is downloaded at the start of the run (network, and a login for gated
    models), and a failure then shows in the run's error."""
    name = base_model.strip()
    if not name:
        return f"Name a base model: {DEFAULT_BASE_MODEL} (packaged), a Hugging Face id or a local folder."
    if name == DEFAULT_BASE_MODEL:
        return None
    path = _typed_path(name)
    if path.is_dir():
        if not (path / "config.json").exists():
            return f"{name} has no config.json: pick the folder a Hugging Face model was saved to."
        return None
    if re.fullmatch(r"[\w.-]+/[\w.-]+", name) and not path.exists():
        return None  # a hub id
    return (f"{name} is neither {DEFAULT_BASE_MODEL}, a local model folder nor a Hugging Face id "
            "(owner/name). Check the spelling.")


def adapter_problem(path: str, runs_root: Path, base_model: str) -> str | None:
    """Why the Training page cannot continue from the adapter folder ``path`` (relative: to the
    project root); None when it can.

    Only the project's adapters: under the runs folder (a run's ``adapter/`` or ``checkpoint-N``)
    or a shipped one, wherever the path, or a link on it, leads; complete, with a LoRA config of
    an adapter's size, trained on ``base_model``. What else could break the run's start is
    named by the run's error."""
    if outside := outside_homes_problem(_project_path(path), runs_root):
        return (f"init_adapter {path} is not one of the project's adapters: it {outside}. Continue from a "
                "run's adapter or checkpoint, or a shipped one.")
    folder = Path(_project_path(path)).resolve()
    missing = [name for name in catalog.ADAPTER_FILES if not (folder / name).is_file()]
    if missing:
        return (f"init_adapter {path} is not a complete adapter (no {', '.join(missing)}): pick a run's "
                "adapter or checkpoint-N folder.")
    try:
        config = _small_json_object(folder / "adapter_config.json")
        trained_on = _small_json_object(folder / METADATA_FILE).get("base_model")
    except (TypeError, ValueError) as error:
        return f"init_adapter {path} cannot be read: {error}. Pick another adapter."
    if config.get("peft_type") != "LORA" or not layout.whole_count(config.get("r")):
        return f"init_adapter {path}: its adapter_config.json describes no LoRA adapter. Pick another adapter."
    if not isinstance(trained_on, str) or _model_identity(trained_on) != _model_identity(base_model):
        return (f"init_adapter {path} was trained on the base model {trained_on!r}, not {base_model!r}: "
                "set the base model to its own or pick an adapter trained on this one.")
    return None


def build_config(values: dict, runs_root: Path | None = None) -> tuple[TrainConfig | None, list[str]]:
    """A TrainConfig from the form's values, or the reasons there is none, each saying what to change.
    Relative paths are the configs' convention: relative to the project root. ``runs_root`` (the
    settings' runs folder unless given) holds the adapters a run may continue."""
    unnameable = [name for name in _PATH_FIELDS if "\x00" in str(values.get(name, ""))]
    if unnameable:  # the OS refuses such a path outright (ValueError from every file call)
        return None, [f"{name} holds a NUL character, which no file name can: type it again." for name in unnameable]
    problems = []
    base_problem = base_model_problem(str(values.get("base_model", "")))
    if base_problem:
        problems.append(base_problem)
    as_typed = values
    values = {**values, **{name: _each_path(_project_path, values.get(name, "")) for name in _PATH_FIELDS}}
    problems += [f"{Path(path).name} is for measuring models, never for training them. Pick another file."
                 for name in ("train_file", "extra_train_file") for path in path_list(values[name])
                 if measures_models(path)]
    # The training file's checks are shown under Data; a typed extra file gets the same ones here
    # (the corrections' own split is checked as they are, its overlap with the test split a warning).
    problems += [error for path in path_list(values["extra_train_file"])
                 if Path(path).is_file() and not measures_models(path) and not corrections.is_corrections_train(path)
                 for error in data_checks.check_csv(path, "training", measuring_files()).errors]
    if values["init_adapter"]:
        init_problem = adapter_problem(str(as_typed["init_adapter"]).strip(), runs_root or load_settings().runs_dir,
                                       str(values.get("base_model", "")))
        if init_problem:
            problems.append(init_problem)
            values["init_adapter"] = ""  # said once, here: TrainConfig would repeat a missing config
    try:
        config = TrainConfig(**values)
    except (ValueError, FileNotFoundError, TypeError) as error:
        return None, [*problems, f"Settings: {error}. Change it in the form and start again."]
    return (None if problems else config), problems


# ---------------------------------------------------------------- launching and stopping


def launch_run(config: TrainConfig, runs_root: Path, name: str = "") -> Run:
    """Start ``config`` as a detached process in a new run folder; raises RunAlreadyActive."""
    runs_root = Path(runs_root)
    runs_root.mkdir(parents=True, exist_ok=True)
    with _launch_guard(runs_root):
        holder = _active_run(runs_root)
        if holder is not None:
            raise RunAlreadyActive(holder)
        folder = _new_run_folder(runs_root, name or Path(config.out_dir).name)
        config = dataclasses.replace(_absolute_paths(config), out_dir=str(folder.resolve()), resume=False)
        (folder / layout.RUN_CONFIG).write_text(yaml.safe_dump(asdict(config), sort_keys=False))
        command = [sys.executable, str(TRAIN_SCRIPT), "--config", str(folder / layout.RUN_CONFIG)]
        try:
            job = start_job(command, folder, layout.RUN_LOG, cwd=PROJECT_ROOT)
        except OSError:
            shutil.rmtree(folder, ignore_errors=True)  # no run happened: leave no folder to list
            raise
        # the process, not only the folder's name: the lock must outlive a deleted folder
        write_json_atomically(runs_root / layout.ACTIVE_RUN_FILE, {"run": folder.name, "job": asdict(job)})
    return load_run(folder)


def active_run(runs_root: Path) -> Run | None:
    """The run the app runs now, or None; clears the lock of a run whose process has ended."""
    runs_root = Path(runs_root)
    if not (runs_root / layout.ACTIVE_RUN_FILE).exists():
        return None
    with _launch_guard(runs_root):
        return _active_run(runs_root)


def stop_run(runs_root: Path, grace_s: float = 15.0) -> Run | None:
    """Stop the active run (training/jobs.py ``stop_job``); its progress ends with a ``stopped``
    event. Returns the stopped run (None when none was active)."""
    run = active_run(runs_root)
    if run is None:
        return None
    stop_job(run.folder, grace_s, job=_run_job(run.folder))
    if not run.folder.is_dir():  # deleted while it ran: nothing on disk to record the stop in, nor to bring back
        active_run(runs_root)  # releases the lock
        return dataclasses.replace(run, state=JobState.STOPPED)
    _end_progress_line(run.folder)
    steps = [step for event in _events(run.folder) if (step := layout.whole_count(event.get("step"))) is not None]
    append_event(run.folder, {"event": "stopped", "step": steps[-1] if steps else 0})
    active_run(runs_root)  # releases the lock
    return load_run(run.folder)


# ---------------------------------------------------------------- reading runs


def list_runs(runs_root: Path) -> list[Run]:
    """Every run folder under the root (launched here or from the command line), newest first."""
    root = Path(runs_root)
    if not root.is_dir():
        return []
    folders = [path for path in root.iterdir()
               if path.is_dir() and any((path / marker).exists() for marker in _RUN_MARKERS)]
    return sorted(read_each(folders, load_run), key=lambda run: run.started_at or 0.0, reverse=True)


def load_run(folder: Path) -> Run:
    """A run folder as it is now; raises UnreadableJob for a job.json that cannot be read
    (training/jobs.py ``read_job``)."""
    folder = Path(folder)
    events = _events(folder)
    job = _run_job(folder)
    metrics = {name: value for name, value in
               layout.read_json_object(folder / layout.FINAL_ADAPTER / layout.TRAIN_METRICS).items()
               if name not in NUMERIC_METRICS or layout.finite_number(value) is not None}
    state, error = _state(folder, events, job)
    started_at = job.started_at if job else (events[0]["time"] if events else None)
    return Run(name=folder.name, folder=folder, state=state, config=_run_config(folder), started_at=started_at,
               metrics=metrics, checkpoints=[path for _, path in layout.checkpoints(folder)], error=error,
               launched_here=job is not None)


def run_status(run: Run) -> RunStatus:
    """Where the run stands: step, ETA, speed and the loss curves so far. A value that is not a
    number where one belongs (a file a killed or edited run left) is passed over: it costs its
    own point or figure, never the run's status."""
    events = _events(run.folder)
    status = RunStatus(state=run.state)
    for event in events:
        step, max_steps = layout.whole_count(event.get("step")), layout.whole_count(event.get("max_steps"))
        if max_steps:
            status.max_steps = max_steps
        if event.get("event") in ("log", "eval", "finished", "stopped") and step is not None:
            status.step = max(status.step, step)
        loss, eval_loss = layout.finite_number(event.get("loss")), layout.finite_number(event.get("eval_loss"))
        if event.get("event") == "log" and loss is not None and step is not None:
            status.losses.append((step, loss))
        if eval_loss is not None and step is not None:
            if status.eval_losses and status.eval_losses[-1][0] == step:
                status.eval_losses.pop()  # the final evaluation repeats the last step's: keep one point
            status.eval_losses.append((step, eval_loss))
        if event.get("event") == "dropped" and isinstance(event.get("message"), str):
            status.dropped[str(event.get("split"))[:40]] = event["message"][:500]
        for name in ("tokens_per_s", "epoch", "learning_rate"):
            if layout.finite_number(event.get(name)) is not None:
                setattr(status, name, event[name])
    timed = [event for event in events if layout.finite_number(event.get("eta_s")) is not None]
    if timed and run.state == JobState.RUNNING:
        # the ETA was right when written; count down the time since
        status.eta_s = max(timed[-1]["eta_s"] - (time.time() - timed[-1]["time"]), 0.0)
    if events and run.started_at:
        end = time.time() if run.state == JobState.RUNNING else events[-1]["time"]
        status.elapsed_s = max(end - run.started_at, 0.0)
    return status


def failure_hint(error: str | None) -> str:
    """What to do about a failed run, from its one-line error."""
    text = (error or "").lower()
    if "out of memory" in text or "memoryerror" in text:
        return "Lower batch_size or max_length, or pick a smaller base model."
    if any(sign in text for sign in ("peft", "state_dict", "adapter_config.json")):  # loading init_adapter
        return ("The adapter to continue (init_adapter) does not fit this base model or is damaged: pick "
                "another adapter trained on it, or leave init_adapter empty for a new one.")
    if any(sign in text for sign in ("repository not found", "is not a local folder", "couldn't connect",
                                     "repo id must be", "401", "gated", "config.json")):
        return ("Check the base model: the packaged gemma-3-270m, a local folder with config.json, or a "
                "Hugging Face id this machine can download (gated models need a login).")
    if "train_file" in text or "val_file" in text or "init_adapter" in text:
        return "A file the run needs is gone: pick the data (and the adapter to continue) again."
    if "fits max_length" in text or "has no rows" in text:
        return "Raise max_length, or pick data whose mails are shorter (or a file that has rows)."
    if "killed" in text or "sigkill" in text:
        return "The system ended the process, most likely for memory: lower batch_size or max_length."
    return "The last lines of run.log in the run folder say more."


def format_duration(seconds: float | None) -> str:
    """``3725`` -> "1 h 2 min"; ``65`` -> "1 min 5 s"; None (or anything but a number) -> "–"."""
    if layout.finite_number(seconds) is None:
        return "–"
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds} s"


# ---------------------------------------------------------------- internals


def _active_run(runs_root: Path) -> Run | None:
    """active_run without the guard (the caller holds it)."""
    lock = runs_root / layout.ACTIVE_RUN_FILE
    name = layout.read_json_object(lock).get("run")
    # only a folder of the root: another name (a number, "..", a path) locks nothing and is cleared
    folder = runs_root / name if isinstance(name, str) and name not in ("", ".", "..") and "/" not in name else None
    try:
        job = _run_job(folder) if folder is not None else None
    except UnreadableJob as error:  # no pid to watch: as if it had ended (a lock must not block forever)
        log.warning("the active run's lock is released: %s", error)
        job = None
    if is_alive(job):
        return load_run(folder)
    lock.unlink(missing_ok=True)  # stale: the process ended (finished, crashed, machine restarted)
    return None


def _run_job(folder: Path) -> Job | None:
    """The job of a run folder: its job.json, else the lock's record of it where the lock names this
    folder (deleted while it runs). UnreadableJob for either that cannot be read."""
    job = read_job(folder)
    if job is not None:
        return job
    lock = folder.parent / layout.ACTIVE_RUN_FILE
    held = layout.read_json_object(lock)
    if held.get("run") != folder.name or held.get("job") is None:
        return None
    return job_from_record(held["job"], str(lock))


def _launch_guard(runs_root: Path):
    """Serialises launches and lock clean-ups between sessions and app processes."""
    return held_lock(runs_root / layout.LAUNCH_LOCK_FILE)


def _state(folder: Path, events: list[dict], job) -> tuple[JobState, str | None]:
    kinds = [event.get("event") for event in events]
    failures = [event for event in events if event.get("event") == "failed"]
    said = failures[-1].get("error") if failures else None
    state, error = job_state(job, succeeded="saved" in kinds, log=folder / layout.RUN_LOG,
                             failure=None if said is None else str(said)[:500], stopped="stopped" in kinds,
                             no_result="the training process ended without saving an adapter")
    progress = folder / layout.PROGRESS_FILE
    if state == JobState.INCOMPLETE and time.time() - layout.modified(progress) < QUIET_AFTER_S:
        return JobState.RUNNING, None  # a command-line run that is still writing
    return state, error


def _each_path(change: Callable[[str], str], value: str) -> str:
    """``change`` applied to each path of a path field (several, comma-separated, in
    ``extra_train_file``)."""
    return ",".join(map(change, path_list(value)))


def _project_path(value: str) -> str:
    """A path from the project root."""
    return value if Path(value).is_absolute() else str(PROJECT_ROOT / value)


def _absolute_paths(config: TrainConfig) -> TrainConfig:
    """The process starts in the project root; files were checked from here: pass them absolute."""
    def absolute(value: str) -> str:
        return str(Path(value).resolve()) if Path(value).exists() else value

    return dataclasses.replace(config, **{name: _each_path(absolute, getattr(config, name))
                                          for name in (*_PATH_FIELDS, "base_model")})


def _new_run_folder(runs_root: Path, name: str) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    for attempt in range(1, 1000):
        folder = runs_root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise FileExistsError(f"no free run folder name for {base} in {runs_root}")


def _run_config(folder: Path) -> dict:
    """run.yaml for runs launched here; the hyperparameters in the adapter's or a checkpoint's
    acedesk.json for command-line runs."""
    if (folder / layout.RUN_CONFIG).exists():
        with contextlib.suppress(yaml.YAMLError, OSError, ValueError):  # ValueError: not UTF-8
            config = yaml.safe_load((folder / layout.RUN_CONFIG).read_text(encoding="utf-8"))
            return config if isinstance(config, dict) else {}
        return {}
    candidates = [folder / layout.FINAL_ADAPTER, *reversed([path for _, path in layout.checkpoints(folder)])]
    for candidate in candidates:
        meta = layout.read_json_object(candidate / METADATA_FILE)
        if meta.get("hyperparameters") and isinstance(meta["hyperparameters"], dict):
            return meta["hyperparameters"]
    return {}


def _events(folder: Path) -> list[dict]:
    """The run's progress events, each with its time as a number; none from a progress file that
    cannot be read (not UTF-8, a folder): one damaged run never takes the list of runs down."""
    try:
        events = read_events(folder)
    except (OSError, ValueError) as error:
        log.warning("the progress of %s cannot be read: %s", folder, error)
        return []
    return [event for event in events if isinstance(event, dict) and layout.finite_number(event.get("time")) is not None]


def _model_identity(name: str) -> str:
    """A base model as one string however it is written: a folder by its resolved path, else the name."""
    path = _typed_path(name.strip())
    return str(path.resolve()) if path.exists() else name.strip()


def _typed_path(text: str) -> Path:
    """A typed path with ``~`` read as a home folder where it names one (``~nosuchuser`` stays as typed:
    expanduser raises RuntimeError for it)."""
    with contextlib.suppress(RuntimeError):
        return Path(text).expanduser()
    return Path(text)


def _small_json_object(path: Path) -> dict:
    """A JSON object from a file of at most ADAPTER_FILE_LIMIT bytes (never read when larger);
    ValueError or TypeError saying what the file is instead."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise ValueError(f"its {path.name} cannot be read ({error.strerror})") from error
    if size > ADAPTER_FILE_LIMIT:
        raise ValueError(f"its {path.name} is {size:,} bytes, far more than an adapter's")
    try:  # read_small_file: a pipe or a device in the file's place is refused, never waited on
        data = json.loads(layout.read_small_file(path, ADAPTER_FILE_LIMIT))
    except OSError as error:
        raise ValueError(f"its {path.name} cannot be read ({error.strerror})") from error
    except (ValueError, RecursionError) as error:  # ValueError: not UTF-8, or not JSON
        raise ValueError(f"its {path.name} is no JSON text ({type(error).__name__})") from error
    if not isinstance(data, dict):
        raise TypeError(f"its {path.name} holds a {type(data).__name__}, not a JSON object")
    return data


def _end_progress_line(folder: Path) -> None:
    """A process killed mid-write leaves half a line; our next event must start on a line of its own."""
    path = folder / layout.PROGRESS_FILE
    if path.exists() and path.stat().st_size:
        with path.open("rb+") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")
