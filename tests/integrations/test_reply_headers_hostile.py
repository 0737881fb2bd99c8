"""A reply's headers built from a hostile mail (and the club's record of the member), sent the way
the workflow sends it: built, stored as bytes, read back, handed to aiosmtpd. Whatever the mail
holds, the reply goes to the one address it answers, and no text of the mail becomes a header."""

import base64
from email import message_from_bytes
from email.utils import formataddr

import pytest

from integrations.mail_parsing import parse_eml
from integrations.mail_sending import (
    MAIL_POLICY,
    OriginalMail,
    SmtpSender,
    build_reply,
    message_bytes,
    original_from_headers,
)

MEMBER = "anna.berg@example.org"
MEMBER_FROM = f"Anna Berg <{MEMBER}>".encode()
REPLY_FIELDS = ["From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Auto-Submitted",
                "X-Auto-Response-Suppress", "Content-Type", "Content-Transfer-Encoding", "MIME-Version"]
# Read once by the desk's parser, this is the text "=?utf-8?q?A=0D=0ABcc:_victim@evil.example?=",
# an encoded word the email package decoded again when the reply was built: a line break and a Bcc.
INNER_WORD = b"=?utf-8?q?A=0D=0ABcc:_victim@evil.example?="
ENCODED_TWICE = b"=?utf-8?b?" + base64.b64encode(INNER_WORD) + b"?="


def mail(*, sender=MEMBER_FROM, subject=b"Court booking",
         message_id=b"<m1@example.org>", references=b"") -> bytes:
    head = b"From: " + sender + b"\r\nTo: support@club.example\r\nSubject: " + subject \
        + b"\r\nMessage-ID: " + message_id + b"\r\n" + (b"References: " + references + b"\r\n" if references else b"")
    return head + b"\r\nPlease cancel BK-48213.\r\n"


def send_reply(smtp_server, original: OriginalMail):
    """The reply as the workflow sends it (stored as bytes, read back, sent); what aiosmtpd got."""
    built = build_reply(original, from_address="Club Support <support@club.example>", body="Done.",
                        domain="club.example")
    stored = message_bytes(built)
    SmtpSender(smtp_server.settings()).send(message_from_bytes(stored, policy=MAIL_POLICY))
    [received] = smtp_server.messages
    return received


def answer(smtp_server, raw_mail: bytes):
    parsed = parse_eml(raw_mail)
    return send_reply(smtp_server, original_from_headers(parsed.headers, parsed.email.sender, parsed.email.subject))


def to_the_member_on_file(member_name: str, address: str = MEMBER) -> OriginalMail:
    # The workflow's recipient for an account action: the club's record, formatted (Workflow.check).
    return OriginalMail(message_id="<m1@example.org>", references=None, subject="Court booking",
                        reply_to_address=formataddr((member_name, address)), sender_display="someone@else.example")


def header_lines(received) -> list[bytes]:
    return received.raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def field_names(received) -> list[str]:
    return [line.split(b":", 1)[0].decode() for line in header_lines(received) if line and line[:1] not in b" \t"]


def test_a_subject_encoded_twice_cannot_add_a_recipient(smtp_server):
    received = answer(smtp_server, mail(subject=ENCODED_TWICE))
    assert received.rcpt_tos == (MEMBER,)
    assert field_names(received) == REPLY_FIELDS
    assert "victim@evil.example" in received.message["Subject"]  # shown as the words it is, one line


@pytest.mark.parametrize("sender", [
    ENCODED_TWICE + b" <" + MEMBER.encode() + b">",
    ENCODED_TWICE + b" and a name long enough that its To field is folded <" + MEMBER.encode() + b">",
])
def test_a_display_name_encoded_twice_cannot_redirect_the_reply(smtp_server, sender):
    received = answer(smtp_server, mail(sender=sender))
    assert received.rcpt_tos == (MEMBER,)
    assert field_names(received) == REPLY_FIELDS


@pytest.mark.parametrize("member_name", [
    "Berg, Anna (Jugendabteilung, Mannschaftsführerin der Damen 40 und Kassenprüferin)",
    "Berg, Anna, Jugendabteilung, Mannschaftsfuehrerin der Damen 40 und Kassenpruefer",
    "Bcc: victim@evil.example; " + "w " * 40,
    "Anna\r\nBcc: victim@evil.example",
])
def test_the_members_name_on_file_never_adds_or_changes_a_recipient(smtp_server, member_name):
    # A long name holding "," ";" or ":" was folded without its quotes (to "Berg" too, or a crash on a
    # group), and a line break in it ended the quote (to victim@ alone).
    received = send_reply(smtp_server, to_the_member_on_file(member_name))
    assert received.rcpt_tos == (MEMBER,)
    assert field_names(received) == REPLY_FIELDS


