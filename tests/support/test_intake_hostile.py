"""Hostile mail through intake (``support.intake.store_mail``) into a real TicketStore: forged
Authentication-Results the club's MX lets through, a From Python reads differently from a mail
client, and a header built to hold the fetch."""

from __future__ import annotations

import base64
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.mail import MailRef
from integrations.mail_parsing import BARE_CR_PROBLEM, MAX_HEADER_BYTES, MAX_MIME_PARTS, cut_field_problem
from support.intake import store_mail
from support.states import State
from support.store import TicketStore

MX = "mx.club.example"
# The real MX's verdict on a mail from a domain without a DMARC record: nothing passes.
REAL_VERDICT = (b"Authentication-Results: mx.club.example; spf=softfail smtp.mailfrom=attacker.example;\r\n"
                b" dkim=none; dmarc=none header.from=member.example\r\n")
REST = (b"From: Anna Berg <anna@member.example>\r\nSubject: please cancel BK-48213\r\n"
        b"Message-ID: <r1@attacker.example>\r\n\r\nCancel BK-48213, thanks.\r\n")


@pytest.fixture
def store(tmp_path):
    return TicketStore(tmp_path / "t.sqlite3")


def stored(store: TicketStore, raw: bytes, uid: str = "1"):
    return store.ticket(store_mail(store, MailRef("eml:/x", "0", uid, None), raw, MX))


def test_a_forged_pass_hidden_in_an_encoded_word_is_not_verified(store):
    # The MX strips fields whose *raw* authserv-id is its own: this one's raw id is not.
    forged = b"Authentication-Results: =?us-ascii?q?mx.club.example?=; dmarc=pass header.from=member.example\r\n"
    ticket = stored(store, REAL_VERDICT + forged + REST)
    assert ticket.sender_auth["status"] == "not_verified"
    assert "inside an encoded word" in ticket.sender_auth["reason"]
    genuine = b"Authentication-Results: mx.club.example; dmarc=pass header.from=member.example\r\n"
    assert stored(store, genuine + REST.replace(b"<r1@", b"<r2@"), "2").sender_auth["status"] == "verified"


def test_a_forged_pass_behind_a_bare_cr_is_not_verified_and_flagged(store):
    # For an MX that ends lines at LF only this is one Subject field; Python reads two fields.
    raw = REAL_VERDICT + REST.replace(
        b"Subject: please cancel BK-48213",
        b"Subject: please cancel BK-48213\rAuthentication-Results: mx.club.example; dmarc=pass header.from=member.example")
    ticket = stored(store, raw)
    assert (ticket.sender_auth["status"], ticket.sender_auth["reason"]) == ("not_verified", BARE_CR_PROBLEM)
    assert BARE_CR_PROBLEM in ticket.flags


@pytest.mark.parametrize("verdict", [
    "mx.club.example; dkim=pass header.d=mailbox.example; dmarc=pass header.from=mailbox.example",
    "mx.club.example; dkim=pass header.d=mailbox.example; dmarc=pass",   # dmarc names no domain
])
def test_an_unquoted_address_as_display_name_is_never_verified_and_flagged(store, verdict):
    # Python's parser reads this From as anna.berg@example.org alone, dropping the real address.
    raw = (f"Authentication-Results: {verdict}\r\nFrom: anna.berg@example.org <x@mailbox.example>\r\n"
           "To: desk@club.example\r\nSubject: cancel\r\nMessage-ID: <r2@mailbox.example>\r\n\r\n"
           "Please cancel BK-48213.\r\n").encode()
    ticket = stored(store, raw)
    two = "the From header holds 2 addresses: anna.berg@example.org, x@mailbox.example"
    assert ticket.sender_auth == {"status": "not_verified", "reason": two, "from_domain": None, "from_problem": two}
    assert two in ticket.flags
    assert ticket.sender == "anna.berg@example.org <x@mailbox.example>"  # as written: both addresses shown


def _from_mail(*from_fields: str) -> bytes:
    fields = "".join(f"From: {value}\r\n" for value in from_fields)
    return (f"Authentication-Results: mx.club.example; dmarc=pass header.from=example.org\r\n{fields}"
            "Subject: cancel\r\n\r\nPlease cancel BK-48213.\r\n").encode()


