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
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from core.processes import process_name
from core.settings import load_settings
from integrations.imap_mailbox import ImapUnavailable
from support.desk import StoreUnavailable, build_workflow, open_store
from support.health import Round, WorkerStart, record_progress, record_round, worker_started, worker_stopped
from support.intake import NoMailSource, mail_source
from support.store import TicketStore
from support.triage import triage_queue, triage_received
from support.workflow import Workflow

log = logging.getLogger(__name__)
T = TypeVar("T")


def poll(store: TicketStore, fetch: Callable[[TicketStore], int], triager,
         workflow: Workflow | None = None, progress: Callable[[Round], None] = lambda so_far: None) -> Round:
    """One round: fetch, triage a slice of whatever was received (``TRIAGE_SLICE``, each sender's
    oldest mail first: ``triage_queue``), then finish approved tickets a crash or an outage
    interrupted, so those never wait behind more than one slice of a flood. Each part is contained:
    its error is counted and logged, and the others still run (a ticket's own trouble is contained
    further down, in that ticket). ``progress`` is told the round so far after the fetch and after
    each triage batch (the worker's heartbeat)."""
    errors: list[str] = []
    fetched, mailbox_error = 0, None
    try:
        fetched = fetch(store)
    except ImapUnavailable as error:
        log.error("mailbox unavailable (the next round resumes): %s", error)
        errors.append(str(error))
        mailbox_error = str(error)
    except Exception as error:  # an intake bug (or a full disk) must not stop triage and replies
        log.exception("fetching failed")
        errors.append(f"fetching failed: {type(error).__name__}: {error}")

    def so_far(triaged: int = 0, resumed: int = 0, waiting: int = 0) -> Round:
        return Round(fetched, triaged, resumed, len(errors), errors[-1] if errors else None, mailbox_error, waiting)

    def triage() -> tuple[int, int]:
        queue = triage_queue(store)
        done = triage_received(store, triager, workflow, progress=lambda done: progress(so_far(done)), queue=queue)
        return done, len(queue) - done

    progress(so_far())
    triaged, waiting = (_contained("triage", errors, triage) if triager else None) or (0, 0)
    resumed = (_contained("resume", errors, lambda: len(workflow.resume())) if workflow else 0) or 0
    log.info("fetched %d new mails, triaged %d tickets (%d left for the next round), resumed %d, %d errors", fetched,
             triaged, waiting, resumed, len(errors))
    return so_far(triaged, resumed, waiting)


def _contained(what: str, errors: list[str], step: Callable[[], T]) -> T | None:
    try:
        return step()
    except Exception as error:  # counted and logged; the next round tries again
        log.exception("%s failed", what)
        errors.append(f"{what} failed: {type(error).__name__}: {error}")
        return None


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
    stop_on_sigterm()
    try:
        store = open_store(settings)
    except StoreUnavailable as problem:
        raise SystemExit(f"worker: {problem}") from None
    workflow = build_workflow(store, settings)
    start = worker_started(store, process_name(), args.every)
    try:
        triager = None if args.no_triage else _load_triager(settings)
        while True:
            done = poll(store, fetch, triager, workflow,
                        progress=lambda so_far: _record_heartbeat(record_progress, store, start, so_far))
            _record_heartbeat(record_round, store, start, done)
            if args.once:
                return 0 if done.mailbox_available else 1
            if not done.waiting:  # a flood left waiting goes on at once: not one slice a poll interval
                time.sleep(args.every)
    finally:
        worker_stopped(store, start.name)


def stop_on_sigterm() -> None:
    """``kill`` (make demo's stop, systemd, a container's stop) ends the worker as Ctrl-C does, by
    an exception: the round's ``finally`` blocks run, so its stop is recorded, a lease is released,
    and the mails it was triaging are not counted as ones the process died on (support/triage.py)."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


def _record_heartbeat(record: Callable[[TicketStore, WorkerStart, Round], None], store: TicketStore,
                      start: WorkerStart, done: Round) -> None:
    """A heartbeat (``record_progress`` or ``record_round``); a store that stays locked past its busy
    timeout, or a full disk, costs the heartbeat, never the worker (the inbox then says the worker
    is late until a later beat gets through)."""
    try:
        record(store, start, done)
    except sqlite3.Error as error:  # a busy or full store is the reason, not a bug: one line, not a traceback
        log.error("recording the round's heartbeat failed (the next round tries again): %s",
                  store.failure_words(error))


def _load_triager(settings):
    """The model server when ACEDESK_MODEL_URL is set (no model in this process), else the
    promoted model in-process."""
    from model.active import active_choice  # deferred: loading the model takes seconds

    choice = active_choice(settings)
    if settings.model_url:
        from model.served import ServedTriager

        return ServedTriager.from_settings(settings, adapter=choice.adapter)
    from model.inference import load_triager

    return load_triager(choice.base_model, choice.adapter, threads=settings.threads)


if __name__ == "__main__":
    raise SystemExit(main())
