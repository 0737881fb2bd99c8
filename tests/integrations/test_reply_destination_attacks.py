"""Where a reply built from a mail goes, as the workflow sends it through aiosmtpd: the header
fields a mail may name other recipients in (Cc, Sender, Resent-*, Mail-Followup-To) never become
one, and the envelope names exactly the reply's To."""

from tests.integrations.test_reply_headers_hostile import MEMBER, REPLY_FIELDS, answer, field_names

OTHER_RECIPIENT_FIELDS = (b"Cc: victim@evil.example\r\nBcc: victim2@evil.example\r\nSender: sender@evil.example\r\n"
                          b"Resent-From: resent@evil.example\r\nResent-To: resent-to@evil.example\r\n"
                          b"Resent-Reply-To: resent-reply@evil.example\r\nMail-Followup-To: followup@evil.example\r\n"
                          b"Return-Path: <bounce@evil.example>\r\nErrors-To: errors@evil.example\r\n")


def test_guard_fields_naming_other_recipients_never_add_or_change_one(smtp_server):
    """Held before: only the Reply-To (absent here) or the From decides; nothing else is copied."""
    raw = (b"From: Anna Berg <" + MEMBER.encode() + b">\r\nTo: support@club.example\r\nSubject: Court booking\r\n"
           b"Message-ID: <m1@example.org>\r\n" + OTHER_RECIPIENT_FIELDS + b"\r\nPlease cancel BK-48213.\r\n")
    received = answer(smtp_server, raw)
    assert received.rcpt_tos == (MEMBER,)
    assert str(received.message["To"]) == f"Anna Berg <{MEMBER}>"
    assert field_names(received) == REPLY_FIELDS
    assert b"evil.example" not in received.raw
