"""A round lists only what is new (ImapMailbox.new_mails_since), against the real Dovecot
(tests/fixtures/dovecot.py): its cost, counted on the wire, and the guarantees of the whole
listing kept under it: oldest first, a mail undeleted later still arrives, a new UIDVALIDITY starts
over, a broken or oversized mail is one ticket, a round cut anywhere loses nothing."""

from __future__ import annotations

import dataclasses
import imaplib
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from imap_tools import MailBoxUnencrypted

from integrations.imap_mailbox import WHOLE_LISTING_EVERY_S, ImapMailbox, ImapSettings
from support.intake import fetch_imap, ingest
from support.migrations import MIGRATIONS
from support.states import State
from support.store import TicketStore
from tests.integrations.test_imap_hostile import (
    FAILED_TWICE,
    LyingProxy,
    drop_with_size,
    mark_deleted_elsewhere,
)
from tests.integrations.test_imap_mailbox import mail

STORED_BEFORE = 300


@pytest.fixture
def store(tmp_path):
    return TicketStore(tmp_path / "tickets.sqlite3")


@pytest.fixture
def recording_proxy(dovecot_server):
    """A proxy in front of Dovecot that keeps every line the server sends: what a round cost."""
    lines: list[bytes] = []
    proxy = LyingProxy(dovecot_server.imap_port, lambda line: lines.append(line) or line)
    proxy.lines = lines
    yield proxy
    proxy.close()


def listing_lines(lines: list[bytes]) -> list[bytes]:
    return [line for line in lines if b"RFC822.SIZE" in line]


def listed_uids(lines: list[bytes]) -> list[str]:
    return [re.search(rb"UID (\d+)", line).group(1).decode() for line in listing_lines(lines)]


def uids_of(store: TicketStore) -> list[str]:
    return [ticket.uid for ticket in store.tickets()]


def undelete_elsewhere(settings: ImapSettings, uid: str) -> None:
    """Another mail client takes a mail out of its bin again."""
    client = imaplib.IMAP4(settings.host, settings.port)
    client.login(settings.user, settings.password)
    client.select(settings.folder)
    client.uid("STORE", uid, "-FLAGS", r"(\Deleted)")
    client.logout()


def make_whole_listing_due(store: TicketStore, settings: ImapSettings) -> None:
    """As if the last whole listing were WHOLE_LISTING_EVERY_S old."""
    uidvalidity = store.tickets()[0].uidvalidity
    store.record_listed_whole(settings.mailbox_name, uidvalidity,
                              datetime.now(UTC) - timedelta(seconds=WHOLE_LISTING_EVERY_S))


class CrashBeforeStoring(Exception):
    """The process dies after the server sent a mail and before the store has it."""


def crashing_at(mails, crash_at: int):
    for count, item in enumerate(mails):
        if count == crash_at:
            raise CrashBeforeStoring
        yield item


def test_a_round_with_one_new_mail_among_hundreds_stored_lists_that_mail_only(dovecot_server, imap_account, store,
                                                                               recording_proxy):
    dovecot_server.append_many(imap_account.user, [mail(n) for n in range(1, STORED_BEFORE + 1)])
    settings = recording_proxy.settings(imap_account)
    assert fetch_imap(store, settings) == STORED_BEFORE
    assert len(listing_lines(recording_proxy.lines)) == STORED_BEFORE  # the first round lists the whole folder

    dovecot_server.append(imap_account.user, mail(STORED_BEFORE + 1))
    recording_proxy.lines.clear()
    assert fetch_imap(store, settings) == 1
    # before: all 301 mails listed again, and all 301 UIDs read from the store
    assert listed_uids(recording_proxy.lines) == [str(STORED_BEFORE + 1)]
    assert sum(map(len, recording_proxy.lines)) < 3_000  # greeting, login, select, listing, the mail, logout

    recording_proxy.lines.clear()
    assert fetch_imap(store, settings) == 0
    # "302:*" names the highest mail all the same (RFC 3501 6.4.8): listed, and not fetched again
    assert listed_uids(recording_proxy.lines) == [str(STORED_BEFORE + 1)]
    assert not [line for line in recording_proxy.lines if b"BODY[]" in line]
    assert uids_of(store) == [str(n) for n in range(1, STORED_BEFORE + 2)]  # oldest first, each once


def test_a_mail_undeleted_below_the_highest_stored_arrives_with_the_next_whole_listing(dovecot_server,
                                                                                      imap_account, store):
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2), mail(3)])
    mark_deleted_elsewhere(imap_account, "2")
    assert fetch_imap(store, imap_account) == 2
    undelete_elsewhere(imap_account, "2")
    dovecot_server.append(imap_account.user, mail(4))

    assert fetch_imap(store, imap_account) == 1  # only what is above UID 3 is listed
    assert uids_of(store) == ["1", "3", "4"]
    make_whole_listing_due(store, imap_account)
    assert fetch_imap(store, imap_account) == 1
    assert sorted(uids_of(store)) == ["1", "2", "3", "4"]
    assert fetch_imap(store, imap_account) == 0  # the whole listing was recorded: the next round is small again


