"""Only the member can change the member's account (issue 13): real mails through intake, triage
as labelled, the backend check and the workflow, against the stand-in backend and a real SMTP
server. The club's MX is mx.club.example (the demo mails carry its Authentication-Results)."""

from __future__ import annotations

import re

import pytest

from integrations.mail_sending import SmtpSender
from support.actions import ActionProblem
from support.intake import fetch_eml_dir
from support.store import TicketStore
from support.trust import SENDER_NOT_AUTHENTICATED, SENDER_UNVERIFIED, TrustPolicy
from support.workflow import NeedsOverride, Workflow
from testbed.app import demo_inbox, triage_as_labelled

CLUB = "support@club.example"
MX = "mx.club.example"
ANNA_CANCELS, FORGED = "01-anna-cancel-injured.eml", "31-forged-anna-cancel-reply-to.eml"
RESET_FROM_FREEMAIL = "12-reset-anna-from-unknown-address.eml"


def desk(tmp_path, club_backend, smtp_server, names, trusted=MX, policy=None, **ingest):
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    workflow = Workflow(store, club_backend.api(), SmtpSender(smtp_server.settings(from_address=CLUB)),
                        from_address=CLUB, trust=policy or TrustPolicy(authentication_on=bool(trusted)))
    fetch_eml_dir(store, demo_inbox(tmp_path / "mail", names), trusted)
    triage_as_labelled(store, workflow)
    return store, workflow, {ticket.uid: ticket.id for ticket in store.tickets()}


def test_a_forged_from_with_reply_to_is_held_and_the_reply_goes_to_the_address_on_file(
        tmp_path, club_backend, smtp_server):
    store, workflow, ids = desk(tmp_path, club_backend, smtp_server, [ANNA_CANCELS, FORGED])
    forged = store.ticket(ids[FORGED])
    assert forged.sender_auth["status"] == "not_verified" and "dmarc=fail" in forged.sender_auth["reason"]
    check = workflow.check(forged.id)
    assert any(flag.startswith(SENDER_NOT_AUTHENTICATED) for flag in check.blocking)
    assert any("replies would go to helper@evil.example" in flag for flag in check.flags)
    assert check.recipient == "Anna Berg <anna.berg@example.org>"  # on file, never the Reply-To
    with pytest.raises(NeedsOverride, match="sender not authenticated"):
        workflow.approve(forged.id, "operator")
    assert club_backend.effects()["cancel"] == 0

    workflow.approve(forged.id, "desk@club.example", override_reason="called Anna: she did write it")
    workflow.execute(forged.id)
    [reply] = smtp_server.messages
    assert reply.rcpt_tos == ("anna.berg@example.org",) and "evil.example" not in str(reply.message["To"])


def test_a_passing_aligned_mail_has_no_sender_flag(tmp_path, club_backend, smtp_server):
    store, workflow, ids = desk(tmp_path, club_backend, smtp_server, [ANNA_CANCELS])
    assert store.ticket(ids[ANNA_CANCELS]).sender_auth["status"] == "verified"
    check = workflow.check(ids[ANNA_CANCELS])
    assert check.flags == [] and check.notes == []
    workflow.approve(ids[ANNA_CANCELS], "operator")
    assert workflow.execute(ids[ANNA_CANCELS]) == "replied" and club_backend.effects()["cancel"] == 1


def test_authentication_off_shows_sender_unverified_and_blocks_nothing(tmp_path, club_backend, smtp_server):
    _store, workflow, ids = desk(tmp_path, club_backend, smtp_server, [FORGED], trusted=None)
    check = workflow.check(ids[FORGED])
    assert check.notes == [SENDER_UNVERIFIED] and not any(flag.startswith(SENDER_NOT_AUTHENTICATED)
                                                           for flag in check.flags)


def test_a_verified_freemail_address_is_still_not_the_account(tmp_path, club_backend, smtp_server):
    store, workflow, ids = desk(tmp_path, club_backend, smtp_server, [RESET_FROM_FREEMAIL])
    check = workflow.check(ids[RESET_FROM_FREEMAIL])
    assert store.ticket(ids[RESET_FROM_FREEMAIL]).sender_auth["status"] == "verified"  # the domain, not the person
    assert any(flag.startswith("sender does not match account") for flag in check.blocking)
    assert check.recipient == "Anna Berg <anna.berg@example.org>"


