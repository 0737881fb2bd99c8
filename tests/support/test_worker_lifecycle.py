"""The worker's heartbeat read against real processes: a worker that is stuck in a round is said to
be stuck, not gone (or someone starts a second beside it); a dead one, a pid another program got
since, and a worker on another machine are each said as what they are (support/health.py)."""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from core.settings import load_settings
from integrations.connections import DOWN, OK
from support.desk import open_store
from support.health import Round, record_progress, worker_health, worker_started
from support.store import TicketStore
from testbed import free_port
from testbed.dovecot import DovecotServer, dovecot_available
from tests.conftest import REPO_ROOT
from tests.fixtures import server_missing
from tests.support.test_worker import PERSON, cli_env
from ui.inbox_connections import worker_connection

STUCK_WORKER = r"""
import sys, time
from pathlib import Path
from support import worker

class StuckInTheModel:  # a stand-in triager (no model) that never returns
    def triage_many(self, emails, batch_size=8):
        Path(sys.argv[1]).touch()
        time.sleep(3600)

worker._load_triager = lambda settings: StuckInTheModel()
sys.exit(worker.main(["--eml-dir", sys.argv[2], "--every", "30"]))
"""


def test_a_worker_stuck_in_a_round_is_said_to_be_stuck_and_a_killed_one_not_running(tmp_path):
    mail, reading = tmp_path / "mail", tmp_path / "reading"
    mail.mkdir()
    (mail / "1.eml").write_bytes(PERSON)
    env = cli_env(ACEDESK_DATA_DIR=str(tmp_path / "data"))
    stuck = subprocess.Popen([sys.executable, "-c", STUCK_WORKER, str(reading), str(mail)], cwd=REPO_ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not reading.exists() and stuck.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reading.exists(), stuck.returncode
        store = TicketStore(next((tmp_path / "data").glob("*.sqlite3")))
        past_stale = datetime.now(UTC) + timedelta(seconds=100)  # 3 intervals of 30 s, no round ended
        health = worker_health(store, now=past_stale)
        assert not health.running and health.text.startswith("worker busy or stuck: its process") and \
            f"kill {stuck.pid}" in health.text, health.text
    finally:
        stuck.send_signal(signal.SIGKILL)
        stuck.wait(timeout=30)
    assert worker_health(store, now=past_stale).text.startswith("worker not running since")


def test_a_pid_another_program_got_since_is_no_running_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    store = open_store(load_settings())
    worker_started(store, "placeholder", every_s=30)
    newcomer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
        # the worker of an hour ago had the pid the newcomer was given now
        store.db.execute("UPDATE worker_rounds SET worker=?, started_at=?, last_round_at=?",
                         (f"{socket.gethostname()}:{newcomer.pid}", an_hour_ago, an_hour_ago))
        assert worker_health(store).text.startswith("worker not running since")
    finally:
        newcomer.kill()
        newcomer.wait()


def test_a_worker_on_another_machine_is_not_called_dead_or_stuck(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    store = open_store(load_settings())
    worker_started(store, "other-host.example:4242", every_s=30)
    health = worker_health(store, now=datetime.now(UTC) + timedelta(minutes=10))
    assert not health.running and health.text.startswith("worker on other-host.example: no round since")
    assert "cannot be seen from this machine" in health.text


LONG_ROUND_WORKER = r"""
import sys, time
from pathlib import Path
from model.schema import TriageResult
from support import worker

class TwoBatchesThenWaits:  # a stand-in triager (no model): the third batch waits until the test has looked
    batches = 0

    def triage_many(self, emails, batch_size=8):
        TwoBatchesThenWaits.batches += 1
        if TwoBatchesThenWaits.batches == 3:
            Path(sys.argv[1]).touch()
            while not Path(sys.argv[3]).exists():
                time.sleep(0.05)
        return [TriageResult(category="other", confidence=0.99, response="Thanks") for _ in emails]

worker._load_triager = lambda settings: TwoBatchesThenWaits()
sys.exit(worker.main(["--eml-dir", sys.argv[2], "--every", "30"]))
"""


def wait_for(condition, process, seconds=60) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert condition(), process.returncode


def test_a_long_round_beats_as_each_batch_is_done_so_the_strip_says_it_works(tmp_path):
    """A round of many slow mails outlasts the stale limit (60 mails at 1.5 s: 90 s) while working:
    the strip must show its progress, or "busy or stuck" says nothing."""
    mail, reading, release = tmp_path / "mail", tmp_path / "reading", tmp_path / "release"
    mail.mkdir()
    for n in range(12):  # three batches of four
        (mail / f"{n:02}.eml").write_bytes(PERSON.replace(b"<p1@", b"<p%d@" % n).replace(b"Cancel", b"Cancel %d" % n))
    env = cli_env(ACEDESK_DATA_DIR=str(tmp_path / "data"))
    running = subprocess.Popen([sys.executable, "-c", LONG_ROUND_WORKER, str(reading), str(mail), str(release)],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(reading.exists, running)
        store = TicketStore(next((tmp_path / "data").glob("*.sqlite3")))
        health = worker_health(store)  # two batches done, the third being read: the round goes on
        assert health.running and health.text.startswith("worker: active") and "12 fetched, 8 triaged" in health.text, \
            health.text
        assert store.db.execute("SELECT rounds FROM worker_rounds").fetchone()[0] == 0  # no round ended yet
        release.touch()
        wait_for(lambda: store.db.execute("SELECT rounds FROM worker_rounds").fetchone()[0] == 1, running)
        assert "12 fetched, 12 triaged, 0 errors" in worker_health(store).text
    finally:
        running.terminate()
        running.wait(timeout=30)
    assert worker_health(store).text.startswith("worker not running since")


def test_a_beat_within_the_round_keeps_a_worker_whose_round_began_long_ago_from_being_called_stuck(tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    worker = f"{socket.gethostname()}:{os.getpid()}"  # this process: it runs
    start = worker_started(store, worker, every_s=30)
    two_minutes_ago = (datetime.now(UTC) - timedelta(minutes=2)).isoformat(timespec="seconds")
    store.db.execute("UPDATE worker_rounds SET last_round_at=?", (two_minutes_ago,))  # its round began then
    assert worker_health(store).text.startswith("worker busy or stuck"), "the setup must be stale without a beat"

    record_progress(store, start, Round(fetched=60, triaged=40))
    health = worker_health(store)
    assert health.running and "60 fetched, 40 triaged" in health.text, health.text


def mailbox_down_since(store: TicketStore) -> str | None:
    return store.db.execute("SELECT mailbox_down_since FROM worker_rounds").fetchone()[0]


def rounds(store: TicketStore) -> int:
    # the store file exists a moment before the worker's row does
    return store.db.execute("SELECT coalesce(max(rounds), 0) FROM worker_rounds").fetchone()[0]


def test_a_worker_whose_mail_server_is_down_warns_since_when_and_a_good_round_clears_it(tmp_path):
    """A real worker, polling a port where nothing listens, then a real Dovecot started on that
    port, then stopped: hours of refused connections read "1 error" on a green strip before."""
    if not dovecot_available():
        server_missing("Dovecot (as root)")
    server = DovecotServer()
    server.imap_port = free_port()
    for folder in ("home", "passwd.d"):  # the account exists before the server does: no login race
        (server.base / folder).mkdir(mode=0o755)
    server.add_user("desk", "desk-password-1")
    env = cli_env(ACEDESK_DATA_DIR=str(tmp_path / "data"), ACEDESK_IMAP_HOST="127.0.0.1",
                  ACEDESK_IMAP_PORT=str(server.imap_port), ACEDESK_IMAP_SECURITY="plain",
                  ACEDESK_IMAP_USER="desk", ACEDESK_IMAP_PASSWORD="desk-password-1")
    polling = subprocess.Popen([sys.executable, "-m", "support.worker", "--no-triage", "--every", "0.3"],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: any((tmp_path / "data").glob("*.sqlite3")), polling)
        store = TicketStore(next((tmp_path / "data").glob("*.sqlite3")))
        wait_for(lambda: rounds(store) >= 1, polling)
        first_down = mailbox_down_since(store)
        assert first_down is not None
        wait_for(lambda: rounds(store) >= 8, polling)  # over a second of rounds: a later time would show
        assert mailbox_down_since(store) == first_down  # the first failed round's time, kept
        health, strip = worker_health(store), worker_connection(store)
        since = datetime.fromisoformat(first_down).astimezone()
        assert health.running and health.problem and strip.state == DOWN, strip
        assert f"but cannot reach the mailbox since {since:%H:%M} (today): IMAP desk@127.0.0.1:{server.imap_port}" \
               " (plain): cannot connect" in strip.text, strip.text
        assert "desk-password-1" not in strip.text

        server.start()
        wait_for(lambda: mailbox_down_since(store) is None, polling)  # one good round clears it
        strip = worker_connection(store)
        assert strip.state == OK and "0 errors" in strip.text and "cannot reach" not in strip.text, strip

        server.stop()
        wait_for(lambda: mailbox_down_since(store) is not None, polling)
        assert mailbox_down_since(store) >= first_down and worker_health(store).problem
        assert worker_connection(store).state == DOWN
    finally:
        polling.terminate()
        polling.wait(timeout=30)
        server.stop()


def test_once_workers_and_a_restarted_one_warn_since_the_first_failed_run_and_a_good_fetch_clears_it(tmp_path):
    """``--once`` runs (cron) against a port where nothing listens, then a looping worker killed and
    started again (a supervisor), then a real Dovecot on that port: each run used to be a new worker
    whose strip said only "not running … its last error", and each start reset "down since"."""
    if not dovecot_available():
        server_missing("Dovecot (as root)")
    server = DovecotServer()
    server.imap_port = free_port()
    for folder in ("home", "passwd.d"):
        (server.base / folder).mkdir(mode=0o755)
    server.add_user("desk", "desk-password-1")
    env = cli_env(ACEDESK_DATA_DIR=str(tmp_path / "data"), ACEDESK_IMAP_HOST="127.0.0.1",
                  ACEDESK_IMAP_PORT=str(server.imap_port), ACEDESK_IMAP_SECURITY="plain",
                  ACEDESK_IMAP_USER="desk", ACEDESK_IMAP_PASSWORD="desk-password-1")
    worker_command = [sys.executable, "-m", "support.worker", "--no-triage"]

    def once() -> int:
        return subprocess.run([*worker_command, "--once"], check=False, cwd=REPO_ROOT, env=env,
                              capture_output=True).returncode
    try:
        assert once() == 1
        store = TicketStore(next((tmp_path / "data").glob("*.sqlite3")))
        first_down = latest(store)["mailbox_down_since"]
        time.sleep(1.1)  # a later run's own time would show
        assert once() == 1
        assert latest(store)["mailbox_down_since"] == first_down
        since = datetime.fromisoformat(first_down).astimezone()
        strip = worker_connection(store)
        assert strip.state == DOWN and strip.text.startswith("worker not running since") and \
            f"; it could not reach the mailbox since {since:%H:%M} (today): IMAP desk@127.0.0.1:" in strip.text, strip
        assert "desk-password-1" not in strip.text

        looping = subprocess.Popen([*worker_command, "--every", "0.3"], cwd=REPO_ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: latest(store)["rounds"] >= 2 and latest(store)["stopped_at"] is None, looping)
        finally:
            looping.kill()  # a crash: no stop recorded
            looping.wait(timeout=30)
        assert latest(store)["mailbox_down_since"] == first_down
        health = worker_health(store)  # its fresh beat is no running worker: its process is gone
        assert not health.running and health.problem and health.text.startswith("worker not running since") and \
            f"; it could not reach the mailbox since {since:%H:%M}" in health.text, health

        server.start()
        assert once() == 0
        assert latest(store)["mailbox_down_since"] is None
        assert "could not reach" not in worker_connection(store).text
    finally:
        server.stop()


def latest(store: TicketStore):
    return store.db.execute("SELECT * FROM worker_rounds ORDER BY last_round_at DESC, started_at DESC LIMIT 1").fetchone()


def test_beats_dated_ahead_by_a_clock_since_set_back_neither_keep_a_dead_worker_active_nor_hide_a_live_one(tmp_path):
    """The clock ran an hour fast while a worker beat, the worker was killed (no stop recorded), and
    the clock was set right (NTP): its beats read "active 0 s ago" for that hour before."""
    store = TicketStore(tmp_path / "t.sqlite3")
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    an_hour_ahead = (datetime.now(UTC) + timedelta(hours=1)).isoformat(timespec="seconds")
    dead = f"{socket.gethostname()}:{killed.pid}"
    record_progress(store, worker_started(store, dead, every_s=30), Round(fetched=5))
    store.db.execute("UPDATE worker_rounds SET started_at=?, last_round_at=?", (an_hour_ahead, an_hour_ahead))
    for minutes in (0, 30):
        health = worker_health(store, now=datetime.now(UTC) + timedelta(minutes=minutes))
        assert not health.running and health.text.startswith("worker not running since"), health

    alive = f"{socket.gethostname()}:{os.getpid()}"  # this process: it runs, beating by the right clock
    record_progress(store, worker_started(store, alive, every_s=30), Round(fetched=2))
    health = worker_health(store)
    assert health.running and "latest round 2 fetched" in health.text, health

    store.db.execute("DELETE FROM worker_rounds WHERE worker=?", (dead,))
    store.db.execute("UPDATE worker_rounds SET last_round_at=? WHERE worker=?", (an_hour_ahead, alive))
    health = worker_health(store)  # a live one beat before the clock was set back: not "busy or stuck"
    assert health.running and "latest round 2 fetched" in health.text, health
