"""The ticket store when SQLite fails under it: a full disk (forced without root by ``PRAGMA
max_page_count``, which fails a write exactly as a full disk does: SQLITE_FULL, the transaction
rolled back by SQLite itself) and another process holding the write lock past the busy timeout.
Nothing is lost or half-written, the error says what happened, and the next round resumes."""

import dataclasses
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from functools import partial

import pytest

from core.mail import MailRef
from core.settings import load_settings
from support import health, worker
from support.desk import open_store
from support.intake import fetch_eml_dir, fetch_imap
from support.states import State
from support.store import StoreFull, TicketStore
from support.worker import poll
from tests.conftest import REPO_ROOT
from tests.support.test_worker import PERSON, folder_flags

DEMO_MAIL = REPO_ROOT / "demo" / "mail"
ROOM_FOR_SOME_MAILS = 2
"""Pages left free: a few mails fit, the rest of the folder does not."""
EDITED_REPLY = "edited " * 600
FREE_PAGES_TRIED = 8
"""From no page free to enough for the whole approval of EDITED_REPLY."""


def fill_up(store: TicketStore, free_pages: int) -> None:
    """The store's file may grow by ``free_pages`` pages only: its next writes find the disk full."""
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={pages + free_pages}")


def make_room(store: TicketStore) -> None:
    store.db.execute("PRAGMA max_page_count=1073741823")


def assert_whole(store: TicketStore) -> None:
    """Every ticket has its intake audit entry and its sighting; every sighting its ticket; and the
    connection is not stuck in a transaction SQLite already ended."""
    db = store.db
    assert db.execute("SELECT id FROM tickets WHERE id NOT IN (SELECT ticket_id FROM audit"
                      " WHERE event IN ('received', 'quarantined'))").fetchall() == []
    assert db.execute("SELECT id FROM tickets WHERE uid NOT IN (SELECT uid FROM mail_seen)").fetchall() == []
    assert db.execute("SELECT uid FROM mail_seen WHERE ticket_id NOT IN (SELECT id FROM tickets)").fetchall() == []
    assert not db.in_transaction
    with store.transaction():
        pass


def assert_names_the_file_and_what_to_do(message: str, store: TicketStore) -> None:
    """SQLite's "database or disk is full" names no file: the operator reads which, and to free space."""
    assert f"the ticket store {store.path} is full" in message and "free space on the disk" in message, message


@pytest.fixture
def mail_folder(tmp_path):
    return shutil.copytree(DEMO_MAIL, tmp_path / "mail")


def test_a_full_store_stops_the_fetch_with_its_own_error_and_the_next_fetch_stores_the_rest(tmp_path, mail_folder):
    store = TicketStore(tmp_path / "t.sqlite3")
    fill_up(store, ROOM_FOR_SOME_MAILS)

    with pytest.raises(sqlite3.OperationalError, match="full"):  # not "cannot rollback": SQLite did
        fetch_eml_dir(store, mail_folder)
    stored = len(store.tickets())
    assert 0 < stored < len(list(mail_folder.glob("*.eml")))
    assert_whole(store)

    make_room(store)
    fetch_eml_dir(store, mail_folder)
    assert_whole(store)
    files = sorted(path.name for path in mail_folder.glob("*.eml"))
    assert sorted(uid for (uid,) in store.db.execute("SELECT uid FROM mail_seen WHERE processed=1")) == files
    assert len({ticket.uid for ticket in store.tickets()}) == len(store.tickets())  # none stored twice


def test_a_worker_round_on_a_full_store_names_the_full_disk_and_the_next_round_resumes(tmp_path, mail_folder):
    store = TicketStore(tmp_path / "t.sqlite3")
    fetch = partial(fetch_eml_dir, folder=mail_folder)
    fill_up(store, ROOM_FOR_SOME_MAILS)

    done = poll(store, fetch, triager=None)
    assert done.errors == 1 and "database or disk is full" in done.last_error
    assert_names_the_file_and_what_to_do(done.last_error, store)

    make_room(store)
    assert poll(store, fetch, triager=None).errors == 0
    assert_whole(store)
    assert store.db.execute("SELECT count(*) FROM mail_seen WHERE processed=1").fetchone()[0] == len(
        list(mail_folder.glob("*.eml")))


@pytest.fixture
def triaged(tmp_path):
    """A store file with one triaged ticket whose approval (edits, action, audit, correction) needs
    several new pages."""
    store = TicketStore(tmp_path / "base.sqlite3")
    long = "please " * 500
    ticket_id = store.add_ticket(MailRef("INBOX", "1", "1", "<a@example.org>"), sender="a@example.org",
                                 subject="cancel", body=long)
    store.record_triage(ticket_id, {"category": "cancel_booking", "fields": {"booking_id": "BK-1"},
                                    "reply": long, "confidence": 0.9}, [])
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.close()
    return store.path, ticket_id


