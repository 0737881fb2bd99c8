"""Background jobs: a training run or an evaluation as a detached process with a folder of its own.

    job = start_job(["python", "-m", "training.evaluate", ...], folder, "eval.log")
    state, why = job_state(read_job(folder), succeeded=(folder / "metrics.json").exists(), log=folder / "eval.log")
    stop_job(folder)

A job runs in a new session (its own process group), so reloading the page, closing the tab or
restarting the app does not end it, and stopping it ends its children too. Everything needed to
reattach is in ``job.json``: the pid *and* the process's identity (core/processes.py: this boot's
id and the clock ticks to its start, which a wall-clock step does not move; psutil's creation
time where a job.json predates it), because after a restart the pid may belong to another process.

The recorded process is a small recorder (``record_exit``) that runs the command as its child and,
once it ends, writes how (its exit code, or the signal that killed it) into ``job.json``: only a
parent learns that, and the app that started the job may have been restarted since (a run the
system killed for memory read as failed with its last line of output).

job.json has two writers, the recorder (how the run ended) and a Stop (when it was asked for):
each adds its fields to what the file holds under one lock (``_add_to_job_file``), so neither
loses the other's.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import logging
import math
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import NoReturn, TypeVar

import psutil

from core.files import write_json_atomically
from core.processes import pid_runs, process_identity
from core.settings import PROJECT_ROOT
from training.layout import JOB_FILE, JOB_LOCK_FILE, modified, read_small_file

log = logging.getLogger(__name__)
T = TypeVar("T")

OLD_STOPPED_FILE = "stopped"
"""Before commit 2a130be an evaluation's stop was this file beside job.json, not a field in it."""


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
    """psutil's creation time of the process: with the pid, its identity. 0 when the process had
    ended before it could be read (start_job): a pid seen since is another process's."""
    started_at: float
    command: list[str] = field(default_factory=list)
    stop_requested_at: float | None = None
    extra: dict = field(default_factory=dict)
    """What the starter wants to find again (the evaluation's labels, row count, ...)."""
    killed_by_signal: int | None = None
    """The signal that ended the command, as its recorder saw (or the app process that reaped a
    recorder killed itself): only a parent learns it, so it is written here for every later reader."""
    exit_code: int | None = None
    """The command's exit code, written by its recorder; None while it runs or when a signal ended it."""
    process_identity: str | None = None
    """core/processes.py ``process_identity`` of the process: with the pid, its identity whatever
    the wall clock did since. None in a job.json written before it (or where /proc could not tell):
    ``created`` decides then."""


_RECORDER = ("import sys; sys.path.insert(0, sys.argv[1]); from training.jobs import record_exit; "
             "record_exit(sys.argv[2], int(sys.argv[3]), sys.argv[4:])")
"""The recorder's program: by ``-c``, as the job's ``cwd`` need not be where the project is."""

_FORWARDED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
"""What the recorder passes on to the command: a ``kill <pid of job.json>`` ends the command as it
did when that pid was the command's, and the recorder still sees how it ended."""

_PR_SET_PDEATHSIG = 1
"""linux/prctl.h: the signal a process receives when its parent dies."""