def mail(sender: str, body: str, subject: str = "Booking", extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {CLUB}\r\nSubject: {subject}\r\nMessage-ID: <{abs(hash(sender + body))}@x>\r\n"
            f"Date: Tue, 24 Nov 2026 10:41:00 +0000\r\n{extra}\r\n{body}\r\n").encode()


def crafted(tmp_path, club_backend, smtp_server, raw: bytes, category: str, *, trusted: str | None = MX, **fields):
    from core.mail import MailRef
    from model.schema import TriageResult
    from support.intake import store_mail

    store = TicketStore(tmp_path / "acedesk.sqlite3")
    workflow = Workflow(store, club_backend.api(), SmtpSender(smtp_server.settings(from_address=CLUB)),
                        from_address=CLUB, trust=TrustPolicy(authentication_on=bool(trusted)))
    ticket_id = store_mail(store, MailRef("eml:/x", "0", "1.eml", None), raw, trusted)
    store.record_triage(ticket_id, TriageResult(category=category, confidence=0.99, **fields).to_dict(), [])
    return store, workflow, ticket_id


def refused_and_never_sent(workflow, ticket_id: int, smtp_server, match: str) -> None:
    """The check refuses in words matching ``match``, an approval is refused even with an override,
    and no reply goes out."""
    with pytest.raises(ActionProblem, match=match):
        workflow.check(ticket_id)
    with pytest.raises(ActionProblem):
        workflow.approve(ticket_id, "operator", override_reason="answer it anyway")
    assert smtp_server.messages == []


def test_a_lookalike_domain_is_named(tmp_path, club_backend, smtp_server):
    raw = mail("Anna Berg <anna.berg@examp1e.org>", "Please cancel BK-48213.",
               extra=f"Authentication-Results: {MX}; dmarc=pass header.from=examp1e.org\r\n")
    _store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "cancel_booking",
                                         booking_id="BK-48213")
    flags = workflow.check(ticket_id).flags
    assert any(flag.startswith("sender does not match account") for flag in flags)
    assert "the sender's domain examp1e.org looks like the account's example.org" in flags


def test_an_address_hidden_in_the_display_name_is_flagged_at_intake(tmp_path, club_backend, smtp_server):
    raw = mail('"anna.berg@example.org" <x@mailbox.example>', "Please cancel BK-48213.")
    store, _workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "cancel_booking",
                                         booking_id="BK-48213")
    assert any("display name shows anna.berg@example.org" in flag for flag in store.ticket(ticket_id).flags)


def test_an_invitation_from_a_non_member_goes_to_review_unless_self_service(tmp_path, club_backend, smtp_server):
    raw = mail("Olivia Grant <olivia.grant@example.net>", "Hi, I'd like an account: ogrant, olivia.grant@example.net")
    _store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "add_user", username="ogrant",
                                         member_email="olivia.grant@example.net")
    assert any(flag.startswith("invitation requested by a non-member") for flag in workflow.check(ticket_id).flags)
    workflow.trust = TrustPolicy(authentication_on=True, self_service_signup=True)
    assert workflow.check(ticket_id).flags == []


def test_a_member_adding_someone_is_recorded_as_the_requester(tmp_path, club_backend, smtp_server):
    raw = mail("Piotr Kowalski <piotr.k@example.com>", "Please add my son Tomasz, username tk_2009, tk@example.com",
               extra=f"Authentication-Results: {MX}; dmarc=pass header.from=example.com\r\n")
    store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "add_user", username="tk_2009",
                                         member_email="tk@example.com", member_name="Tomasz Kowalski")
    check = workflow.check(ticket_id)
    assert check.flags == [] and check.action.params["requested_by"] == "pkowalski"
    assert check.action.request.body == {"username": "tk_2009", "name": "Tomasz Kowalski", "email": "tk@example.com"}
    workflow.approve(ticket_id, "operator")
    assert store.action(ticket_id).request["requested_by"] == "pkowalski"


DMARC_PASS = f"Authentication-Results: {MX}; dmarc=pass header.from=example.org\r\n"


