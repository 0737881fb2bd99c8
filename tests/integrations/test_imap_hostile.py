"""A flaky or lying IMAP server, against the real Dovecot (tests/fixtures/dovecot.py): damaged
files on its disk, a proxy that rewrites or withholds what it says, another client changing the
folder meanwhile. The rule: one failure, one ticket; nothing lost, nothing stored twice; the
fetch never hangs and never stops at one mail."""

from __future__ import annotations

import dataclasses
import imaplib
import logging
import os
import re
import socket
import threading
import time
import tracemalloc
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imap_tools import MailBoxUnencrypted

from integrations.imap_mailbox import (
    FETCH_CHUNK_MAILS,
    ImapMailbox,
    ImapSettings,
    ImapUnavailable,
    OversizedMail,
)
from support.intake import fetch_imap, ingest
from support.states import State
from support.store import TicketStore
from testbed import free_port
from testbed.dovecot import MAIL_UID
from tests.integrations.test_imap_mailbox import mail, server_flags

FAILED_TWICE = "not downloaded: the server failed twice to send it"


class LyingProxy:
    """A loopback proxy in front of Dovecot that passes the client's bytes on as they are and each
    line the server sends through ``server_line``: it returns the line to send (rewritten or not),
    or None to stall the connection from there on. ``close()`` takes the server away."""

    def __init__(self, target_port: int, server_line: Callable[[bytes], bytes | None] = lambda line: line):
        self.target_port, self.server_line = target_port, server_line
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def settings(self, account: ImapSettings, **overrides) -> ImapSettings:
        return dataclasses.replace(account, port=self.port, **overrides)

    def close(self) -> None:
        self._closed.set()
        _shut(self.listener)  # shutdown wakes the accept() waiting in the other thread; close alone does not
        for sock in self._sockets:
            _shut(sock)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self._closed.is_set():
                _shut(client)
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            for sock in (client, server):  # line by line, each sent at once: Nagle would add 40 ms a line
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sockets += [client, server]
            threading.Thread(target=self._to_server, args=(client, server), daemon=True).start()
            threading.Thread(target=self._to_client, args=(server, client), daemon=True).start()

    def _to_server(self, client: socket.socket, server: socket.socket) -> None:
        try:
            while data := client.recv(65_536):
                server.sendall(data)
        except OSError:
            pass

    def _to_client(self, server: socket.socket, client: socket.socket) -> None:
        pending = b""
        try:
            while data := server.recv(65_536):
                *lines, pending = (pending + data).split(b"\r\n")
                for line in lines:
                    sent = self.server_line(line + b"\r\n")
                    if sent is None:
                        self._closed.wait()
                        return
                    client.sendall(sent)
        except OSError:
            pass
        finally:
            _shut(client)
            _shut(server)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


@pytest.fixture
def proxies():
    opened = []

    def open_proxy(target_port, server_line=lambda line: line):
        opened.append(LyingProxy(target_port, server_line))
        return opened[-1]

    yield open_proxy
    for proxy in opened:
        proxy.close()


@pytest.fixture
def store(tmp_path):
    return TicketStore(tmp_path / "tickets.sqlite3")


def tickets_by_uid(store: TicketStore) -> dict[str, tuple[State, str | None]]:
    return {t.uid: (t.state, t.quarantine_reason) for t in store.tickets()}


def drop_with_size(dovecot_server, user: str, raw: bytes, size: int) -> None:
    """A message file whose Maildir name states a wrong size (``S=``), as a crashed delivery or a
    hand-restored backup leaves it: Dovecot then drops the connection when asked for its body."""
    folder = dovecot_server.home(user) / "Maildir" / "cur"
    path = folder / f"{time.time_ns()}.M1P1.broken,S={size},W={size + 10}:2,"
    path.write_bytes(raw)
    os.chown(path, MAIL_UID, MAIL_UID)


# -- one mail the server cannot send ----------------------------------------------------------
def test_a_mail_dovecot_cannot_send_is_one_quarantined_ticket_and_the_others_arrive(dovecot_server, imap_account,
                                                                                       store):
    settings = dataclasses.replace(imap_account, mark_seen=True)
    dovecot_server.append(settings.user, mail(1))
    drop_with_size(dovecot_server, settings.user, mail(2, body="the file is longer than its name says " * 50), 300)
    dovecot_server.append(settings.user, mail(3))

    assert fetch_imap(store, settings) == 3  # before: every round failed ("fetch failed: EOF"), no ticket at all
    broken = [t for t in store.tickets() if t.state == State.QUARANTINED]
    assert len(broken) == 1 and broken[0].quarantine_reason.startswith(FAILED_TWICE)
    assert sorted(t.message_id for t in store.tickets() if t.state == State.RECEIVED) == ["<1@example.org>",
                                                                                          "<3@example.org>"]
    assert fetch_imap(store, settings) == 0 and len(store.tickets()) == 3  # known: never fetched again
    with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password) as box:
        assert box.uids("UNSEEN") == [] and len(box.uids("SEEN")) == 3  # the broken one's headers fail too