def test_a_whole_listing_cut_before_its_mails_are_stored_is_made_again(dovecot_server, imap_account, store):
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2), mail(3)])
    mark_deleted_elsewhere(imap_account, "2")
    assert fetch_imap(store, imap_account) == 2
    undelete_elsewhere(imap_account, "2")
    dovecot_server.append(imap_account.user, mail(4))
    make_whole_listing_due(store, imap_account)

    with ImapMailbox(imap_account) as mailbox, pytest.raises(CrashBeforeStoring):
        ingest(store, crashing_at(mailbox.new_mails_since(store), 0))  # UID 2 sent, never stored
    assert uids_of(store) == ["1", "3"]
    # recorded as done when it was listed, the listing would leave UID 2 below the highest UID for an hour
    assert fetch_imap(store, imap_account) == 2
    assert uids_of(store) == ["1", "3", "2", "4"]


def test_a_round_cut_between_fetch_and_store_loses_nothing_and_stores_nothing_twice(dovecot_server, imap_account,
                                                                                     store):
    dovecot_server.append_many(imap_account.user, [mail(n) for n in range(1, 6)])
    assert fetch_imap(store, imap_account) == 5
    dovecot_server.append_many(imap_account.user, [mail(n) for n in range(6, 10)])

    with ImapMailbox(imap_account) as mailbox, pytest.raises(CrashBeforeStoring):
        ingest(store, crashing_at(mailbox.new_mails_since(store), 2))  # UIDs 6, 7 stored; 8 sent, never stored
    assert uids_of(store) == [str(n) for n in range(1, 8)]
    assert fetch_imap(store, imap_account) == 2
    assert uids_of(store) == [str(n) for n in range(1, 10)]


def test_a_new_uidvalidity_starts_over_below_the_old_generations_highest_uid(dovecot_server, imap_account, store):
    settings = dataclasses.replace(imap_account, folder="Support")
    dovecot_server.append_many(settings.user, [mail(n) for n in range(1, 6)], folder="Support")
    assert fetch_imap(store, settings) == 5
    with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password, None) as box:
        box.folder.delete("Support")
    time.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock
    dovecot_server.append_many(settings.user, [mail(n) for n in (11, 12, 13)], folder="Support")

    assert fetch_imap(store, settings) == 3  # UIDs 1 to 3 of the new generation, under the old one's 5
    assert {t.message_id for t in store.tickets()} >= {f"<{n}@example.org>" for n in (11, 12, 13)}


def test_broken_and_oversized_new_mails_are_one_ticket_each_in_a_small_round(dovecot_server, imap_account, store,
                                                                              recording_proxy):
    settings = recording_proxy.settings(imap_account, max_message_bytes=2_000)
    dovecot_server.append_many(settings.user, [mail(n) for n in range(1, 4)])
    assert fetch_imap(store, settings) == 3
    drop_with_size(dovecot_server, settings.user, mail(4, body="the file is longer than its name says " * 20), 300)
    dovecot_server.append_many(settings.user, [mail(5, body="x" * 3_000), mail(6)])

    recording_proxy.lines.clear()
    assert fetch_imap(store, settings) == 3
    assert listed_uids(recording_proxy.lines) == ["4", "5", "6"]  # the fresh connections of the retries list nothing
    new = store.tickets()[3:]
    reasons = sorted(t.quarantine_reason for t in new if t.state == State.QUARANTINED)
    assert len(reasons) == 2 and reasons[0].endswith("over the 2000 byte limit (not downloaded)")
    assert reasons[1].startswith(FAILED_TWICE)
    assert [t.message_id for t in new if t.state == State.RECEIVED] == ["<6@example.org>"]
    assert fetch_imap(store, settings) == 0 and len(store.tickets()) == 6


def test_a_store_of_the_release_before_finds_its_highest_uid_by_number_and_lists_whole_first(tmp_path):
    path = tmp_path / "t.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:9], start=1):
        for statement in [part for part in script.split(";") if part.strip()]:
            old.execute(statement)
        old.execute(f"PRAGMA user_version = {number}")
    old.execute("INSERT INTO tickets (id, mailbox, uidvalidity, uid, state, created_at, updated_at)"
                " VALUES (1, 'imap:desk@host/INBOX', '7', '1', 'received', 'now', 'now')")
    old.executemany("INSERT INTO mail_seen (mailbox, uidvalidity, uid, ticket_id, seen_at)"
                    " VALUES ('imap:desk@host/INBOX', '7', ?, 1, 'now')", [(str(uid),) for uid in range(1, 13)])
    old.close()

    store = TicketStore(path)
    assert store.highest_known_uid("imap:desk@host/INBOX", "7") == 12  # by number: as text, "9" is the highest
    assert store.highest_known_uid("imap:desk@host/INBOX", "8") == 0
    assert store.listed_whole_at("imap:desk@host/INBOX", "7") is None  # its first round lists the whole folder
    plan = store.db.execute("EXPLAIN QUERY PLAN SELECT MAX(CAST(uid AS INTEGER)) FROM mail_seen"
                            " WHERE mailbox='m' AND uidvalidity='7'").fetchall()
    assert "mail_seen_by_uid_number" in str([tuple(row) for row in plan])
