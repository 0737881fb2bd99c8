"""A mail's Reply-To as intake stores it and the desk answers it, through ``support.intake`` into a
real TicketStore and the workflow against the stand-in club backend and a real SMTP server: the
Reply-To's own address or none (never the From's in its place), the first of several fields, as a
mail client reads it, a Reply-To that is not plainly one address flagged, and no reply to an
address that names a host instead of a domain (``anna@[127.0.0.1]``)."""

from __future__ import annotations

import pytest

from integrations.mail_sending import SmtpSender, can_reply_to
from support.actions import ActionProblem
from support.states import State
from support.store import TicketStore
from support.workflow import Workflow
from tests.support.test_reply_destination_attacks import change_address_on_file
from tests.support.test_trust import CLUB, crafted, mail, refused_and_never_sent
from tests.support.test_workflow import cancel_ticket

ANNA = "Anna Berg <anna.berg@example.org>"
QUESTION = "What time does the club house open?"


def reply_to_flags(ticket) -> list[str]:
    return [flag for flag in ticket.flags if "Reply-To" in flag]


@pytest.mark.parametrize("sender", [ANNA, "anna.berg@example.org <x@mailbox.example>"], ids=["one-address", "two"])
@pytest.mark.parametrize("reply_to", ["nobody", "undisclosed-recipients:;", "Anna Berg"])
def test_a_reply_to_that_names_no_address_is_stored_as_none_and_flagged(
        tmp_path, club_backend, smtp_server, sender, reply_to):
    # Before: the From's first address was stored as the Reply-To (anna.berg@ for the second From,
    # whom it only shows), so the ticket showed a Reply-To the mail never had, and nothing was flagged.
    raw = mail(sender, QUESTION, extra=f"Reply-To: {reply_to}\r\n")
    store, _workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    ticket = store.ticket(ticket_id)
    assert ticket.reply_to is None
    assert reply_to_flags(ticket) == [(f"the Reply-To header names no address a reply can be sent to ({reply_to}): "
                                      "it is not used")]
    assert ticket.state == State.NEEDS_REVIEW


def test_the_first_of_two_reply_to_fields_decides_and_the_mail_is_flagged(tmp_path, club_backend, smtp_server):
    # Before: the last field was stored, so the desk answered helper@ (unflagged: the last field
    # is the sender's own), where a mail client answers, and the operator reads, the first.
    raw = mail(ANNA, QUESTION, extra="Reply-To: anna.berg@example.org\r\nReply-To: helper@elsewhere.example\r\n")
    store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    ticket = store.ticket(ticket_id)
    assert ticket.reply_to == "anna.berg@example.org"
    assert reply_to_flags(ticket) == ["the mail has 2 Reply-To header fields: only the first counts, as for a mail client"]
    workflow.approve(ticket_id, "operator")
    workflow.execute(ticket_id)
    [reply] = smtp_server.messages
    assert reply.rcpt_tos == ("anna.berg@example.org",)


def test_a_first_reply_to_elsewhere_is_where_the_reply_goes_and_is_flagged_so(tmp_path, club_backend, smtp_server):
    # Before: the last field (the sender's own address) hid the first, which mail clients answer.
    raw = mail(ANNA, QUESTION, extra="Reply-To: helper@elsewhere.example\r\nReply-To: anna.berg@example.org\r\n")
    _store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    check = workflow.check(ticket_id)
    assert check.recipient == "helper@elsewhere.example"
    assert any(flag.startswith("replies would go to helper@elsewhere.example") for flag in check.flags)


def test_a_reply_to_of_several_addresses_is_flagged(tmp_path, club_backend, smtp_server):
    # Before: unflagged, and the reply went to the first address alone while a mail client answers all.
    raw = mail(ANNA, QUESTION, extra="Reply-To: anna.berg@example.org, helper@elsewhere.example\r\n")
    store, _workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    ticket = store.ticket(ticket_id)
    assert ticket.reply_to == "anna.berg@example.org"
    assert reply_to_flags(ticket) == [("the Reply-To header holds 2 addresses (anna.berg@example.org, "
                                      "helper@elsewhere.example): a reply goes to anna.berg@example.org alone")]


