"""Opening a store that is not migrated yet from several processes at the same moment (the worker
and the app after an upgrade, or both on a fresh data folder): real processes, released together
by a barrier, trial after trial."""

from __future__ import annotations

import multiprocessing
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.processes import process_name
from support.health import Round, WorkerStart, record_round, worker_health
from support.migrations import MIGRATIONS
from support.states import State
from support.store import LEASE_S, TicketStore

PROCESSES = 3
TRIALS = 10  # per start; the old code failed two trials in three (every one on a store at version 4)
STARTS = {"fresh file": None, "version 4": 4, "version 6": 6}


def old_store(path: Path, version: int) -> None:
    """A store an earlier release left at ``version``, in WAL mode as the app leaves it, with one ticket."""
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    for number, script in enumerate(MIGRATIONS[:version], start=1):
        for statement in [part for part in script.split(";") if part.strip()]:
            old.execute(statement)
        old.execute(f"PRAGMA user_version = {number}")
    old.execute("INSERT INTO tickets (mailbox, uidvalidity, uid, message_id, state, created_at, updated_at)"
                " VALUES ('INBOX', '7', '1', '<m1@example.org>', 'received', 'now', 'now')")
    old.close()


def open_each(paths: list[str], barrier, results) -> None:
    """In a process of its own: open each store the moment every process is ready to."""
    for path in paths:
        try:
            barrier.wait(timeout=60)
            TicketStore(path).db.close()
            results.put((path, "ok"))
        except Exception as error:  # noqa: BLE001 - what failed is the test's finding
            results.put((path, f"{type(error).__name__}: {error}"))


def schema(path: Path) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        db.close()


def test_processes_opening_an_unmigrated_store_at_once_all_open_it_and_it_is_migrated_once(tmp_path):
    trials = []  # (path, the version it starts at): every start, TRIALS times, in one run of the processes
    for label, version in STARTS.items():
        reference = tmp_path / f"{label}-reference.sqlite3"  # the same start, migrated by one process alone
        if version is not None:
            old_store(reference, version)
        TicketStore(reference).db.close()
        for trial in range(TRIALS):
            path = tmp_path / f"{label}-{trial}.sqlite3"
            if version is not None:
                old_store(path, version)
            trials.append((path, version, reference))

    context = multiprocessing.get_context("spawn")  # nothing of pytest's process (torch threads) is forked
    barrier, results = context.Barrier(PROCESSES), context.Queue()
    paths = [str(path) for path, _, _ in trials]
    openers = [context.Process(target=open_each, args=(paths, barrier, results)) for _ in range(PROCESSES)]
    for opener in openers:
        opener.start()
    outcomes = [results.get(timeout=120) for _ in range(PROCESSES * len(trials))]
    for opener in openers:
        opener.join(timeout=60)

    assert [opener.exitcode for opener in openers] == [0] * PROCESSES
    assert [(Path(path).name, outcome) for path, outcome in outcomes if outcome != "ok"] == []
    for path, version, reference in trials:
        store = TicketStore(path)
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stored = [ticket.message_id for ticket in store.tickets()]
        assert stored == ([] if version is None else ["<m1@example.org>"])  # the old release's ticket, once
        if version == 4:  # migration 5 rebuilt its table and recorded its UID, once
            assert store.known_uids("INBOX", "7") == {"1"}
        store.db.close()
        assert schema(path) == schema(reference)


def test_a_store_of_the_release_before_keeps_its_worker_row_and_records_when_the_mailbox_went_down(tmp_path):
    path = tmp_path / "t.sqlite3"
    old_store(path, 7)
    old = sqlite3.connect(path)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    with old:  # a worker of the release before, running, its last round 1 error
        old.execute("INSERT INTO worker_rounds (worker, started_at, last_round_at, every_s, rounds, errors, last_error)"
                    " VALUES ('host:7', ?, ?, 60, 40, 1, 'cannot connect')", (now, now))
    old.close()

    store = TicketStore(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    row = store.db.execute("SELECT rounds, mailbox_down_since, mailbox_error FROM worker_rounds").fetchone()
    assert tuple(row) == (40, None, None)
    # (its one received ticket is said to wait: "; 1 mail waiting for the model")
    assert "0 fetched, 0 triaged, 1 error (last: cannot connect)" in worker_health(store).text
    record_round(store, WorkerStart("host:7", now, 60), Round(errors=1, last_error="refused", mailbox_error="refused"))
    health = worker_health(store)
    assert health.problem and "but cannot reach the mailbox since" in health.text and health.text.endswith(": refused")
    store.db.close()


def test_a_lease_taken_by_the_release_before_is_kept_and_runs_out_by_the_wall_clock(tmp_path):
    """Its row has no deadline on the boot clock (support/store.py measures a lease of this boot by it):
    the wall-clock rule it was taken under still holds it, and still ends it."""
    path = tmp_path / "t.sqlite3"
    old_store(path, 8)
    old = sqlite3.connect(path)
    with old:  # a live process of this boot executes the ticket, its lease ahead by the wall clock
        old.execute("UPDATE tickets SET state='executing', lease_owner=?, lease_until=?",
                    (process_name(), (datetime.now(UTC) + timedelta(seconds=LEASE_S)).isoformat(timespec="seconds")))
    old.close()

    store = TicketStore(path)
    assert store.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    (ticket_id, lease_until_boot), = store.db.execute("SELECT id, lease_until_boot FROM tickets").fetchall()
    assert lease_until_boot is None
    assert not store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")
    store.db.execute("UPDATE tickets SET lease_until='2000-01-01T00:00:00+00:00'")
    assert store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")
    store.db.close()
