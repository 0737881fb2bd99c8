"""Replies: threading headers, delivery through a real SMTP server (aiosmtpd), the outbox."""

import email
import email.policy
import socket
import time
from dataclasses import replace

import pytest

from integrations.mail_parsing import machine_mail_reason, parse_eml
from integrations.mail_sending import (
    MailSendError,
    OriginalMail,
    OutboxSender,
    SmtpSender,
    SmtpSettings,
    build_reply,
    message_bytes,
    original_from_headers,
    reply_subject,
)
from testbed import smtp
from tests.conftest import settings_of

SUPPORT = "Club Support <support@club.example>"
# Outlook-style ids are longer than a header line: the stdlib's default folding mangles them.
OUTLOOK_ID = "<AM0PR08MB5345D8A1B9C4E6F7A8B9C0D1E2F3A4B5C6D7E8@AM0PR08MB5345.eurprd08.prod.outlook.com>"


def original(**changes) -> OriginalMail:
    default = OriginalMail(message_id="<m3@example.org>", references="<m1@club.example> <m2@example.org>",
                           subject="Court booking", reply_to_address="anna.berg@example.org",
                           sender_display="Anna Berg <anna.berg@example.org>")
    return replace(default, **changes)


def reply(body="Hi Anna, your booking is cancelled.", **changes):
    return build_reply(original(**changes), from_address=SUPPORT, body=body, domain="club.example")


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def text_of(message) -> str:
    # Mail on the wire has CRLF line ends, and the email package keeps them in the content.
    return message.get_content().replace("\r\n", "\n").rstrip("\n")


# -- building ------------------------------------------------------------------------------------

def test_reply_is_threaded_under_the_original_and_marked_auto_replied():
    message = reply()
    assert message["To"] == "Anna Berg <anna.berg@example.org>"
    assert message["From"] == SUPPORT
    assert message["Subject"] == "Re: Court booking"
    assert message["In-Reply-To"] == "<m3@example.org>"
    assert message["References"] == "<m1@club.example> <m2@example.org> <m3@example.org>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Message-ID"].endswith("@club.example>")
    assert message["Date"].datetime.tzinfo is not None
    assert message.get_content_type() == "text/plain" and message.get_content_charset() == "utf-8"
    assert machine_mail_reason(dict(message.items()), SUPPORT) == "Auto-Submitted: auto-replied"


@pytest.mark.parametrize(("subject", "expected"), [
    ("Court booking", "Re: Court booking"),
    ("Re: Court booking", "Re: Court booking"),
    ("RE: Court booking", "RE: Court booking"),
    ("re:Court booking", "re:Court booking"),
    ("AW: Buchung BK-30917", "AW: Buchung BK-30917"),
    ("SV: Bokning", "SV: Bokning"),
    ("Re[2]: Court booking", "Re[2]: Court booking"),
    ("Fwd: Court booking", "Re: Fwd: Court booking"),
    ("Reservation for Saturday", "Re: Reservation for Saturday"),
    ("Refund?", "Re: Refund?"),
    ("  Court \n booking ", "Re: Court booking"),
    ("", "Re: (no subject)"),
])
def test_reply_subject_gets_one_prefix(subject, expected):
    assert reply_subject(subject) == expected


def test_references_without_parent_references_fall_back_to_its_single_in_reply_to():
    assert reply(references=None)["References"] == "<m3@example.org>"
    chained = reply(references=None, in_reply_to="<m2@example.org>")
    assert chained["References"] == "<m2@example.org> <m3@example.org>"
    ambiguous = reply(references=None, in_reply_to="<a@x.org> <b@x.org>")
    assert ambiguous["References"] == "<m3@example.org>"


def test_an_original_without_message_id_gets_no_in_reply_to():
    message = reply(message_id=None, references=None)
    assert "In-Reply-To" not in message and "References" not in message
    assert reply(message_id="  ", references="<m1@club.example>")["References"] == "<m1@club.example>"


def test_a_bare_message_id_is_bracketed_and_not_repeated_when_references_end_with_it():
    message = reply(message_id="m2@example.org")
    assert message["In-Reply-To"] == "<m2@example.org>"
    assert message["References"] == "<m1@club.example> <m2@example.org>"


def test_original_from_headers_prefers_reply_to_and_reads_headers_in_any_case():
    headers = {"message-id": " <m3@example.org> ", "REFERENCES": "<m1@club.example>\r\n <m2@example.org>",
               "Reply-To": "Anna (work) <anna@work.example>", "In-Reply-To": "<m2@example.org>"}
    found = original_from_headers(headers, "Anna Berg <anna.berg@example.org>", "Court")
    assert found == OriginalMail(message_id="<m3@example.org>",
                                 references="<m1@club.example> <m2@example.org>",
                                 subject="Court", reply_to_address="anna@work.example",
                                 sender_display="Anna Berg <anna.berg@example.org>",
                                 in_reply_to="<m2@example.org>")
    # The From's name belongs to the From's address, not to a different Reply-To.
    assert reply(**vars(found) | {"subject": "Court"})["To"] == "anna@work.example"
    without_reply_to = original_from_headers({}, "Anna Berg <anna.berg@example.org>", "Court")
    assert without_reply_to.reply_to_address == "anna.berg@example.org"
    assert reply(**vars(without_reply_to))["To"] == "Anna Berg <anna.berg@example.org>"


