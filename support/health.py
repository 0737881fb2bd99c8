"""The worker's heartbeat: every round writes what it has done to the store as it goes (after the
fetch, after each triage batch) and when it ends, so the inbox can say "worker: active 4 s ago,
latest round 12 fetched, 8 triaged, 0 errors", "worker: active 4 s ago, but cannot reach the
mailbox since 10:02 (today): …" (from the first round it failed until one fetches again) or
"worker not running since 21:04".

A worker is named ``host:pid``; its row says when it started, when it last showed progress, how
often it means to poll, and its latest round's counts (so far, while it runs). A beat older than
three poll intervals (or a worker that said it stopped) is stale. A long round beats as it goes,
so a stale worker of this machine whose process still runs is stuck on one step (a read, the model,
a lock), not gone: said so, or someone starts a second worker beside it.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from core.processes import ProcessState, process_state
from support.store import TicketStore

log = logging.getLogger(__name__)

STALE_AFTER_INTERVALS = 3
STALE_AFTER_MIN_S = 90.0
"""One step of a round may take a while (a model loading, a slow mailbox, a triage batch on a busy
CPU): never stale before this."""


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


def worker_started(store: TicketStore, worker: str, every_s: float) -> None:
    """Record the start. A store that refuses it (a full disk, a lock held past the busy timeout)
    costs the record, never the worker: it is said in the log, and the first beat that gets
    through records the start, so the worker resumes by itself once there is room."""
    started = (worker, _now(), every_s)
    try:
        _record_start(store, *started)
    except sqlite3.Error as error:
        log.error("worker %s: its start could not be recorded (%s); the next round's beat tries again", worker, error)
        _unrecorded_starts[worker] = started


_unrecorded_starts: dict[str, tuple[str, str, float]] = {}
"""Starts of this process's workers the store refused, by worker: recorded with their next beat."""


def _record_start(store: TicketStore, worker: str, started_at: str, every_s: float) -> None:
    store.write("INSERT INTO worker_rounds (worker, started_at, last_round_at, every_s) VALUES (?,?,?,?)"
                " ON CONFLICT (worker) DO UPDATE SET started_at=excluded.started_at,"
                " last_round_at=excluded.last_round_at, every_s=excluded.every_s, stopped_at=NULL,"
                " mailbox_down_since=NULL, mailbox_error=NULL",
                (worker, started_at, started_at, every_s))


def record_round(store: TicketStore, worker: str, done: Round) -> None:
    """The beat of a round that ended."""
    _beat(store, worker, done, rounds_ended=1)


def record_progress(store: TicketStore, worker: str, so_far: Round) -> None:
    """A beat within a round, with what it has done so far: a round of 60 mails at 1.5 s each is
    past the stale limit long before it ends, and is working, not stuck."""
    _beat(store, worker, so_far, rounds_ended=0)


def _beat(store: TicketStore, worker: str, done: Round, rounds_ended: int) -> None:
    if worker in _unrecorded_starts:
        _record_start(store, *_unrecorded_starts[worker])
        del _unrecorded_starts[worker]
    now = _now()
    # the first failed fetch since the last good one stays: "since 10:02", not the latest round
    store.write("UPDATE worker_rounds SET last_round_at=?, rounds=rounds+?, fetched=?, triaged=?, errors=?,"
                " last_error=?, mailbox_error=?,"
                " mailbox_down_since=CASE WHEN ? IS NULL THEN NULL ELSE coalesce(mailbox_down_since, ?) END"
                " WHERE worker=?",
                (now, rounds_ended, done.fetched, done.triaged, done.errors, done.last_error, done.mailbox_error,
                 done.mailbox_error, now, worker))


def worker_stopped(store: TicketStore, worker: str) -> None:
    """Record the stop; a store that refuses it is said in the log and the worker still ends as it
    was ending (its beats then go stale, and the inbox says it is not running)."""
    _unrecorded_starts.pop(worker, None)
    try:
        store.write("UPDATE worker_rounds SET stopped_at=? WHERE worker=?", (_now(), worker))
    except sqlite3.Error as error:
        log.error("worker %s: its stop could not be recorded (%s)", worker, error)


def worker_health(store: TicketStore, now: datetime | None = None) -> WorkerHealth:
    """The state of the running worker (else the last one that ran) in words."""
    row = store.db.execute("SELECT * FROM worker_rounds ORDER BY stopped_at IS NULL DESC, last_round_at DESC"
                           " LIMIT 1").fetchone()
    if row is None:
        return WorkerHealth(False, "no worker has run yet: start python -m support.worker (make demo does)")
    now = now or datetime.now(UTC)
    last = datetime.fromisoformat(row["last_round_at"])
    age = (now - last).total_seconds()
    stale = age > max(STALE_AFTER_INTERVALS * row["every_s"], STALE_AFTER_MIN_S)
    if row["stopped_at"] or stale:
        since = datetime.fromisoformat(row["stopped_at"] or row["last_round_at"]).astimezone()
        last_error = f"; its last error: {row['last_error']}" if row["last_error"] else ""
        process = ProcessState.GONE if row["stopped_at"] else process_state(
            row["worker"], datetime.fromisoformat(row["started_at"]).timestamp())
        if process is ProcessState.RUNS:
            return WorkerHealth(False, f"worker busy or stuck: its process ({row['worker']}) runs, but has shown no"
                                       f" progress for {_ago(age)}, since {since:%H:%M} ({_day(since, now)}); if its log"
                                       f" shows no progress, stop it (kill {row['worker'].rpartition(':')[2]}) rather"
                                       " than start another" + last_error)
        if process is ProcessState.ELSEWHERE:
            return WorkerHealth(False, f"worker on {row['worker'].rpartition(':')[0] or 'another machine'}: no round"
                                       f" since {since:%H:%M} ({_day(since, now)}); whether it still runs cannot be"
                                       " seen from this machine" + last_error)
        return WorkerHealth(False, f"worker not running since {since:%H:%M} ({_day(since, now)})" + last_error)
    if row["mailbox_down_since"]:
        down_since = datetime.fromisoformat(row["mailbox_down_since"]).astimezone()
        return WorkerHealth(True, f"worker: active {_ago(age)} ago, but cannot reach the mailbox since"
                                  f" {down_since:%H:%M} ({_day(down_since, now)}): {row['mailbox_error']}",
                            problem=True)
    errors = f"{row['errors']} error{'s' if row['errors'] != 1 else ''}"
    text = f"worker: active {_ago(age)} ago, latest round {row['fetched']} fetched, {row['triaged']} triaged, {errors}"
    return WorkerHealth(True, text + (f" (last: {row['last_error']})" if row["errors"] and row["last_error"] else ""))


def _ago(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min"


def _day(when: datetime, now: datetime) -> str:
    return "today" if when.date() == now.astimezone(when.tzinfo).date() else f"{when:%d %b}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