def test_a_mail_listed_small_but_sent_huge_is_refused_before_it_is_read(dovecot_server, imap_account, store,
                                                                         proxies):
    # The listing's RFC822.SIZE is the server's word; the literal it then announces is checked too.
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2, body=("x" * 76 + "\r\n") * 40_000), mail(3)])
    proxy = proxies(dovecot_server.imap_port, lambda line: re.sub(rb"RFC822\.SIZE \d{7,}", b"RFC822.SIZE 300", line))
    settings = proxy.settings(imap_account, max_message_bytes=100_000)

    tracemalloc.start()
    try:
        assert fetch_imap(store, settings) == 3
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # before: the 3 MB were read, stored and triaged as an ordinary mail
    state, reason = tickets_by_uid(store)["2"]
    assert state == State.QUARANTINED and "3120" in reason and "over the 100000 byte limit" in reason
    assert store.tickets()[1].sender == "Member 2 <m2@example.org>"  # named by its headers


def lie_about_literal(uid: int, length: Callable[[int], int]) -> Callable[[bytes], bytes]:
    def rewrite(line: bytes) -> bytes:
        return re.sub(rb"(\(UID %d BODY\[\] \{)(\d+)\}" % uid,
                      lambda found: found.group(1) + str(length(int(found.group(2)))).encode() + b"}", line)
    return rewrite


@settings(max_examples=15, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(2, 5), data=st.data(),
       length=st.one_of(st.integers(1, 150).map(lambda short: lambda real: max(0, real - short)),
                        st.sampled_from([lambda real: 99_999_999_999, lambda real: 10_000_000])))
def test_a_literal_of_the_wrong_length_is_one_quarantined_ticket(dovecot_server, proxies, tmp_path_factory,
                                                                  count, data, length):
    # Shorter than announced or announced far over the limit: imaplib would misread the rest of
    # the response, or allocate the announced size (MemoryError) before reading a byte.
    account = dovecot_server.settings(dovecot_server.add_user())
    dovecot_server.append_many(account.user, [mail(n) for n in range(1, count + 1)])
    liar = data.draw(st.integers(1, count), label="lying uid")
    proxy = proxies(dovecot_server.imap_port, lie_about_literal(liar, length))
    store = TicketStore(tmp_path_factory.mktemp("lie") / "t.sqlite3")

    assert fetch_imap(store, proxy.settings(account)) == count
    stored = tickets_by_uid(store)
    assert stored.pop(str(liar))[1].startswith(FAILED_TWICE)
    assert all(state == State.RECEIVED for state, _ in stored.values())
    assert fetch_imap(store, proxy.settings(account)) == 0


def test_oversized_mails_whose_headers_the_server_cannot_send_are_a_ticket_each(dovecot_server, imap_account,
                                                                               store, proxies):
    # Listed over the limit, and the header literal announced absurdly long: nothing names them,
    # so nothing may merge them either (before: a MemoryError on every round).
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2), mail(3)])

    def lie(line: bytes) -> bytes:
        line = re.sub(rb"(UID [23] RFC822\.SIZE )\d+", rb"\g<1>900000", line)
        return re.sub(rb"(UID [23] BODY\[HEADER\]<0> \{)\d+", rb"\g<1>99999999999", line)

    proxy = proxies(dovecot_server.imap_port, lie)
    assert fetch_imap(store, proxy.settings(imap_account, max_message_bytes=100_000)) == 3
    stored = tickets_by_uid(store)
    assert stored.pop("1")[0] == State.RECEIVED
    assert [reason for _, reason in stored.values()] == [OversizedMail(900_000, 100_000, b"").reason] * 2
    assert [t.sender for t in store.tickets()][1:] == ["", ""]  # no headers were read


def test_a_folder_rebuilt_while_a_fetch_recovers_ends_the_round_storing_nothing_under_old_uids(
        dovecot_server, imap_account, store, proxies):
    # The old UIDs would name other mails in the rebuilt folder: stored under the old generation,
    # and the marks made on whichever mail now has that UID.
    settings = dataclasses.replace(imap_account, folder="Support", mark_seen=True)
    dovecot_server.append_many(settings.user, [mail(1), mail(2)], folder="Support")
    rebuilt = []

    def rebuild_then_lie(line: bytes) -> bytes:
        if b"UID 2 BODY[] {" in line and not rebuilt:
            with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password, None) as box:
                box.folder.delete("Support")
            dovecot_server.append_many(settings.user, [mail(7), mail(8)], folder="Support")
            rebuilt.append(True)
        return lie_about_literal(2, lambda real: 99_999_999_999)(line)

    proxy = proxies(dovecot_server.imap_port, rebuild_then_lie)
    with pytest.raises(ImapUnavailable, match="UIDVALIDITY changed"):
        fetch_imap(store, proxy.settings(settings))
    assert store.tickets() == [] and server_flags(settings, "Support") == {"1": set(), "2": set()}

    assert fetch_imap(store, settings) == 2
    assert sorted(t.message_id for t in store.tickets()) == ["<7@example.org>", "<8@example.org>"]


def test_the_server_timing_out_on_one_mail_blames_no_mail(dovecot_server, imap_account, store, proxies):
    # A stall looks the same whoever causes it: the round ends, the mail waits for the next one.
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2)])
    proxy = proxies(dovecot_server.imap_port, lambda line: None if b"BODY[]" in line else line)
    started = time.monotonic()
    with pytest.raises(ImapUnavailable, match="fetch failed: TimeoutError"):
        fetch_imap(store, proxy.settings(imap_account, timeout=1))
    assert time.monotonic() - started < 5 and store.tickets() == []
    assert fetch_imap(store, imap_account) == 2