def test_reply_accepts_a_full_from_line_as_the_address_to_answer():
    message = reply(reply_to_address="Anna Berg <anna.berg@example.org>", sender_display="Anna Berg")
    assert message["To"] == "Anna Berg <anna.berg@example.org>"


def test_no_address_to_answer_is_a_value_error():
    with pytest.raises(ValueError, match="no address"):
        reply(reply_to_address="Anna Berg", sender_display="Anna Berg")


def test_a_subject_cannot_smuggle_headers_into_the_reply():
    message = parsed(message_bytes(reply(subject="Hello\r\nBcc: evil@example.net")))
    assert "Bcc" not in message
    assert message["Subject"] == "Re: Hello Bcc: evil@example.net"


def test_long_message_ids_are_folded_between_ids_never_encoded():
    raw = message_bytes(reply(message_id=OUTLOOK_ID, references=f"<m1@club.example> {OUTLOOK_ID[:-1]}.x>"))
    assert b"=?" not in raw.split(b"\r\n\r\n")[0]
    message = parsed(raw)
    assert message["In-Reply-To"] == OUTLOOK_ID
    assert message["References"].split()[-1] == OUTLOOK_ID


# -- SMTP ----------------------------------------------------------------------------------------

def test_reply_arrives_through_smtp_with_headers_and_utf8_intact(smtp_server):
    body = "Hola Javier, tu reserva BK-55120 está cancelada. ¡Hasta pronto! – Grüße, Zoë"
    message = build_reply(
        original(message_id=OUTLOOK_ID, references=None, subject="Cancelación – reserva BK-55120",
                 reply_to_address="javier.garcia@example.es",
                 sender_display="Javier García <javier.garcia@example.es>"),
        from_address=SUPPORT, body=body, domain="club.example")

    message_id = SmtpSender(smtp_server.settings()).send(message)

    [received] = smtp_server.messages
    assert received.mail_from == "support@club.example"
    assert received.rcpt_tos == ("javier.garcia@example.es",)
    got = received.message
    assert got["Message-ID"] == message_id == message["Message-ID"]
    assert got["In-Reply-To"] == OUTLOOK_ID and got["References"] == OUTLOOK_ID
    assert got["To"].addresses[0].display_name == "Javier García"
    assert got["Subject"] == "Re: Cancelación – reserva BK-55120"
    assert got["Auto-Submitted"] == "auto-replied"
    assert text_of(got) == body
    assert received.raw.isascii()  # 7-bit clean: survives relays without 8BITMIME


def test_a_stored_reply_parsed_back_with_the_default_policy_still_threads(smtp_server):
    stored = bytes(reply(message_id=OUTLOOK_ID))
    SmtpSender(smtp_server.settings()).send(parsed(stored))
    assert smtp_server.messages[0].message["In-Reply-To"] == OUTLOOK_ID


def test_smtp_down_is_a_send_error_and_nothing_is_sent_until_it_is_back(smtp_server):
    sender = SmtpSender(smtp_server.settings())
    smtp_server.stop()
    with pytest.raises(MailSendError, match=f"127.0.0.1:{smtp_server.port}"):
        sender.send(reply())
    smtp_server.start()
    assert smtp_server.messages == []
    sender.send(reply())
    assert len(smtp_server.messages) == 1


def test_a_server_that_never_answers_times_out():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # connections complete in the kernel, but no greeting ever comes
        settings = SmtpSettings(host="127.0.0.1", port=silent.getsockname()[1], security="plain", user=None,
                                password=None, from_address=SUPPORT, timeout=0.3)
        started = time.monotonic()
        with pytest.raises(MailSendError, match="timed out"):
            SmtpSender(settings).send(reply())
        assert time.monotonic() - started < 3


def test_login_then_send(smtp_server_with_auth):
    SmtpSender(smtp_server_with_auth.settings()).send(reply())
    assert len(smtp_server_with_auth.messages) == 1


def test_a_refused_login_is_a_send_error_without_the_password(smtp_server_with_auth):
    settings = smtp_server_with_auth.settings(password="wrong-but-secret-77")
    with pytest.raises(MailSendError) as caught:
        SmtpSender(settings).send(reply())
    text = f"{caught.value} {caught.value!r}"
    assert "535" in text and smtp.USER in text
    assert "wrong-but-secret-77" not in text and smtp.PASSWORD not in text
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert smtp_server_with_auth.messages == []