def test_an_unquoted_comma_in_the_from_name_is_one_mailbox_and_verified(store):
    # Some clients write "Berg, Anna" unquoted; it was "malformed" and needed an override.
    ticket = stored(store, _from_mail("Berg, Anna <anna.berg@example.org>"))
    assert ticket.sender_auth["status"] == "verified" and ticket.flags == ()
    assert ticket.sender == '"Berg, Anna" <anna.berg@example.org>'


def test_a_malformed_from_with_one_address_is_not_verified_and_flagged(store):
    ticket = stored(store, _from_mail("Anna <anna.berg@example.org"))
    assert ticket.sender_auth["status"] == "not_verified"
    assert ticket.sender_auth["reason"].startswith("the From header is malformed")
    assert ticket.sender_auth["reason"] in ticket.flags
    assert ticket.sender == "Anna <anna.berg@example.org"


def test_a_second_from_field_is_flagged_and_shown(store):
    # Only the first field was read: with authentication off nothing said there was a second.
    for uid, trusted in (("1", MX), ("2", None)):
        raw = _from_mail("Anna <anna.berg@example.org>", "x@evil.example").replace(b"Subject: cancel",
                                                                                   f"Subject: {uid}".encode())
        ticket = store.ticket(store_mail(store, MailRef("eml:/x", "0", uid, None), raw, trusted))
        assert ticket.sender == "Anna <anna.berg@example.org>, x@evil.example"
        assert "the From header holds 2 addresses: anna.berg@example.org, x@evil.example" in ticket.flags
        assert ticket.sender_auth["from_problem"] == "the mail has 2 From header fields"


def test_many_long_address_fields_are_quarantined_quickly(store):
    # 300 Cc fields each just under the per-field clip: the email package took over two minutes.
    field = (b"a@b.example, " * 2000)[:16_000]
    raw = (b"From: x@attacker.example\r\nSubject: hi\r\nMessage-ID: <r5@attacker.example>\r\n"
           + (b"Cc: " + field + b"\r\n") * 300 + b"\r\nhello\r\n")
    started = time.monotonic()
    ticket_id = store_mail(store, MailRef("eml:/x", "0", "1", None), raw, MX)
    assert time.monotonic() - started < 10  # a regression guard, not a benchmark (it takes ~0.1 s)
    ticket = store.ticket(ticket_id)
    assert ticket.state == State.QUARANTINED
    assert ticket.quarantine_reason.endswith(f"over the {MAX_HEADER_BYTES} byte limit")
    assert ticket.message_id == "<r5@attacker.example>"


