"""Fetch new mail, store each as a ticket, triage the new tickets.

    python -m support.worker --once --eml-dir demo/mail     # a folder of .eml files
    python -m support.worker --eml-dir demo/mail --every 60  # poll

Each mail is stored before anything else happens to it; a mail that cannot be read is
quarantined with the reason and never blocks the others.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from integrations.mail_parsing import MailParseError, machine_mail_reason, parse_eml
from model.prompt import Email
from support.states import State
from support.store import MailRef, TicketStore

log = logging.getLogger(__name__)

REVIEW_BELOW_CONFIDENCE = 0.6


def eml_dir_mails(folder: Path) -> Iterator[tuple[MailRef, bytes]]:
    """The embedded default mailbox: every ``*.eml`` in a folder, named by its file name."""
    for path in sorted(folder.glob("*.eml")):
        yield MailRef(f"eml:{folder.resolve()}", "0", path.name, None), path.read_bytes()


def ingest(store: TicketStore, mails: Iterator[tuple[MailRef, bytes]]) -> list[int]:
    """Store every unknown mail as a ticket (or quarantine it); returns the new ticket ids."""
    new_ids = []
    for ref, raw in mails:
        if store.is_known(ref):
            continue
        try:
            parsed = parse_eml(raw)
        except MailParseError as error:
            ticket_id = store.add_ticket(ref, quarantine_reason=str(error))
        else:
            ref = MailRef(ref.mailbox, ref.uidvalidity, ref.uid, parsed.message_id)
            email = parsed.email
            ticket_id = store.add_ticket(
                ref, sender=email.sender, subject=email.subject, body=email.body,
                mail_date=email.date.isoformat() if email.date else None,
                machine_mail=machine_mail_reason(parsed.headers, email.sender))
        if ticket_id is not None:
            new_ids.append(ticket_id)
    return new_ids


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
    return flags


def triage_received(store: TicketStore, triager, batch_size: int = 8) -> int:
    tickets = store.tickets(State.RECEIVED)
    emails = [Email(t["sender"], t["subject"], t["body"], _date(t["mail_date"])) for t in tickets]
    results = triager.triage_many(emails, batch_size=batch_size) if emails else []
    for ticket, result in zip(tickets, results, strict=True):
        store.record_triage(ticket["id"], result.to_dict(), review_flags(ticket, result))
    return len(tickets)


def _date(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def run_once(store: TicketStore, eml_dir: Path, triager) -> tuple[int, int]:
    new_ids = ingest(store, eml_dir_mails(eml_dir))
    return len(new_ids), triage_received(store, triager)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eml-dir", type=Path, required=True, help="folder of .eml files (the demo mailbox)")
    parser.add_argument("--once", action="store_true", help="fetch and triage once, then exit (for cron)")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between polls in loop mode")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from model.inference import load_triager  # deferred: loading the model takes seconds

    store, triager = TicketStore(), load_triager()
    while True:
        fetched, triaged = run_once(store, args.eml_dir, triager)
        log.info("fetched %d new mails, triaged %d tickets", fetched, triaged)
        if args.once:
            return 0
        time.sleep(args.every)


if __name__ == "__main__":
    raise SystemExit(main())
