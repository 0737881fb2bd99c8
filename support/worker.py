"""Fetch new mail, store each as a ticket, triage the new tickets.

    python -m support.worker --once --eml-dir demo/mail     # a folder of .eml files
    python -m support.worker --eml-dir demo/mail --every 60  # poll
    ACEDESK_IMAP_HOST=imap.example.org ... python -m support.worker --once   # IMAP (ACEDESK_IMAP_*)
    # with ACEDESK_CLUB_API_URL/_TOKEN set, each round also checks new tickets against the club
    # backend and finishes approved tickets that a crash or an outage interrupted
    python -m support.worker --once --no-triage             # fetch only, no model loaded

Each mail is stored before anything else happens to it; a mail that cannot be read is
quarantined with the reason and never blocks the others. On IMAP a mail is flagged or moved
(as configured) only once its ticket is stored: a crash in between leaves it on the server
unflagged, and the next fetch knows it, so nothing is lost and nothing is stored twice.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from email.parser import BytesHeaderParser
from pathlib import Path

from integrations.club_api import ClubApiError
from integrations.imap_mailbox import ImapMailbox, ImapSettings, ImapUnavailable, OversizedMail
from integrations.mail_parsing import MailParseError, machine_mail_reason, parse_eml
from integrations.mail_sending import original_from_headers
from model.prompt import Email
from support.actions import ActionProblem
from support.safety import injection_reason
from support.settings import DeskSettings, build_workflow, setting_values
from support.states import State
from support.store import MailRef, TicketStore
from support.workflow import Workflow

log = logging.getLogger(__name__)

REVIEW_BELOW_CONFIDENCE = 0.6


def eml_dir_mails(folder: Path) -> Iterator[tuple[MailRef, bytes]]:
    """The embedded default mailbox: every ``*.eml`` in a folder, named by its file name."""
    for path in sorted(folder.glob("*.eml")):
        yield MailRef(f"eml:{folder.resolve()}", "0", path.name, None), path.read_bytes()


def ingest(store: TicketStore, mails: Iterator[tuple[MailRef, bytes | OversizedMail]],
           on_stored: Callable[[MailRef, int], None] | None = None) -> list[int]:
    """Store every unknown mail as a ticket (or quarantine it); returns the new ticket ids.

    ``on_stored(ref, ticket_id)`` runs right after each new ticket is committed: the one place
    to flag or move the mail on the server. An error from the source or the callback stops the
    loop, but every ticket stored before it stays stored.
    """
    new_ids = []
    for ref, raw in mails:
        if store.is_known(ref):
            continue
        ticket_id = store_mail(store, ref, raw)
        if ticket_id is not None:
            new_ids.append(ticket_id)
            if on_stored:
                on_stored(ref, ticket_id)
    return new_ids


def store_mail(store: TicketStore, ref: MailRef, raw: bytes | OversizedMail) -> int | None:
    """One mail as a ticket, or quarantined with the reason; None when the store knows it already."""
    if isinstance(raw, OversizedMail):
        return _store_oversized(store, ref, raw)
    try:
        parsed = parse_eml(raw)
        original = original_from_headers(parsed.headers, parsed.email.sender, parsed.email.subject)
    except MailParseError as error:
        return store.add_ticket(_with_message_id(ref, _message_id(raw)), quarantine_reason=str(error))
    except Exception as error:  # noqa: BLE001 - one odd mail must never stop the fetch loop
        reason = f"unexpected error while reading the mail: {type(error).__name__}: {error}"
        return store.add_ticket(_with_message_id(ref, _message_id(raw)), quarantine_reason=reason)
    email = parsed.email
    return store.add_ticket(
        _with_message_id(ref, parsed.message_id), sender=email.sender, subject=email.subject, body=email.body,
        mail_date=email.date.isoformat() if email.date else None,
        machine_mail=machine_mail_reason(parsed.headers, email.sender),
        reply_to=original.reply_to_address, references=original.references or original.in_reply_to)


def _store_oversized(store: TicketStore, ref: MailRef, mail: OversizedMail) -> int | None:
    # Quarantined, but named by its headers: the operator sees who wrote, and Message-ID dedupes it.
    try:
        parsed = parse_eml(mail.headers)
    except MailParseError:
        return store.add_ticket(_with_message_id(ref, _message_id(mail.headers)), quarantine_reason=mail.reason)
    return store.add_ticket(_with_message_id(ref, parsed.message_id), sender=parsed.email.sender,
                            subject=parsed.email.subject, quarantine_reason=mail.reason)


def _message_id(raw: bytes) -> str | None:
    """Message-ID of a mail the parser rejects, so that a refetch (new UIDVALIDITY) is still a duplicate."""
    try:
        value = str(BytesHeaderParser().parsebytes(raw[:65_536]).get("Message-ID") or "").strip()
    except Exception:  # noqa: BLE001 - the header parser raises many types on broken input
        return None
    return value or None


def _with_message_id(ref: MailRef, message_id: str | None) -> MailRef:
    return MailRef(ref.mailbox, ref.uidvalidity, ref.uid, message_id)


def fetch_imap(store: TicketStore, settings: ImapSettings) -> int:
    """One IMAP fetch: the folder's new mails become tickets, each marked processed once stored."""
    with ImapMailbox(settings) as mailbox:
        new_ids = ingest(store, mailbox.new_mails(store.known_uids),
                         on_stored=lambda ref, _ticket_id: mailbox.mark_processed(ref.uid))
    return len(new_ids)