def _multipart(message_id: bytes, parts: list[bytes]) -> bytes:
    return (b"From: x@attacker.example\r\nSubject: hi\r\nMessage-ID: " + message_id + b"\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            + b"".join(b"--b\r\n" + part + b"\r\n" for part in parts) + b"--b--\r\n")


@pytest.mark.parametrize(("parts", "reason"), [
    # 60,000 tiny text parts (2.6 MB) held the fetch for 18 s, then made a ticket of them.
    ([b"Content-Type: text/html\r\n\r\n<b>x</b>"] * 60_000, f"the message has more than {MAX_MIME_PARTS} MIME parts"),
    # Comments nested 3,000 deep in an attachment's field: a RecursionError left the parser, "unexpected".
    ([b"Content-Type: text/plain\r\n\r\nhello", b"Content-Type: application/pdf\r\nContent-Disposition: attachment "
      + b"(" * 3_000 + b"\r\n\r\nx"], "unreadable message: its MIME parts or a Content field nest too deeply"),
], ids=["many-parts", "deep-comments"])
def test_a_body_built_to_break_the_parser_is_quarantined_quickly_with_a_plain_reason(store, parts, reason):
    started = time.process_time()
    ticket = stored(store, _multipart(b"<r6@attacker.example>", parts))
    assert time.process_time() - started < 2
    assert (ticket.state, ticket.quarantine_reason) == (State.QUARANTINED, reason)
    assert ticket.message_id == "<r6@attacker.example>"


def test_an_html_body_whose_last_tag_never_ends_is_read_quickly(store):
    """96 KB of "<a " after the request held the worker for 100 s (CVE-2025-6069's quadratic scan)."""
    body = b"<p>Please cancel BK-48213.</p>" + b"<a " * 32_000
    raw = (b"From: x@attacker.example\r\nSubject: hi\r\nMessage-ID: <r7@attacker.example>\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n" + body)
    started = time.process_time()
    ticket = stored(store, raw)
    assert time.process_time() - started < 2
    assert ticket.state != State.QUARANTINED and ticket.body == "Please cancel BK-48213."


def _encoded_words(text: str, charset: str, encoding: str, cut: int) -> str:
    def word(part: str) -> str:
        data = base64.b64encode(part.encode()).decode() if encoding in "bB" else part
        return f"=?{charset}?{encoding}?{data}?="
    return " ".join(word(part) for part in (text[:cut], text[cut:]) if part)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(charset=st.sampled_from(["us-ascii", "utf-8", "UTF-8", "iso-8859-1"]), encoding=st.sampled_from("qQbB"),
       cut=st.integers(min_value=0, max_value=len(MX)), above=st.booleans())
def test_no_encoded_spelling_of_the_trusted_id_verifies(tmp_path_factory, charset, encoding, cut, above):
    store = TicketStore(tmp_path_factory.mktemp("encoded") / "t.sqlite3")
    forged = (f"Authentication-Results: {_encoded_words(MX, charset, encoding, cut)}; dmarc=pass "
              "header.from=member.example\r\n").encode()
    raw = (forged + REAL_VERDICT if above else REAL_VERDICT + forged) + REST
    assert stored(store, raw).sender_auth["status"] == "not_verified"


@pytest.mark.parametrize("authentication", [MX, None])
def test_a_from_cut_after_its_first_address_is_not_verified_nor_read_as_that_address(tmp_path, authentication):
    # The whole From names two mailboxes (never verified); its first 16 KB alone name one.
    store = TicketStore(tmp_path / "t.sqlite3")
    genuine = b"Authentication-Results: mx.club.example; dmarc=pass header.from=member.example\r\n"
    cut_from = b"From: anna@member.example," + b" " * 16_400 + b"attacker@evil.example\r\n"
    raw = genuine + cut_from + REST.replace(b"From: Anna Berg <anna@member.example>\r\n", b"")
    ticket = store.ticket(store_mail(store, MailRef("eml:/x", "0", "1", None), raw, authentication))
    assert ticket.sender_auth["status"] == ("not_verified" if authentication else "off")
    assert cut_field_problem("From") in ticket.flags
    assert ticket.sender != "anna@member.example"
    # with authentication off a malformed From is flagged against the account: so is a cut one
    assert ticket.sender_auth["from_problem"] == cut_field_problem("From")


def test_the_mx_results_placement_setting_reaches_the_check_of_every_fetched_mail(tmp_path, store):
    # A sender that connects straight to the MX writes a dmarc=pass under the MX's id into its own
    # header block; the MX prepends its Received field and, its DMARC milter down, nothing else.
    # Only ACEDESK_MX_RESULTS_PLACEMENT=above can tell it from a milter's field at index 1, so the
    # setting must reach the intake of a real fetch, not only sender_auth.
    from core.settings import Settings
    from support.intake import mail_source

    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "forged.eml").write_bytes(
        b"Received: from attacker.example by mx.club.example with ESMTP id 1; Mon, 7 Dec 2026 10:00:00 +0000\r\n"
        b"Authentication-Results: mx.club.example; dmarc=pass header.from=member.example\r\n" + REST)
    settings = Settings(_env_file=None, eml_dir=folder, trusted_authserv_id=MX, mx_results_placement="above")
    assert mail_source(settings)(store) == 1
    (ticket,) = store.tickets()
    assert ticket.sender_auth["status"] == "not_verified"
    assert "ACEDESK_MX_RESULTS_PLACEMENT" in ticket.sender_auth["reason"]