@pytest.mark.parametrize("extra", [100, 4800], ids=["into-the-next-mail", "past-the-whole-answer"])
def test_a_literal_announced_longer_than_its_data_is_one_quarantined_ticket_and_the_others_arrive(
        dovecot_server, imap_account, store, proxies, extra):
    # The rest of the answer, its completion line included, is read as the literal, then the read
    # waits. Before: every round ended there ("fetch failed: TimeoutError"), so mail 3 (and, when the
    # literal swallowed the whole answer, mail 1 too) never arrived while the server kept lying.
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2), mail(3)])
    proxy = proxies(dovecot_server.imap_port, lie_about_literal(2, lambda real: real + extra))
    started = time.monotonic()
    assert fetch_imap(store, proxy.settings(imap_account, timeout=1)) == 3
    assert time.monotonic() - started < 8  # three read timeouts: the batch, then the mail alone twice
    stored = tickets_by_uid(store)
    state, reason = stored.pop("2")
    assert state == State.QUARANTINED and reason.startswith(FAILED_TWICE) and "announced longer" in reason
    assert store.tickets()[1].sender == "Member 2 <m2@example.org>"  # named by its headers
    assert all(state == State.RECEIVED for state, _ in stored.values())
    assert fetch_imap(store, proxy.settings(imap_account, timeout=1)) == 0


def test_a_server_that_sends_a_mail_too_slowly_is_cut_off_at_the_requests_deadline(dovecot_server, imap_account,
                                                                                   store, proxies):
    # Each line arrives within the read timeout, so no read ever times out: before the deadline the
    # round waited for the whole drip (here 60 lines * 0.25 s; a 5 MB mail at a byte a second: weeks).
    long_mail = mail(1).replace(b"\r\n\r\n", b"\r\n\r\n" + b"a line of the body\r\n" * 60, 1)
    dovecot_server.append_many(imap_account.user, [long_mail])
    in_body = threading.Event()

    def drip(line: bytes) -> bytes:
        if b"BODY[]" in line:
            in_body.set()
        if in_body.is_set():
            time.sleep(0.25)
        return line

    proxy = proxies(dovecot_server.imap_port, drip)
    started = time.monotonic()
    with pytest.raises(ImapUnavailable, match="fetch failed: TimeoutError: UID FETCH was not answered within 4"):
        fetch_imap(store, proxy.settings(imap_account, timeout=1))
    assert time.monotonic() - started < 10 and store.tickets() == []  # the deadline, 4 s, plus the reconnect's
    assert fetch_imap(store, imap_account) == 1  # nothing blamed on the mail: a good server delivers it


def test_a_server_that_accepts_and_never_answers_times_out(proxies, imap_account, store):
    silent = proxies(imap_account.port, lambda line: None)
    started = time.monotonic()
    with pytest.raises(ImapUnavailable, match="cannot connect: TimeoutError"):
        fetch_imap(store, silent.settings(imap_account, timeout=1))
    assert time.monotonic() - started < 3


# -- the connection dropping --------------------------------------------------------------------
def test_the_server_going_away_mid_fetch_ends_the_round_and_the_next_loses_nothing(dovecot_server, imap_account,
                                                                                   store, proxies):
    total = FETCH_CHUNK_MAILS + 30
    dovecot_server.append_many(imap_account.user, [mail(n) for n in range(total)])
    proxy = proxies(dovecot_server.imap_port)

    def away_after_ten(mails):
        for count, item in enumerate(mails):
            if count == 10:
                proxy.close()  # the connection and every new one fail from here on
            yield item

    with pytest.raises(ImapUnavailable, match="cannot connect"), ImapMailbox(proxy.settings(imap_account)) as mailbox:
        ingest(store, away_after_ten(mailbox.new_mails(store.known_uids)))
    assert len(store.tickets()) == FETCH_CHUNK_MAILS  # the chunk already received is stored

    assert fetch_imap(store, imap_account) == total - FETCH_CHUNK_MAILS
    message_ids = [t.message_id for t in store.tickets()]
    assert len(message_ids) == len(set(message_ids)) == total


# -- the server refusing a mark -------------------------------------------------------------------
def test_a_mark_the_server_refuses_does_not_stop_the_fetch(dovecot_server, imap_account, store, caplog):
    # Dovecot's Maildir names folders with ".": it refuses to create "Done/2026", as a full quota
    # or a missing right would refuse the move.
    settings = dataclasses.replace(imap_account, processed_folder="Done/2026")
    dovecot_server.append_many(settings.user, [mail(1), mail(2), mail(3)])
    with caplog.at_level(logging.WARNING):
        assert fetch_imap(store, settings) == 3  # before: one ticket, then every round stopped at the mark
        dovecot_server.append(settings.user, mail(4))
        assert fetch_imap(store, settings) == 1
    assert "Invalid mailbox name" in caplog.text
    generation = (store.tickets()[0].mailbox, store.tickets()[0].uidvalidity)
    assert store.unmarked_uids(*generation) == ["1", "2", "3", "4"]

    fixed = dataclasses.replace(settings, processed_folder="Done")
    assert fetch_imap(store, fixed) == 0  # the pending marks are made once the server accepts them
    assert store.unmarked_uids(*generation) == [] and server_flags(fixed) == {}
    assert len(server_flags(fixed, "Done")) == 4