def start_job(command: list[str], folder: Path, log_name: str, *, cwd: Path, env: dict | None = None,
              extra: dict | None = None) -> Job:
    """Start ``command`` detached under its recorder (``record_exit``), its output in
    ``folder/log_name``; writes and returns its Job. OSError where the command cannot be started."""
    folder = Path(folder)
    answer, answer_for_recorder = os.pipe()
    try:
        with (folder / log_name).open("ab") as log:
            recorder = subprocess.Popen(
                [sys.executable, "-c", _RECORDER, str(PROJECT_ROOT), str(folder / JOB_FILE), str(answer_for_recorder),
                 *command], cwd=cwd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, pass_fds=(answer_for_recorder,),
                env={**(env or os.environ), "PYTHONUNBUFFERED": "1"})
    finally:
        os.close(answer_for_recorder)
    with os.fdopen(answer, "rb") as said:
        started = said.read()  # until the recorder has started the command, or could not
    if started != b"started":
        recorder.stdin.close()
        recorder.wait()
        error = json.loads(started) if started else [None, f"its recorder ended first (see {log_name})", None]
        raise OSError(error[0], f"cannot start {command[0]}: {error[1]}", error[2])
    try:
        created = psutil.Process(recorder.pid).create_time()
    except psutil.NoSuchProcess:  # killed already: the job is still recorded
        created = 0.0
    identity = process_identity(recorder.pid) if created else None
    job = Job(recorder.pid, created, time.time(), command, extra=extra or {}, process_identity=identity)
    _CHILDREN[job.pid] = (job.created, folder)
    try:
        write_json_atomically(folder / JOB_FILE, asdict(job))
    finally:
        recorder.stdin.close()  # job.json records the job (or never will): the recorder may write its end
    return job


def record_exit(job_file: str, answer_fd: int, command: list[str]) -> NoReturn:
    """The job's recorded process (start_job): runs ``command`` as its child, says on ``answer_fd``
    whether it started, waits for it, writes how it ended into ``job_file`` where that still records
    this process, and ends the same way (the exit code, or killed by the same signal)."""
    parent = os.getpid()
    prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None

    def end_with_parent():
        # a recorder killed outright (kill -9 of job.json's pid) must not leave the command running unseen
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it died before that was arranged
            os._exit(1)

    with os.fdopen(answer_fd, "w") as answer:
        try:
            child = subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=end_with_parent)  # noqa: PLW1509 (one thread here)
        except OSError as error:
            answer.write(json.dumps([error.errno, error.strerror, error.filename]))
            sys.exit(127)
        answer.write("started")
    for signum in _FORWARDED_SIGNALS:
        signal.signal(signum, lambda received, _frame: os.kill(child.pid, received))
    returncode = child.wait()
    for signum in _FORWARDED_SIGNALS:  # the child is reaped: its pid may be another process's now
        signal.signal(signum, signal.SIG_IGN)
    sys.stdin.buffer.read()  # until start_job has written job.json
    folder = Path(job_file).parent
    with contextlib.suppress(UnreadableJob):
        job = read_job(folder)
        if job is not None and job.pid == parent and pid_runs(parent, job.created, job.process_identity):
            _record_end(folder, job, {"killed_by_signal": -returncode} if returncode < 0 else {"exit_code": returncode})
    if returncode < 0:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the command's crash, not a core of the recorder
        signal.signal(-returncode, signal.SIG_DFL)
        os.kill(parent, -returncode)
    sys.exit(returncode if returncode >= 0 else 128 - returncode)


class UnreadableJob(ValueError):
    """A job.json that is there but records no job this module can read: not JSON, not an object,
    or a field of the wrong type."""


