"""Where a reply goes, attacked through intake and the workflow against the stand-in club backend
and a real SMTP server: an account action's reply goes to the member's address on file as it is
when the reply goes out, never to one the club no longer has for them; a reply only goes to the
sender's one address, or to a Reply-To flagged as going elsewhere."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from integrations.mail_sending import SmtpSender
from support.states import State
from support.store import TicketStore
from support.workflow import Workflow
from tests.support.test_trust import crafted, mail, refused_and_never_sent
from tests.support.test_workflow import CLUB, Crash, add_triaged, cancel_ticket

OLD, NEW = "anna.berg@example.org", "anna.berg@new-provider.example"


def change_address_on_file(club_backend, username: str, email: str) -> None:
    """The club changes a member's address in its own system (the API AceDesk uses has no such call)."""
    arguments = club_backend.process.args
    with closing(sqlite3.connect(arguments[arguments.index("--db") + 1])) as connection, connection:
        assert connection.execute("UPDATE members SET email=? WHERE username=?", (email, username)).rowcount == 1


def crash_at(step: str | None):
    def checkpoint(name: str) -> None:
        if name == step:
            raise Crash(name)
    return checkpoint


def reset_ticket(store) -> int:
    return add_triaged(store, f"Anna Berg <{OLD}>", "I forgot my password, please send me a reset link.",
                       category="reset_password", username="anna.berg")


@pytest.mark.parametrize("step", [None, "approved", "result_recorded", "reply_prepared"])
@pytest.mark.parametrize(("make_ticket", "effect"), [(cancel_ticket, "cancel"), (reset_ticket, "password_reset")])
def test_a_reply_never_goes_to_an_address_the_club_no_longer_has_for_the_member(
        tmp_path, club_backend, smtp_server, step, make_ticket, effect):
    # Before: the address confirmed at approval was used however much later the reply went out (a
    # crash, SMTP or the backend away for a day), after the club had changed it (the old mailbox
    # given up, or taken over): the account's news went to a mailbox that is no longer the member's.
    path = tmp_path / "acedesk.sqlite3"
    sender = SmtpSender(smtp_server.settings(from_address=CLUB))
    first = Workflow(TicketStore(path), club_backend.api(), sender, from_address=CLUB, checkpoint=crash_at(step))
    ticket_id = make_ticket(first.store)
    try:
        first.approve(ticket_id, "operator")
        change_address_on_file(club_backend, "anna.berg", NEW)
        first.execute(ticket_id)
    except Crash:
        assert step is not None
    if step == "approved":  # the crash came first: the address changes while the desk is down
        change_address_on_file(club_backend, "anna.berg", NEW)

    restarted = Workflow(TicketStore(path), club_backend.api(), sender, from_address=CLUB)
    restarted.resume()
    assert smtp_server.messages == []
    ticket = restarted.store.ticket(ticket_id)
    assert ticket.state == State.FAILED
    assert f"address on file is now {NEW}" in ticket.failure_reason and "approve it again" in ticket.failure_reason

    # approved again (the sender is no longer the address on file: an override), it goes where she is now
    restarted.approve(ticket_id, "operator", override_reason="Anna told us on the phone she changed her address")
    assert restarted.execute(ticket_id) == State.REPLIED
    [reply] = smtp_server.messages
    assert reply.rcpt_tos == (NEW,)
    assert club_backend.effects()[effect] == 1


@pytest.mark.parametrize(("sender", "reply_to"), [
    ("anna.berg@example.org <x@mailbox.example>", "nobody"),                 # a Reply-To with no address
    ("anna.berg@example.org <x@mailbox.example>", "undisclosed-recipients:;"),
    ("Anna Berg <anna.berg@example.org>, x@mailbox.example", "x@mailbox.example"),
], ids=["bare-address-as-name-reply-to-no-address", "bare-address-as-name-reply-to-empty-group",
        "two-mailboxes-reply-to-the-second"])
def test_a_reply_to_that_only_repeats_one_of_a_froms_addresses_never_picks_the_recipient(
        tmp_path, club_backend, smtp_server, sender, reply_to):
    # Without a Reply-To these are refused (test_trust): no one address to answer. Before, a Reply-To
    # that named no address made intake store the From's first address as the Reply-To (the one shown
    # in the display name, anna.berg@, not the mailbox x@ that wrote), and one naming another of the
    # From's addresses was no "elsewhere": either was answered unflagged, to an address nobody chose.
    raw = mail(sender, "What time does the club house open?", extra=f"Reply-To: {reply_to}\r\n")
    _store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    refused_and_never_sent(workflow, ticket_id, smtp_server, "holds no single address")


def test_guard_a_reply_to_elsewhere_of_a_from_with_several_addresses_is_flagged_and_is_where_it_goes(
        tmp_path, club_backend, smtp_server):
    """Held before: a Reply-To outside the From's addresses is flagged, shown, and the one recipient."""
    raw = mail("Anna Berg <anna.berg@example.org>, x@mailbox.example", "What time does the club house open?",
               extra="Reply-To: helper@elsewhere.example\r\n")
    _store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    check = workflow.check(ticket_id)
    assert check.recipient == "helper@elsewhere.example"
    assert any(flag.startswith("replies would go to helper@elsewhere.example") for flag in check.flags)
    workflow.approve(ticket_id, "operator")
    workflow.execute(ticket_id)
    [reply] = smtp_server.messages
    assert reply.rcpt_tos == ("helper@elsewhere.example",) and "Cc" not in reply.message


def test_while_the_club_cannot_say_where_the_member_is_the_reply_waits_and_goes_once_it_can(
        tmp_path, club_backend, smtp_server):
    path = tmp_path / "acedesk.sqlite3"
    sender = SmtpSender(smtp_server.settings(from_address=CLUB))
    first = Workflow(TicketStore(path), club_backend.api(), sender, from_address=CLUB,
                     checkpoint=crash_at("result_recorded"))
    ticket_id = cancel_ticket(first.store)
    first.approve(ticket_id, "operator")
    with pytest.raises(Crash):
        first.execute(ticket_id)

    club_backend.inject_fault("500", count=100)
    restarted = Workflow(TicketStore(path), club_backend.api(), sender, from_address=CLUB)
    restarted.resume()
    assert smtp_server.messages == []
    assert "the reply waits for anna.berg's address on file" in restarted.store.ticket(ticket_id).failure_reason

    club_backend.inject_fault("500", count=0)
    restarted.resume()
    [reply] = smtp_server.messages
    assert reply.rcpt_tos == (OLD,) and club_backend.effects()["cancel"] == 1


def test_a_sender_no_reply_can_be_written_to_is_refused_at_the_check_not_after_the_club_acted(
        tmp_path, club_backend, smtp_server):
    # Before: the check passed, the approval ran, and building the reply failed as an "unexpected
    # error" three times before the ticket was parked: the local part of jörg@ needs SMTPUTF8.
    raw = mail("Jörg Berg <jörg@example.org>", "What time does the club house open?")
    store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    refused_and_never_sent(workflow, ticket_id, smtp_server, "no reply can be written to")
    assert store.ticket(ticket_id).state != State.APPROVED