@pytest.mark.parametrize("trusted", [MX, None], ids=["authentication-on", "authentication-off"])
def test_an_unquoted_comma_in_the_from_name_cancels_without_an_override(tmp_path, club_backend, smtp_server, trusted):
    # "Berg, Anna <...>" was read as the address "Berg": sender does not match account, and malformed.
    raw = mail("Berg, Anna <anna.berg@example.org>", "Please cancel BK-48213.", extra=DMARC_PASS)
    store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "cancel_booking",
                                         trusted=trusted, booking_id="BK-48213")
    assert store.ticket(ticket_id).sender == '"Berg, Anna" <anna.berg@example.org>'
    check = workflow.check(ticket_id)
    assert check.blocking == [] and check.recipient == "Anna Berg <anna.berg@example.org>"
    workflow.approve(ticket_id, "operator")
    assert workflow.execute(ticket_id) == "replied" and club_backend.effects()["cancel"] == 1
    [reply] = smtp_server.messages
    assert reply.rcpt_tos == ("anna.berg@example.org",)
    assert reply.message.get_content().startswith("Hi Anna,")  # was "Hello,": no name read


@pytest.mark.parametrize("trusted", [MX, None], ids=["authentication-on", "authentication-off"])
@pytest.mark.parametrize(("sender", "extra"), [
    ("anna.berg@example.org <x@mailbox.example>", ""),     # Python read it as anna.berg@example.org alone
    ("Anna Berg <anna.berg@example.org>", "From: x@mailbox.example\r\n"),   # a second From field
    ("Club: anna.berg@example.org;", ""),                                   # a group
    ('"x@mailbox.example": anna.berg@example.org;', ""),                    # a group named like an address
], ids=["bare-address-as-name", "two-from-fields", "group", "group-named-as-address"])
def test_a_from_that_is_not_one_plain_mailbox_needs_an_override_and_the_reply_goes_on_file(
        tmp_path, club_backend, smtp_server, trusted, sender, extra):
    raw = mail(sender, "Please cancel BK-48213.", extra=DMARC_PASS + extra)
    _store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "cancel_booking",
                                         trusted=trusted, booking_id="BK-48213")
    check = workflow.check(ticket_id)
    assert check.blocking, "the account's address was taken for the sender"
    with pytest.raises(NeedsOverride):
        workflow.approve(ticket_id, "operator")
    workflow.approve(ticket_id, "operator", override_reason="called Anna: she did write it")
    workflow.execute(ticket_id)
    [reply] = smtp_server.messages
    assert reply.rcpt_tos == ("anna.berg@example.org",) and "mailbox.example" not in str(reply.message["To"])


@pytest.mark.parametrize("sender", [
    "anna.berg@example.org <x@mailbox.example>",   # the first address is not the one a client shows
    "Anna Berg <anna.berg@example.org>, x@mailbox.example",
], ids=["bare-address-as-name", "two-mailboxes"])
def test_a_reply_only_ticket_whose_from_holds_no_single_address_is_never_answered(
        tmp_path, club_backend, smtp_server, sender):
    # Before: the confirmation showed the From as written while the reply went to its first address.
    raw = mail(sender, "What time does the club house open?")
    _store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    refused_and_never_sent(workflow, ticket_id, smtp_server, "holds no single address")


def test_a_reply_only_ticket_is_confirmed_and_sent_to_the_same_one_address(tmp_path, club_backend, smtp_server):
    raw = mail("Berg, Anna <Anna.Berg@Example.org>", "What time does the club house open?")
    _store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    check = workflow.check(ticket_id)
    assert check.recipient == '"Berg, Anna" <anna.berg@example.org>'
    workflow.approve(ticket_id, "operator")
    workflow.execute(ticket_id)
    [reply] = smtp_server.messages
    assert reply.rcpt_tos == ("anna.berg@example.org",) and str(reply.message["To"]) == check.recipient