def fetch_eml_dir(store: TicketStore, folder: Path) -> int:
    return len(ingest(store, eml_dir_mails(folder)))


def review_flags(ticket: dict, result) -> list[str]:
    """Why a person must look before anything is executed."""
    flags = []
    if ticket["machine_mail"]:
        flags.append(f"machine mail ({ticket['machine_mail']}): never auto-answered")
    if not result.valid:
        flags.append("model answer was malformed")
    if result.confidence < REVIEW_BELOW_CONFIDENCE:
        flags.append(f"low confidence ({result.confidence:.0%})")
    flags.extend(result.problems)
    if reason := injection_reason(f"{ticket['subject']}\n{ticket['body']}"):
        flags.append(reason)
    return flags


def triage_received(store: TicketStore, triager, batch_size: int = 8, workflow: Workflow | None = None) -> int:
    """Triage every received ticket; with a workflow, also check each against the backend so
    the operator sees "sender does not match account" and the like before approving."""
    tickets = store.tickets(State.RECEIVED)
    emails = [Email(t["sender"], t["subject"], t["body"], _date(t["mail_date"])) for t in tickets]
    results = triager.triage_many(emails, batch_size=batch_size) if emails else []
    for ticket, result in zip(tickets, results, strict=True):
        store.record_triage(ticket["id"], result.to_dict(), review_flags(ticket, result))
        if workflow is not None and not ticket["machine_mail"]:
            store.add_flags(ticket["id"], backend_flags(workflow, ticket["id"]))
    return len(tickets)


def backend_flags(workflow: Workflow, ticket_id: int) -> list[str]:
    try:
        _, flags = workflow.check(ticket_id)
    except ActionProblem as problem:
        return [f"cannot run as it stands: {problem}"]
    except ClubApiError as error:
        return [f"not checked against the club backend: {error}"]
    return flags


def _date(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def run_once(store: TicketStore, eml_dir: Path, triager) -> tuple[int, int]:
    return fetch_eml_dir(store, eml_dir), triage_received(store, triager)


def poll(store: TicketStore, fetch: Callable[[TicketStore], int], triager,
         workflow: Workflow | None = None) -> bool:
    """One round: fetch, triage whatever was received, then finish approved tickets a crash or
    an outage interrupted; False when the mailbox was unavailable."""
    available = True
    try:
        fetched = fetch(store)
    except ImapUnavailable as error:
        log.error("mailbox unavailable (the next round resumes): %s", error)
        fetched, available = 0, False
    triaged = triage_received(store, triager, workflow=workflow) if triager else 0
    resumed = workflow.resume() if workflow else []
    log.info("fetched %d new mails, triaged %d tickets, resumed %d", fetched, triaged, len(resumed))
    return available


def mail_source(args, parser: argparse.ArgumentParser) -> Callable[[TicketStore], int]:
    if args.eml_dir:
        return lambda store: fetch_eml_dir(store, args.eml_dir)
    settings = ImapSettings.from_env(setting_values())
    if settings is None:
        parser.error("no mail source: pass --eml-dir DIR or set ACEDESK_IMAP_HOST (and the other ACEDESK_IMAP_*)")
    return lambda store: fetch_imap(store, settings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eml-dir", type=Path, help="folder of .eml files (the demo mailbox); default: IMAP")
    parser.add_argument("--once", action="store_true", help="fetch and triage once, then exit (for cron)")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between polls in loop mode")
    parser.add_argument("--no-triage", action="store_true", help="fetch and store only; the model is not loaded")
    args = parser.parse_args(argv)
    fetch = mail_source(args, parser)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    settings = DeskSettings.from_env()
    store = settings.store()
    workflow = build_workflow(store, settings)
    triager = None if args.no_triage else _load_triager()
    while True:
        available = poll(store, fetch, triager, workflow)
        if args.once:
            return 0 if available else 1
        time.sleep(args.every)


def _load_triager():
    from model.inference import load_triager  # deferred: loading the model takes seconds

    return load_triager()


if __name__ == "__main__":
    raise SystemExit(main())
