import os
import socket
import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta

import pytest

from core.mail import MailRef
from support.migrations import MIGRATIONS
from support.records import UNREADABLE_FLAGS, UnreadableRow
from support.states import State, TransitionError
from support.store import LEASE_S, TicketStore
from tests.support.test_migrations import old_store


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


def test_a_reused_message_id_with_other_content_is_a_ticket_of_its_own_flagged(store):
    first = store.add_ticket(ref(uid="1"), content_hash="a" * 64, sender="anna@example.org")
    second = store.add_ticket(ref(uid="2"), content_hash="b" * 64, sender="mallory@example.net")
    assert second is not None and second != first
    assert store.ticket(second).flags == (f"reuses the Message-ID of ticket {first} (other content)",)
    store.record_triage(second, {"category": "other"}, ["low confidence (40%)"])
    assert store.ticket(second).flags[0].startswith("reuses the Message-ID")  # kept through triage
    assert store.known_uids("INBOX", "7") == {"1", "2"}  # both recorded: neither is fetched again


def test_the_same_mail_under_a_new_uid_adds_nothing_but_is_recorded(store):
    first = store.add_ticket(ref(uid="1"), content_hash="a" * 64)
    assert store.add_ticket(ref(uid="1", uidvalidity="8"), content_hash="a" * 64) is None  # rebuilt folder
    assert store.add_ticket(ref(uid="5", message_id=None), content_hash="a" * 64) is None  # same, no Message-ID
    assert len(store.tickets()) == 1 and store.known_uids("INBOX", "8") == {"1"}
    assert [entry.event for entry in store.audit_log(first)].count("seen_again") == 2


def test_a_store_of_the_last_version_migrates_and_keeps_its_tickets(tmp_path):
    path = tmp_path / "old.sqlite3"
    old_store(path, 4)
    store = TicketStore(path)
    [ticket] = store.tickets()
    assert ticket.message_id == "<m1@example.org>" and store.is_known(ref())
    assert store.add_ticket(ref(uid="2"), content_hash="c" * 64) is not None  # the old UNIQUE is gone


def test_a_step_that_fails_three_times_is_parked(store):
    ticket_id = store.add_ticket(ref())
    assert [store.record_failure(ticket_id, "execute", "backend away", "w") for _ in range(3)] == [1, 2, 3]
    assert store.parked(ticket_id, "execute") and not store.parked(ticket_id, "triage")
    store.clear_failures(ticket_id, "execute")
    assert not store.parked(ticket_id, "execute")


def test_a_lease_keeps_others_off_until_its_process_is_gone(store):
    ticket_id = store.add_ticket(ref())
    store.record_triage(ticket_id, {"category": "other"}, [])
    store.move(ticket_id, State.APPROVED, "operator")
    me = f"{socket.gethostname()}:{os.getpid()}"
    assert store.claim(ticket_id, {State.APPROVED}, State.EXECUTING, me, lease=True)
    assert not store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")  # alive and within its lease
    store.db.execute("UPDATE tickets SET lease_owner=? WHERE id=?", (f"{socket.gethostname()}:999999999", ticket_id))
    assert store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")  # that process is gone
    assert "taken_over" in [entry.event for entry in store.audit_log(ticket_id)]


def test_a_lease_holders_pid_now_held_by_a_younger_process_is_no_holder(store):
    """The holder died and the system gave its pid to a process started after the lease was taken."""
    ticket_id = store.add_ticket(ref())
    store.record_triage(ticket_id, {"category": "other"}, [])
    store.move(ticket_id, State.APPROVED, "operator")
    assert store.claim(ticket_id, {State.APPROVED}, State.EXECUTING, "worker:1", lease=True)
    with subprocess.Popen(["sleep", "30"]) as younger:
        try:
            leased_before_it = (datetime.now(UTC) - timedelta(seconds=60) + timedelta(seconds=LEASE_S)).isoformat()
            store.db.execute("UPDATE tickets SET lease_owner=?, lease_until=? WHERE id=?",
                             (f"{socket.gethostname()}:{younger.pid}", leased_before_it, ticket_id))
            assert store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")  # before: its pid exists
        finally:
            younger.kill()


# -- one damaged row spoils only itself --------------------------------------------------------
DAMAGES = {
    "unknown state": "state='archived'",  # a newer version wrote it, then was rolled back
    "unreadable sender_auth": "sender_auth='pass'",
    "edits without fields": """edits='{"fields": null}'""",
    "edits not an object": """edits='["Thanks"]'""",
    "unreadable flags": "flags='not json'",
    "unreadable intake flags": "intake_flags='['",
    "unreadable failures": "failures='{'",
}
"""What a row may hold that this version cannot read as it should, as an UPDATE's SET clause."""


def three_tickets(store, *, triaged: bool) -> list[int]:
    ids = [store.add_ticket(ref(uid=str(n), message_id=f"<m{n}@example.org>"), content_hash=str(n) * 64,
                            sender=f"m{n}@example.org", subject="Hello", body="Please help.") for n in (1, 2, 3)]
    for ticket_id in ids if triaged else ():
        store.record_triage(ticket_id, {"category": "other", "confidence": 0.9, "response": "Thanks"}, [])
    return ids


def damage(store, ticket_id: int, name: str) -> None:
    store.db.execute(f"UPDATE tickets SET {DAMAGES[name]} WHERE id=?", (ticket_id,))


@pytest.mark.parametrize("name", DAMAGES)
def test_one_damaged_row_spoils_only_itself_in_every_listing(store, name, caplog):
    good_one, bad, good_two = three_tickets(store, triaged=True)
    damage(store, bad, name)
    skipped = []
    listings = {"all": store.tickets(skipped=skipped), "triaged": store.tickets(State.TRIAGED),
                "page": store.ticket_page(limit=10), "todo page": store.ticket_page(states=[State.TRIAGED])}
    for listing, tickets in listings.items():
        by_id = {ticket.id: ticket for ticket in tickets}
        assert {good_one, good_two} <= set(by_id), listing
        for ticket in tickets:  # everything a view shows of a row reads
            assert (ticket.category, ticket.proposed_reply) == ("other", "Thanks"), listing
            assert all(isinstance(flag, str) for flag in ticket.flags)
    assert store.failures(bad) == {} and not store.parked(bad, "triage")
    if name == "unknown state":  # left out of lists, with a warning; asked for, it says which row and why
        assert bad not in {ticket.id for ticket in listings["all"]} and skipped == [bad]
        assert f"ticket {bad} cannot be read: its state 'archived'" in caplog.text
        with pytest.raises(UnreadableRow, match=f"ticket {bad} cannot be read: its state 'archived' is unknown"):
            store.ticket(bad)
        return
    assert skipped == [] and [ticket.id for ticket in listings["all"]] == [good_one, bad, good_two]
    ticket = store.ticket(bad)  # what cannot be read reads as absent
    expected = {"unreadable sender_auth": ("sender_auth", None), "edits not an object": ("edits", None),
                "unreadable flags": ("flags", (UNREADABLE_FLAGS,))}
    if name in expected:
        attribute, value = expected[name]
        assert getattr(ticket, attribute) == value
    if name == "unreadable intake flags":  # a person is told, and the ticket still moves
        store.retriage(bad, "operator")
        store.record_triage(bad, {"category": "other", "confidence": 0.9, "response": "Thanks"}, [])
        assert store.ticket(bad).flags == (UNREADABLE_FLAGS,) and store.state_of(bad) == State.NEEDS_REVIEW