@pytest.mark.parametrize("message_id", [b"<a=?utf-8?q?=C3=A9?=@example.org>", b"<a=?utf-8?q?=00?=@example.org>"])
def test_an_encoded_word_in_a_message_id_is_threaded_on_as_written(smtp_server, message_id):
    # Decoded, the first made a header no reply could be written with; the second put a NUL on the wire.
    received = answer(smtp_server, mail(message_id=message_id, references=b"<m0@example.org> " + message_id))
    assert b"In-Reply-To: " + message_id in header_lines(received)
    assert b"References: <m0@example.org>" in header_lines(received)
    assert b" " + message_id in header_lines(received)
    assert received.raw.isascii() and b"\x00" not in received.raw


def test_controls_and_direction_overrides_of_the_mail_stay_out_of_the_reply_headers(smtp_server):
    hidden = "\x00\x07\x1b\u202e\u2066"
    received = answer(smtp_server, mail(sender=f"=?utf-8?b?{base64.b64encode(f'Anna{hidden} Berg'.encode()).decode()}?= "
                                               f"<{MEMBER}>".encode(),
                                        subject=f"=?utf-8?b?{base64.b64encode(f'Court{hidden} booking'.encode()).decode()}?="
                                        .encode()))
    assert received.message["Subject"] == "Re: Court booking"
    assert received.message["To"].addresses[0].display_name == "Anna Berg"
    assert not set(hidden) & set(received.raw.decode("ascii"))


def test_an_international_domain_is_answered_in_its_ascii_form(smtp_server):
    received = answer(smtp_server, mail(sender="Anna <anna@bücher.example>".encode()))
    assert received.rcpt_tos == ("anna@xn--bcher-kva.example",)


def test_an_international_domain_is_never_mapped_to_another_domain(smtp_server):
    # IDNA 2003 (Python's "idna" codec) writes faß.example as fass.example, a domain someone else
    # may own; IDNA 2008 keeps the ß (xn--fa-hia); the Kelvin sign K is no letter of a valid domain.
    received = answer(smtp_server, mail(sender="Anna <anna@faß.example>".encode()))
    assert received.rcpt_tos == ("anna@xn--fa-hia.example",)
    with pytest.raises(ValueError, match="no address"):
        answer(smtp_server, mail(sender="Anna <anna@\u212aelvin.example>".encode()))


# -- guards: these held before, and must go on holding ------------------------------------------

@pytest.mark.parametrize(("message_id", "references"), [
    (b"<m1@example.org>\tBcc: victim@evil.example", b"<m0@example.org> Bcc: victim@evil.example"),
    (b"m1@example.org", b" ".join(b"<r%d@example.org>" for number in range(5000))),
    (b"<victim@evil.example>", b"victim@evil.example, <m0@example.org>"),
])
def test_guard_thread_ids_never_become_a_field_or_a_recipient(smtp_server, message_id, references):
    received = answer(smtp_server, mail(message_id=message_id, references=references))
    assert received.rcpt_tos == (MEMBER,)
    assert field_names(received) == REPLY_FIELDS
    assert max(len(line) for line in header_lines(received)) <= 998


@pytest.mark.parametrize("subject", [b"Re: " * 500 + b"Court booking", b"x" * 16_000, b"Hi\tBcc: victim@evil.example"])
def test_guard_a_subject_neither_grows_nor_breaks_out(smtp_server, subject):
    received = answer(smtp_server, mail(subject=subject))
    assert received.rcpt_tos == (MEMBER,)
    assert field_names(received) == REPLY_FIELDS
    assert len(received.message["Subject"]) <= len(subject) + len("Re: ")


def test_guard_the_replys_own_message_id_is_new_and_never_made_of_the_mails_text(smtp_server):
    ids = {answer(smtp_server, mail(message_id=b"<BK-48213@club.example>")).message["Message-ID"]}
    smtp_server.clear()
    ids.add(answer(smtp_server, mail(message_id=b"<BK-48213@club.example>")).message["Message-ID"])
    assert len(ids) == 2
    assert not any("BK-48213" in message_id for message_id in ids)
