"""Background jobs: a training run or an evaluation as a detached process with a folder of its own.

    job = start_job(["python", "-m", "training.evaluate", ...], folder, "eval.log")
    state, why = job_state(read_job(folder), succeeded=(folder / "metrics.json").exists(), log=folder / "eval.log")
    stop_job(folder)

A job runs in a new session (its own process group), so reloading the page, closing the tab or
restarting the app does not end it, and stopping it ends its children too. Everything needed to
reattach is in ``job.json``: the pid *and* the process's creation time, because after a restart
the pid may belong to another process (psutil tells them apart).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path

import psutil

from core.files import write_json_atomically
from training.layout import JOB_FILE, read_json_object


class JobState(StrEnum):
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    INCOMPLETE = "incomplete"
    """Started outside the app (no job.json) and ended without its result."""


@dataclass(frozen=True)
class Job:
    """A started process, as ``job.json`` records it."""

    pid: int
    created: float
    """psutil's creation time of the process: with the pid, its identity."""
    started_at: float
    command: list[str] = field(default_factory=list)
    stop_requested_at: float | None = None
    extra: dict = field(default_factory=dict)
    """What the starter wants to find again (the evaluation's labels, row count, ...)."""


def start_job(command: list[str], folder: Path, log_name: str, *, cwd: Path, env: dict | None = None,
              extra: dict | None = None) -> Job:
    """Start ``command`` detached, its output in ``folder/log_name``; writes and returns its Job."""
    folder = Path(folder)
    with (folder / log_name).open("ab") as log:
        process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env={**(env or os.environ), "PYTHONUNBUFFERED": "1"})
    try:
        created = psutil.Process(process.pid).create_time()
    except psutil.NoSuchProcess:  # ended already (e.g. a bad command): the job is still recorded
        created = 0.0
    job = Job(process.pid, created, time.time(), command, extra=extra or {})
    write_json_atomically(folder / JOB_FILE, asdict(job))
    return job


def read_job(folder: Path) -> Job | None:
    data = read_json_object(Path(folder) / JOB_FILE)
    if not data.get("pid"):
        return None
    known = {name: data[name] for name in Job.__dataclass_fields__ if name in data}
    return Job(**known)


def is_alive(job: Job | None) -> bool:
    """Whether the job's process still runs: the same pid *and* creation time, and not a zombie
    (one of ours that ended is reaped here)."""
    if job is None:
        return False
    try:
        process = psutil.Process(job.pid)
        if job.created and abs(process.create_time() - job.created) > 0.5:
            return False  # the pid was reused by another process
        if process.status() != psutil.STATUS_ZOMBIE:
            return True
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    # A zombie leader may still have threads ending (torch's): our own child counts as running
    # until waitpid can reap it; another process's zombie is as good as gone.
    try:
        reaped, _ = os.waitpid(job.pid, os.WNOHANG)
    except ChildProcessError:
        return False
    return reaped == 0


def stop_job(folder: Path, grace_s: float = 15.0) -> Job | None:
    """Stop the job of ``folder``: SIGTERM to its process group, SIGKILL after ``grace_s``.
    Records the request first, so its state reads ``stopped`` however it ends."""
    job = read_job(folder)
    if job is None:
        return None
    job = replace(job, stop_requested_at=time.time())
    write_json_atomically(Path(folder) / JOB_FILE, asdict(job))
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if not is_alive(job):
            break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(job.pid, signum)  # start_new_session made the pid its group's id
        deadline = time.monotonic() + grace_s
        while is_alive(job) and time.monotonic() < deadline:
            time.sleep(0.1)
    return job


def job_state(job: Job | None, *, succeeded: bool, log: Path, failure: str | None = None,
              stopped: bool = False, no_result: str = "the process ended without writing its result",
              ) -> tuple[JobState, str | None]:
    """The state of a job folder and, for a failed one, why in one line. ``succeeded``: its
    result is there; ``failure``: the job's own words for why it failed; ``stopped``: the job
    itself recorded a stop; ``no_result``: what to say when it died without a word."""
    if is_alive(job):
        return JobState.RUNNING, None
    if succeeded:
        return JobState.FINISHED, None
    if stopped or (job is not None and job.stop_requested_at):
        return JobState.STOPPED, None
    if failure:
        return JobState.FAILED, failure
    if job is not None:  # ours, gone, and no result: it died before it could say why
        return JobState.FAILED, error_line(log) or no_result
    return JobState.INCOMPLETE, None


_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Interrupt)\b.*")


def error_line(log: Path, tail_bytes: int = 20_000) -> str | None:
    """The line of a job's output that says why it ended: its own ``error: ...`` message, else the
    exception's last line, else the last line; never the whole traceback."""
    try:
        with Path(log).open("rb") as handle:
            handle.seek(max(Path(log).stat().st_size - tail_bytes, 0))
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error: "):
            return line.removeprefix("error: ")[:500]
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return line[:500]
    return lines[-1][:500] if lines else None
