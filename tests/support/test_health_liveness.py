"""The strip asks the process check of a fresh beat too: a worker of this machine that was killed
(SIGKILL, OOM) read "active" until its beat went stale (90 s at least), and an operator who sees
"active" restarts nothing (support/health.py)."""

import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from core.processes import process_name
from support.health import Round, record_round, worker_health, worker_started, worker_stopped
from support.store import TicketStore
from tests.conftest import REPO_ROOT
from tests.support.test_worker import PERSON, cli_env
from tests.support.test_worker_lifecycle import rounds, wait_for

REFUSED = "IMAP desk@imap.example.org:993 (tls): cannot connect: ConnectionRefusedError"


def ended_process_name() -> str:
    """The name of a process of this machine that ran and has ended (its pid free, or another's by now)."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return f"{socket.gethostname()}:{ended.pid}"


def worker_named(store: TicketStore, pid: int) -> str:
    """The name the worker of ``pid`` gave itself (core/processes.process_name)."""
    return next(name for (name,) in store.db.execute("SELECT worker FROM worker_rounds")
                if name.startswith(f"{socket.gethostname()}:{pid}:") or name == f"{socket.gethostname()}:{pid}")


def last_beat(store: TicketStore, worker: str) -> datetime:
    at = store.db.execute("SELECT last_round_at FROM worker_rounds WHERE worker=?", (worker,)).fetchone()[0]
    return datetime.fromisoformat(at).astimezone()


def test_a_sigkilled_worker_reads_not_running_at_once_not_after_its_stale_limit(tmp_path):
    mail = tmp_path / "mail"
    mail.mkdir()
    (mail / "1.eml").write_bytes(PERSON)
    env = cli_env(ACEDESK_DATA_DIR=str(tmp_path / "data"))
    polling = subprocess.Popen([sys.executable, "-m", "support.worker", "--no-triage", "--eml-dir", str(mail),
                                "--every", "0.3"], cwd=REPO_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: any((tmp_path / "data").glob("*.sqlite3")), polling)
        store = TicketStore(next((tmp_path / "data").glob("*.sqlite3")))
        wait_for(lambda: rounds(store) >= 2, polling)
        health = worker_health(store)
        assert health.running and health.text.startswith("worker: active"), health
    finally:
        polling.send_signal(signal.SIGKILL)  # no stop recorded
        polling.wait(timeout=30)
    killed_at = datetime.now(UTC)
    health = worker_health(store)
    since = last_beat(store, worker_named(store, polling.pid))
    assert (datetime.now(UTC) - killed_at).total_seconds() < 5, "said at once, not after the stale limit"
    assert not health.running and health.text == f"worker not running since {since:%H:%M} (today)", health


def test_a_killed_workers_newer_beat_does_not_hide_a_worker_still_beating(tmp_path):
    """Two workers beat (a second one started beside the first, or one on another machine); the
    newer is killed: the strip speaks of the one that still runs, not "not running"."""
    store = TicketStore(tmp_path / "t.sqlite3")
    alive = f"{socket.gethostname()}:{os.getpid()}"  # this process: it runs
    record_round(store, worker_started(store, alive, every_s=30), Round(fetched=2))
    killed = ended_process_name()
    record_round(store, worker_started(store, killed, every_s=30), Round(fetched=5))
    a_second_later = (datetime.now(UTC) + timedelta(seconds=1)).isoformat(timespec="seconds")
    store.db.execute("UPDATE worker_rounds SET last_round_at=? WHERE worker=?", (a_second_later, killed))
    health = worker_health(store)
    assert health.running and health.text.endswith("latest round 2 fetched, 0 triaged, 0 errors"), health


def test_a_fresh_beat_whose_pid_another_program_got_since_is_no_running_worker(tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    newcomer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        worker = f"{socket.gethostname()}:{newcomer.pid}"
        record_round(store, worker_started(store, worker, every_s=30), Round(fetched=1))
        # the worker that had the pid started a minute ago and beat 10 s ago; the newcomer was created since
        a_minute_ago, ten_seconds_ago = (datetime.now(UTC) - timedelta(seconds=seconds) for seconds in (60, 10))
        store.db.execute("UPDATE worker_rounds SET started_at=?, last_round_at=?",
                         (a_minute_ago.isoformat(timespec="seconds"), ten_seconds_ago.isoformat(timespec="seconds")))
        health = worker_health(store)
        assert not health.running and health.text.startswith("worker not running since"), health
    finally:
        newcomer.kill()
        newcomer.wait()


def test_a_killed_worker_whose_mailbox_was_down_says_both_not_running_and_the_mailbox(tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    killed = ended_process_name()
    record_round(store, worker_started(store, killed, every_s=30),
                 Round(errors=1, last_error=REFUSED, mailbox_error=REFUSED))
    health = worker_health(store)
    since = last_beat(store, killed)
    assert not health.running and health.problem, health
    assert health.text == f"worker not running since {since:%H:%M} (today); it could not reach the mailbox" \
                          f" since {since:%H:%M} (today): {REFUSED}", health


def test_guard_a_fresh_beat_of_another_machine_and_of_a_live_process_read_active(tmp_path):
    """A guard, not a failing-before test: what the process check must leave as it was."""
    for fetched, worker in enumerate(("other-host.example:4242", f"{socket.gethostname()}:{os.getpid()}"), start=3):
        store = TicketStore(tmp_path / f"{fetched}.sqlite3")
        record_round(store, worker_started(store, worker, every_s=30), Round(fetched=fetched))
        health = worker_health(store)
        assert health.running and health.text.endswith(f"latest round {fetched} fetched, 0 triaged, 0 errors"), health


def test_a_worker_stuck_in_a_round_is_not_hidden_by_a_once_run_that_ended_after_it(tmp_path):
    """A looping worker stuck on one step, and a ``--once`` run (cron, or by hand) that stopped since:
    the strip said "not running since" the run's stop, and the operator started a second worker
    beside the stuck one."""
    store = TicketStore(tmp_path / "t.sqlite3")
    stuck = f"{socket.gethostname()}:{os.getpid()}"  # this process: it runs
    worker_started(store, stuck, every_s=30)
    two_minutes_ago = (datetime.now(UTC) - timedelta(minutes=2)).isoformat(timespec="seconds")
    store.db.execute("UPDATE worker_rounds SET last_round_at=?", (two_minutes_ago,))  # its round began then
    once = ended_process_name()
    record_round(store, worker_started(store, once, every_s=60), Round(fetched=1))
    worker_stopped(store, once)
    health = worker_health(store)
    assert not health.running and health.text.startswith(f"worker busy or stuck: its process ({stuck}) runs"), health


def test_a_worker_started_before_the_clock_stepped_forward_still_reads_active(tmp_path):
    """psutil's creation time moves with the wall clock: after a step forward the worker's process read
    as created after its recorded start, so "not running" while it ran, and someone started a second."""
    store = TicketStore(tmp_path / "t.sqlite3")
    worker = process_name()  # this process: it runs
    record_round(store, worker_started(store, worker, every_s=30), Round(fetched=2))
    an_hour_before = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    store.db.execute("UPDATE worker_rounds SET started_at=?", (an_hour_before,))  # dated by the clock before the step
    health = worker_health(store)
    assert health.running and health.text.endswith("latest round 2 fetched, 0 triaged, 0 errors"), health


def test_guard_a_stuck_worker_named_by_this_version_is_shown_by_host_and_pid(tmp_path):
    """A guard, not a failing-before test: the strip names the process as a person finds it, not by
    its boot id and start ticks."""
    store = TicketStore(tmp_path / "t.sqlite3")
    worker_started(store, process_name(), every_s=30)
    two_minutes_ago = (datetime.now(UTC) - timedelta(minutes=2)).isoformat(timespec="seconds")
    store.db.execute("UPDATE worker_rounds SET last_round_at=?", (two_minutes_ago,))
    health = worker_health(store)
    assert not health.running, health
    assert health.text.startswith(f"worker busy or stuck: its process ({socket.gethostname()}:{os.getpid()}) runs"), health
    assert f"stop it (kill {os.getpid()}) rather than start another" in health.text, health