def read_job(folder: Path) -> Job | None:
    """The job ``folder``'s job.json records; None when it has none (no file, or no pid: nothing
    was started). Also reads the format written before commit 2a130be (evaluations only: the
    request's fields, ``pid``, ``started`` and ``command`` at the top level). Raises UnreadableJob
    for a file that is there but cannot be read as a job."""
    path = Path(folder) / JOB_FILE
    try:  # a regular file of a job's size: a pipe in its place would hang every page that lists jobs
        text = read_small_file(path).decode("utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise UnreadableJob(f"{path}: {error}") from error
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise UnreadableJob(f"{path}: not JSON ({type(error).__name__})") from error
    if not isinstance(data, dict):
        raise UnreadableJob(f"{path}: not a JSON object but {type(data).__name__}")
    if data.get("pid") is None or data.get("pid") == 0:
        return None
    if "started_at" not in data and "created" not in data:
        data = _from_old_format(data, Path(folder))
    return job_from_record(data, str(path))


def job_from_record(data: dict, source: str) -> Job:
    """The Job a JSON object records (``asdict(job)``, as job.json holds it); UnreadableJob naming
    ``source`` for one that records none."""
    if not isinstance(data, dict):
        raise UnreadableJob(f"{source}: not a JSON object but {type(data).__name__}")
    try:
        return Job(pid=_number(data, "pid", int), created=_number(data, "created"),
                   started_at=_number(data, "started_at"), command=_strings(data.get("command", [])),
                   stop_requested_at=None if data.get("stop_requested_at") is None
                   else _number(data, "stop_requested_at"), extra=_object(data.get("extra", {})),
                   killed_by_signal=None if data.get("killed_by_signal") is None
                   else _number(data, "killed_by_signal", int),
                   exit_code=None if data.get("exit_code") is None else _number(data, "exit_code", int, least=0),
                   process_identity=None if data.get("process_identity") is None
                   else _string(data, "process_identity"))
    except KeyError as error:
        raise UnreadableJob(f"{source}: no {error.args[0]}") from error
    except TypeError as error:
        raise UnreadableJob(f"{source}: {error}") from error


def read_each(folders: Iterable[Path], read: Callable[[Path], T | None]) -> list[T]:
    """``read(folder)`` for each folder, without the Nones: a folder whose job.json cannot be read
    is left out with a warning, so one broken folder never takes a listing down."""
    found = []
    for folder in folders:
        try:
            item = read(folder)
        except UnreadableJob as error:
            log.warning("left out %s: its %s cannot be read (%s)", folder, JOB_FILE, error)
            continue
        if item is not None:
            found.append(item)
    return found


_CHILDREN: dict[int, tuple[float, Path]] = {}
"""pid -> (creation time, folder) of each job this process started: the only processes it may reap
(waitpid on any other pid could take a child of someone else's its exit status)."""

_KILLED_BY: dict[tuple[int, float], int] = {}
"""(pid, creation time) -> the signal that ended a child of ours (a recorder), as reaping it told:
kept here too for a job.json that could not take it."""


@contextlib.contextmanager
def held_lock(path: Path):
    """An exclusive lock on the file ``path`` (made if missing) for the block: serialises a check
    and the start that follows it between sessions and app processes (held for milliseconds)."""
    with Path(path).open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def is_alive(job: Job | None) -> bool:
    """Whether the job's process still runs: core/processes.py ``pid_runs`` (the same pid *and*
    identity, or creation time in an older job.json; not a zombie), except that a child of ours
    counts as running until it is reaped here: a zombie leader may still have threads ending
    (torch's), and its pid is not free yet."""
    if job is None or not job.created:  # no creation time: ended at its start, the pid is free for others
        return False
    created, folder = _CHILDREN.get(job.pid, (None, None))
    if created == job.created:
        try:
            reaped, status = os.waitpid(job.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere (a Popen.wait): no longer ours to watch
            reaped, status = job.pid, 0
        if not reaped:
            return True
        del _CHILDREN[job.pid]
        if os.WIFSIGNALED(status):
            _KILLED_BY[(job.pid, job.created)] = os.WTERMSIG(status)
            _record_end(folder, job, {"killed_by_signal": os.WTERMSIG(status)})
    return pid_runs(job.pid, job.created, job.process_identity)


def _record_end(folder: Path, job: Job, end: dict) -> None:
    """Adds how the job ended (``killed_by_signal`` or ``exit_code``) to the folder's job.json where
    it still records this job; a folder deleted or unwritable since costs only the record (the
    state then reads as before)."""
    try:
        _add_to_job_file(folder, job, end)
    except (OSError, ValueError, RecursionError) as error:
        log.warning("could not record in %s how the job ended (%s): %s", Path(folder) / JOB_FILE, end, error)


def _add_to_job_file(folder: Path, job: Job, fields: dict, *, or_write_job: bool = False) -> None:
    """Adds ``fields`` to the folder's job.json where it still records ``job`` (its pid and creation
    time), on top of what the file holds now: under the job file's lock, as the recorder and a Stop
    may write at the same moment, and each read-modify-write would otherwise drop the other's field.
    ``or_write_job``: a folder without job.json gets the job with ``fields``. OSError, ValueError
    where the file cannot be read or written (FileNotFoundError: no folder)."""
    path = Path(folder) / JOB_FILE
    with held_lock(Path(folder) / JOB_LOCK_FILE):
        try:
            data = json.loads(read_small_file(path))
        except FileNotFoundError:
            if not or_write_job:
                raise
            data = asdict(job)
        if isinstance(data, dict) and "started_at" not in data and "created" not in data and data.get("pid"):
            data = asdict(job_from_record(_from_old_format(data, Path(folder)), str(path)))  # rewritten in today's format
        if isinstance(data, dict) and data.get("pid") == job.pid and data.get("created") == job.created:
            write_json_atomically(path, {**data, **fields})


def stop_job(folder: Path, grace_s: float = 15.0, *, job: Job | None = None) -> Job | None:
    """Stop the job of ``folder``: SIGTERM to its process group, SIGKILL after ``grace_s``.
    Records the request first, so its state reads ``stopped`` however it ends. ``job``: the job to
    stop where the folder records none (deleted while the process runs: it is stopped all the same)."""
    job = read_job(folder) or job
    if job is None:
        return None
    job = replace(job, stop_requested_at=time.time())
    with contextlib.suppress(FileNotFoundError):  # no folder left to record it in
        _add_to_job_file(folder, job, {"stop_requested_at": job.stop_requested_at}, or_write_job=True)
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
        exited = f"{no_result}: it exited with status {job.exit_code}" if job.exit_code else no_result
        return JobState.FAILED, killed_by(job) or error_line(log) or exited
    return JobState.INCOMPLETE, None


def killed_by(job: Job) -> str | None:
    """How a signal ended the job, as its recorder or the app process that reaped it saw (its
    job.json, or this process's memory where the file could not take it); else None (not by a
    signal, or its recorder was killed while no app process that started it lived)."""
    signum = job.killed_by_signal or _KILLED_BY.get((job.pid, job.created))
    if signum is None:
        return None
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    if signum == signal.SIGKILL:
        return f"the process was killed by {name}: the system does so when memory runs out (or someone ran kill -9)"
    return f"the process was killed by {name}"


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


def _from_old_format(data: dict, folder: Path) -> dict:
    """A job.json as start_evaluation wrote it before commit 2a130be: ``{...the request's fields,
    "pid", "started", "command"}``, and a ``stopped`` file beside it once stopped. ``started`` was
    taken right after the process started, so it stands for its creation time too (a pid reused
    since by another process is not taken for it)."""
    if "started" not in data:
        raise UnreadableJob(f"{folder / JOB_FILE}: neither started_at nor started")
    stopped = folder / OLD_STOPPED_FILE
    return {"pid": data["pid"], "created": data["started"], "started_at": data["started"],
            "command": data.get("command", []), "stop_requested_at": modified(stopped) if stopped.exists() else None,
            "extra": {name: value for name, value in data.items() if name not in ("pid", "started", "command")}}


def _number(data: dict, name: str, kind: type = float, least: int = 1):
    """``data[name]`` as a finite number (for ``int``: a whole number of at least ``least``, positive
    by default, as a pid); TypeError otherwise."""
    value = data[name]
    valid = (isinstance(value, int) and value >= least) if kind is int else (
        isinstance(value, int | float) and math.isfinite(value))
    if isinstance(value, bool) or not valid:
        raise TypeError(f"{name} is {value!r}, not a{f' whole number of at least {least}' if kind is int else ' number'}")
    return kind(value)


def _string(data: dict, name: str) -> str:
    value = data[name]
    if not isinstance(value, str):
        raise TypeError(f"{name} is {value!r}, not a string")
    return value


def _strings(value) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"command is {value!r}, not a list of strings")
    return value


def _object(value) -> dict:
    if not isinstance(value, dict):
        raise TypeError(f"extra is {value!r}, not an object")
    return value
