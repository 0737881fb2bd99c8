"""The worker: fetch new mail, store each as a ticket, triage, and finish interrupted approvals.

    python -m support.worker --once --eml-dir demo/mail     # a folder of .eml files
    python -m support.worker --eml-dir demo/mail --every 60  # poll
    ACEDESK_IMAP_HOST=imap.example.org ... python -m support.worker --once   # IMAP (ACEDESK_IMAP_*)
    # with ACEDESK_CLUB_API_URL/_TOKEN set, each round also checks new tickets against the club
    # backend and finishes approved tickets that a crash or an outage interrupted
    python -m support.worker --once --no-triage             # fetch only, no model loaded

Intake (support/intake.py) and triage (support/triage.py) are the same code the inbox's
"Fetch new mail" runs.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path

from core.settings import load_settings
from integrations.imap_mailbox import ImapUnavailable
from support.desk import build_workflow, open_store
from support.intake import NoMailSource, mail_source
from support.store import TicketStore
from support.triage import triage_received
from support.workflow import Workflow

log = logging.getLogger(__name__)


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
    triaged = triage_received(store, triager, workflow) if triager else 0
    resumed = workflow.resume() if workflow else []
    log.info("fetched %d new mails, triaged %d tickets, resumed %d", fetched, triaged, len(resumed))
    return available


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--eml-dir", type=Path, help="folder of .eml files (the demo mailbox); default: IMAP")
    parser.add_argument("--once", action="store_true", help="fetch and triage once, then exit (for cron)")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between polls in loop mode")
    parser.add_argument("--no-triage", action="store_true", help="fetch and store only; the model is not loaded")
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        fetch = mail_source(settings, args.eml_dir)
    except NoMailSource as problem:
        parser.error(str(problem))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    store = open_store(settings)
    workflow = build_workflow(store, settings)
    triager = None if args.no_triage else _load_triager(settings)
    while True:
        available = poll(store, fetch, triager, workflow)
        if args.once:
            return 0 if available else 1
        time.sleep(args.every)


def _load_triager(settings):
    from model.active import active_choice  # deferred: loading the model takes seconds
    from model.inference import load_triager

    choice = active_choice(settings)
    return load_triager(choice.base_model, choice.adapter, threads=settings.threads)


if __name__ == "__main__":
    raise SystemExit(main())
