"""Fetch mail from an IMAP folder, incrementally and without touching flags until told to.

    with ImapMailbox(ImapSettings.from_settings(load_settings())) as mailbox:
        for ref, raw in mailbox.new_mails_since(store):
            ...store it...
            mailbox.mark_processed(ref.uid)

A mail is known by mailbox + UIDVALIDITY + UID, so each fetch asks the server only for the
UIDs the store lacks, in bulk: those above the highest UID stored, and now and then the whole
folder's (:meth:`ImapMailbox.new_mails_since`). Bodies are fetched with ``BODY.PEEK[]``: nothing
is marked seen or moved until the caller has stored the ticket, so a crash in between loses nothing.
The raw bytes are exactly what the server sent (imap-tools' ``MailMessage`` would re-serialise
them), and a message over the size cap is never downloaded: an :class:`OversizedMail` with its
headers stands in for it, for the ticket store to quarantine. The cap holds for what the server
sends too, whatever size it listed: a longer literal is refused before it is read.

One mail the server cannot send (a damaged file on its disk, a literal of the wrong length) must
not stop every fetch after it: when a FETCH of several mails fails, each is fetched alone on a
fresh connection, and one that fails alone twice becomes an :class:`UnfetchableMail`. A timeout
is never blamed on a mail: the round ends and the next one tries again. Nor is a server that
sends, but too slowly: each request has a deadline (the read timeout bounds one wait, not a
drip of a byte every few seconds), past which its connection is cut and the round ends the same way;
connecting, the greeting, logging in and selecting the folder share one such deadline. Every later
request has its own (:meth:`ImapMailbox._within_deadline`), imap-tools' calls and LOGOUT included.
"""

from __future__ import annotations

import hashlib
import imaplib
import logging
import re
import ssl
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from typing import Protocol, Self

from imap_tools import BaseMailBox
from imap_tools.errors import ImapToolsError

from core.deadline import SocketDeadline
from core.mail import MESSAGE_ID, MailRef
from core.settings import Settings
from integrations.mail_parsing import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

SECURITY_MODES = ("tls", "starttls", "plain")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
FETCH_CHUNK_MAILS = 100
FETCH_CHUNK_BYTES = 20_000_000  # bounds the memory one FETCH response can take
HEADER_PEEK_BYTES = 65_536  # enough headers of an oversized mail to name it in its ticket
SLOWEST_TRANSFER_BYTES_PER_S = 65_536
"""A request's deadline allows its expected bytes at this rate (a 20 MB FETCH: about 5 minutes)."""
DEADLINE_TIMEOUTS = 4
"""...plus this many read timeouts for the server to start and finish answering."""
WHOLE_LISTING_EVERY_S = 3600
"""How often a round lists the whole folder, not only the UIDs above the highest one stored: only
that finds a mail skipped while flagged \\Deleted and undeleted since (its UID lies below). An hour:
such a mail waits at most that long, and a club's INBOX of 30,000 mails (a listing of about 1.5 MB)
is listed whole once an hour, not at each round (every minute)."""

_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]*)"')
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_TAGGED_LAST_LINE = re.compile(rb"(?:\A|\r\n)([A-Za-z0-9]+) (?:OK|NO|BAD)\b[^\r\n]*\r\n\Z")


class ImapUnavailable(Exception):
    """The mailbox cannot be used now (network, server, login, folder); a later run resumes.

    The message names user, host and port, never the password.
    """


class ImapRefused(ImapUnavailable):
    """The server answered NO or BAD: this request failed, but the connection still works."""


_BROKEN_CONNECTION = (OSError, imaplib.IMAP4.abort)
_SERVER_ERRORS = (OSError, imaplib.IMAP4.error, ImapToolsError)


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int
    security: str  # "tls" (implicit, port 993), "starttls", or "plain" (local tests only)
    user: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    processed_folder: str | None = None  # stored mail is moved here
    mark_seen: bool = False  # stored mail gets \Seen
    sent_folder: str | None = None  # sent replies are appended here
    timeout: float = 30
    max_message_bytes: int = MAX_MESSAGE_BYTES
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)  # None: system CAs

    def __post_init__(self):
        if self.security not in SECURITY_MODES:
            raise ValueError(f"IMAP security must be one of {SECURITY_MODES}, not {self.security!r}")

    @property
    def mailbox_name(self) -> str:
        """The store's name for this folder: one account's folder is one UID space."""
        return f"imap:{self.user}@{self.host}/{self.folder}"

    @classmethod
    def from_settings(cls, settings: Settings) -> ImapSettings | None:
        """The mailbox the settings name; None when no IMAP host is set (the .eml folder then)."""
        if not settings.imap_host:
            return None
        security = settings.imap_security
        port = settings.imap_port or (993 if security == "tls" else 143)
        return cls(host=settings.imap_host, port=port, security=security, user=settings.imap_user,
                   password=settings.imap_password.get_secret_value(), folder=settings.imap_folder,
                   processed_folder=settings.imap_processed_folder, mark_seen=settings.imap_mark_seen,
                   sent_folder=settings.imap_sent_folder)


