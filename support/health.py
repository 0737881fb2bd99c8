"""The worker's heartbeat: every round writes what it has done to the store as it goes (after the
fetch, after each triage batch) and when it ends, so the inbox can say "worker: active 4 s ago,
latest round 12 fetched, 8 triaged, 0 errors" (with "; 40 mails waiting for the model" while
received mail waits: a round triages a slice of it), "worker: active 4 s ago, but cannot reach the
mailbox since 10:02 (today): …" (from the first round it failed until one fetches again) or
"worker not running since 21:04".

A worker is named by core/processes.process_name (``host:pid`` and the process's identity, which
a wall-clock step does not move); its row says when it started, when it last showed progress, how
often it means to poll, and its latest round's counts (so far, while it runs). A beat older than
three poll intervals (or a worker that said it stopped) is stale. A long round beats as it goes,
so a stale worker of this machine whose process still runs is stuck on one step (a read, the model,
a lock), not gone: said so, or someone starts a second worker beside it. A fresh beat of a worker
of this machine whose process is gone (SIGKILL, OOM) is no running worker either: the process is
asked each read, or the strip said "active" for up to a stale limit and nobody restarted it.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.processes import ProcessState, parse_process_name, process_state
from support.states import State
from support.store import TicketStore

log = logging.getLogger(__name__)

STALE_AFTER_INTERVALS = 3
STALE_AFTER_MIN_S = 90.0
"""One step of a round may take a while (a model loading, a slow mailbox, a triage batch on a busy
CPU): never stale before this."""
UNSTOPPED_ROWS_READ = 20
"""Rows of workers that never said they stopped the strip reads, newest beat first: more than this
killed or running within one stale window is no desk."""
CLOCK_SET_BACK_AFTER_S = 60.0
"""A beat dated more than this ahead of now was written by a clock since set back (or by another
machine's fast clock); within it, skew between machines is no news."""


@dataclass(frozen=True)
class Round:
    """What one worker round did."""

    fetched: int = 0
    triaged: int = 0
    resumed: int = 0
    errors: int = 0
    last_error: str | None = None
    mailbox_error: str | None = None
    """Why the mailbox could not be used this round (unreachable, login refused); None when it could."""
    waiting: int = 0
    """Received mails the round's triage slice (support/triage.TRIAGE_SLICE) did not reach: the
    worker starts the next round at once while there are any."""

    @property
    def mailbox_available(self) -> bool:
        return self.mailbox_error is None


@dataclass(frozen=True)
class WorkerHealth:
    running: bool
    """A worker showed progress recently (a beat within its round or its round's end)."""
    text: str
    problem: bool = False
    """It runs, but mail cannot reach it: the strip warns rather than says "active"."""


@dataclass(frozen=True)
class WorkerStart:
    """A worker's start, held by the worker and carried by each of its beats: a start the store
    refused is recorded by the first beat that gets through, and nothing but the worker holds it."""

    name: str
    started_at: str
    every_s: float


def worker_started(store: TicketStore, worker: str, every_s: float) -> WorkerStart:
    """Record the start. A store that refuses it (a full disk, a lock held past the busy timeout)
    costs the record, never the worker: it is said in the log, and the first beat that gets
    through records the start, so the worker resumes by itself once there is room."""
    start = WorkerStart(worker, _now(), every_s)
    try:
        _record_start(store, start)
    except sqlite3.Error as error:
        log.error("worker %s: its start could not be recorded (%s); the next round's beat tries again", worker, error)
    return start


# The latest worker's mailbox_down_since, for a worker's new row: a supervisor's restart, or the
# next --once run, that finds the server still down keeps the first failure's time.
_LATEST_MAILBOX_DOWN_SINCE = "(SELECT mailbox_down_since FROM worker_rounds ORDER BY last_round_at DESC LIMIT 1)"


def _record_start(store: TicketStore, start: WorkerStart) -> None:
    # without the latest worker's error: the strip does not warn before this worker has fetched;
    # its first good fetch clears the time it carried
    store.write("INSERT INTO worker_rounds (worker, started_at, last_round_at, every_s, mailbox_down_since)"
                f" SELECT ?,?,?,?, {_LATEST_MAILBOX_DOWN_SINCE}"
                " WHERE true ON CONFLICT (worker) DO UPDATE SET started_at=excluded.started_at,"
                " last_round_at=excluded.last_round_at, every_s=excluded.every_s, stopped_at=NULL,"
                " mailbox_down_since=excluded.mailbox_down_since, mailbox_error=NULL",
                (start.name, start.started_at, start.started_at, start.every_s))


def record_round(store: TicketStore, worker: WorkerStart, done: Round) -> None:
    """The beat of a round that ended."""
    _beat(store, worker, done, rounds_ended=1)


def record_progress(store: TicketStore, worker: WorkerStart, so_far: Round) -> None:
    """A beat within a round, with what it has done so far: a round of 60 mails at 1.5 s each is
    past the stale limit long before it ends, and is working, not stuck."""
    _beat(store, worker, so_far, rounds_ended=0)


def _beat(store: TicketStore, start: WorkerStart, done: Round, rounds_ended: int) -> None:
    # One write carrying the start, so a start the store refused is recorded now: a worker with no
    # row gets one, and a row an earlier process of the same host:pid left is taken over, as the
    # start would have. The first failed fetch since the last good one stays ("since 10:02", not
    # the latest round); a row new to this start takes the latest worker's, as a start does.
    store.write("INSERT INTO worker_rounds (worker, started_at, every_s, last_round_at, rounds, fetched, triaged,"
                " errors, last_error, mailbox_error, mailbox_down_since)"
                " SELECT :worker, :started_at, :every_s, :now, :rounds_ended, :fetched, :triaged, :errors,"
                " :last_error, :mailbox_error,"
                f" CASE WHEN :mailbox_error IS NULL THEN NULL ELSE coalesce({_LATEST_MAILBOX_DOWN_SINCE}, :now) END"
                " WHERE true ON CONFLICT (worker) DO UPDATE SET"
                " mailbox_down_since=CASE WHEN excluded.mailbox_error IS NULL THEN NULL"
                " WHEN started_at IS excluded.started_at THEN coalesce(mailbox_down_since, excluded.last_round_at)"
                " ELSE excluded.mailbox_down_since END,"
                " started_at=excluded.started_at, every_s=excluded.every_s, stopped_at=NULL,"
                " last_round_at=excluded.last_round_at, rounds=rounds+excluded.rounds, fetched=excluded.fetched,"
                " triaged=excluded.triaged, errors=excluded.errors, last_error=excluded.last_error,"
                " mailbox_error=excluded.mailbox_error",
                {"worker": start.name, "started_at": start.started_at, "every_s": start.every_s, "now": _now(),
                 "rounds_ended": rounds_ended, "fetched": done.fetched, "triaged": done.triaged,
                 "errors": done.errors, "last_error": done.last_error, "mailbox_error": done.mailbox_error})


def worker_stopped(store: TicketStore, worker: str) -> None:
    """Record the stop; a store that refuses it is said in the log and the worker still ends as it
    was ending (its beats then go stale, and the inbox says it is not running)."""
    try:
        store.write("UPDATE worker_rounds SET stopped_at=? WHERE worker=?", (_now(), worker))
    except sqlite3.Error as error:
        log.error("worker %s: its stop could not be recorded (%s)", worker, error)


def worker_health(store: TicketStore, now: datetime | None = None) -> WorkerHealth:
    """The state of the running worker (else the last one that ran) in words."""
    now = now or datetime.now(UTC)
    # A beat dated ahead of now was written before the clock went back (an NTP correction): it says
    # nothing of whether its worker still runs, and must not hide a worker beating by the right clock.
    ahead_of_now = (now + timedelta(seconds=CLOCK_SET_BACK_AFTER_S)).astimezone(UTC).isoformat(timespec="seconds")
    # The newest beat first, its stop counting as activity: a worker killed (no stop recorded) must
    # not hide the --once runs after it; one that beats within its stale limit is the running one.
    # Read by two bounded queries: a cron desk adds a row per --once run (1,440 a day), and reading
    # every row cost 0.3 s a render at 100,000; a running worker never said it stopped, and its beat
    # is the newest of those (killed workers' rows pile up only by the kill).
    newest = store.db.execute("SELECT * FROM worker_rounds ORDER BY last_round_at > ?,"
                              " coalesce(stopped_at, last_round_at) DESC LIMIT 1", (ahead_of_now,)).fetchone()
    if newest is None:
        return WorkerHealth(False, "no worker has run yet: start python -m support.worker (make demo does)")
    unstopped = store.db.execute("SELECT * FROM worker_rounds WHERE stopped_at IS NULL ORDER BY last_round_at > ?,"
                                 " last_round_at DESC LIMIT ?", (ahead_of_now, UNSTOPPED_ROWS_READ)).fetchall()
    row, process = _running_worker(unstopped, now) or (newest, _process_of(newest))
    age = _age(row, now)
    dated_ahead = age < -CLOCK_SET_BACK_AFTER_S
    # a fresh beat of a process gone from this machine (SIGKILL, OOM) is no running worker; a live
    # one's beat dated ahead is, as its next beat has the right time
    if process is ProcessState.GONE or _stale(row, now) or (dated_ahead and process is not ProcessState.RUNS):
        return _not_active(row, process, age, now)
    if row["mailbox_error"] is not None:
        return WorkerHealth(True, f"worker: active {_ago(age)} ago, but cannot {_mailbox_down(row, now)}", problem=True)
    errors = f"{row['errors']} error{'s' if row['errors'] != 1 else ''}"
    text = f"worker: active {_ago(age)} ago, latest round {row['fetched']} fetched, {row['triaged']} triaged, {errors}"
    text += f" (last: {row['last_error']})" if row["errors"] and row["last_error"] else ""
    # counted now, not by the round: a round triages a slice of a flood, and its counts alone hide the rest
    if waiting := store.count_tickets(states=[State.RECEIVED]):
        text += f"; {waiting} mail{'s' if waiting != 1 else ''} waiting for the model"
    return WorkerHealth(True, text)


def _running_worker(unstopped: list, now: datetime) -> tuple[sqlite3.Row, ProcessState] | None:
    """The newest beat within its stale limit whose process is not seen gone (a killed worker's last
    beat must not hide one beating since before it), else a worker of this machine stuck in a round:
    a --once run that stopped since must not make it read "not running", or someone starts a second
    worker beside it. Each row asked costs one psutil call; killed workers' rows are few (bounded)."""
    fresh = ((row, _process_of(row)) for row in unstopped if not _stale(row, now))
    stuck = ((row, _process_of(row)) for row in unstopped if _stale(row, now))
    return next(((row, process) for row, process in fresh if process is not ProcessState.GONE), None) or \
        next(((row, process) for row, process in stuck if process is ProcessState.RUNS), None)


def _process_of(row) -> ProcessState:
    if row["stopped_at"]:
        return ProcessState.GONE
    return process_state(row["worker"], datetime.fromisoformat(row["started_at"]).timestamp())


def _not_active(row, process: ProcessState, age: float, now: datetime) -> WorkerHealth:
    """A worker that said it stopped, whose process is gone, or whose beat is stale (or dated ahead of the clock)."""
    since = datetime.fromisoformat(row["stopped_at"] or row["last_round_at"]).astimezone()
    worker = parse_process_name(row["worker"])
    last_error = f"; its last error: {row['last_error']}" if row["last_error"] else ""
    if process is ProcessState.RUNS:
        return WorkerHealth(False, f"worker busy or stuck: its process ({worker.address}) runs, but has shown no"
                                   f" progress for {_ago(age)}, since {since:%H:%M} ({_day(since, now)}); if its log"
                                   f" shows no progress, stop it (kill {worker.pid}) rather"
                                   " than start another" + last_error)
    if process is ProcessState.ELSEWHERE:
        return WorkerHealth(False, f"worker on {worker.host or 'another machine'}: no round"
                                   f" since {since:%H:%M} ({_day(since, now)}); whether it still runs cannot be"
                                   " seen from this machine" + last_error)
    if row["mailbox_error"] is not None:  # a --once worker ends each run so: its mailbox is the news, not its stop
        return WorkerHealth(False, f"worker not running since {since:%H:%M} ({_day(since, now)}); it could not"
                                   f" {_mailbox_down(row, now)}", problem=True)
    return WorkerHealth(False, f"worker not running since {since:%H:%M} ({_day(since, now)})" + last_error)


def _age(row, now: datetime) -> float:
    return (now - datetime.fromisoformat(row["last_round_at"])).total_seconds()


def _stale(row, now: datetime) -> bool:
    return _age(row, now) > max(STALE_AFTER_INTERVALS * row["every_s"], STALE_AFTER_MIN_S)


def _mailbox_down(row, now: datetime) -> str:
    down_since = datetime.fromisoformat(row["mailbox_down_since"]).astimezone()
    return f"reach the mailbox since {down_since:%H:%M} ({_day(down_since, now)}): {row['mailbox_error']}"


def _ago(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


def _day(when: datetime, now: datetime) -> str:
    return "today" if when.date() == now.astimezone(when.tzinfo).date() else f"{when:%d %b}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