def test_sending_without_login_where_one_is_required_is_refused(smtp_server_with_auth):
    with pytest.raises(MailSendError, match="530"):
        SmtpSender(smtp_server_with_auth.settings(user=None, password=None)).send(reply())
    assert smtp_server_with_auth.messages == []


@pytest.mark.parametrize("server_fixture", ["smtp_server_tls", "smtp_server_starttls"])
def test_tls_and_starttls_deliver_with_a_trusted_certificate(server_fixture, request):
    server = request.getfixturevalue(server_fixture)
    SmtpSender(server.settings(), ssl_context=server.ssl_context).send(reply())
    assert len(server.messages) == 1


@pytest.mark.parametrize("server_fixture", ["smtp_server_tls", "smtp_server_starttls"])
def test_an_untrusted_certificate_is_a_send_error(server_fixture, request):
    server = request.getfixturevalue(server_fixture)
    with pytest.raises(MailSendError, match="CERTIFICATE_VERIFY_FAILED"):
        SmtpSender(server.settings()).send(reply())
    assert server.messages == []


# -- outbox --------------------------------------------------------------------------------------

def test_outbox_writes_one_parseable_eml_with_the_same_headers(tmp_path):
    message = reply(message_id=OUTLOOK_ID, body="Grüße aus dem Club – bis bald!")
    message_id = OutboxSender(tmp_path / "outbox").send(message)

    [written] = (tmp_path / "outbox").iterdir()
    assert written.suffix == ".eml" and message_id.strip("<>").split("@")[0] in written.name
    got = parsed(written.read_bytes())
    for header in ("Message-ID", "In-Reply-To", "References", "Subject", "To", "From", "Auto-Submitted"):
        assert got[header] == message[header], header
    assert text_of(got) == "Grüße aus dem Club – bis bald!"
    assert parse_eml(written.read_bytes()).message_id == message_id


def test_outbox_names_sort_by_time_and_hold_no_odd_characters(tmp_path):
    first = reply()
    second = reply()
    second.replace_header("Message-ID", "<x/y+z=1@host.example>")
    outbox = OutboxSender(tmp_path)
    outbox.send(first)
    outbox.send(second)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names[1].endswith("-x_y_z_1@host.example.eml")
    assert [parsed((tmp_path / name).read_bytes())["Message-ID"] for name in names] == [
        first["Message-ID"], "<x/y+z=1@host.example>"]


def test_an_unwritable_outbox_is_a_send_error_and_leaves_no_partial_file(tmp_path):
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(MailSendError, match="outbox"):
        OutboxSender(blocker).send(reply())
    assert [path.name for path in tmp_path.iterdir()] == ["outbox"]


# -- settings ------------------------------------------------------------------------------------

def test_repr_of_settings_hides_the_password():
    settings = SmtpSettings(host="smtp.club.example", port=587, security="starttls", user="desk",
                            password="hunter2-secret", from_address=SUPPORT)
    assert "hunter2-secret" not in repr(settings) and "hunter2-secret" not in str(settings)
    assert "smtp.club.example" in repr(settings)


def smtp_settings(environment: dict) -> SmtpSettings | None:
    return SmtpSettings.from_settings(settings_of(environment))


def test_settings_from_env():
    assert smtp_settings({}) is None
    settings = smtp_settings({
        "ACEDESK_SMTP_HOST": "smtp.club.example", "ACEDESK_SMTP_USER": "desk", "ACEDESK_SMTP_PASSWORD": "pw",
        "ACEDESK_SMTP_FROM": SUPPORT})
    assert (settings.port, settings.security, settings.user, settings.password) == (
        587, "starttls", "desk", "pw")
    minimal = {"ACEDESK_SMTP_HOST": "h", "ACEDESK_SMTP_FROM": "a@b"}
    implicit = smtp_settings(minimal | {"ACEDESK_SMTP_PORT": "465"})
    assert (implicit.security, implicit.user) == ("tls", None)
    plain = smtp_settings(minimal | {"ACEDESK_SMTP_SECURITY": "PLAIN"})
    assert (plain.port, plain.security) == (25, "plain")


@pytest.mark.parametrize(("env", "error"), [
    ({"ACEDESK_SMTP_PORT": "smtp"}, "smtp_port"),
    ({"ACEDESK_SMTP_SECURITY": "ssl"}, "smtp_security"),
    ({"ACEDESK_SMTP_FROM": ""}, "ACEDESK_SMTP_FROM"),
    ({"ACEDESK_SMTP_USER": "desk"}, "needs a password"),
])
def test_bad_settings_are_explained(env, error):
    with pytest.raises(ValueError, match=error):
        smtp_settings({"ACEDESK_SMTP_HOST": "h", "ACEDESK_SMTP_FROM": "a@b"} | env)