@dataclass(frozen=True)
class OversizedMail:
    """Stands in for a message over the size cap: its size and first headers, never its body."""

    size: int
    limit: int
    headers: bytes

    @property
    def reason(self) -> str:
        return f"message is {self.size} bytes on the server, over the {self.limit} byte limit (not downloaded)"


@dataclass(frozen=True)
class UnfetchableMail:
    """Stands in for a mail the server failed to send twice, alone, each time on a fresh
    connection that then worked: its first headers when the server sends those."""

    reason: str
    headers: bytes


NOT_DOWNLOADED = (OversizedMail, UnfetchableMail)


class UidLedger(Protocol):
    """What the ticket store (support/store.py) knows of a folder generation's UIDs: enough for a
    round to ask the server only for what is new."""

    def known_uids(self, mailbox: str, uidvalidity: str) -> set[str]: ...

    def highest_known_uid(self, mailbox: str, uidvalidity: str) -> int: ...

    def listed_whole_at(self, mailbox: str, uidvalidity: str) -> datetime | None: ...

    def record_listed_whole(self, mailbox: str, uidvalidity: str, at: datetime) -> None: ...


class ImapMailbox:
    """One logged-in connection to the configured folder; use it as a context manager."""

    def __init__(self, settings: ImapSettings):
        self.settings = settings
        self._box = None
        self._client: imaplib.IMAP4 | None = None  # set before it connects: a deadline must find its socket
        self._created_folders: set[str] = set()
        self._fetched_here: set[str] = set()  # no earlier move of these can have been cut: see mark_processed
        self._unfinished_literal: bytearray | None = None  # what arrived of a literal still being read

    # -- connection ---------------------------------------------------------------------
    def __enter__(self) -> Self:
        self._open()
        return self

    def _open(self) -> str:
        """Connect, log in and select the folder, all by one request's deadline; returns its UIDVALIDITY.

        The read timeout bounds one wait only: a greeting dripped a byte a second would hold the
        caller (a worker's round, a probe on a page) as long as the server likes."""
        deadline_s = request_deadline_s(self.settings, 0)
        deadline = SocketDeadline(deadline_s, lambda: _socket_of(self))
        try:
            with deadline:
                uidvalidity = self._connect_and_select()
        except ImapUnavailable:
            if not deadline.passed:
                raise
        if deadline.passed:  # whatever the cut connection raised, or answered just as it was cut
            self.__exit__()
            timeout = TimeoutError(f"not logged in with the folder open within {deadline_s:g} s")
            raise ImapUnavailable(self._describe("cannot connect", timeout)) from None
        return uidvalidity

    def _connect_and_select(self) -> str:
        with self._unavailable_on_error("cannot connect"):
            self._box = self._connect()
        self._read_literals_bounded(max(self.settings.max_message_bytes, HEADER_PEEK_BYTES))
        try:
            with self._unavailable_on_error("login refused"):
                self._box.login(self.settings.user, self.settings.password, initial_folder=None)
                self._learn_capabilities()
            return self._select()
        except ImapUnavailable:
            self.__exit__()  # a refused login must not leave the socket open
            raise

    def _learn_capabilities(self) -> None:
        """Ask the server what it can do now that we are logged in. imaplib keeps the list the
        greeting gave, and a server names MOVE and UIDPLUS only after login (Dovecot does), so
        imap-tools moved by COPY, STORE \\Deleted and a plain EXPUNGE, which also erased every mail
        another client had flagged \\Deleted in the folder."""
        client = self._box.client
        status, data = client.capability()
        if status == "OK" and data and isinstance(data[-1], bytes):
            client.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())

    def _move(self, uid: str, folder: str) -> None:
        """Move one mail: by MOVE where the server has it, else a copy and :meth:`_remove`. Not
        imap-tools' move, whose fallback is a plain EXPUNGE even on a server with UIDPLUS."""
        if "MOVE" in self._box.client.capabilities:
            self._box.move(uid, folder)
            return
        self._box.copy(uid, folder)
        self._remove(uid)

    def _remove(self, uid: str) -> None:
        """Take one mail out of the selected folder: flagged \\Deleted, then expunged alone where the
        server can (UIDPLUS's UID EXPUNGE). A plain EXPUNGE would also erase every mail another client
        marked \\Deleted to undo later: without UIDPLUS the mail stays, flagged \\Deleted and \\Seen,
        until a mail client expunges the folder. The store knows its UID, so it is never fetched again."""
        client = self._box.client
        can_expunge_alone = "UIDPLUS" in client.capabilities
        status, data = client.uid("STORE", uid, "+FLAGS", r"(\Deleted)" if can_expunge_alone else r"(\Deleted \Seen)")
        if status != "OK":
            raise imaplib.IMAP4.error(f"UID STORE answered {status}: {data!r}")
        if not can_expunge_alone:
            log.info("UID %s flagged \\Deleted, not expunged: the server has no UID EXPUNGE (UIDPLUS), and a "
                     "plain EXPUNGE would erase what other mail clients marked \\Deleted", uid)
            return
        status, data = client.uid("EXPUNGE", uid)
        if status != "OK":
            raise imaplib.IMAP4.error(f"UID EXPUNGE answered {status}: {data!r}")

    def _recover(self, error: Exception, uidvalidity: str) -> None:
        """After a failed request: a fresh connection to the same generation of the folder. A
        timeout is never a mail's fault, and a server that is gone or a folder rebuilt meanwhile
        (its UIDs now name other mails) end the round: ImapUnavailable."""
        if isinstance(error, TimeoutError):
            raise ImapUnavailable(self._describe("fetch failed", error)) from None
        try:
            self._box.client.shutdown()  # no LOGOUT: the old connection may hang or be mid-literal
        except OSError:
            pass
        if self._open() != uidvalidity:
            raise ImapUnavailable(self._describe("fetch failed", error) + "; then the folder's UIDVALIDITY changed")

    def _read_literals_bounded(self, limit: int) -> None:
        """imaplib reads a literal whole, at the length the server announces: a server that lists a
        mail at 300 bytes and then sends 200 MB (or announces 100 GB) would fill the memory, so a
        literal over ``limit`` is refused. What arrived of a literal stays readable until it is
        complete: a literal announced longer than its data swallows the end of the answer and then
        waits, and only those bytes tell that from a server that stalls (:meth:`_command`)."""
        client = self._box.client

        def bounded_read(size: int) -> bytes:
            if size > limit:
                raise imaplib.IMAP4.abort(f"the server announced a {size} byte literal, over the {limit} byte limit")
            self._unfinished_literal = received = bytearray()
            while len(received) < size and (piece := client.file.read1(size - len(received))):
                received += piece
            if len(received) == size:
                self._unfinished_literal = None
            return bytes(received)

        client.read = bounded_read

    def __exit__(self, *exc_info) -> None:
        if self._box is None:  # the connection failed: imaplib closed its socket itself
            return
        try:
            with self._within_deadline("LOGOUT"):
                self._box.logout()
        except (OSError, imaplib.IMAP4.error, ImapToolsError):
            pass  # the connection may be gone already; nothing is pending on it

    def _connect(self):
        s = self.settings
        if s.security == "plain":
            if s.host not in LOOPBACK_HOSTS:
                log.warning("IMAP to %s without TLS: the password crosses the network in clear", s.host)
            return _ConnectedMailBox(_Imap4(self._connecting, s.host, s.port, timeout=s.timeout))
        # Always pass a context: imaplib's STARTTLS default would not verify the certificate.
        context = s.ssl_context or ssl.create_default_context()
        if s.security == "starttls":
            client = _Imap4(self._connecting, s.host, s.port, timeout=s.timeout)
            client.starttls(context)  # raises unless the session is encrypted
            return _ConnectedMailBox(client)
        return _ConnectedMailBox(_Imap4Ssl(self._connecting, s.host, s.port, ssl_context=context, timeout=s.timeout))

    def _connecting(self, client: imaplib.IMAP4) -> None:
        self._client = client

    def _select(self) -> str:
        """(Re-)select the folder; returns its UIDVALIDITY from the SELECT response."""
        folder = self.settings.folder
        with self._unavailable_on_error(f"cannot open folder {folder!r}"), self._within_deadline("SELECT"):
            self._box.folder.set(folder)
            _, values = self._box.client.response("UIDVALIDITY")
            if not values or values[-1] is None:  # a server that leaves it out of SELECT still has STATUS
                return str(self._box.folder.status(folder, ["UIDVALIDITY"])["UIDVALIDITY"])
        return values[-1].decode()

    @contextmanager
    def _unavailable_on_error(self, what: str):
        try:
            yield
        except _SERVER_ERRORS as error:
            # The description carries the cause's text, scrubbed; a chained cause would print it unscrubbed.
            kind = ImapUnavailable if isinstance(error, _BROKEN_CONNECTION) else ImapRefused
            raise kind(self._describe(what, error)) from None

    def _describe(self, what: str, error: Exception) -> str:
        s = self.settings
        return self._scrubbed(f"IMAP {s.user}@{s.host}:{s.port} ({s.security}): {what}: {_named(error)}")

    def _scrubbed(self, text: str) -> str:
        return text.replace(self.settings.password, "***") if self.settings.password else text

    # -- fetching -----------------------------------------------------------------------
    def new_mails(self, known_uids: Callable[[str, str], set[str]]) \
            -> Iterator[tuple[MailRef, bytes | OversizedMail | UnfetchableMail]]:
        """Every mail of the folder whose UID ``known_uids(mailbox, uidvalidity)`` lacks, oldest first.
        The whole folder is listed: a round lists what is new only (:meth:`new_mails_since`)."""
        uidvalidity = self._select()
        mailbox = self.settings.mailbox_name
        yield from self._unknown_mails(uidvalidity, 0, lambda: known_uids(mailbox, uidvalidity))

    def new_mails_since(self, ledger: UidLedger) \
            -> Iterator[tuple[MailRef, bytes | OversizedMail | UnfetchableMail]]:
        """The folder's mails the ledger lacks, oldest first, listing only the UIDs above the highest
        one it has: mails are handed on oldest first, and the caller stores each before it asks for
        the next, so every mail below that UID was stored, or left out on purpose (flagged
        \\Deleted, expunged meanwhile), whatever cut a round.

        A mail left out while flagged \\Deleted and undeleted since lies below it: the whole folder
        is listed when the last whole listing of this generation is WHOLE_LISTING_EVERY_S old or
        there is none (a new UIDVALIDITY starts over so, and a store of an earlier release). Such a
        listing counts once the caller came back after its last mail: a round cut before lists whole
        again."""
        uidvalidity = self._select()
        mailbox = self.settings.mailbox_name
        started = datetime.now(UTC)
        last_whole = ledger.listed_whole_at(mailbox, uidvalidity)
        # a clock stepped back makes the last listing look ahead: listed whole again, not never
        if last_whole is None or not 0 <= (started - last_whole).total_seconds() < WHOLE_LISTING_EVERY_S:
            yield from self._unknown_mails(uidvalidity, 0, lambda: ledger.known_uids(mailbox, uidvalidity))
            ledger.record_listed_whole(mailbox, uidvalidity, started)
            return
        nothing_above_is_known = set  # the highest UID stored is the highest known
        yield from self._unknown_mails(uidvalidity, ledger.highest_known_uid(mailbox, uidvalidity),
                                       nothing_above_is_known)

    def _unknown_mails(self, uidvalidity: str, above: int, known: Callable[[], Collection[str]]) \
            -> Iterator[tuple[MailRef, bytes | OversizedMail | UnfetchableMail]]:
        """The mails above UID ``above`` whose UIDs ``known()`` (asked after the listing) lacks."""
        with self._unavailable_on_error("listing failed"):
            sizes = self._uid_sizes(above)
        known_now = known()
        wanted = [(uid, size) for uid, size in sizes.items() if uid not in known_now]
        for uid, raw in self._fetch(wanted, uidvalidity):
            self._fetched_here.add(uid)
            yield MailRef(self.settings.mailbox_name, uidvalidity, uid, None), raw

    def _uid_sizes(self, above: int = 0) -> dict[str, int]:
        """UID → RFC822.SIZE of the folder's mails above UID ``above``, in one round trip, in UID order,
        leaving out mails flagged \\Deleted: another client put them in the bin (and its expunge may
        erase them any moment), and their copy in the processed folder would keep the flag, so the
        processed folder's next expunge would erase the ticket's mail. Undeleted later, a mail is
        fetched then."""
        data = self._command("FETCH", f"{above + 1}:*", "(UID RFC822.SIZE FLAGS)")
        sizes = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            uid, size, flags = _UID.search(line or b""), _SIZE.search(line or b""), _FLAGS.search(line or b"")
            # skips unsolicited FETCH responses (another client's flag change): they have no size;
            # and the highest mail, which "n:*" names even when it is below n (RFC 3501 6.4.8)
            if uid and size and int(uid.group(1)) > above and not (flags and _is_deleted(flags.group(1))):
                sizes[uid.group(1).decode()] = int(size.group(1))
        return dict(sorted(sizes.items(), key=lambda pair: int(pair[0])))

    def _fetch(self, wanted: list[tuple[str, int]], uidvalidity: str) \
            -> Iterator[tuple[str, bytes | OversizedMail | UnfetchableMail]]:
        limit = self.settings.max_message_bytes
        for chunk in _chunks(wanted, limit):
            if chunk[0][1] > limit:
                uid, size = chunk[0]
                yield uid, OversizedMail(size, limit, self._headers_if_sent(uid, uidvalidity))
                continue
            uids = [uid for uid, _ in chunk]
            try:
                bodies = self._bodies(uids, sum(size for _, size in chunk))
            except _SERVER_ERRORS as error:
                self._recover(error, uidvalidity)
                log.warning("fetching UIDs %s failed, so each is fetched alone: %s", _uid_set(uids),
                            self._scrubbed(_named(error)))
                # Each is yielded as it arrives: a round that ends on a later one keeps these stored.
                yield from ((uid, mail) for uid, size in chunk if (mail := self._alone(uid, size, uidvalidity)) is not None)
                continue
            for uid in uids:
                if uid in bodies:  # absent: expunged by another client since the listing
                    yield uid, bodies[uid]

    def _alone(self, uid: str, size: int, uidvalidity: str) -> bytes | UnfetchableMail | None:
        """One mail's body (None once expunged), tried twice, each time on a connection that works."""
        for _ in range(2):
            try:
                return self._bodies([uid], size).get(uid)
            except _SERVER_ERRORS as error:
                self._recover(error, uidvalidity)
                failure = error
        log.warning("UID %s failed twice on its own: stored as not downloaded", uid)
        reason = f"not downloaded: the server failed twice to send it ({self._scrubbed(_named(failure))})"
        return UnfetchableMail(reason, self._headers_if_sent(uid, uidvalidity))

    def _bodies(self, uids: list[str], expected_bytes: int) -> dict[str, bytes]:
        return _literals(self._command("FETCH", _uid_set(uids), "(UID BODY.PEEK[])", expected_bytes=expected_bytes))

    def _headers_if_sent(self, uid: str, uidvalidity: str) -> bytes:
        """The mail's first headers, to name its ticket; nothing when the server fails to send them."""
        try:
            data = self._command("FETCH", uid, f"(UID BODY.PEEK[HEADER]<0.{HEADER_PEEK_BYTES}>)",
                                 expected_bytes=HEADER_PEEK_BYTES)
            return _literals(data).get(uid, b"")
        except _SERVER_ERRORS as error:
            self._recover(error, uidvalidity)
            return b""

    def _command(self, command: str, *args: str, expected_bytes: int = 0) -> list:
        """``UID command args``; TimeoutError when the answer is not complete by its deadline
        (``expected_bytes`` at the slowest rate allowed, plus ``DEADLINE_TIMEOUTS`` read timeouts).

        A wait that ends inside a literal which already holds this command's completion line is no
        stall: the server finished its answer and announced the literal longer than what it sent.
        That is the answer's fault, not the server's pace, so it fails as a broken answer (abort):
        the connection is reopened and the mail, failing twice alone, is quarantined (:meth:`_alone`)."""
        self._unfinished_literal = None
        try:
            with self._within_deadline(f"UID {command}", expected_bytes):
                status, data = self._box.client.uid(command, *args)
        except TimeoutError:
            if self._answer_ended_inside_a_literal():
                raise imaplib.IMAP4.abort(f"UID {command}: the server ended its answer inside a literal announced "
                                          f"longer than the {len(self._unfinished_literal)} bytes it sent") from None
            raise
        if status != "OK":
            raise imaplib.IMAP4.error(f"UID {command} answered {status}: {data!r}")
        return data

    def _answer_ended_inside_a_literal(self) -> bool:
        """Whether the unfinished literal ends with the completion line of the command awaiting it
        (imaplib's tags are random per connection: a mail cannot forge the line)."""
        last_line = _TAGGED_LAST_LINE.search(self._unfinished_literal or b"")
        pending = [tag for tag, answer in self._box.client.tagged_commands.items() if answer is None]
        return last_line is not None and last_line.group(1) in pending

    @contextmanager
    def _within_deadline(self, request: str, expected_bytes: int = 0):
        """Runs the block by one request's deadline (:func:`request_deadline_s`); TimeoutError once
        it has passed. imaplib's timeout bounds one read only: a server that drips its answer a line
        inside it, again and again, would hold a worker's round for as long as it likes."""
        deadline_s = request_deadline_s(self.settings, expected_bytes)
        client = self._box.client
        deadline = SocketDeadline(deadline_s, lambda: client.sock)
        try:
            with deadline:
                yield
        except Exception:
            if deadline.passed:  # whatever the cut connection raised, it is the deadline's doing
                raise TimeoutError(f"{request} was not answered within {deadline_s:g} s") from None
            raise
        if deadline.passed:  # answered just as it was cut: the connection is gone all the same
            raise TimeoutError(f"{request} was not answered within {deadline_s:g} s")

    def generation(self) -> tuple[str, str]:
        """The store's names for the folder as it is now: (mailbox name, UIDVALIDITY)."""
        return self.settings.mailbox_name, self._select()

    def has_uid(self, uid: str, undeleted: bool = False) -> bool:
        """Whether the folder still holds this UID (a mail moved or expunged meanwhile is gone);
        ``undeleted``: and not flagged \\Deleted (what a move leaves without UIDPLUS, see :meth:`_remove`)."""
        with self._unavailable_on_error("search failed"):
            data = self._command("SEARCH", "UID", uid, *(["UNDELETED"] if undeleted else []))
        return uid.encode() in (data[0] or b"").split()  # bytes: a hostile answer need not decode

    # -- after the store has the ticket -------------------------------------------------
    def mark_processed(self, uid: str) -> None:
        """Flag a stored mail \\Seen and/or move it to the processed folder, as configured.

        A mail this connection did not fetch is marked again: an earlier move of it may have been
        cut after the server copied it (a move is a copy, then a removal). When the processed folder
        holds that very mail (:meth:`_copy_in`), only the removal is left to do: moving it again would
        leave two copies there."""
        if self.settings.mark_seen:
            self._store_flag(uid, r"\Seen")
        folder = self.settings.processed_folder
        if not folder:
            return
        self._ensure_folder(folder)
        if uid not in self._fetched_here and self._copy_in(folder, uid):
            log.info("UID %s is in %r already (an earlier move was cut): only removed from the folder", uid, folder)
            with self._unavailable_on_error("removing the moved mail failed"), \
                    self._within_deadline("UID STORE and EXPUNGE"):
                self._remove(uid)
            return
        with self._unavailable_on_error("move failed"), self._within_deadline("UID MOVE"):
            self._move(uid, folder)

    def _copy_in(self, folder: str, uid: str) -> bool:
        """Whether ``folder`` holds exactly one copy of this mail: a copy keeps its size and arrival
        time. A mail with one well-formed Message-ID is searched by it; one without (or with several,
        or a malformed one) among the mails of its size, and then only the very same bytes count: a
        second mail without a Message-ID that arrived in the same second still differs in a byte, so
        it is moved, never taken for a copy. Over the size cap it is not compared (moved again: at
        worst a second copy). The selected folder is selected again afterwards, by the same UIDVALIDITY."""
        uidvalidity = self._select()
        with self._unavailable_on_error("looking for an earlier copy failed"):
            mail = _fingerprints(self._command("FETCH", uid, _FINGERPRINT)).get(uid)
            by_message_id = mail is not None and len(mail.message_ids) == 1 and MESSAGE_ID.fullmatch(mail.message_ids[0])
            comparable = mail is not None and (by_message_id or mail.size <= self.settings.max_message_bytes)
            digest = None if by_message_id or not comparable else self._digest(uid, mail.size)
        if not comparable:
            return False
        candidates = self._uids_with_message_id(folder, mail.message_ids[0]) if by_message_id \
            else self._uids_of_size(folder, mail.size)
        with self._unavailable_on_error(f"looking for an earlier copy in {folder!r} failed"):
            found = _fingerprints(self._command("FETCH", _uid_set(candidates), _FINGERPRINT)) if candidates else {}
            copies = [copy_uid for copy_uid, copy in found.items() if copy_uid in candidates
                      and (copy.size, copy.arrived, copy.message_ids) == (mail.size, mail.arrived, mail.message_ids)]
            same = len(copies) == 1 and (by_message_id or digest is not None
                                         and self._digest(copies[0], mail.size) == digest)
        if self._select() != uidvalidity:
            raise ImapUnavailable(self._describe("move failed", RuntimeError("the folder's UIDVALIDITY changed")))
        return same

    def _digest(self, uid: str, size: int) -> bytes | None:
        """SHA-256 of the mail's bytes in the selected folder (None once expunged)."""
        body = self._bodies([uid], size).get(uid)
        return None if body is None else hashlib.sha256(body).digest()

    def _uids_of_size(self, folder: str, size: int) -> list[str]:
        """The UIDs in ``folder`` (selected here) of mails exactly ``size`` bytes long."""
        with self._unavailable_on_error(f"search in {folder!r} failed"):
            with self._within_deadline("SELECT"):
                self._box.folder.set(folder)
            criteria = ("LARGER", str(size - 1), "SMALLER", str(size + 1)) if size else ("SMALLER", "1")
            data = self._command("SEARCH", *criteria)
        # only UIDs, each once: a hostile answer may repeat one or add other bytes
        return list(dict.fromkeys(hit.decode() for hit in (data[0] or b"").split() if hit.isdigit()))

    def flag_answered(self, uid: str) -> None:
        """Mark a mail \\Answered once its reply was sent (other mail clients show it)."""
        self._store_flag(uid, r"\Answered")

    def append_sent(self, raw: bytes, message_id: str | None = None) -> None:
        """Keep a copy of a sent reply in the sent folder (read), when one is configured;
        with ``message_id``, only if the folder does not hold it yet (safe to repeat)."""
        folder = self.settings.sent_folder
        if not folder:
            return
        self._ensure_folder(folder)
        if message_id and self._uids_with_message_id(folder, message_id):
            return
        with self._unavailable_on_error("append failed"), self._within_deadline("APPEND", len(raw)):
            self._box.append(raw, folder, flag_set=[r"\Seen"])

    def flag_answered_original(self, original: MailRef) -> bool:
        """Flag the mail a ticket came from \\Answered: by its UID while the folder holds it under the
        same UIDVALIDITY (that UID names no other mail, ever); else (moved to the processed folder,
        the folder rebuilt) by its Message-ID, as :meth:`flag_answered_message`. False when not flagged.

        A UID flagged \\Deleted is what a move leaves behind on a server without UIDPLUS: the mail
        other clients show is its copy in the processed folder, found by Message-ID. The leftover is
        flagged too (a client showing deleted mail shows it answered), and alone when no copy is found."""
        # a split-off ticket's "uid" names the mail and the ticket it was split from ("1#7-2"): no UID
        same_generation = original.mailbox == self.settings.mailbox_name and original.uid.isdigit() \
            and self._select() == original.uidvalidity
        if same_generation and self.has_uid(original.uid, undeleted=True):
            self._store_flag(original.uid, r"\Answered")
            return True
        leftover = same_generation and self.has_uid(original.uid)
        if original.message_id:
            copy_flagged = self.flag_answered_message(original.message_id)
        else:
            copy_flagged = False
            log.warning("not flagging the original \\Answered by its Message-ID: UID %s is gone from %s or flagged "
                        "\\Deleted, and the mail had no Message-ID", original.uid, original.mailbox)
        if leftover:
            if self._select() != original.uidvalidity:
                raise ImapUnavailable(self._describe("flagging the original failed",
                                                     RuntimeError("the folder's UIDVALIDITY changed")))
            self._store_flag(original.uid, r"\Answered")
        return copy_flagged or leftover

    def flag_answered_message(self, message_id: str) -> bool:
        """Flag the one mail with this Message-ID \\Answered in the folder or, once moved, the processed
        folder (its UID changed with the move). False when neither holds it any more, when both
        hold several (the sender chose the id: a forgery reusing it must not pass as answered, and
        which is the original no one can tell), and when the id is no well-formed msg-id (``@``
        would match every mail)."""
        if not MESSAGE_ID.fullmatch(message_id):
            log.warning("not flagging the original \\Answered: its Message-ID %r is not a well-formed msg-id",
                        message_id)
            return False
        # A mail flagged \Deleted is in the bin, or a moved mail's leftover: its copy is the one that counts.
        found = [(folder, uid) for folder in filter(None, (self.settings.folder, self.settings.processed_folder))
                 for uid in self._uids_with_message_id(folder, message_id, undeleted=True)]
        if len(found) != 1:
            if found:
                log.warning("not flagging the original \\Answered: %d mails have its Message-ID %r (%s)", len(found),
                            message_id, ", ".join(f"{folder} UID {uid}" for folder, uid in found))
            return False
        [(folder, uid)] = found
        with self._unavailable_on_error(f"cannot open folder {folder!r}"), self._within_deadline("SELECT"):
            self._box.folder.set(folder)
        self._store_flag(uid, r"\Answered")
        return True

    def _uids_with_message_id(self, folder: str, message_id: str, undeleted: bool = False) -> list[str]:
        """The UIDs in ``folder`` whose Message-ID is exactly ``message_id`` (``undeleted``: not flagged
        \\Deleted). IMAP's HEADER search matches substrings, so each hit's Message-ID is fetched and
        compared; an id that is no well-formed msg-id (which would also fail to encode as a command)
        finds nothing."""
        if not MESSAGE_ID.fullmatch(message_id):
            return []
        with self._unavailable_on_error(f"search in {folder!r} failed"):
            with self._within_deadline("LIST and SELECT"):
                if not self._box.folder.exists(folder):
                    return []
                self._box.folder.set(folder)
            data = self._command("SEARCH", "HEADER", "Message-ID", _quoted(message_id),
                                 *(["UNDELETED"] if undeleted else []))
            # only UIDs: a hostile answer's other bytes would fail to decode or to read as a number
            hits = [hit.decode() for hit in (data[0] or b"").split() if hit.isdigit()]
            if not hits:
                return []
            headers = _literals(self._command("FETCH", _uid_set(hits), "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"))
        return [uid for uid in hits if message_id in _message_ids(headers.get(uid, b""))]

    def _store_flag(self, uid: str, flag: str) -> None:
        # Not imap-tools' flag(): it EXPUNGEs afterwards, deleting what others marked \Deleted.
        with self._unavailable_on_error(f"setting {flag} failed"):
            self._command("STORE", uid, "+FLAGS.SILENT", f"({flag})")

    def _ensure_folder(self, folder: str) -> None:
        if folder in self._created_folders:
            return
        with self._unavailable_on_error(f"cannot create folder {folder!r}"), self._within_deadline("LIST and CREATE"):
            if not self._box.folder.exists(folder):
                self._box.folder.create(folder)
        self._created_folders.add(folder)


