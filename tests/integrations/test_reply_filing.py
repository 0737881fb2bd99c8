"""Filing a sent reply (the original flagged \\Answered, a copy in Sent) against the real Dovecot
(tests/fixtures/dovecot.py) behind a lying proxy. The reply went out already: filing may fail, but
it must end by its deadline, never raise anything but ImapUnavailable, and one half's refusal must
not cost the other."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.mail import MailRef
from integrations.imap_mailbox import ImapMailbox, ImapRefused, ImapReplyFiling, ImapSettings, ImapUnavailable
from support.intake import fetch_imap
from support.store import TicketStore
from tests.integrations.test_imap_hostile import LyingProxy, without
from tests.integrations.test_imap_mailbox import mail, server_flags

ORIGINAL_ID, REPLY = "<1@example.org>", "<9@example.org>"


class KeepAliveProxy(LyingProxy):
    """Instead of the line ``withheld`` matches, sends an untagged ``* OK`` every 0.2 s until closed:
    each read is answered well within any read timeout, and the verdict never comes."""

    def __init__(self, target_port: int, withheld: bytes):
        self.withheld = withheld
        super().__init__(target_port)

    def _to_client(self, server: socket.socket, client: socket.socket) -> None:
        pending = b""
        try:
            while data := server.recv(65_536):
                *lines, pending = (pending + data).split(b"\r\n")
                for line in lines:
                    while self.withheld in line and not self._closed.wait(0.2):
                        client.sendall(b"* OK still working on it\r\n")
                    client.sendall(line + b"\r\n")
        except OSError:
            pass


@pytest.fixture
def account(dovecot_server) -> ImapSettings:
    """A fresh user with mail 1 (the original) and mail 2 in INBOX, replies filed in Sent."""
    settings = dovecot_server.settings(dovecot_server.add_user(), sent_folder="Sent", timeout=1)
    dovecot_server.append_many(settings.user, [mail(1), mail(2)])
    return settings


def original(settings: ImapSettings, uid: str = "1", message_id: str | None = ORIGINAL_ID) -> MailRef:
    """What the ticket knows of the mail it came from, as the fetch stored it."""
    with ImapMailbox(settings) as mailbox:
        mailbox_name, uidvalidity = mailbox.generation()
    return MailRef(mailbox_name, uidvalidity, uid, message_id)


def sent_count(settings: ImapSettings) -> int:
    return len(server_flags(settings, "Sent"))


def test_a_server_dripping_keep_alives_instead_of_the_appends_verdict_is_cut_off_at_the_deadline(
        dovecot_server, account):
    # Each keep-alive arrives inside the read timeout, so only a deadline ends it; before, the
    # operator's approval (or the worker's round) waited as long as the server kept talking.
    proxy = KeepAliveProxy(dovecot_server.imap_port, withheld=b"APPENDUID")
    outcome = []

    def file_reply():
        try:
            ImapReplyFiling(dataclasses.replace(account, port=proxy.port)).after_reply(original(account), mail(9), REPLY)
        except Exception as error:  # noqa: BLE001 - the test asserts on what it was
            outcome.append(error)

    started = time.monotonic()
    filing = threading.Thread(target=file_reply, daemon=True)
    filing.start()
    filing.join(15)
    elapsed = time.monotonic() - started
    proxy.close()
    assert not filing.is_alive(), "filing the reply still running after 15 s"
    assert elapsed < 8  # the deadline: 4 read timeouts of 1 s, plus the reply's bytes at 64 KB/s
    [error] = outcome
    assert isinstance(error, ImapUnavailable)
    assert "filing the reply failed: TimeoutError: not done within 4 s" in str(error)
    assert account.password not in str(error)

    # Dovecot had stored the copy before its verdict was withheld: filing again adds no second one.
    ImapReplyFiling(account).after_reply(original(account), mail(9), REPLY)
    assert sent_count(account) == 1 and server_flags(account) == {"1": {"\\Answered"}, "2": set()}


def test_a_refused_answered_flag_still_files_the_sent_copy_and_is_named(dovecot_server, account):
    # Before, the refusal ended the filing: no copy in Sent, and nothing said that it was missing.
    proxy = LyingProxy(dovecot_server.imap_port,
                       lambda line: line.replace(b"OK Store completed", b"NO [OVERQUOTA] Quota exceeded"))
    try:
        with pytest.raises(ImapRefused, match=r"setting \\Answered failed.*OVERQUOTA"):
            ImapReplyFiling(dataclasses.replace(account, port=proxy.port)).after_reply(original(account), mail(9), REPLY)
    finally:
        proxy.close()
    assert sent_count(account) == 1


def test_a_sent_folder_that_cannot_be_created_still_flags_the_original_and_is_named(account):
    # Dovecot's Maildir refuses "/" in a folder name, as a missing right or a full quota would refuse it.
    settings = dataclasses.replace(account, sent_folder="Sent/2026")
    with pytest.raises(ImapRefused, match="cannot create folder 'Sent/2026'"):
        ImapReplyFiling(settings).after_reply(original(settings), mail(9), REPLY)
    assert server_flags(settings) == {"1": {"\\Answered"}, "2": set()}


def test_a_5_mb_reply_is_filed_once_however_often_filing_is_repeated(account):
    big_reply = mail(9, body=("y" * 76 + "\r\n") * 66_000)
    assert len(big_reply) > 5_000_000
    settings = dataclasses.replace(account, timeout=30)
    for _ in range(2):
        ImapReplyFiling(settings).after_reply(original(settings), big_reply, REPLY)
    assert sent_count(settings) == 1


# What a SEARCH answer may hold besides UIDs; "{" is left out only because a line ending in a
# literal's announcement waits for the literal (a read timeout each, too slow for many examples).
JUNK = st.binary(max_size=30).filter(lambda junk: not {ord("\r"), ord("\n"), ord("{")} & set(junk))


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=JUNK, keep_real_uid=st.booleans())
def test_whatever_the_search_answers_only_the_original_is_flagged_and_the_copy_is_filed(dovecot_server, junk,
                                                                                       keep_real_uid):
    # Before: bytes that are not UTF-8 raised UnicodeDecodeError and a word that is not a number
    # ValueError, out of the filing (the workflow counted it as an unexpected failure) and with
    # no copy in Sent.
    settings = dovecot_server.settings(dovecot_server.add_user(), sent_folder="Sent", timeout=1)
    dovecot_server.append_many(settings.user, [mail(1), mail(2)])
    answer = b"* SEARCH " + (b"1 " if keep_real_uid else b"") + junk + b"\r\n"
    searches = []

    def lie_to_the_first_search(line: bytes) -> bytes:  # INBOX's; Sent's is answered truly
        if not line.startswith(b"* SEARCH"):
            return line
        searches.append(line)
        return answer if len(searches) == 1 else line

    proxy = LyingProxy(dovecot_server.imap_port, lie_to_the_first_search)
    try:
        ImapReplyFiling(dataclasses.replace(settings, port=proxy.port)).after_reply(original(settings), mail(9), REPLY)
    except ImapUnavailable:
        pass  # a refusal is said; anything else fails the test
    finally:
        proxy.close()
    assert server_flags(settings)["2"] == set()  # another mail a lying UID names is never flagged
    assert sent_count(settings) == 1


def forged(number: int) -> bytes:
    """Mail ``number`` as someone else sent it, reusing its Message-ID (the sender chooses it)."""
    return mail(number).replace(f"From: Member {number} <m{number}@example.org>".encode(),
                                b"From: Forger <forger@evil.example>")


def test_a_forged_mail_reusing_the_originals_message_id_is_not_flagged_answered(dovecot_server, account):
    # Before, every mail with the original's Message-ID was flagged: the forgery (UID 3) too, and
    # another mail client showed it as answered. The ticket knows its mail's UID: that one is flagged.
    dovecot_server.append_many(account.user, [forged(1)])
    for _ in range(2):  # safe to repeat
        ImapReplyFiling(account).after_reply(original(account), mail(9), REPLY)
    assert server_flags(account) == {"1": {"\\Answered"}, "2": set(), "3": set()}
    # ...and the forgery's own ticket, answered, flags the forgery alone
    ImapReplyFiling(account).after_reply(original(account, uid="3"), mail(10), "<10@example.org>")
    assert server_flags(account) == {"1": {"\\Answered"}, "2": set(), "3": {"\\Answered"}}


def test_a_moved_original_is_flagged_by_its_message_id_only_when_no_other_mail_has_it(dovecot_server, account,
                                                                                      caplog):
    # Moved to the processed folder the mail has another UID, so only its Message-ID finds it:
    # one mail with it is the original; with a forgery beside it, which is which no one can tell.
    settings = dataclasses.replace(account, processed_folder="Done")
    with ImapMailbox(settings) as mailbox:
        mailbox.mark_processed("1")
    ref = original(settings)
    ImapReplyFiling(settings).after_reply(ref, mail(9), REPLY)
    assert server_flags(settings, "Done") == {"1": {"\\Answered"}}

    dovecot_server.append_many(settings.user, [mail(3), forged(1)])  # UID 4 in INBOX: the forgery
    forged_ref = original(settings, uid="4")
    with ImapMailbox(settings) as mailbox:
        mailbox.mark_processed("4")
    ImapReplyFiling(settings).after_reply(forged_ref, mail(10), "<10@example.org>")
    assert server_flags(settings, "Done") == {"1": {"\\Answered"}, "2": set()}
    said = [record.getMessage() for record in caplog.records if "not flagging" in record.getMessage()]
    assert said == ["not flagging the original \\Answered: 2 mails have its Message-ID '<1@example.org>' "
                    + "(Done UID 1, Done UID 2)"]


@pytest.mark.parametrize("message_id", [ORIGINAL_ID, None], ids=["message-id", "no-message-id"])
def test_without_uidplus_the_moved_copy_is_flagged_answered_not_only_the_leftover(dovecot_server, account, tmp_path,
                                                                                 message_id):
    # Without MOVE and UIDPLUS the move leaves mail 1 in INBOX under its UID, flagged \Deleted.
    # Before: that leftover alone was flagged \Answered, and other mail clients showed the mail in
    # Done (the one they list) unanswered.
    settings = dataclasses.replace(account, processed_folder="Done")
    proxy = LyingProxy(dovecot_server.imap_port, without("MOVE", "UIDPLUS"))
    try:
        limited = dataclasses.replace(settings, port=proxy.port)
        assert fetch_imap(TicketStore(tmp_path / "tickets.sqlite3"), limited) == 2
        ImapReplyFiling(limited).after_reply(original(settings, message_id=message_id), mail(9), REPLY)
    finally:
        proxy.close()
    assert server_flags(settings, "Done") == ({"1": {"\\Answered"}, "2": set()} if message_id
                                              else {"1": set(), "2": set()})
    # the leftover too: a client that shows deleted mail shows it answered
    assert server_flags(settings) == {"1": {"\\Answered", "\\Deleted", "\\Seen"}, "2": {"\\Deleted", "\\Seen"}}
    assert sent_count(settings) == 1


def test_a_rebuilt_folder_flags_by_message_id_never_the_mail_now_under_the_old_uid(dovecot_server, account):
    # A new UIDVALIDITY: UID 1 may now name another mail, so only the Message-ID counts.
    ref = dataclasses.replace(original(account, uid="2"), uidvalidity="1")  # the folder's earlier generation
    assert ref.uidvalidity != original(account).uidvalidity
    ImapReplyFiling(account).after_reply(dataclasses.replace(ref, message_id=ORIGINAL_ID), mail(9), REPLY)
    assert server_flags(account) == {"1": {"\\Answered"}, "2": set()}


def test_a_split_tickets_reply_is_filed_and_its_mail_found_by_message_id(dovecot_server, account):
    # A ticket split off a mail's second request has no UID of its own ("1#7-2": the mail's UID, the
    # ticket it was split from). SEARCH UID with it is a BAD command: the filing failed on every try.
    split = dataclasses.replace(original(account), uid="1#7-2")
    ImapReplyFiling(account).after_reply(split, mail(9), REPLY)
    assert server_flags(account) == {"1": {"\\Answered"}, "2": set()} and sent_count(account) == 1
