"""Mail in: every fetched mail becomes a ticket (or a quarantined one) before anything else.

    fetch_new_mail(store, settings)        # IMAP when configured, else the .eml folder

On IMAP a mail is flagged or moved (as configured) only once its ticket is stored: a crash in
between leaves it on the server unflagged, and the next fetch knows it by its UID and marks it
then (a mark that failed is retried every fetch until it succeeds), so nothing is lost and
nothing is stored twice. A mail is known by its UID and by its content (``content_hash``): the
same mail under a new UID adds nothing. A mail that cannot be read, or that the server does not
send, is quarantined with the reason and never blocks the others; so is a mark the server refuses.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict
from email.parser import BytesHeaderParser
from pathlib import Path

from core.mail import MailRef
from core.settings import MxResultsPlacement, Settings
from integrations.imap_mailbox import (
    NOT_DOWNLOADED,
    ImapMailbox,
    ImapRefused,
    ImapSettings,
    ImapUnavailable,
    OversizedMail,
    UnfetchableMail,
)
from integrations.mail_parsing import MailParseError, machine_mail_reason, parse_eml
from integrations.mail_sending import original_from_headers, reply_to_recipient
from integrations.sender_auth import address_tricks, authenticate_sender, reply_to_tricks
from support.store import TicketStore

log = logging.getLogger(__name__)


class NoMailSource(RuntimeError):
    """Neither IMAP nor a mail folder is configured (or the folder is missing)."""


def eml_dir_mails(folder: Path) -> Iterator[tuple[MailRef, bytes]]:
    """The embedded default mailbox: every ``*.eml`` in a folder, named by its file name."""
    for path in sorted(folder.glob("*.eml")):
        yield MailRef(f"eml:{folder.resolve()}", "0", path.name, None), path.read_bytes()


def ingest(store: TicketStore, mails: Iterator[tuple[MailRef, bytes | OversizedMail | UnfetchableMail]],
           on_stored: Callable[[MailRef], None] | None = None, trusted_authserv_id: str | None = None,
           mx_results_placement: MxResultsPlacement = "either") -> list[int]:
    """Store every unknown mail as a ticket (or quarantine it); returns the new ticket ids.

    ``on_stored(ref)`` runs right after each newly seen mail is committed (a new ticket, or the
    same content seen again): the one place to flag or move the mail on the server. An error
    from the source or the callback stops the loop, but everything stored before it stays stored.
    """
    new_ids = []
    for ref, raw in mails:
        if store.is_known(ref):
            continue
        ticket_id = store_mail(store, ref, raw, trusted_authserv_id, mx_results_placement)
        if ticket_id is not None:
            new_ids.append(ticket_id)
        if on_stored:
            on_stored(ref)
    return new_ids


def content_hash(raw: bytes) -> str:
    """The mail's identity by content: the same bytes whatever the line ends (servers store CRLF)."""
    return hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


def store_mail(store: TicketStore, ref: MailRef, raw: bytes | OversizedMail | UnfetchableMail,
               trusted_authserv_id: str | None = None, mx_results_placement: MxResultsPlacement = "either",
               ) -> int | None:
    """One mail as a ticket, or quarantined with the reason; None when the store knows it already.
    The receiving MX's verdict on its sender (only ``trusted_authserv_id``'s headers count, where
    ``mx_results_placement`` says it writes them) and the tricks its From plays on a reader are kept
    with it."""
    if isinstance(raw, NOT_DOWNLOADED):
        return _store_not_downloaded(store, ref, raw)
    digest = content_hash(raw)
    # Everything read from the mail is read here, inside the containment: a mail that breaks any
    # of these checks is quarantined with the reason. Outside it, the error would leave the fetch,
    # and the same mail, first in line again, would stop every fetch after it. Only the store's
    # own write below may fail the fetch: that is the store's problem, not the mail's.
    parsed = None
    try:
        parsed = parse_eml(raw)
        email = parsed.email
        # Every field in order: of a field written twice (Reply-To) the first counts, as for a mail client.
        original = original_from_headers(parsed.header_items, email.sender, email.subject)
        reply_to = reply_to_recipient(parsed.header_items)  # the Reply-To's own, never the From's in its place
        reply_to_fields = [value for name, value in parsed.raw_header_items if name.strip().lower() == "reply-to"]
        # Authentication and tricks read the header as written: decoding or Python's reading of a
        # malformed From (``a@x.example <b@y.example>`` becomes ``a@x.example``) hides what the MX saw.
        verdict = authenticate_sender(parsed.raw_header_items, parsed.raw_from, trusted_authserv_id,
                                      parsed.header_problems, mx_results_placement)
        fields = {
            "sender": email.sender, "subject": email.subject, "body": email.body,
            "mail_date": email.date.isoformat() if email.date else None,
            "machine_mail": machine_mail_reason(parsed.headers, email.sender),
            "reply_to": reply_to, "references": original.references or original.in_reply_to,
            "sender_auth": asdict(verdict),
            "flags": list(dict.fromkeys([*address_tricks(parsed.raw_from, None),
                                         *reply_to_tricks(parsed.raw_from, reply_to_fields, reply_to),
                                         *parsed.header_problems]))}
    except MailParseError as error:
        return store.add_ticket(_with_message_id(ref, _message_id(raw)), content_hash=digest,
                                quarantine_reason=str(error))
    except Exception as error:  # noqa: BLE001 - one odd mail must never stop the fetch loop
        reason = f"unexpected error while reading the mail: {type(error).__name__}: {error}"
        # Read but not checked: quarantined, named by its headers like an oversized mail.
        named = {"sender": parsed.email.sender, "subject": parsed.email.subject} if parsed else {}
        message_id = parsed.message_id if parsed else _message_id(raw)
        return store.add_ticket(_with_message_id(ref, message_id), content_hash=digest,
                                quarantine_reason=reason, **named)
    return store.add_ticket(_with_message_id(ref, parsed.message_id), content_hash=digest, **fields)