@pytest.mark.parametrize("free_pages", range(FREE_PAGES_TRIED))
def test_an_approval_the_full_store_cannot_hold_is_kept_whole_or_not_at_all(triaged, tmp_path, free_pages):
    # Each page count lets the approval fail at another of its writes: the action, the edits, the
    # audit entry, the correction (whose own failure is otherwise forgiven).
    base, ticket_id = triaged
    store = TicketStore(shutil.copy(base, tmp_path / f"{free_pages}.sqlite3"))
    fill_up(store, free_pages)
    try:
        store.save_approval(ticket_id, {"reply": EDITED_REPLY}, None, "operator",
                            ("cancel_booking", "key-1", {"path": "/bookings/BK-1/cancel"}))
    except sqlite3.OperationalError as error:
        assert "full" in str(error)  # what happened, not "cannot commit - no transaction is active"
        assert_names_the_file_and_what_to_do(str(error), store)
        approved = False
    else:
        approved = True
    make_room(store)

    ticket = store.ticket(ticket_id)
    events = [entry.event for entry in store.audit_log(ticket_id)]
    actions = store.db.execute("SELECT idempotency_key FROM actions").fetchall()
    if approved:
        assert ticket.state == State.APPROVED and ticket.edits and [tuple(row) for row in actions] == [("key-1",)]
        assert events[-2:] == ["action_recorded", "triaged->approved"]
    else:
        assert ticket.state == State.TRIAGED and not ticket.edits and actions == []
        assert events == ["received", "received->triaged"]
        assert store.db.execute("SELECT count(*) FROM corrections").fetchone()[0] == 0
    assert_whole(store)


def test_the_approval_sweep_reaches_both_outcomes(triaged, tmp_path):
    """The sweep above must fail some approvals and let some through, or it tests nothing."""
    base, ticket_id = triaged
    outcomes = set()
    for free_pages in range(FREE_PAGES_TRIED):
        store = TicketStore(shutil.copy(base, tmp_path / f"{free_pages}.sqlite3"))
        fill_up(store, free_pages)
        try:
            store.save_approval(ticket_id, {"reply": EDITED_REPLY}, None, "operator",
                                ("cancel_booking", "key-1", {"path": "/bookings/BK-1/cancel"}))
            outcomes.add("approved")
        except sqlite3.OperationalError:
            outcomes.add("full")
    assert outcomes == {"approved", "full"}