def _named(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


_FINGERPRINT = "(UID RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"


@dataclass(frozen=True)
class _Fingerprint:
    """What tells a mail from a copy of it in another folder (the UID changes with a copy)."""

    size: int
    arrived: bytes  # INTERNALDATE, as the server wrote it
    message_ids: list[str]


def _fingerprints(data: list) -> dict[str, _Fingerprint]:
    """UID → fingerprint of each response to a FETCH of ``_FINGERPRINT``; the fields may come
    before or after the header literal."""
    found = {}
    for index, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        after = data[index + 1] if index + 1 < len(data) and isinstance(data[index + 1], bytes) else b""
        fields = item[0] + b" " + after
        uid, size, arrived = _UID.search(fields), _SIZE.search(fields), _INTERNALDATE.search(fields)
        if uid and size and arrived:
            found[uid.group(1).decode()] = _Fingerprint(int(size.group(1)), arrived.group(1), _message_ids(item[1]))
    return found


def _is_deleted(flags: bytes) -> bool:
    """Whether a FETCH answer's flag list holds \\Deleted (flags are case-insensitive)."""
    return b"\\deleted" in flags.lower().split()


def _message_ids(header: bytes) -> list[str]:
    """The Message-ID field values of a header block, unfolded and stripped."""
    fields = BytesHeaderParser().parsebytes(header).get_all("Message-ID") or []
    return ["".join(str(value).split()) for value in fields]


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapReplyFiling:
    """What answering a mail means for the mailbox: the original flagged \\Answered, a copy of
    the reply in the sent folder. Both are safe to repeat (see ``Workflow._after_reply``).

    The reply was sent already, so this runs in the operator's approval and in the worker's round:
    the whole conversation has one deadline, as long as a request of the reply's size (a server
    that drips keep-alives would otherwise hold either for ever), and each half is tried even when
    the server refuses the other."""

    def __init__(self, settings: ImapSettings):
        self.settings = settings

    def after_reply(self, original: MailRef, raw_reply: bytes, reply_message_id: str) -> None:
        """Raises ImapUnavailable (ImapRefused: the server said no) naming each half that failed."""
        mailbox = ImapMailbox(self.settings)
        deadline_s = request_deadline_s(self.settings, len(raw_reply))
        with SocketDeadline(deadline_s, lambda: _socket_of(mailbox)) as deadline:
            try:
                with mailbox:
                    self._each_half(mailbox, original, raw_reply, reply_message_id)
            except ImapUnavailable:
                if deadline.passed:  # whatever the cut connection raised, it is the deadline's doing
                    timeout = TimeoutError(f"not done within {deadline_s:.0f} s")
                    raise ImapUnavailable(mailbox._describe("filing the reply failed", timeout)) from None
                raise

    @staticmethod
    def _each_half(mailbox: ImapMailbox, original: MailRef, raw_reply: bytes, reply_message_id: str) -> None:
        refusals = []
        halves = [lambda: mailbox.flag_answered_original(original),
                  lambda: mailbox.append_sent(raw_reply, reply_message_id)]
        for half in halves:
            try:
                half()
            except ImapRefused as refusal:  # the connection still works: the other half may not be refused
                refusals.append(str(refusal))
        if refusals:
            raise ImapRefused("; ".join(refusals))


def request_deadline_s(settings: ImapSettings, expected_bytes: int) -> float:
    """How long a request may take as a whole: DEADLINE_TIMEOUTS read timeouts, plus its bytes at the
    slowest rate allowed (SLOWEST_TRANSFER_BYTES_PER_S)."""
    return settings.timeout * DEADLINE_TIMEOUTS + expected_bytes / SLOWEST_TRANSFER_BYTES_PER_S


def _socket_of(mailbox: ImapMailbox):
    """The mailbox's socket, once connected (None before)."""
    return getattr(mailbox._client, "sock", None)


class _Imap4(imaplib.IMAP4):
    """imaplib connects and reads the greeting inside its constructor: ``connecting(self)`` is
    called first, so that a deadline can find the socket (``sock``) while the greeting arrives."""

    def __init__(self, connecting: Callable[[imaplib.IMAP4], None], *args, **kwargs):
        connecting(self)
        super().__init__(*args, **kwargs)


class _Imap4Ssl(_Imap4, imaplib.IMAP4_SSL):
    pass


class _ConnectedMailBox(BaseMailBox):
    """imap-tools' mailbox around a client connected as above (its own classes connect inside)."""

    def __init__(self, client: imaplib.IMAP4):
        self._connected_client = client
        super().__init__()

    def _get_mailbox_client(self) -> imaplib.IMAP4:
        return self._connected_client


def _chunks(wanted: list[tuple[str, int]], limit: int) -> Iterator[list[tuple[str, int]]]:
    """Groups of at most FETCH_CHUNK_MAILS mails and FETCH_CHUNK_BYTES bytes, in order; a mail
    over ``limit`` is a group of its own (it is not downloaded)."""
    chunk, total = [], 0
    for uid, size in wanted:
        full = len(chunk) == FETCH_CHUNK_MAILS or total + size > FETCH_CHUNK_BYTES
        if chunk and (full or size > limit or chunk[0][1] > limit):
            yield chunk
            chunk, total = [], 0
        chunk.append((uid, size))
        total += size
    if chunk:
        yield chunk


def _uid_set(uids) -> str:
    """``1,2,3,7`` → ``1:3,7``: short command lines for long runs of UIDs."""
    numbers = sorted(int(uid) for uid in uids)
    ranges, start = [], numbers[0]
    for previous, current in zip(numbers, numbers[1:] + [None], strict=True):
        if current != previous + 1:
            ranges.append(f"{start}:{previous}" if previous != start else str(start))
            start = current
    return ",".join(ranges)


def _literals(data: list) -> dict[str, bytes]:
    """UID → the literal (raw bytes) of each FETCH response; imaplib gives (prefix, literal) pairs.

    After a literal a FETCH response goes on with ")" or " " and the next item: a literal announced
    a byte or two longer than its data took the ")" into the mail (it was stored with a stray
    ")"), so anything else fails the answer as broken (abort: the mail is fetched alone, then
    quarantined)."""
    bodies = {}
    for index, item in enumerate(data):
        if not isinstance(item, tuple):
            continue
        after = data[index + 1] if index + 1 < len(data) else None
        rest = after[0] if isinstance(after, tuple) else after
        if not isinstance(rest, bytes) or not rest.startswith((b")", b" ")):
            raise imaplib.IMAP4.abort("the server's FETCH answer does not go on after a literal: announced longer "
                                      "than its data")
        uid = _UID.search(item[0])
        if uid is None and index + 1 < len(data) and isinstance(data[index + 1], bytes):
            uid = _UID.search(data[index + 1])  # a server may send UID after the literal
        if uid:
            bodies[uid.group(1).decode()] = item[1]
    return bodies
