"""The inbox's worker cell (ui/inbox_connections.py): a worker that runs while its mailbox cannot
be used is not shown as "ok" (no mail arrives), and is again once a round fetched."""

import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from integrations.connections import DOWN, OK
from support.health import Round, record_round, worker_started, worker_stopped
from support.store import TicketStore
from ui.inbox_connections import worker_connection


def test_the_worker_cell_warns_while_the_mailbox_is_down_and_is_ok_after_a_good_round(tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    start = worker_started(store, "host:1", every_s=60)
    refused = "IMAP desk@imap.example.org:993 (tls): cannot connect: ConnectionRefusedError"
    for _ in range(3):
        record_round(store, start, Round(errors=1, last_error=refused, mailbox_error=refused))
    cell = worker_connection(store)
    assert cell.state == DOWN and "but cannot reach the mailbox since" in cell.text and cell.text.endswith(refused)

    record_round(store, start, Round(fetched=2))
    cell = worker_connection(store)
    assert cell.state == OK and cell.text.endswith("latest round 2 fetched, 0 triaged, 0 errors"), cell


def test_the_worker_cell_of_a_once_worker_that_found_the_mailbox_down_says_so_since_its_first_failed_run(tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    refused = "IMAP desk@imap.example.org:993 (tls): cannot connect: ConnectionRefusedError"
    for pid in (1, 2):  # two cron runs of `python -m support.worker --once`
        start = worker_started(store, f"host:{pid}", every_s=60)
        record_round(store, start, Round(errors=1, last_error=refused, mailbox_error=refused))
        worker_stopped(store, f"host:{pid}")
    first_down = store.db.execute("SELECT mailbox_down_since FROM worker_rounds WHERE worker='host:1'").fetchone()[0]
    since = datetime.fromisoformat(first_down).astimezone()
    cell = worker_connection(store)
    assert cell.state == DOWN and cell.text.startswith("worker not running since"), cell
    assert cell.text.endswith(f"; it could not reach the mailbox since {since:%H:%M} (today): {refused}"), cell


def test_a_worker_killed_an_hour_ago_does_not_hide_the_once_runs_after_it(tmp_path):
    """A killed worker records no stop: its row outranked every later run that stopped, so the cell
    said "not running since <the kill>" and never the mailbox the later runs could not reach."""
    store = TicketStore(tmp_path / "t.sqlite3")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    killed = f"{socket.gethostname()}:{gone.pid}"
    record_round(store, worker_started(store, killed, every_s=60), Round(fetched=3))
    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    store.db.execute("UPDATE worker_rounds SET started_at=?, last_round_at=?", (an_hour_ago, an_hour_ago))
    refused = "IMAP desk@imap.example.org:993 (tls): cannot connect: ConnectionRefusedError"
    for pid in (1, 2):  # the cron runs since, each one stopped
        start = worker_started(store, f"host:{pid}", every_s=60)
        record_round(store, start, Round(errors=1, last_error=refused, mailbox_error=refused))
        worker_stopped(store, f"host:{pid}")
    cell = worker_connection(store)
    assert cell.state == DOWN and "; it could not reach the mailbox since" in cell.text, cell
    assert f"worker not running since {datetime.fromisoformat(an_hour_ago).astimezone():%H:%M}" not in cell.text


def test_a_cron_desks_thousands_of_once_runs_leave_the_running_worker_found(tmp_path):
    """The strip reads bounded rows (a row per --once run piles up): the worker beating now is found
    however many runs stopped before it or since."""
    store = TicketStore(tmp_path / "t.sqlite3")
    record_round(store, worker_started(store, f"{socket.gethostname()}:1", every_s=60), Round(fetched=4))
    now = datetime.now(UTC)
    runs = [(f"host:{pid}", (now + timedelta(seconds=pid / 100 - 20)).isoformat()) for pid in range(3_000)]
    with store.transaction():  # stopped runs, the newest of them stopped after the live worker's beat
        store.db.executemany("INSERT INTO worker_rounds (worker, started_at, last_round_at, every_s, stopped_at)"
                             " VALUES (?, ?, ?, 60, ?)", [(name, at, at, at) for name, at in runs])
    cell = worker_connection(store)
    assert cell.state == OK and cell.text.endswith("latest round 4 fetched, 0 triaged, 0 errors"), cell