def test_a_store_locked_past_its_busy_timeout_fails_the_fetch_cleanly_and_the_next_fetch_recovers(
        tmp_path, mail_folder):
    store = TicketStore(tmp_path / "t.sqlite3")
    store.db.execute("PRAGMA busy_timeout=300")  # the real one is 30 s
    hold_until_stdin_closes = ("import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None);"
                               " db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", hold_until_stdin_closes, str(store.path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            fetch_eml_dir(store, mail_folder)
        assert store.tickets() == []  # WAL: the inbox still reads meanwhile
    finally:
        holder.communicate("")  # its end releases the lock
    assert_whole(store)
    assert fetch_eml_dir(store, mail_folder) == len(store.tickets()) > 0


def test_imap_mail_the_full_store_did_not_keep_stays_untouched_on_the_server(dovecot_server, imap_account,
                                                                              tmp_path):
    mails = [PERSON.replace(b"<p1@", b"<p%d@" % n).replace(b"Cancel", b"Cancel %d" % n) for n in range(12)]
    dovecot_server.append_many(imap_account.user, mails)
    settings = dataclasses.replace(imap_account, mark_seen=True, processed_folder="Processed")
    store = TicketStore(tmp_path / "t.sqlite3")
    fill_up(store, 1)

    with pytest.raises(sqlite3.OperationalError, match="full"):
        fetch_imap(store, settings)
    stored = len(store.tickets())
    assert stored < len(mails)
    assert len(folder_flags(settings, "Processed")) == stored  # only what was stored was moved
    assert folder_flags(settings) == [set()] * (len(mails) - stored)  # the rest untouched, unseen

    make_room(store)
    fetch_imap(store, settings)
    assert_whole(store)
    assert sorted(ticket.message_id for ticket in store.tickets()) == sorted(
        f"<p{n}@example.org>" for n in range(len(mails)))
    assert folder_flags(settings) == [] and folder_flags(settings, "Processed") == [{"\\Seen"}] * len(mails)


def test_the_worker_on_a_full_store_logs_which_file_is_full_and_goes_on(tmp_path, mail_folder, monkeypatch, caplog):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    store = open_store(load_settings())
    monkeypatch.setattr(worker, "open_store", lambda settings: store)  # the connection whose disk is full
    fill_up(store, ROOM_FOR_SOME_MAILS)

    assert worker.main(["--once", "--no-triage", "--eml-dir", str(mail_folder)]) == 0  # the mailbox was there
    assert_names_the_file_and_what_to_do(caplog.text, store)
    make_room(store)
    assert worker.main(["--once", "--no-triage", "--eml-dir", str(mail_folder)]) == 0
    assert_whole(store)
    assert len(store.tickets()) == len(list(mail_folder.glob("*.eml")))


def test_a_full_store_error_is_still_the_sqlite_error_its_callers_handle(tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    fill_up(store, 0)
    with pytest.raises(StoreFull) as raised, store.transaction():
        store.db.execute("INSERT INTO audit (ticket_id, at, actor, event, detail) VALUES (NULL, '', '', '', ?)",
                         ("x" * 10_000,))
    assert isinstance(raised.value, sqlite3.OperationalError) and raised.value.sqlite_errorcode == sqlite3.SQLITE_FULL
    assert isinstance(raised.value.__cause__, sqlite3.OperationalError)  # SQLite's own, kept for the log


def fill_worker_rounds(store: TicketStore) -> None:
    """Earlier workers' rows fill the heartbeat table's last page, and the file may not grow: the
    next worker's start needs a page the full disk refuses."""
    fill_up(store, 0)
    rows = store.db.execute("SELECT count(*) FROM worker_rounds").fetchone()[0]
    for earlier in range(rows, rows + 10_000):
        try:
            store.db.execute("INSERT INTO worker_rounds (worker, started_at, last_round_at, every_s)"
                             " VALUES (?, '', '', 60)", (f"w:{earlier}",))
        except sqlite3.OperationalError:
            return
    raise AssertionError("the heartbeat table never filled its page")


def test_writes_outside_a_transaction_name_the_full_store(tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    ticket_id = store.add_ticket(MailRef("INBOX", "1", "1", "<a@example.org>"), sender="a@example.org")
    fill_up(store, 0)
    with pytest.raises(StoreFull) as raised:
        store.put_draft(ticket_id, {"reply": EDITED_REPLY * 4})
    assert_names_the_file_and_what_to_do(str(raised.value), store)
    fill_worker_rounds(store)
    with pytest.raises(StoreFull):
        store.write("INSERT INTO worker_rounds (worker, started_at, last_round_at, every_s) VALUES ('x:1', '', '', 1)")


def test_a_worker_started_on_a_full_store_runs_its_round_and_a_later_beat_records_its_start(
        tmp_path, mail_folder, monkeypatch, caplog):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    store = open_store(load_settings())
    monkeypatch.setattr(worker, "open_store", lambda settings: store)
    fill_worker_rounds(store)

    assert worker.main(["--once", "--no-triage", "--eml-dir", str(mail_folder)]) == 0  # not a traceback at start
    assert "its start could not be recorded" in caplog.text
    assert_names_the_file_and_what_to_do(caplog.text, store)

    fill_worker_rounds(store)
    start = health.worker_started(store, "host:4242", 60)
    assert store.db.execute("SELECT count(*) FROM worker_rounds WHERE worker='host:4242'").fetchone()[0] == 0
    make_room(store)
    health.record_progress(store, start, health.Round(fetched=3))
    row = store.db.execute("SELECT started_at, every_s FROM worker_rounds WHERE worker='host:4242'").fetchone()
    assert tuple(row) == (start.started_at, 60)
    now = health.worker_health(store)
    assert now.running and re.match(r"worker: active \d+ s ago, latest round 3 fetched", now.text), now



def test_a_start_one_store_refused_is_recorded_there_whatever_else_the_process_writes(tmp_path):
    # The refused start lives in the worker's hands, not in the process: a beat of the same name on
    # another store (a test, a second desk in one process) neither takes it nor loses it.
    full, other = TicketStore(tmp_path / "full.sqlite3"), TicketStore(tmp_path / "other.sqlite3")
    fill_worker_rounds(full)
    refused = health.worker_started(full, "host:1", 60)
    health.record_round(other, health.worker_started(other, "host:1", 60), health.Round(fetched=1))
    make_room(full)
    health.record_round(full, refused, health.Round(fetched=2))
    row = full.db.execute("SELECT started_at, rounds, fetched FROM worker_rounds WHERE worker='host:1'").fetchone()
    assert row is not None and tuple(row) == (refused.started_at, 1, 2)

OPEN_ON_A_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails as on a full disk, not by a signal
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
from core.settings import Settings
from support.desk import StoreUnavailable, open_store
try:
    open_store(Settings(data_dir=sys.argv[1]))
except StoreUnavailable as problem:
    print(problem)
"""


def test_a_store_opened_on_a_full_disk_says_to_free_space_not_to_move_the_store_away(tmp_path):
    # A real process whose files cannot grow past 4 KB: SQLite says "disk I/O error" (its WAL's
    # shared memory cannot grow), which read as a damaged file whose advice was to move it away.
    done = subprocess.run([sys.executable, "-c", OPEN_ON_A_FULL_DISK, str(tmp_path)], capture_output=True, text=True,
                          timeout=60, check=True, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    said = done.stdout
    assert "is full" in said and "Free space" in said and str(tmp_path / "acedesk.sqlite3") in said, said + done.stderr
    assert "move it away and a new" not in said and "restore it from a backup" not in said
