"""Replies sent to a hostile or broken mail server: every send ends within its deadline, and it
fails as *delivery unknown* only when the server may hold the message, else retryably."""

import re
import time
from dataclasses import replace

import pytest

from integrations.mail_sending import (
    DEADLINE_TIMEOUTS,
    MAX_REFERENCES,
    MailDeliveryUnknown,
    MailSendError,
    OriginalMail,
    SmtpSender,
    SmtpSettings,
    build_reply,
    message_bytes,
)
from tests.integrations.test_imap_hostile import serve_dripped_handshake

TIMEOUT_S = 0.5
DEADLINE_S = DEADLINE_TIMEOUTS * TIMEOUT_S


def reply():
    original = OriginalMail(message_id="<m3@example.org>", references=None, subject="Court booking",
                            reply_to_address="anna.berg@example.org", sender_display="Anna Berg <anna.berg@example.org>")
    return build_reply(original, from_address="Club Support <support@club.example>", body="Cancelled.",
                       domain="club.example")


def send_to(server) -> tuple[type[Exception] | None, str, float]:
    """What sending one reply to ``server`` raised (None if it went out), its text, the seconds taken."""
    started = time.monotonic()
    try:
        SmtpSender(server.settings(timeout=TIMEOUT_S)).send(reply())
    except MailSendError as error:
        return type(error), str(error), time.monotonic() - started
    return None, "", time.monotonic() - started


def drip(data: bytes, every_s: float):
    """A server that sends ``data`` a byte at a time, each byte well within the read timeout."""
    def answer(connection):
        for byte in data:
            connection.sendall(bytes([byte]))
            time.sleep(every_s)
    return answer


def endless_multiline(connection):
    while True:
        connection.sendall(b"250-" + b"x" * 1000 + b"\r\n")


# -- refused before the message went out: failed, safe to send again -----------------------------

@pytest.mark.parametrize(("answers", "said"), [
    ({"greeting": b"554 5.3.2 go away\r\n"}, "554"),
    ({"MAIL": b"451 4.3.0 try later\r\n"}, "451"),
    ({"RCPT": b"550 5.1.1 no such user\r\n"}, "550"),
    ({"DATA": b"452 4.3.1 out of storage\r\n"}, "452"),
    ({"DATA": None}, "closed"),  # dropped before 354: the message never left
    ({"RCPT": b"250 " + b"x" * 10_000 + b"\r\n"}, "Line too long"),
])
def test_a_refusal_or_drop_before_the_message_is_a_retryable_failure(scripted_smtp, answers, said):
    server = scripted_smtp(answers)
    error_type, text, _ = send_to(server)
    assert error_type is MailSendError, text
    assert said in text
    assert not server.message_complete


@pytest.mark.parametrize("final", [b"554 5.7.1 rejected as spam\r\n", b"452 4.3.1 insufficient storage\r\n",
                                   b"552 5.3.4 message size exceeds fixed limit\r\n"])
def test_a_refusal_of_the_message_itself_is_a_retryable_failure_not_a_success(scripted_smtp, final):
    server = scripted_smtp({".": final})
    error_type, text, _ = send_to(server)
    assert server.message_complete
    assert error_type is MailSendError, text
    assert final[:3].decode() in text


# -- the message went out and no refusal came back: delivery unknown --------------------------------

@pytest.mark.parametrize("final", [
    None,  # 250 never comes: the connection drops after the closing "."
    b"hello there\r\n",  # not an SMTP answer
    b"354 again?\r\n",  # neither yes nor no
    b"250 " + b"x" * 10_000 + b"\r\n",  # smtplib's own "Line too long.", not the server's verdict
    drip(b"250-queued\r\n" * 100, 0.05),  # a verdict that never ends: cut at the deadline
])
def test_no_verdict_after_the_message_is_delivery_unknown(scripted_smtp, final):
    server = scripted_smtp({".": final})
    error_type, text, seconds = send_to(server)
    assert server.message_complete
    assert error_type is MailDeliveryUnknown, text
    assert seconds < DEADLINE_S + 2


# -- servers that never finish: bounded in time and memory -----------------------------------------