def test_a_reply_to_naming_one_of_a_froms_several_addresses_is_flagged(tmp_path, club_backend, smtp_server):
    # Before: every address of the From counted as the sender, so picking one of them was no trick.
    raw = mail(f"{ANNA}, x@mailbox.example", QUESTION, extra="Reply-To: x@mailbox.example\r\n")
    store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    assert reply_to_flags(store.ticket(ticket_id)) == [
        ("the Reply-To header names x@mailbox.example, one of the From's 2 addresses: which of them wrote the mail "
        "is unclear")]
    with pytest.raises(ActionProblem, match="holds no single address"):  # still never the recipient
        workflow.check(ticket_id)


@pytest.mark.parametrize("address", ["anna@[127.0.0.1]", "anna@[IPv6:::1]", '"anna"@[10.0.0.1]',
                                     "Anna <anna@ [192.168.1.10]>", "anna@(internal)[10.0.0.1]", "anna@127.0.0.1",
                                     "anna@intranet.10"])
def test_no_reply_can_be_written_to_an_address_at_a_host_the_sender_chose(address):
    # Before: each was taken, and the club's relay would have delivered the reply to that host.
    assert not can_reply_to(address)


@pytest.mark.parametrize("address", ["anna.berg@example.org.", "anna@\\[127.0.0.1\\]"])
def test_an_address_the_email_package_cannot_parse_is_no_recipient_rather_than_an_error(address):
    # Before: HeaderParseError (not a ValueError) came out of the check, and a mail from such a
    # From was quarantined at intake as an "unexpected error".
    assert not can_reply_to(address)


def test_guard_ordinary_addresses_can_still_be_answered():
    """Held before: a domain with digits, a sub-domain, an IDN."""
    assert all(map(can_reply_to, ["anna@tc-1899.example", "Anna <anna@mail.example.co.uk>", "anna@bücher.example"]))


def test_a_mail_from_a_final_dot_address_is_a_ticket_not_quarantined(tmp_path, club_backend, smtp_server):
    raw = mail("Anna Berg <anna.berg@example.org.>", QUESTION)
    store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    ticket = store.ticket(ticket_id)
    assert ticket.state == State.NEEDS_REVIEW and ticket.flags == (
        "the From header is malformed (invalid address in address-list); read as anna.berg@example.org.",)
    with pytest.raises(ActionProblem, match="no reply can be written to"):
        workflow.check(ticket_id)


def test_a_reply_to_at_a_host_is_not_used_and_is_flagged(tmp_path, club_backend, smtp_server):
    # Before: stored and answered (flagged "replies would go to anna@[10.0.0.1]", which blocks nothing).
    raw = mail(ANNA, QUESTION, extra="Reply-To: anna@[10.0.0.1]\r\n")
    store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    ticket = store.ticket(ticket_id)
    assert ticket.reply_to is None
    assert reply_to_flags(ticket) == [("the Reply-To header names no address a reply can be sent to "
                                      "(anna@[10.0.0.1]): it is not used")]
    assert workflow.check(ticket_id).recipient == ANNA


def test_a_from_at_a_host_is_refused_at_the_check(tmp_path, club_backend, smtp_server):
    raw = mail("Anna Berg <anna@[127.0.0.1]>", QUESTION)
    _store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    refused_and_never_sent(workflow, ticket_id, smtp_server, "no reply can be written to")


def test_a_members_address_on_file_at_a_host_is_refused_before_the_club_acts(
        tmp_path, club_backend, smtp_server):
    # Before: the check passed (flagged sender does not match account), and an override cancelled the
    # booking and sent the confirmation through the relay to 127.0.0.1.
    workflow = Workflow(TicketStore(tmp_path / "acedesk.sqlite3"), club_backend.api(),
                        SmtpSender(smtp_server.settings(from_address=CLUB)), from_address=CLUB)
    change_address_on_file(club_backend, "anna.berg", "anna.berg@[127.0.0.1]")
    ticket_id = cancel_ticket(workflow.store)
    with pytest.raises(ActionProblem, match=r"no reply can be written to .*anna\.berg@\[127\.0\.0\.1\]"):
        workflow.check(ticket_id)
    with pytest.raises(ActionProblem):
        workflow.approve(ticket_id, "operator", override_reason="Anna asked on the phone")
    assert club_backend.effects()["cancel"] == 0 and smtp_server.messages == []