# -- another client changing the folder -----------------------------------------------------------
def test_mail_another_client_marked_read_is_fetched_all_the_same(dovecot_server, imap_account, store):
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2)])
    with MailBoxUnencrypted(imap_account.host, imap_account.port).login(imap_account.user,
                                                                        imap_account.password) as box:
        box.flag(box.uids(), "\\Seen", True)  # "mark all as read" in Thunderbird
    assert fetch_imap(store, imap_account) == 2


def test_mail_expunged_between_the_listing_and_the_fetch_is_skipped_and_the_rest_arrive(dovecot_server,
                                                                                       imap_account, store,
                                                                                       proxies):
    dovecot_server.append_many(imap_account.user, [mail(n) for n in range(1, 6)])
    expunged = []

    def expunge_once_listed(line: bytes) -> bytes:
        if b"RFC822.SIZE" in line and b"UID 5 " in line and not expunged:
            with MailBoxUnencrypted(imap_account.host, imap_account.port).login(imap_account.user,
                                                                                imap_account.password) as box:
                box.delete(["2", "4"])
            expunged.append(True)
        return line

    proxy = proxies(dovecot_server.imap_port, expunge_once_listed)
    assert fetch_imap(store, proxy.settings(imap_account)) == 3 and expunged
    assert sorted(tickets_by_uid(store)) == ["1", "3", "5"]
    assert all(state == State.RECEIVED for state, _ in tickets_by_uid(store).values())


def test_non_ascii_folder_names_fetch_move_and_file_replies(dovecot_server, imap_account, store):
    settings = dataclasses.replace(imap_account, folder="Anfragen.Prüfung", processed_folder="Erledigt ✓",
                                   mark_seen=True, sent_folder="Gesendete Objekte")
    dovecot_server.append_many(settings.user, [mail(1), mail(2)], folder=settings.folder)
    assert fetch_imap(store, settings) == 2 and fetch_imap(store, settings) == 0
    assert list(server_flags(settings, "Erledigt ✓").values()) == [{"\\Seen"}, {"\\Seen"}]
    with ImapMailbox(settings) as mailbox:
        mailbox.append_sent(mail(9), "<9@example.org>")
        assert mailbox.flag_answered_message("<1@example.org>") is True
    assert len(server_flags(settings, "Gesendete Objekte")) == 1


def test_a_recreated_folder_adds_no_ticket_for_mail_without_or_with_a_shared_message_id(dovecot_server,
                                                                                        imap_account, store):
    settings = dataclasses.replace(imap_account, folder="Support")
    no_message_id = mail(1).replace(b"Message-ID: <1@example.org>\r\n", b"")
    same_id_other_text = mail(2, body="Another mail that reuses <2@example.org>.")
    mails = [no_message_id, mail(2), same_id_other_text]
    dovecot_server.append_many(settings.user, mails, folder="Support")
    assert fetch_imap(store, settings) == 3
    with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password, None) as box:
        box.folder.delete("Support")
    dovecot_server.append_many(settings.user, [*mails, mail(4)], folder="Support")  # a new UIDVALIDITY

    assert fetch_imap(store, settings) == 1
    assert len({t.uidvalidity for t in store.tickets()}) == 2 and len(store.tickets()) == 4


def test_a_50_mb_mail_is_quarantined_by_its_headers_without_being_downloaded(dovecot_server, imap_account, store):
    huge = mail(2, body=("x" * 76 + "\r\n") * 650_000)  # 50 MB, as an attached video would be
    dovecot_server.append_many(imap_account.user, [mail(1), huge, mail(3)])
    del huge
    tracemalloc.start()
    try:
        assert fetch_imap(store, imap_account) == 3
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    state, reason = tickets_by_uid(store)["2"]
    assert state == State.QUARANTINED and re.match(r"message is 50\d{6} bytes on the server, over the 5000000 byte"
                                                   r" limit \(not downloaded\)", reason)


# -- dripping while connecting ------------------------------------------------------------------
GREETING = b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n"


class DrippingImapServer:
    """A scripted IMAP server on loopback that keeps each read of its client short of the read
    timeout and never finishes: ``drip="greeting"`` sends its greeting a byte every 0.1 s, without
    end; ``drip="login"`` greets at once and answers LOGIN with an untagged ``* OK`` every 0.1 s."""

    def __init__(self, drip: str):
        self.drip = drip
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._closed = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self._closed.set()
        _shut(self.listener)

    def _serve(self) -> None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return
        try:
            if self.drip == "greeting":
                self._keep_sending(client, b"* OK")
                return
            client.sendall(GREETING)
            for line in client.makefile("rb"):
                tag, command = line.split()[:2]
                if command.upper() == b"LOGIN":
                    # whole untagged lines, each inside the read timeout: only the deadline ends it
                    self._keep_sending(client, b"* OK still checking your password\r\n")
                    return
                client.sendall(tag + b" OK done\r\n")
        except OSError:
            pass  # the client cut the connection: what the test waits for
        finally:
            _shut(client)

    def _keep_sending(self, client: socket.socket, text: bytes) -> None:
        client.sendall(text)
        while not self._closed.wait(0.1):
            client.sendall(b"." if self.drip == "greeting" else text)