@pytest.mark.parametrize("answers", [
    {"greeting": drip(b"220 " + b"x" * 1000 + b"\r\n", 0.25)},  # each byte within the read timeout
    {"EHLO": drip(b"250-x\r\n" * 1000, 0.1)},
    {"EHLO": endless_multiline},  # smtplib kept every line: ~270 MB/s of memory
])
def test_a_server_that_never_finishes_its_answer_is_cut_at_the_deadline(scripted_smtp, answers):
    server = scripted_smtp(answers)
    error_type, text, seconds = send_to(server)
    assert error_type is MailSendError, text
    assert seconds < DEADLINE_S + 2
    assert not server.message_complete


def test_the_deadline_is_said_in_the_error(scripted_smtp):
    server = scripted_smtp({"greeting": drip(b"220 " + b"x" * 1000 + b"\r\n", 0.25)})
    _, text, seconds = send_to(server)
    assert seconds >= DEADLINE_S - 0.1
    said = re.search(r"did not finish within ([\d.]+) s", text)
    assert said and DEADLINE_S <= float(said.group(1)) < DEADLINE_S + 0.1  # plus the message's own bytes


def test_a_polite_scripted_server_takes_the_reply(scripted_smtp):
    server = scripted_smtp({})
    assert send_to(server)[0] is None
    assert server.message_complete and server.steps[-1] == "QUIT"


# -- the reply's own headers, built from what a hostile mail claims --------------------------------

def threaded_reply(message_id: str, references: str | None = None):
    original = OriginalMail(message_id=message_id, references=references, subject="Court booking",
                            reply_to_address="anna.berg@example.org", sender_display="anna.berg@example.org")
    return build_reply(original, from_address="support@club.example", body="Done.", domain="club.example")


def test_an_overlong_message_id_is_not_threaded_on_so_every_header_line_stays_within_998():
    huge = "<" + "x" * 100_000 + "@example.org>"
    for message in (threaded_reply(huge), threaded_reply("<m@example.org>", references=f"<a@example.org> {huge}")):
        assert max(len(line) for line in message_bytes(message).split(b"\r\n")) <= 998
    assert threaded_reply(huge)["In-Reply-To"] is None
    assert threaded_reply("<m@example.org>", references=f"<a@example.org> {huge}")["References"] \
        == "<a@example.org> <m@example.org>"


def test_a_thread_claiming_ten_thousand_ancestors_keeps_its_first_and_latest_ids():
    claimed = [f"<id{number}@example.org>" for number in range(10_000)]
    references = threaded_reply("<parent@example.org>", references=" ".join(claimed))["References"].split()
    assert len(references) == MAX_REFERENCES
    assert references[0] == claimed[0]
    assert references[-2:] == [claimed[-1], "<parent@example.org>"]


def test_an_encoded_word_posing_as_an_address_is_never_the_recipient():
    original = OriginalMail(message_id="<m@example.org>", references=None, subject="x",
                            reply_to_address="=?utf-8?q?a=0D=0ABcc=3A_e@vil.net?= <anna.berg@example.org>",
                            sender_display="anna.berg@example.org")
    message = build_reply(original, from_address="support@club.example", body="Done.", domain="club.example")
    assert message["To"] == "anna.berg@example.org"
    with pytest.raises(ValueError, match="no address to reply to"):
        build_reply(replace(original, reply_to_address="=?utf-8?q?a=0D=0ABcc=3A_e@vil.net?="),
                    from_address="support@club.example", body="Done.", domain="club.example")


# -- a dripped TLS handshake -----------------------------------------------------------------------

def smtp_starttls_exchange(connection):
    connection.sendall(b"220 smtp.test ESMTP\r\n")
    for line in connection.makefile("rb"):
        if line.upper().startswith(b"EHLO"):
            connection.sendall(b"250-smtp.test\r\n250 STARTTLS\r\n")
        elif line.upper().startswith(b"STARTTLS"):
            connection.sendall(b"220 go ahead\r\n")
            return


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_a_dripped_tls_handshake_ends_within_the_read_timeout(security):
    # As for IMAP (test_imap_hostile): CPython bounds the whole handshake by the socket's timeout.
    port = serve_dripped_handshake(smtp_starttls_exchange if security == "starttls" else lambda connection: None)
    settings = SmtpSettings(host="127.0.0.1", port=port, security=security, user=None, password=None,
                            from_address="Club Support <support@club.example>", timeout=TIMEOUT_S)
    started = time.monotonic()
    with pytest.raises(MailSendError, match=f"no answer within {TIMEOUT_S:g} s"):
        SmtpSender(settings).send(reply())
    assert time.monotonic() - started < 2 * TIMEOUT_S + 1
