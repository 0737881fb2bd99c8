"""ImapMailbox against a real private Dovecot (tests/fixtures/dovecot.py): each test has its own user."""

import dataclasses
import imaplib
import time

import pytest
from imap_tools import MailBoxUnencrypted

from core.mail import MailRef
from integrations.imap_mailbox import (
    FETCH_CHUNK_MAILS,
    ImapMailbox,
    ImapReplyFiling,
    ImapSettings,
    ImapUnavailable,
    OversizedMail,
    _chunks,
    _uid_set,
)
from support.intake import ingest
from support.states import State
from support.store import TicketStore
from tests.conftest import MIME_CORPUS, settings_of
from tests.fixtures import free_port


def mail(number: int, body: str = "Please cancel BK-12345.") -> bytes:
    return (f"From: Member {number} <m{number}@example.org>\r\nTo: desk@club.example\r\n"
            f"Subject: Request {number}\r\nMessage-ID: <{number}@example.org>\r\n"
            f"Date: Wed, 25 Nov 2026 09:00:00 +0000\r\n\r\n{body}\r\n").encode()


def crlf(raw: bytes) -> bytes:
    """IMAP carries lines ending in CRLF: the server stores bare LFs as CRLF."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def fetch_all(settings: ImapSettings, known: set[str] = frozenset()) -> list:
    with ImapMailbox(settings) as mailbox:
        return list(mailbox.new_mails(lambda _mailbox, _uidvalidity: set(known)))


def server_flags(settings: ImapSettings, folder: str = "INBOX") -> dict[str, set[str]]:
    """UID → flags, read over a separate connection (as another mail client would see them).

    Leaves out \\Recent: it only says which session saw a mail first."""
    with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password, folder) as box:
        return {msg.uid: set(msg.flags) - {"\\Recent"} for msg in box.fetch(mark_seen=False, headers_only=True)}


@pytest.fixture
def store(tmp_path):
    return TicketStore(tmp_path / "tickets.sqlite3")


@pytest.mark.parametrize("security", ["plain", "starttls", "tls"])
def test_fetch_yields_the_servers_raw_bytes_over_each_security_mode(dovecot_server, imap_account, security):
    if security != "plain" and not dovecot_server.tls:
        pytest.skip("openssl missing: the Dovecot fixture has no TLS")
    port = dovecot_server.imaps_port if security == "tls" else dovecot_server.imap_port
    settings = dataclasses.replace(imap_account, security=security, port=port,
                                   ssl_context=dovecot_server.ssl_context())
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2)])

    fetched = fetch_all(settings)

    assert [raw for _, raw in fetched] == [mail(1), mail(2)]
    refs = [ref for ref, _ in fetched]
    assert [ref.uid for ref in refs] == ["1", "2"]
    assert {ref.mailbox for ref in refs} == {f"imap:{imap_account.user}@127.0.0.1/INBOX"}
    assert refs[0].uidvalidity.isdigit() and refs[0].message_id is None


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_verifies_the_certificate_by_default(dovecot_server, imap_account, security):
    if not dovecot_server.tls:
        pytest.skip("openssl missing: the Dovecot fixture has no TLS")
    port = dovecot_server.imaps_port if security == "tls" else dovecot_server.imap_port
    with pytest.raises(ImapUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        fetch_all(dataclasses.replace(imap_account, security=security, port=port))


def test_second_fetch_yields_nothing_and_later_mail_only_itself(dovecot_server, imap_account, store):
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2), mail(3)])
    asked = []

    def known_uids(mailbox, uidvalidity):
        asked.append((mailbox, uidvalidity))
        return store.known_uids(mailbox, uidvalidity)

    with ImapMailbox(imap_account) as mailbox:
        assert len(ingest(store, mailbox.new_mails(known_uids))) == 3
        assert list(mailbox.new_mails(known_uids)) == []
        dovecot_server.append(imap_account.user, mail(4))
        assert [ref.uid for ref, _ in mailbox.new_mails(known_uids)] == ["4"]
    assert len(asked) == 3  # once per fetch, not once per mail


def test_fetching_sets_no_flag_and_moves_nothing(dovecot_server, imap_account):
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2)])
    assert len(fetch_all(imap_account)) == 2
    assert server_flags(imap_account) == {"1": set(), "2": set()}


def test_uidvalidity_change_refetches_but_message_ids_prevent_duplicates(dovecot_server, imap_account, store):
    settings = dataclasses.replace(imap_account, folder="Support")
    dovecot_server.append_many(settings.user, [mail(1), mail(2)], folder="Support")
    with ImapMailbox(settings) as mailbox:
        assert len(ingest(store, mailbox.new_mails(store.known_uids))) == 2
    first_uidvalidity = store.tickets()[0].uidvalidity

    with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password, None) as box:
        box.folder.delete("Support")
    time.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock
    dovecot_server.append_many(settings.user, [mail(1), mail(2), mail(3)], folder="Support")

    with ImapMailbox(settings) as mailbox:
        refetched = list(mailbox.new_mails(store.known_uids))
    assert len(refetched) == 3 and refetched[0][0].uidvalidity != first_uidvalidity
    assert len(ingest(store, iter(refetched))) == 1
    assert sorted(t.message_id for t in store.tickets()) == [f"<{n}@example.org>" for n in (1, 2, 3)]


def test_mark_processed_sets_seen_and_moves_to_a_created_folder(dovecot_server, imap_account):
    settings = dataclasses.replace(imap_account, mark_seen=True, processed_folder="Processed")
    dovecot_server.append_many(settings.user, [mail(1), mail(2)])
    with ImapMailbox(settings) as mailbox:
        refs = [ref for ref, _ in mailbox.new_mails(lambda *_: set())]
        mailbox.mark_processed(refs[0].uid)
    assert server_flags(settings) == {"2": set()}
    assert list(server_flags(settings, "Processed").values()) == [{"\\Seen"}]


def test_mark_processed_does_only_what_is_configured(dovecot_server, imap_account):
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2)])
    with ImapMailbox(dataclasses.replace(imap_account, mark_seen=True)) as mailbox:
        mailbox.mark_processed("1")
    with ImapMailbox(imap_account) as mailbox:
        mailbox.mark_processed("2")
    assert server_flags(imap_account) == {"1": {"\\Seen"}, "2": set()}


def test_flag_answered(dovecot_server, imap_account):
    dovecot_server.append(imap_account.user, mail(1))
    with ImapMailbox(imap_account) as mailbox:
        mailbox.flag_answered("1")
    assert server_flags(imap_account) == {"1": {"\\Answered"}}


def test_append_sent_keeps_a_read_copy_in_the_sent_folder(dovecot_server, imap_account):
    with ImapMailbox(imap_account) as mailbox:
        mailbox.append_sent(mail(7))  # no sent folder configured: nothing to do
    settings = dataclasses.replace(imap_account, sent_folder="Sent")
    with ImapMailbox(settings) as mailbox:
        mailbox.append_sent(mail(8))
    assert list(server_flags(settings, "Sent").values()) == [{"\\Seen"}]
    assert [raw for _, raw in fetch_all(dataclasses.replace(settings, folder="Sent"))] == [mail(8)]
    assert server_flags(settings) == {}


def with_message_id(message_id: str, number: int) -> bytes:
    return mail(number).replace(f"Message-ID: <{number}@example.org>".encode(),
                                f"Message-ID: {message_id}".encode())


def test_answering_a_hostile_message_id_flags_no_other_mail(dovecot_server, imap_account):
    # IMAP's HEADER search matches substrings: "@" is in every Message-ID.
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2), with_message_id("@", 3)])
    ImapReplyFiling(imap_account).after_reply(moved_original("@"), mail(9), "<9@example.org>")
    assert server_flags(imap_account) == {"1": set(), "2": set(), "3": set()}


def test_only_the_mail_with_exactly_that_message_id_is_flagged_answered(dovecot_server, imap_account):
    # The third mail's Message-ID holds the first one's as a substring: a HEADER search finds both.
    hostile = with_message_id("<x@evil.example><1@example.org>", 3)
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2), hostile])
    with ImapMailbox(imap_account) as mailbox:
        assert mailbox.flag_answered_message("<1@example.org>") is True
        assert mailbox.flag_answered_message("<1@example.org") is False  # not well-formed: nothing is searched
    assert server_flags(imap_account) == {"1": {"\\Answered"}, "2": set(), "3": set()}


def test_a_non_ascii_message_id_is_not_searched_and_raises_nothing(dovecot_server, imap_account, caplog):
    settings = dataclasses.replace(imap_account, sent_folder="Sent")
    dovecot_server.append_many(settings.user, [mail(1), with_message_id("<j\u00fcrgen@example.de>", 2)])
    for _ in range(2):  # safe to repeat: the reply's own (well-formed) id is still found in Sent
        ImapReplyFiling(settings).after_reply(moved_original("<j\u00fcrgen@example.de>"), mail(9), "<9@example.org>")
    assert server_flags(settings) == {"1": set(), "2": set()}
    assert [raw for _, raw in fetch_all(dataclasses.replace(settings, folder="Sent"))] == [mail(9)]  # still filed
    assert "not a well-formed msg-id" in caplog.text


def test_wrong_password_is_unavailable_and_never_shows_the_password(imap_account):
    settings = dataclasses.replace(imap_account, password="hunter2-wrong")
    with pytest.raises(ImapUnavailable, match="login refused") as caught:
        ImapMailbox(settings).__enter__()
    assert "hunter2" not in str(caught.value) and caught.value.__cause__ is None
    assert imap_account.user in str(caught.value)
    assert "hunter2" not in repr(settings)


def test_unreachable_server_and_missing_folder_are_unavailable(imap_account):
    with pytest.raises(ImapUnavailable, match="cannot connect"):
        ImapMailbox(dataclasses.replace(imap_account, port=free_port(), timeout=5)).__enter__()
    with pytest.raises(ImapUnavailable, match="cannot open folder 'Nope'"):
        ImapMailbox(dataclasses.replace(imap_account, folder="Nope")).__enter__()


def test_connection_dropped_mid_fetch_is_reopened_and_loses_nothing_and_duplicates_nothing(dovecot_server,
                                                                                           imap_account, store):
    total = FETCH_CHUNK_MAILS * 2 + 30
    dovecot_server.append_many(imap_account.user, [mail(n) for n in range(total)])

    def kick_after_ten(mails):
        for count, item in enumerate(mails):
            if count == 10:
                dovecot_server.kick(imap_account.user)
            yield item

    with ImapMailbox(imap_account) as mailbox:
        assert len(ingest(store, kick_after_ten(mailbox.new_mails(store.known_uids)))) == total
    message_ids = [t.message_id for t in store.tickets()]
    assert len(message_ids) == len(set(message_ids)) == total
    assert all(t.state == State.RECEIVED for t in store.tickets())


def test_oversized_mail_is_not_downloaded_but_quarantined_by_its_headers(dovecot_server, imap_account, store):
    settings = dataclasses.replace(imap_account, max_message_bytes=2_000)
    dovecot_server.append_many(settings.user, [mail(1), mail(2, body="x" * 5_000), mail(3)])
    with ImapMailbox(settings) as mailbox:
        fetched = list(mailbox.new_mails(store.known_uids))
    big = fetched[1][1]
    assert isinstance(big, OversizedMail) and big.size > 5_000 and b"Subject: Request 2" in big.headers
    assert b"xxxx" not in big.headers and fetched[2][1] == mail(3)

    ingest(store, iter(fetched))
    oversized = store.tickets()[1]
    assert oversized.state == State.QUARANTINED and "over the 2000 byte limit" in oversized.quarantine_reason
    assert oversized.message_id == "<2@example.org>" and oversized.sender == "Member 2 <m2@example.org>"


def test_every_mime_corpus_message_is_fetched_and_stored_or_quarantined(dovecot_server, imap_account, store):
    # Dovecot accepts all 33 on APPEND (none needs a Maildir drop); it stores bare LFs as CRLF.
    dovecot_server.append_many(imap_account.user, [path.read_bytes() for path in MIME_CORPUS])
    with ImapMailbox(imap_account) as mailbox:
        fetched = list(mailbox.new_mails(store.known_uids))
    assert [raw for _, raw in fetched] == [crlf(path.read_bytes()) for path in MIME_CORPUS]

    assert len(ingest(store, iter(fetched))) == len(MIME_CORPUS) == 33
    for ticket in store.tickets():
        assert ticket.state in (State.RECEIVED, State.QUARANTINED)
        assert ticket.state == State.RECEIVED or ticket.quarantine_reason


def test_a_mail_dropped_into_the_maildir_is_fetched_too(dovecot_server, imap_account):
    dovecot_server.drop_into_maildir(imap_account.user, mail(1), "m1")
    assert [raw for _, raw in fetch_all(imap_account)] == [mail(1)]


def test_thousand_mails_are_ingested_once(dovecot_server, imap_account, store):
    dovecot_server.append_many(imap_account.user, [mail(number) for number in range(1_000)])
    started = time.perf_counter()
    with ImapMailbox(imap_account) as mailbox:
        assert len(ingest(store, mailbox.new_mails(store.known_uids))) == 1_000
        assert list(mailbox.new_mails(store.known_uids)) == []
    assert time.perf_counter() - started < 60
    assert len({t.message_id for t in store.tickets()}) == 1_000


def test_settings_from_the_environment():
    assert ImapSettings.from_settings(settings_of({})) is None
    settings = ImapSettings.from_settings(settings_of({
        "ACEDESK_IMAP_HOST": "imap.club.example", "ACEDESK_IMAP_USER": "desk", "ACEDESK_IMAP_PASSWORD": "pw-1",
        "ACEDESK_IMAP_SECURITY": "starttls", "ACEDESK_IMAP_PROCESSED_FOLDER": "Done",
        "ACEDESK_IMAP_MARK_SEEN": "yes", "ACEDESK_IMAP_SENT_FOLDER": "Sent"}))
    assert (settings.port, settings.security, settings.folder) == (143, "starttls", "INBOX")
    assert (settings.processed_folder, settings.mark_seen, settings.sent_folder) == ("Done", True, "Sent")
    assert "pw-1" not in repr(settings) and settings.ssl_context is None
    tls = ImapSettings.from_settings(settings_of({"ACEDESK_IMAP_HOST": "h", "ACEDESK_IMAP_PORT": "1993"}))
    assert (tls.security, tls.port, tls.mark_seen) == ("tls", 1993, False)
    with pytest.raises(ValueError, match="security"):
        ImapSettings("h", 1, "ssl", "u", "p")


def test_uid_sets_and_fetch_chunks():
    assert _uid_set(["10", "1", "2", "3", "7", "9"]) == "1:3,7,9:10" and _uid_set(["5"]) == "5"
    chunks = list(_chunks([(str(uid), 100) for uid in range(1, 251)], limit=1_000))
    assert [len(chunk) for chunk in chunks] == [FETCH_CHUNK_MAILS, FETCH_CHUNK_MAILS, 50]
    mixed = list(_chunks([("1", 10), ("2", 5_000), ("3", 10), ("4", 10)], limit=1_000))
    assert mixed == [[("1", 10)], [("2", 5_000)], [("3", 10), ("4", 10)]]  # the oversized one alone, in order


def moved_original(message_id: str) -> MailRef:
    """A ticket's mail that left the folder it came from: only its Message-ID can find it now."""
    return MailRef("imap:gone@mail.example/INBOX", "", "", message_id)