@pytest.mark.parametrize(("on_file", "sender", "same"), [
    ("anna@exämple.org", "anna@xn--exmple-cua.org", True),    # punycode of the same domain
    ("Anna.Berg@Example.org", "anna.berg@example.org.", True),  # case, and a final dot
    ("anna.berg@example.org", "anna.berg+club@example.org", False),
    ("anna.berg@example.org", "", False),                     # a From with no single address
])
def test_the_sender_matches_the_account_however_the_same_address_is_spelt(on_file, sender, same):
    from integrations.club_api import Member
    from support.actions import SENDER_MISMATCH, sender_flags

    flags = sender_flags(Member("anna", "Anna Berg", on_file, "active"), sender)
    assert (flags == []) is same and all(flag.startswith(SENDER_MISMATCH) for flag in flags)


@pytest.mark.parametrize(("results", "needs_override"), [
    (f"{MX}; DMARC=PASS header.from=example.org", False),   # was an AttributeError: the mail quarantined
    (f"{MX}; DKIM=Pass HEADER.D=example.org; DMARC=FAIL header.from=example.org", True),
])
def test_an_mx_verdict_in_capitals_is_read_at_intake_and_gates_the_cancel(
        tmp_path, club_backend, smtp_server, results, needs_override):
    raw = mail("Anna Berg <anna.berg@example.org>", "Please cancel BK-48213.",
               extra=f"Authentication-Results: {results}\r\n")
    store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "cancel_booking",
                                         booking_id="BK-48213")
    assert store.ticket(ticket_id).sender_auth["status"] == ("not_verified" if needs_override else "verified")
    assert any(flag.startswith(SENDER_NOT_AUTHENTICATED) for flag in workflow.check(ticket_id).blocking) is needs_override


def test_a_trusted_field_the_intake_cuts_short_never_lets_a_forged_from_act(tmp_path, club_backend, smtp_server):
    # The MX vouched for the attacker's own signature, example.org.evil.net; the intake cuts every
    # header field at MAX_HEADER_FIELD_BYTES, here just after "example.org".
    from integrations.mail_parsing import MAX_HEADER_FIELD_BYTES

    name, vouched = "Authentication-Results: ", "dkim=pass header.d=example.org"
    padding = " " * (MAX_HEADER_FIELD_BYTES - len(f"{name}{MX}; ") - len(vouched))
    raw = mail("Anna Berg <anna.berg@example.org>", "Please cancel BK-48213.",
               extra=f"{name}{MX}; {padding}{vouched}.evil.net\r\n")
    store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "cancel_booking",
                                         booking_id="BK-48213")
    assert store.ticket(ticket_id).sender_auth["status"] == "not_verified"
    with pytest.raises(NeedsOverride, match="sender not authenticated"):
        workflow.approve(ticket_id, "operator")
    assert club_backend.effects()["cancel"] == 0


def test_a_sender_at_an_international_domain_is_answered_there_in_its_ascii_form(tmp_path, club_backend, smtp_server):
    # formataddr refused a non-ASCII address: the check raised UnicodeEncodeError and the ticket could
    # never be answered; a German name showed as =?utf-8?b?...?= in the confirmation.
    raw = mail("Jörg Müller <joerg@bücher.example>", "What time does the club house open?")
    _store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    check = workflow.check(ticket_id)
    assert check.recipient == "Jörg Müller <joerg@bücher.example>"
    workflow.approve(ticket_id, "operator")
    workflow.execute(ticket_id)
    [reply] = smtp_server.messages
    assert reply.rcpt_tos == ("joerg@xn--bcher-kva.example",)


@pytest.mark.parametrize("sender", ["Anna <a..b@example.org>", "Anna <.anna@example.org>"])
def test_a_from_the_email_package_will_not_take_as_an_address_is_still_checked(tmp_path, club_backend, smtp_server,
                                                                                sender):
    # email.headerregistry.Address raised InvalidHeaderDefect on these (a final dot, HeaderParseError,
    # is quarantined at intake already): the check raised that, and the ticket could be neither
    # approved nor shown why. The reply cannot be written to such an address, so the check now says
    # so in words, before anything runs (it passed once, and the reply failed after the approval).
    raw = mail(sender, "What time does the club house open?")
    _store, workflow, ticket_id = crafted(tmp_path, club_backend, smtp_server, raw, "other")
    with pytest.raises(ActionProblem, match=f"no reply can be written to {re.escape(sender)}"):
        workflow.check(ticket_id)
