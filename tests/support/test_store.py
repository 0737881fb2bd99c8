import sqlite3

import pytest

from core.mail import MailRef
from support.states import State, TransitionError
from support.store import MIGRATIONS, TicketStore


@pytest.fixture
def store(tmp_path):
    return TicketStore(tmp_path / "t.sqlite3")


def ref(uid="1", message_id="<m1@example.org>", uidvalidity="7"):
    return MailRef("INBOX", uidvalidity, uid, message_id)


def test_schema_is_versioned_and_reopening_does_not_migrate_twice(tmp_path):
    TicketStore(tmp_path / "t.sqlite3").add_ticket(ref(), sender="a@example.org")
    reopened = TicketStore(tmp_path / "t.sqlite3")
    assert reopened.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert len(reopened.tickets()) == 1


def test_a_mail_is_stored_once_by_uid_and_by_message_id(store):
    assert store.add_ticket(ref()) is not None
    assert store.add_ticket(ref()) is None  # same mailbox + UIDVALIDITY + UID
    assert store.add_ticket(ref(uid="2")) is None  # same Message-ID under another UID
    assert store.add_ticket(ref(uid="1", uidvalidity="8", message_id=None)) is not None  # mailbox was rebuilt
    assert len(store.tickets()) == 2


def test_moves_are_checked_and_audited(store):
    ticket_id = store.add_ticket(ref())
    store.record_triage(ticket_id, {"category": "other"}, flags=["low confidence (40%)"])
    assert store.ticket(ticket_id).state == State.NEEDS_REVIEW
    with pytest.raises(TransitionError):
        store.move(ticket_id, State.EXECUTED, "operator")
    store.move(ticket_id, State.APPROVED, "operator", note="checked")
    events = [(e.actor, e.event) for e in store.audit_log(ticket_id)]
    assert events == [("fetcher", "received"), ("model", "received->needs_review"),
                      ("operator", "needs_review->approved")]


def test_quarantined_mail_keeps_its_reason(store):
    ticket_id = store.add_ticket(ref(), quarantine_reason="unreadable message: boom")
    ticket = store.ticket(ticket_id)
    assert ticket.state == State.QUARANTINED and ticket.quarantine_reason == "unreadable message: boom"


def test_a_failed_transaction_leaves_nothing_behind(store):
    with pytest.raises(sqlite3.IntegrityError), store.transaction():
        store.db.execute("INSERT INTO audit (ticket_id, at, actor, event) VALUES (NULL, 'now', 'x', 'y')")
        store.db.execute("INSERT INTO audit (ticket_id, at, actor, event) VALUES (999, 'now', 'x', 'y')")
    assert store.db.execute("SELECT COUNT(*) FROM audit").fetchone()[0] == 0