def test_marking_a_mail_the_processed_folder_holds_a_copy_of_only_removes_it_from_the_folder(dovecot_server,
                                                                                           imap_account):
    # As a move cut after its copy leaves it (the retry runs on another connection). Before: moved
    # again, so Done held the mail twice.
    settings = dataclasses.replace(imap_account, processed_folder="Done")
    dovecot_server.append_many(settings.user, [mail(1), mail(2)])
    with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password) as box:
        box.folder.create("Done")
        box.copy("1", "Done")
    with ImapMailbox(settings) as mailbox:
        mailbox.mark_processed("1")
    assert list(server_flags(settings)) == ["2"] and len(server_flags(settings, "Done")) == 1


def test_a_mail_whose_message_id_another_mail_in_the_processed_folder_has_is_moved_not_deleted(dovecot_server,
                                                                                                imap_account):
    # The sender chooses the Message-ID: only the same mail (size and arrival time) counts as a copy.
    settings = dataclasses.replace(imap_account, processed_folder="Done")
    dovecot_server.append(settings.user, mail(1, body="An earlier mail that reuses the id."), folder="Done")
    dovecot_server.append(settings.user, mail(1))
    with ImapMailbox(settings) as mailbox:
        mailbox.mark_processed("1")
    assert server_flags(settings) == {} and len(server_flags(settings, "Done")) == 2


@pytest.mark.parametrize("copied_before", [False, True], ids=["move", "move-cut-after-its-copy"])
def test_marking_a_mail_processed_leaves_another_clients_deleted_mail_in_the_folder(dovecot_server, imap_account,
                                                                                  copied_before):
    # Another mail client marked mail 2 \Deleted (to be undone, or expunged by that client). Before:
    # the greeting's capabilities lacked MOVE, so each move was COPY, STORE and a plain EXPUNGE,
    # which erased mail 2 as well.
    settings = dataclasses.replace(imap_account, processed_folder="Done")
    dovecot_server.append_many(settings.user, [mail(1), mail(2)])
    client = imaplib.IMAP4(settings.host, settings.port)  # imaplib: imap-tools' flag() expunges a \Deleted
    client.login(settings.user, settings.password)
    client.select("INBOX")
    client.uid("STORE", "2", "+FLAGS", r"(\Deleted)")
    if copied_before:
        client.create("Done")
        client.uid("COPY", "1", "Done")
    client.logout()
    with ImapMailbox(settings) as mailbox:
        mailbox.mark_processed("1")
    assert list(server_flags(settings)) == ["2"] and r"\Deleted" in server_flags(settings)["2"]
    assert len(server_flags(settings, "Done")) == 1