@pytest.mark.parametrize("drip", ["greeting", "login"])
def test_a_server_dripping_its_greeting_or_login_answer_is_cut_off_at_the_connects_deadline(drip):
    # Each byte arrives inside the read timeout, so only a deadline ends it; before, connecting was
    # outside the requests' deadlines and a worker's round (or a page's probe) waited as long as the
    # server kept talking.
    server = DrippingImapServer(drip)
    settings = ImapSettings("127.0.0.1", server.port, "plain", "desk", "S3cret-pw", timeout=0.5)
    outcome = []

    def connect():
        try:
            with ImapMailbox(settings):
                pass
        except Exception as error:  # noqa: BLE001 - the test asserts on what it was
            outcome.append(error)

    started = time.monotonic()
    connecting = threading.Thread(target=connect, daemon=True)
    connecting.start()
    connecting.join(10)
    elapsed = time.monotonic() - started
    server.close()
    assert not connecting.is_alive(), "still connecting after 10 s"
    assert elapsed < 4  # the deadline: 4 read timeouts of 0.5 s
    [error] = outcome
    assert isinstance(error, ImapUnavailable)
    assert "cannot connect: TimeoutError: not logged in with the folder open within 2 s" in str(error)
    assert settings.password not in str(error)


# -- dripping after connecting: every request has a deadline ------------------------------------
class StallingProxy(LyingProxy):
    """A :class:`LyingProxy` that, from the first server line ``stall_at`` picks on, sends the
    client ``* OK still working`` every 0.1 s instead, without end: each read is answered inside
    the read timeout, so only a deadline ends the request."""

    def __init__(self, target_port: int, stall_at: Callable[[bytes], bool],
                 server_line: Callable[[bytes], bytes] = lambda line: line):
        self.stall_at = stall_at
        super().__init__(target_port, server_line)

    def _to_client(self, server: socket.socket, client: socket.socket) -> None:
        pending = b""
        try:
            while data := server.recv(65_536):
                *lines, pending = (pending + data).split(b"\r\n")
                for line in lines:
                    if self.stall_at(line):
                        while not self._closed.wait(0.1):
                            client.sendall(b"* OK still working\r\n")
                        return
                    client.sendall(self.server_line(line) + b"\r\n")
        except OSError:
            pass


def without(*capabilities: str) -> Callable[[bytes], bytes]:
    """A server that lacks these capabilities: each is struck from what it says it can do."""
    names = b"|".join(re.escape(name.encode()) for name in capabilities)

    def rewrite(line: bytes) -> bytes:
        return re.sub(rb" (?:%s)(?= |\]|\r|$)" % names, b"", line) if b"CAPABILITY" in line else line

    return rewrite


without_move = without("MOVE")  # moves by COPY, then the removal: a cut connection can leave the copy behind


def nth_line_with(marker: bytes, n: int) -> Callable[[bytes], bool]:
    seen = 0

    def is_it(line: bytes) -> bool:
        nonlocal seen
        seen += marker in line
        return marker in line and seen == n

    return is_it


def finished_within(seconds: float, work: Callable[[], object]) -> Exception | None:
    """What ``work`` raised (None if nothing), failing the test if it still runs after ``seconds``."""
    outcome = []

    def run():
        try:
            work()
        except Exception as error:  # noqa: BLE001 - the caller asserts on what it was
            outcome.append(error)
        else:
            outcome.append(None)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"still talking to the server after {seconds} s"
    return outcome[0]


@pytest.mark.parametrize(("stall_at", "said"), [
    (nth_line_with(b"* FLAGS", 2), "cannot open folder 'INBOX': TimeoutError: SELECT was not answered within 2 s"),
    (nth_line_with(b"* FLAGS", 3), "cannot open folder 'INBOX': TimeoutError: SELECT was not answered within 2 s"),
    (nth_line_with(b"List completed", 1), "cannot create folder 'Done': TimeoutError: LIST and CREATE was not"),
    (nth_line_with(b"[COPYUID", 1), "move failed: TimeoutError: UID MOVE was not answered within 2 s"),
], ids=["generation-select", "new-mails-select", "processed-folder-list", "move"])
def test_a_server_dripping_a_select_list_or_move_is_cut_off_at_the_requests_deadline(dovecot_server, imap_account,
                                                                                    store, stall_at, said):
    # These went through imap-tools, outside the deadline of UID commands: the round waited for as
    # long as the server kept sending "* OK" lines (measured: still waiting after 20 s).
    dovecot_server.append(imap_account.user, mail(1))
    proxy = StallingProxy(imap_account.port, stall_at)
    try:
        started = time.monotonic()
        error = finished_within(10, lambda: fetch_imap(store, proxy.settings(imap_account, timeout=0.5,
                                                                             processed_folder="Done")))
        assert time.monotonic() - started < 4  # the deadline, 4 read timeouts of 0.5 s, plus the rest of the round
    finally:
        proxy.close()
    assert isinstance(error, ImapUnavailable) and said in str(error)
    assert imap_account.password not in str(error)
    # nothing lost: a good server gets the mail stored once and moved, once (a MOVE cut after its
    # copy leaves Dovecot's copy in Done: the retry then only removes the mail from INBOX)
    fetch_imap(store, dataclasses.replace(imap_account, processed_folder="Done"))
    assert [t.message_id for t in store.tickets()] == ["<1@example.org>"]
    assert server_flags(imap_account, "INBOX") == {} and len(server_flags(imap_account, "Done")) == 1