def _store_not_downloaded(store: TicketStore, ref: MailRef, mail: OversizedMail | UnfetchableMail) -> int | None:
    # Quarantined, but named by its headers: the operator sees who wrote, and Message-ID dedupes it.
    # Without headers there is nothing to know it by: every such mail is a ticket of its own.
    digest = content_hash(mail.headers) if mail.headers else None
    try:
        parsed = parse_eml(mail.headers)
    except MailParseError:
        return store.add_ticket(_with_message_id(ref, _message_id(mail.headers)), content_hash=digest,
                                quarantine_reason=mail.reason)
    return store.add_ticket(_with_message_id(ref, parsed.message_id), content_hash=digest,
                            sender=parsed.email.sender, subject=parsed.email.subject, quarantine_reason=mail.reason)


def _message_id(raw: bytes) -> str | None:
    """Message-ID of a mail the parser rejects, so that a refetch (new UIDVALIDITY) is still a duplicate."""
    try:
        value = str(BytesHeaderParser().parsebytes(raw[:65_536]).get("Message-ID") or "").strip()
    except Exception:  # noqa: BLE001 - the header parser raises many types on broken input
        return None
    return value or None


def _with_message_id(ref: MailRef, message_id: str | None) -> MailRef:
    return MailRef(ref.mailbox, ref.uidvalidity, ref.uid, message_id)


def fetch_imap(store: TicketStore, settings: ImapSettings, trusted_authserv_id: str | None = None,
               mx_results_placement: MxResultsPlacement = "either") -> int:
    """One IMAP fetch: the folder's new mails become tickets, each marked processed once stored;
    marks a crash or a dropped connection left undone are made first."""
    with ImapMailbox(settings) as mailbox:
        mailbox_name, uidvalidity = mailbox.generation()
        for uid in store.unmarked_uids(mailbox_name, uidvalidity):
            ref = MailRef(mailbox_name, uidvalidity, uid, None)
            if mailbox.has_uid(uid):
                _mark(store, mailbox, ref)
            else:  # moved or expunged by someone else meanwhile: nothing left to mark
                store.mark_uid_processed(mailbox_name, uidvalidity, uid)
        new_ids = ingest(store, mailbox.new_mails_since(store), on_stored=lambda ref: _mark(store, mailbox, ref),
                         trusted_authserv_id=trusted_authserv_id, mx_results_placement=mx_results_placement)
    return len(new_ids)


def _mark(store: TicketStore, mailbox: ImapMailbox, ref: MailRef) -> None:
    """Flag or move one stored mail; a failure is logged and retried on the next fetch. A mark the
    server refuses (a processed folder it will not create, a full quota) leaves the connection
    working, so the fetch goes on: the mails after it must not wait for the mark."""
    try:
        mailbox.mark_processed(ref.uid)
    except ImapUnavailable as error:
        log.warning("could not mark UID %s processed (retried on the next fetch): %s", ref.uid, error)
        if isinstance(error, ImapRefused):
            return
        raise
    store.mark_uid_processed(ref.mailbox, ref.uidvalidity, ref.uid)


def fetch_eml_dir(store: TicketStore, folder: Path, trusted_authserv_id: str | None = None,
                  mx_results_placement: MxResultsPlacement = "either") -> int:
    """The .eml folder's new mails as tickets (a folder has nothing to mark: a file is known by its name)."""
    return len(ingest(store, eml_dir_mails(folder), on_stored=lambda ref: store.mark_uid_processed(
        ref.mailbox, ref.uidvalidity, ref.uid), trusted_authserv_id=trusted_authserv_id,
        mx_results_placement=mx_results_placement))


def mail_source(settings: Settings, eml_dir: Path | None = None) -> Callable[[TicketStore], int]:
    """One fetch from where the settings say (an explicit ``eml_dir`` wins): IMAP when
    configured, else the .eml folder. Raises NoMailSource when there is neither."""
    folder = eml_dir or (None if settings.imap_host else settings.eml_dir)
    if folder is not None:
        if not folder.is_dir():
            raise NoMailSource(f"the mail folder {folder} does not exist: create it or fix ACEDESK_EML_DIR")
        return lambda store: fetch_eml_dir(store, folder, settings.trusted_authserv_id, settings.mx_results_placement)
    imap = ImapSettings.from_settings(settings)
    if imap is None:
        raise NoMailSource("no mail source is configured: set ACEDESK_IMAP_HOST (and the other ACEDESK_IMAP_*) "
                           "or ACEDESK_EML_DIR")
    return lambda store: fetch_imap(store, imap, settings.trusted_authserv_id, settings.mx_results_placement)


def fetch_new_mail(store: TicketStore, settings: Settings) -> int:
    """New mails stored as tickets. Raises NoMailSource, or ImapUnavailable when the mailbox
    does not answer."""
    return mail_source(settings)(store)
