"""The runs folder: one layout for training runs, evaluations, uploads and the adapter catalog.

    <runs root>/                          Settings.runs_dir (default: the project's runs/)
        .active-run.json                  the one training run the app runs now (training/runs.py)
        .launch.lock                      serialises launches between sessions and processes
        uploads/                          CSVs uploaded on the Training page
        evals/<time>-<model>-<data>/      an evaluation started from the Eval page (training/eval_jobs.py)
            job.json  eval.log  predictions.csv  metrics.json
        <time>-<name>/                    a training run started from the Training page
            run.yaml                      the TrainConfig it was started with
            job.json  run.log             its process (training/jobs.py) and output
            progress.jsonl                written by the training (training/progress.py)
            checkpoint-N/  adapter/       every saved checkpoint and the final adapter
        <name>/                           a run or evaluation started from the command line (no job.json)

Everything that reads or writes these folders takes its names from here.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

from core import files
from core.settings import Settings

ACTIVE_RUN_FILE = ".active-run.json"
LAUNCH_LOCK_FILE = ".launch.lock"
UPLOADS = "uploads"
EVALS = "evals"
REVIEW_RULES = "review-rules"
RUN_CONFIG = "run.yaml"
JOB_FILE = "job.json"
JOB_LOCK_FILE = f".{JOB_FILE}.lock"
"""Beside job.json, not job.json itself: its atomic replacement is a new file, which a lock held on
the old one would not guard."""
RUN_LOG = "run.log"
EVAL_LOG = "eval.log"
PROGRESS_FILE = "progress.jsonl"
FINAL_ADAPTER = "adapter"
TRAIN_METRICS = "train_metrics.json"
EVAL_METRICS = "eval_metrics.json"
"""Scores kept beside an adapter: data set name -> training.evaluate metrics."""
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"

JSON_FILE_LIMIT = 8_000_000
"""Bytes: the largest JSON file these folders hold is a long run's trainer_state.json (about 150
bytes a logged step: 8 MB is some 50,000 logged steps); metrics and job files are a few KB. Each is
read on every refresh of a page, so a larger one is not read at all."""

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def runs_root(settings: Settings) -> Path:
    return Path(settings.runs_dir)


def evals_root(runs_dir: Path) -> Path:
    return Path(runs_dir) / EVALS


def review_rules_root(runs_dir: Path) -> Path:
    """Where the app's review-rule choices run (training/eval_jobs.py ``start_rule_choice``)."""
    return Path(runs_dir) / REVIEW_RULES


def uploads_dir(runs_dir: Path) -> Path:
    return Path(runs_dir) / UPLOADS


def checkpoints(run: Path) -> list[tuple[int, Path]]:
    """``(step, folder)`` of every ``checkpoint-N`` in a run folder, by step."""
    found = [(int(match.group(1)), folder) for folder in subfolders(run) if (match := _CHECKPOINT.match(folder.name))]
    return sorted(found)


def subfolders(folder: Path) -> list[Path]:
    """The folder's subfolders by name; [] when it does not exist (no runs yet, or deleted while we look)."""
    try:
        return sorted(path for path in Path(folder).iterdir() if path.is_dir())
    except OSError:
        return []


def read_small_file(path: Path, limit: int = JSON_FILE_LIMIT) -> bytes:
    """A file of these folders, bounded as ``core.files.read_small_file`` bounds any (OSError else)."""
    return files.read_small_file(path, limit)


def read_json_object(path: Path) -> dict:
    """A JSON object from a file of these folders (``read_small_file``); {} when missing,
    half-written, too large, no regular file, or not an object."""
    try:
        data = json.loads(read_small_file(Path(path)))
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested deeper than Python's stack
        return {}
    return data if isinstance(data, dict) else {}


def finite_number(value) -> int | float | None:
    """``value`` where it is a finite number (a bool is none), else None: what a figure read from
    these folders' JSON files is worth, whatever a crash, a hand edit or another version left there."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return value if math.isfinite(value) else None
    except OverflowError:  # an int beyond every float
        return None


def whole_count(value) -> int | None:
    """``value`` where it is a whole number of at least 0 (a step, a number of steps), else None."""
    return value if isinstance(value, int) and finite_number(value) is not None and value >= 0 else None


def modified(path: Path) -> float:
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return 0.0


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes: how manifests name the data an artifact was built from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
