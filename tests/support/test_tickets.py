"""The operator's command line: export, show, approve (executes and replies), reject."""

import json
import subprocess
import sys

import pytest

from model.schema import TriageResult
from support import tickets, worker
from support.states import State
from support.store import TicketStore
from tests.conftest import REPO_ROOT


@pytest.fixture
def desk(tmp_path, monkeypatch, club_backend):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ACEDESK_CLUB_API_URL", club_backend.url)
    monkeypatch.setenv("ACEDESK_CLUB_API_TOKEN", club_backend.token)
    for name in ("ACEDESK_SMTP_HOST", "ACEDESK_IMAP_HOST"):
        monkeypatch.delenv(name, raising=False)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("01-anna-cancel-injured.eml", "12-reset-anna-from-unknown-address.eml"):
        (inbox / name).write_bytes((REPO_ROOT / "demo/mail" / name).read_bytes())
    assert worker.main(["--once", "--no-triage", "--eml-dir", str(inbox)]) == 0
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    cancel, reset = store.tickets()
    store.record_triage(cancel.id, TriageResult(category="cancel_booking", booking_id="BK-48213").to_dict(), [])
    store.record_triage(reset.id, TriageResult(category="reset_password", username="anna.berg").to_dict(), [])
    return store, cancel.id, reset.id


def test_approve_executes_and_writes_the_reply_to_the_outbox(desk, tmp_path, club_backend, capsys):
    _, cancel, _ = desk
    assert tickets.main(["approve", str(cancel)]) == 0
    assert f"ticket {cancel}: replied" in capsys.readouterr().out
    assert club_backend.effects()["cancel"] == 1
    [reply] = (tmp_path / "outbox").glob("*.eml")
    assert b"BK-48213" in reply.read_bytes()


def test_a_flagged_ticket_is_refused_without_override_and_runs_with_one(desk, club_backend, capsys):
    _, _, reset = desk
    assert tickets.main(["approve", str(reset)]) == 1
    assert "sender does not match account" in capsys.readouterr().err
    assert club_backend.effects()["password_reset"] == 0
    assert tickets.main(["approve", str(reset), "--override", "Anna phoned from her new address"]) == 0
    assert club_backend.effects()["password_reset"] == 1


def test_export_show_and_reject(desk, capsys):
    _, cancel, reset = desk
    assert tickets.main(["reject", str(reset), "--reason", "not the account holder"]) == 0
    capsys.readouterr()
    assert tickets.main(["export"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(t["id"], t["state"]) for t in lines] == [(cancel, State.TRIAGED), (reset, State.REJECTED)]
    assert tickets.main(["show", str(reset)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["audit"][-1]["detail"]["reason"] == "not the account holder"


def test_approve_with_the_backend_away_says_so_in_a_line(desk, monkeypatch, capsys):
    from core.settings import load_settings
    from tests.fixtures import free_port

    _, cancel, _ = desk

    monkeypatch.setenv("ACEDESK_CLUB_API_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    load_settings.cache_clear()
    assert tickets.main(["approve", str(cancel)]) == 1
    err = capsys.readouterr().err
    assert f"ticket {cancel}: not approved, the club backend did not answer" in err and "Traceback" not in err
    assert desk[0].ticket(cancel).state == State.TRIAGED


def test_a_row_another_tool_wrote_is_named_and_the_others_are_exported(tmp_path, monkeypatch, capsys):
    """A value the JSON line cannot hold (bytes where text belongs) costs the export that ticket, named
    on stderr with exit status 1, never a traceback halfway through the file."""
    from core.mail import MailRef

    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    first, odd, last = (store.add_ticket(MailRef("eml:x", "1", str(uid), f"<m{uid}@x>"), sender="a@example.org",
                                         subject="s", body="b") for uid in range(3))
    store.db.execute("UPDATE tickets SET message_id=? WHERE id=?", (b"\xff<blob@x>", odd))
    assert tickets.main(["export"]) == 1
    out, err = capsys.readouterr()
    assert [json.loads(line)["id"] for line in out.splitlines()] == [first, last]
    assert f"ticket {odd} cannot be exported" in err and f"not exported: ticket {odd}," in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("argv", "says"), [
    (["--field", "booking_id=BK-99999", "--field", "booking_id=BK-48213"], "booking_id is given twice"),
    (["--reply", ""], "--reply is empty"),
    (["--reply", " \n "], "--reply is empty"),
])
def test_an_ambiguous_or_empty_edit_on_the_command_line_runs_nothing(desk, tmp_path, club_backend, argv, says):
    store, cancel, _ = desk
    with pytest.raises(SystemExit, match=says):
        tickets.main(["approve", str(cancel), *argv])
    assert club_backend.effects()["cancel"] == 0 and not list((tmp_path / "outbox").glob("*.eml"))
    assert store.ticket(cancel).state == State.TRIAGED


def test_a_field_value_with_an_equals_sign_is_kept_whole_and_checked(desk, club_backend, capsys):
    _, cancel, _ = desk
    assert tickets.main(["approve", str(cancel), "--field", "booking_id=BK=48213"]) == 1
    assert "booking BK=48213 does not exist" in capsys.readouterr().err
    assert club_backend.effects()["cancel"] == 0


def test_a_damaged_store_is_named_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    (tmp_path / "acedesk.sqlite3").write_bytes(b"\x00not a database" * 100)
    with pytest.raises(SystemExit, match="cannot be opened .*file is not a database.*move it away"):
        tickets.main(["export"])


def test_the_worker_names_a_damaged_store_and_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path))
    (tmp_path / "acedesk.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    (tmp_path / "inbox").mkdir()
    with pytest.raises(SystemExit, match="worker: The ticket store .* cannot be opened"):
        worker.main(["--once", "--no-triage", "--eml-dir", str(tmp_path / "inbox")])


def test_the_cli_on_a_full_store_says_so_in_one_sentence_and_keeps_nothing(desk, monkeypatch, capsys):
    store, cancel, _ = desk
    monkeypatch.setattr(tickets, "open_store", lambda settings: store)
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={pages}")

    assert tickets.main(["reject", str(cancel), "--reason", "spam " * 3000]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith(f"reject failed: the ticket store {store.path} is full"), err
    assert "free space on the disk" in err and f"support.tickets show {cancel}" in err
    assert store.state_of(cancel) == State.TRIAGED


def test_the_cli_on_a_store_another_process_holds_says_it_is_busy(desk, monkeypatch, capsys):
    store, cancel, _ = desk
    store.db.execute("PRAGMA busy_timeout=300")  # the real one is 30 s
    monkeypatch.setattr(tickets, "open_store", lambda settings: store)
    hold_until_stdin_closes = ("import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None);"
                               " db.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.read()")
    holder = subprocess.Popen([sys.executable, "-c", hold_until_stdin_closes, str(store.path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert tickets.main(["reject", str(cancel), "--reason", "spam"]) == 1
    finally:
        holder.communicate("")
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"the ticket store {store.path} is busy" in err and "try again" in err, err
    assert store.state_of(cancel) == State.TRIAGED


def test_the_cli_names_a_ticket_that_is_not_there(desk, capsys):
    assert tickets.main(["show", "999"]) == 1
    assert capsys.readouterr().err == "show failed: no ticket 999\n"