def test_a_server_dripping_its_goodbye_does_not_hold_the_round(dovecot_server, imap_account, store):
    # LOGOUT ends every fetch: a server dripping "* BYE ..." held a round that had stored everything.
    dovecot_server.append(imap_account.user, mail(1))
    proxy = StallingProxy(imap_account.port, nth_line_with(b"* BYE", 1))
    try:
        started = time.monotonic()
        stored = []
        assert finished_within(10, lambda: stored.append(fetch_imap(store, proxy.settings(imap_account, timeout=0.5)))) \
            is None
        assert time.monotonic() - started < 4
    finally:
        proxy.close()
    assert stored == [1]


# -- a dripped TLS handshake -----------------------------------------------------------------------
def serve_dripped_handshake(before_tls: Callable[[socket.socket], None] = lambda connection: None) -> int:
    """A loopback server (its port returned) that, after ``before_tls`` (a STARTTLS exchange),
    answers the ClientHello with the header of a 16 KB handshake record and then one byte of it
    every 0.1 s: each read is answered inside the read timeout, the handshake never ends."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve():
        connection, _ = listener.accept()
        with connection:
            try:
                before_tls(connection)
                connection.recv(65_536)
                connection.sendall(b"\x16\x03\x03\x40\x00")
                for _ in range(600):
                    connection.sendall(b"\x00")
                    time.sleep(0.1)
            except OSError:
                pass  # the client gave up: what the test waits for
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def imap_starttls_exchange(connection: socket.socket) -> None:
    connection.sendall(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
    for line in connection.makefile("rb"):
        tag, command = line.split()[:2]
        if command.upper() == b"CAPABILITY":
            connection.sendall(b"* CAPABILITY IMAP4rev1 STARTTLS\r\n" + tag + b" OK done\r\n")
        elif command.upper() == b"STARTTLS":
            connection.sendall(tag + b" OK begin TLS\r\n")
            return


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_a_dripped_tls_handshake_ends_within_the_read_timeout(security):
    # The deadline cannot see the socket while ssl wraps it (a new socket object), but CPython's
    # handshake has a deadline of its own: the socket's timeout for the whole handshake (measured:
    # 1.0 s at timeout=1). This guards that, for implicit TLS and after STARTTLS.
    port = serve_dripped_handshake(imap_starttls_exchange if security == "starttls" else lambda connection: None)
    settings = ImapSettings("127.0.0.1", port, security, "desk", "S3cret-pw", timeout=0.5)

    def connect():
        with ImapMailbox(settings):
            pass

    started = time.monotonic()
    error = finished_within(10, connect)
    assert time.monotonic() - started < 2
    assert isinstance(error, ImapUnavailable) and "cannot connect: TimeoutError" in str(error)


# -- a literal announced longer than its data, and a move cut after its copy -----------------------
@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(count=st.integers(2, 4), data=st.data(), extra=st.integers(1, 20_000))
def test_any_literal_announced_longer_than_its_data_is_one_quarantined_ticket(dovecot_server, proxies,
                                                                              tmp_path_factory, count, data, extra):
    account = dovecot_server.settings(dovecot_server.add_user())
    dovecot_server.append_many(account.user, [mail(n) for n in range(1, count + 1)])
    liar = data.draw(st.integers(1, count), label="lying uid")
    proxy = proxies(dovecot_server.imap_port, lie_about_literal(liar, lambda real: real + extra))
    store = TicketStore(tmp_path_factory.mktemp("long") / "t.sqlite3")

    assert fetch_imap(store, proxy.settings(account, timeout=0.5)) == count
    stored = tickets_by_uid(store)
    assert stored.pop(str(liar))[1].startswith(FAILED_TWICE)
    assert all(state == State.RECEIVED for state, _ in stored.values())


def test_a_server_stalling_inside_a_literal_before_finishing_its_answer_blames_no_mail(dovecot_server,
                                                                                      imap_account, store, proxies):
    # Unlike a literal announced too long, the server never said it was done: a stall, whoever causes
    # it, is no mail's fault however often it repeats; a good server then delivers every mail.
    dovecot_server.append_many(imap_account.user, [mail(1), mail(2), mail(3)])
    in_literal = threading.local()

    def stall_inside_the_second_body(line: bytes) -> bytes | None:
        if getattr(in_literal, "uid2", False):
            return None
        in_literal.uid2 = b"(UID 2 BODY[] {" in line
        return line

    proxy = proxies(dovecot_server.imap_port, stall_inside_the_second_body)
    for _ in range(3):
        with pytest.raises(ImapUnavailable, match="fetch failed: TimeoutError"):
            fetch_imap(store, proxy.settings(imap_account, timeout=0.5))
    before = tickets_by_uid(store)
    assert all(state == State.RECEIVED for state, _ in before.values())
    assert fetch_imap(store, imap_account) == 3 - len(before)
    assert sorted(tickets_by_uid(store)) == ["1", "2", "3"]
    assert all(state == State.RECEIVED for state, _ in tickets_by_uid(store).values())


def test_a_move_cut_after_its_copy_leaves_one_copy_in_the_processed_folder(dovecot_server, imap_account, store):
    # A server without MOVE: its answer to the copy is held back until the deadline cuts the
    # connection, so the mail is in Done and still in INBOX. Before: the next round moved it again,
    # and Done held it twice.
    settings = dataclasses.replace(imap_account, processed_folder="Done", mark_seen=True)
    dovecot_server.append_many(settings.user, [mail(1), mail(2)])
    proxy = StallingProxy(settings.port, nth_line_with(b"[COPYUID", 1), without_move)
    try:
        with pytest.raises(ImapUnavailable, match="move failed: TimeoutError"):
            fetch_imap(store, proxy.settings(settings, timeout=0.5))
    finally:
        proxy.close()
    assert list(server_flags(settings, "Done").values()) == [{"\\Seen"}] and "1" in server_flags(settings)

    assert fetch_imap(store, settings) == 1
    assert server_flags(settings) == {}
    assert list(server_flags(settings, "Done").values()) == [{"\\Seen"}, {"\\Seen"}]
    with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password, "Done") as box:
        assert sorted(msg.headers["message-id"][0] for msg in box.fetch(mark_seen=False, headers_only=True)) == \
            ["<1@example.org>", "<2@example.org>"]
    assert sorted(t.message_id for t in store.tickets()) == ["<1@example.org>", "<2@example.org>"]


# -- a server without MOVE or UIDPLUS -----------------------------------------------------------------
def mark_deleted_elsewhere(settings: ImapSettings, uid: str) -> None:
    """Another mail client flags a mail \\Deleted and leaves it (to undo it, or to expunge it itself)."""
    client = imaplib.IMAP4(settings.host, settings.port)  # imaplib: imap-tools' flag() expunges a \Deleted
    client.login(settings.user, settings.password)
    client.select("INBOX")
    client.uid("STORE", uid, "+FLAGS", r"(\Deleted)")
    client.logout()


@pytest.mark.parametrize("lacking", [("MOVE",), ("MOVE", "UIDPLUS")], ids=["no-move", "no-move-no-uidplus"])
def test_a_move_on_a_server_without_move_leaves_another_clients_deleted_mail(dovecot_server, imap_account, proxies,
                                                                             lacking):
    # Before: imap-tools moved by COPY, STORE \Deleted and a plain EXPUNGE, even where UIDPLUS has
    # UID EXPUNGE, and mail 2 was gone from the server.
    settings = dataclasses.replace(imap_account, processed_folder="Done")
    dovecot_server.append_many(settings.user, [mail(1), mail(2)])
    mark_deleted_elsewhere(settings, "2")
    with ImapMailbox(proxies(settings.port, without(*lacking)).settings(settings)) as mailbox:
        mailbox.mark_processed("1")
    left = server_flags(settings)
    assert left.pop("2") == {"\\Deleted"}  # untouched
    # without UID EXPUNGE our mail stays until a mail client expunges the folder, shown read and deleted
    assert left == ({"1": {"\\Deleted", "\\Seen"}} if "UIDPLUS" in lacking else {})
    assert len(server_flags(settings, "Done")) == 1


def test_without_uidplus_a_moved_mail_left_flagged_deleted_is_neither_fetched_nor_moved_again(
        dovecot_server, imap_account, store, proxies):
    settings = dataclasses.replace(imap_account, processed_folder="Done")
    dovecot_server.append_many(settings.user, [mail(1), mail(2)])
    limited = proxies(settings.port, without("MOVE", "UIDPLUS")).settings(settings)
    assert fetch_imap(store, limited) == 2
    dovecot_server.append(settings.user, mail(3))
    assert fetch_imap(store, limited) == 1 and fetch_imap(store, limited) == 0
    assert set(server_flags(settings)) == {"1", "2", "3"}  # before: expunged (and with them any other \Deleted)
    assert all(flags == {"\\Deleted", "\\Seen"} for flags in server_flags(settings).values())
    assert len(server_flags(settings, "Done")) == 3 and len(store.tickets()) == 3
    assert fetch_imap(store, settings) == 0  # a server that gains UIDPLUS later fetches nothing either


@pytest.mark.parametrize("lacking", [(), ("MOVE", "UIDPLUS")], ids=["dovecot", "no-move-no-uidplus"])
def test_a_mail_another_client_marked_deleted_is_left_in_the_bin_until_undeleted(dovecot_server, imap_account,
                                                                                 store, proxies, lacking):
    # Before: it became a ticket and was moved, and its copy in Done kept \Deleted, so the next
    # expunge of Done (any mail client's) erased the ticket's mail from the server.
    settings = dataclasses.replace(imap_account, processed_folder="Done")
    dovecot_server.append_many(settings.user, [mail(1), mail(2)])
    mark_deleted_elsewhere(settings, "2")
    served = proxies(settings.port, without(*lacking)).settings(settings)
    assert fetch_imap(store, served) == 1
    assert [t.message_id for t in store.tickets()] == ["<1@example.org>"]
    assert server_flags(settings)["2"] == {"\\Deleted"}  # untouched, in the other client's bin
    assert all("\\Deleted" not in flags for flags in server_flags(settings, "Done").values())

    client = imaplib.IMAP4(settings.host, settings.port)  # the other client undoes its deletion
    client.login(settings.user, settings.password)
    client.select("INBOX")
    client.uid("STORE", "2", "-FLAGS", r"(\Deleted)")
    client.logout()
    assert fetch_imap(store, served) == 1
    assert sorted(t.message_id for t in store.tickets()) == ["<1@example.org>", "<2@example.org>"]
    assert [flags for flags in server_flags(settings, "Done").values()] == [set(), set()]


FLAG = st.sampled_from(["\\Deleted", "\\DELETED", "\\deleted", "\\Seen", "\\Answered", "$Deleted", "\\Deletedx",
                        "Deleted", "\\Flagged", "$Junk"])


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(listing=st.lists(st.tuples(st.lists(FLAG, max_size=4), st.booleans()), max_size=20))
def test_the_listing_leaves_out_exactly_the_mails_flagged_deleted_whatever_else_they_carry(listing):
    # Flags are case-insensitive; a keyword that merely resembles \Deleted keeps the mail, and the
    # FLAGS item may come before or after the others.
    answer = [(b"%d FETCH (FLAGS (%s) UID %d RFC822.SIZE 10)" if flags_first else
               b"%d FETCH (UID %d RFC822.SIZE 10 FLAGS (%s))") % ((number, " ".join(flags).encode(), number)
                                                                if flags_first else (number, number, " ".join(flags).encode()))
              for number, (flags, flags_first) in enumerate(listing, start=1)]
    mailbox = ImapMailbox(ImapSettings("127.0.0.1", 1, "plain", "desk", "secret"))
    mailbox._command = lambda *request, **_: answer
    assert list(mailbox._uid_sizes()) == [str(number) for number, (flags, _) in enumerate(listing, start=1)
                                          if "\\deleted" not in {flag.lower() for flag in flags}]


# -- a mail without a Message-ID whose move was cut after its copy ----------------------------------
WITHOUT_ONE_MESSAGE_ID = {
    "none": b"",
    "empty": b"Message-ID: \r\n",
    "malformed": b"Message-ID: not an id\r\n",
    "two": b"Message-ID: <1a@example.org>\r\nMessage-ID: <1b@example.org>\r\n",
}


def without_message_id(raw: bytes, fields: bytes) -> bytes:
    return re.sub(rb"Message-ID: [^\r]*\r\n", lambda _: fields, raw, count=1)


@pytest.mark.parametrize("fields", WITHOUT_ONE_MESSAGE_ID.values(), ids=WITHOUT_ONE_MESSAGE_ID.keys())
def test_a_move_cut_after_its_copy_leaves_one_copy_of_a_mail_without_one_message_id(dovecot_server, imap_account,
                                                                                    store, fields):
    # Before: nothing to search it by, so the next round moved it again and Done held it twice.
    settings = dataclasses.replace(imap_account, processed_folder="Done")
    dovecot_server.append_many(settings.user, [without_message_id(mail(1), fields), mail(2)])
    proxy = StallingProxy(settings.port, nth_line_with(b"[COPYUID", 1), without_move)
    try:
        with pytest.raises(ImapUnavailable, match="move failed: TimeoutError"):
            fetch_imap(store, proxy.settings(settings, timeout=0.5))
    finally:
        proxy.close()
    assert len(server_flags(settings, "Done")) == 1 and "1" in server_flags(settings)

    assert fetch_imap(store, settings) == 1
    assert server_flags(settings) == {}
    with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password, "Done") as box:
        assert sorted(msg.subject for msg in box.fetch(mark_seen=False, headers_only=True)) == \
            ["Request 1", "Request 2"]
    assert len(store.tickets()) == 2


def append_at(settings: ImapSettings, folder: str, raw: bytes, arrived: float) -> None:
    client = imaplib.IMAP4(settings.host, settings.port)
    client.login(settings.user, settings.password)
    if folder != "INBOX":
        client.create(folder)
    client.append(folder, None, imaplib.Time2Internaldate(arrived), raw)
    client.logout()


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(min_size=1, max_size=200).map(lambda raw: raw.hex()), data=st.data(),
       fields=st.sampled_from(list(WITHOUT_ONE_MESSAGE_ID.values())))
def test_another_mail_of_the_same_size_and_arrival_without_message_id_is_never_taken_for_a_copy(
        dovecot_server, body, data, fields):
    # The processed folder holds a mail that differs from ours in one character only: our mail must
    # be moved there, not merely removed (it would be lost).
    account = dovecot_server.settings(dovecot_server.add_user(), processed_folder="Done")
    at = data.draw(st.integers(0, len(body) - 1), label="differing character")
    other_body = body[:at] + ("x" if body[at] != "x" else "y") + body[at + 1:]
    ours, other = (without_message_id(mail(1, body=text), fields) for text in (body, other_body))
    arrived = time.time() - 3600
    append_at(account, "Done", other, arrived)
    append_at(account, "INBOX", ours, arrived)
    with ImapMailbox(account) as mailbox:
        mailbox.mark_processed("1")
    assert server_flags(account) == {}
    with MailBoxUnencrypted(account.host, account.port).login(account.user, account.password, "Done") as box:
        assert sorted(msg.text.strip() for msg in box.fetch(mark_seen=False)) == sorted([body, other_body])
