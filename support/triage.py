"""Triage received tickets: the model's answer, the reasons a person must look, and the check
against the club backend, recorded only while the ticket is still ``received``.

The worker and the inbox's "Fetch new mail" run the same code, so a ticket is flagged by one
rule wherever it was triaged; of two racing triagers the first to record wins and the other's
result is dropped. One saved mail can be triaged from the command line, without a store:

    python -m support.triage path/to/mail.eml [--adapter PATH] [--base-model ID]   # prints the TriageResult
"""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from core.mail import Email
from integrations.club_api import ClubApiError
from integrations.mail_parsing import MailParseError, parse_eml
from integrations.sender_auth import address_key, sender_address
from model.replies import render_reply, reply_language
from model.review import DEFAULT_RULE, ReviewThresholds, model_review_reasons, review_thresholds
from model.schema import TriageResult
from model.second_request import MOVE_FIELDS, second_request
from model.served import ModelServerTimeout, ModelServerUnavailable
from support.actions import ActionProblem
from support.records import Ticket, UnreadableRow
from support.safety import mail_injection_reason
from support.states import State
from support.store import PARK_AFTER_FAILURES, TicketStore
from support.workflow import Workflow

log = logging.getLogger(__name__)
TRIAGE = "triage"
"""The step whose failures are counted per ticket."""
TRIAGE_RUNS = "triage_unfinished"
"""Counted per ticket: triage runs that started on it and never ended. Each is counted (and
committed) before the model reads the mail and taken back when its result is handled, so a count
left behind means the process died on the way (the OOM killer, a segfault in native code): no
Python exception was left to count. A mail the model server took longer than its timeout on, while
it answers otherwise (``ModelServerTimeout``), leaves its run counted too: it stopped the run."""
ALSO_ASKS = "also asks"
"""Start of the flag of a mail with a second request."""


@dataclass(frozen=True)
class TriageSlice:
    """How much of the waiting mail one triage pass (a worker round) takes before it lets the round
    go on to the approved tickets: at most ``mails`` mails, and no batch begun after ``seconds``
    (the batch under way is finished: its mails' runs are counted until it ends)."""

    mails: int
    seconds: float


TRIAGE_SLICE = TriageSlice(mails=32, seconds=30.0)
"""32 mails are about 16 s of the model on a desk's CPU (0.5 s a mail), so an approved ticket's
execution and reply, which the round runs after its slice, wait seconds, not the 25 minutes of a
flood of 3,000 mails; 30 s bounds a slice of long mails (each may take the model's 20 s budget)
at 30 s and one batch. Small enough for that, large enough that a round's fetch and the approved
tickets' pass (each a few database reads) stay a small part of a busy round."""


def email_of(ticket: Ticket) -> Email:
    """What the model reads of a ticket."""
    date = datetime.fromisoformat(ticket.mail_date) if ticket.mail_date else None
    return Email(ticket.sender, ticket.subject, ticket.body, date)


def review_flags(ticket: Ticket, result, thresholds: ReviewThresholds) -> list[str]:
    """Why a person must look before anything is executed; ``thresholds``: the review rule of the
    adapter that answered (``review_thresholds``)."""
    flags = []
    if ticket.machine_mail:
        flags.append(f"machine mail ({ticket.machine_mail}): never auto-answered")
    flags.extend(model_review_reasons(result, thresholds))
    if reason := mail_injection_reason(ticket.subject, ticket.body):
        flags.append(reason)
    return flags


def backend_flags(workflow: Workflow, ticket_id: int) -> list[str]:
    """What the club backend's records say about the ticket's action, as flags; never raises."""
    try:
        flags = workflow.check(ticket_id).flags
    except ActionProblem as problem:
        return [f"cannot run as it stands: {problem}"]
    except ClubApiError as error:
        return [f"not checked against the club backend: {error}"]
    except Exception as error:  # a strange mail must end as a flag on its ticket, never stop the worker
        log.exception("ticket %s: the backend check failed", ticket_id)
        return [f"not checked against the club backend: unexpected {type(error).__name__}: {error}"]
    return flags


def triage_tickets(store: TicketStore, triager, workflow: Workflow | None, ticket_ids: Sequence[int],
                   batch_size: int = 4) -> Iterator[int]:
    """Triage received tickets a batch at a time, yielding how many are done (for a progress bar).
    A mail the model fails on, or whose answer cannot be checked and recorded, is counted against
    its ticket and retried next time; the third failure sends it to review with the reason. The
    others go on.

    A mail on which the triage process itself dies leaves its unfinished run counted (TRIAGE_RUNS):
    next time it is triaged alone, after the others, so only the culprit is counted again, and once
    the process stopped on it PARK_AFTER_FAILURES times it goes to review without being read again.
    So does a mail the model server times out on while it answers otherwise (``ModelServerTimeout``):
    one triaged alone each time, and the first of the others in a round; a second of the others ends
    the round with its run taken back: the server is slow (a busy CPU), not the mails."""
    done = 0
    late: list[int] = []  # the round's mails the model server timed out on
    for batch in _batches(store, ticket_ids, batch_size):
        _triage_batch(store, triager, workflow, batch, batch_size, late)
        done += len(batch)
        yield done


def _batches(store: TicketStore, ticket_ids: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """The tickets in batches of ``batch_size``; each one a triage run stopped on comes alone, after
    them, the least suspect first: a mail that kills the process then takes no other mail's run with
    it, and the mails that only shared its batch are done before it stops the round again."""
    stopped = {ticket_id: store.failures(ticket_id).get(TRIAGE_RUNS, 0) for ticket_id in ticket_ids}
    others = [ticket_id for ticket_id in ticket_ids if not stopped[ticket_id]]
    for start in range(0, len(others), batch_size):
        yield others[start:start + batch_size]
    for ticket_id in sorted((ticket_id for ticket_id in ticket_ids if stopped[ticket_id]), key=stopped.get):
        yield [ticket_id]


def _triage_batch(store: TicketStore, triager, workflow: Workflow | None, ticket_ids: list[int],
                  batch_size: int, late: list[int]) -> None:
    tickets, suspects = [], set()
    for ticket_id in ticket_ids:
        try:
            ticket = store.ticket(ticket_id)
        except UnreadableRow as problem:  # this version cannot read the row: the others go on
            log.warning("%s; not triaged", problem)
            continue
        stopped = store.failures(ticket_id).get(TRIAGE_RUNS, 0)
        if stopped >= PARK_AFTER_FAILURES:  # not read again: the mail may kill this process too
            _park(store, ticket, f"the triage process stopped on this mail {stopped} times (it died, or the model "
                                 "server took longer than its timeout), so a person must read it", check_mail=False)
            store.clear_failures(ticket_id, TRIAGE_RUNS)
            continue
        tickets.append(ticket)
        if stopped:  # a run stopped on it before: it comes alone (_batches)
            suspects.add(ticket_id)
    if not tickets:
        return
    store.begin_runs([ticket.id for ticket in tickets], TRIAGE_RUNS)  # committed before the model reads them
    unfinished = [ticket.id for ticket in tickets]
    try:
        for ticket, result in zip(tickets, _results(triager, tickets, batch_size), strict=True):
            if isinstance(result, ModelServerTimeout):
                if late and ticket.id not in suspects:
                    raise ModelServerUnavailable(f"{result}; it was slow on ticket {late[0]} too this round: the "
                                                 "server is slow, not the mails") from result
                log.error("ticket %s: %s; its run stays counted: triaged alone, after the others, next round",
                          ticket.id, result)
                late.append(ticket.id)
                unfinished.remove(ticket.id)
                continue
            if isinstance(result, Exception):
                _triage_failed(store, ticket, f"the model failed on this mail: {_named(result)}")
            else:
                try:
                    _record(store, triager, workflow, ticket, result)
                except Exception as error:  # this mail's, not the round's: the tickets after it go on
                    log.exception("ticket %s: recording its triage failed", ticket.id)
                    _triage_failed(store, ticket, f"checking the model's answer failed: {_named(error)}")
            store.clear_failures(ticket.id, TRIAGE_RUNS)
            unfinished.remove(ticket.id)
    finally:  # the run ended without the process dying (the model server away, a stop): not the mails' doing
        _forget_runs(store, unfinished)


def _forget_runs(store: TicketStore, ticket_ids: list[int]) -> None:
    for ticket_id in ticket_ids:
        try:
            store.end_run(ticket_id, TRIAGE_RUNS)  # this run only: the times the process died on it stay
        except sqlite3.Error:  # never hides the error that ended the run
            log.exception("ticket %s: taking back its unfinished triage run failed", ticket_id)


def _record(store: TicketStore, triager, workflow: Workflow | None, ticket: Ticket, result: TriageResult) -> None:
    """The model's answer with its flags, then the backend's, while the ticket is still received.
    A split ticket holds the whole mail, which the model reads as its first request (the other
    ticket's): it is given the second request it was split for instead, so no action runs twice."""
    if (origin := split_origin(store, ticket.id)) is not None:
        _record_split(store, workflow, origin, ticket, review_thresholds(triager))
        return
    recorded = store.record_triage_if_received(ticket.id, *_with_second_request(triager, ticket, result))
    if recorded and workflow is not None and not ticket.machine_mail:
        store.add_flags(ticket.id, backend_flags(workflow, ticket.id))


def _with_second_request(triager, ticket: Ticket, result: TriageResult) -> tuple[dict, list[str]]:
    """The triage to record and its flags, with a second request the mail also makes (in-process
    models score its clauses; a model server does not): shown, and split off by a person."""
    triage, flags = result.to_dict(), review_flags(ticket, result, review_thresholds(triager))
    if not hasattr(triager, "category_probabilities"):
        return triage, flags
    try:
        extra = second_request(triager, email_of(ticket), result)
    except Exception:  # a second opinion only: the first request's triage stands without it
        log.exception("ticket %s: looking for a second request failed", ticket.id)
        return triage, flags
    if extra is not None:
        triage["second_request"] = asdict(extra)
        flags.append(f"{ALSO_ASKS}: {also_asks_text(triage['second_request'])} (split it into a ticket "
                     "of its own in the ticket's detail; approving this ticket splits it off too)")
    return triage, flags


def also_asks_text(extra: dict) -> str:
    """A second request as the ticket shows it ("cancel booking BK-40833", "add user jcole_14")."""
    named = extra.get("booking_id") or extra.get("username")  # tickets triaged before usernames have none
    # .get: second requests found before moves carried their new time have none
    moved_to = " ".join(extra[name] for name in ("new_date", "new_time") if extra.get(name))
    court = extra.get("new_court")
    return (extra["category"].replace("_", " ") + (f" {named}" if named else "") + (f" to {moved_to}" if moved_to else "")
            + (f", court {court}" if court else ""))


NOT_SPLIT_FROM = (State.RECEIVED, State.REJECTED, State.QUARANTINED)
"""States whose ticket's second request is not split off: its triage is gone (being triaged again)
or a person turned the mail down (a click in a tab opened before may still ask)."""


class NothingToSplit(ValueError):
    """The ticket has no second request that can be split off now; the message says why, plainly."""


def split_origin(store: TicketStore, ticket_id: int) -> int | None:
    """The ticket whose mail's second request ``ticket_id`` was split off for, or None."""
    return next((entry.detail["split_from"] for entry in store.audit_log(ticket_id)
                 if entry.event == "received" and "split_from" in entry.detail), None)


def split_second_request(store: TicketStore, workflow: Workflow | None, ticket_id: int, actor: str,
                         thresholds: ReviewThresholds = DEFAULT_RULE.thresholds) -> int:
    """The second request of a ticket's mail as a linked ticket of its own, triaged as the model
    found it (its category, booking id or login) and checked against the backend like any other;
    ``thresholds``: the review rule of the adapter in use. Raises NothingToSplit when the ticket
    has none, or is in a state it is not split from (``NOT_SPLIT_FROM``)."""
    ticket = store.ticket(ticket_id)
    if ticket.state in NOT_SPLIT_FROM:
        raise NothingToSplit(f"ticket {ticket_id} is {ticket.state} now: its second request is not split off")
    extra = (ticket.triage or {}).get("second_request")
    if not extra:
        raise NothingToSplit(f"ticket {ticket_id} has no second request to split off")
    note = f"the second request of ticket {ticket_id}'s mail ({also_asks_text(extra)})"
    split_id, _ = store.add_split(ticket_id, note, actor, not_from=NOT_SPLIT_FROM)
    if split_id is None:  # changed by another session since it was read above
        raise NothingToSplit(f"ticket {ticket_id} is {store.state_of(ticket_id)} now: its second request is not "
                             "split off")
    # Split before too: a splitter that died before triaging it left it received; recording is a
    # compare-and-set, so of two splitters one triages and checks it.
    _record_split(store, workflow, ticket, store.ticket(split_id), thresholds)
    return split_id


def _record_split(store: TicketStore, workflow: Workflow | None, origin: Ticket | int, split: Ticket,
                  thresholds: ReviewThresholds) -> None:
    """Record the split ticket's triage, its second request, while it is still received; sent to
    review with the reason when the ticket it was split from no longer holds one (triaged again)."""
    if isinstance(origin, int):
        origin = store.ticket(origin)
    extra = (origin.triage or {}).get("second_request")
    if not extra:
        _park(store, split, f"ticket {origin.id}, this mail's first request, no longer names a second request "
                            "(it was triaged again), so a person must read the mail")
        return
    fields = {name: extra[name] for name in ("booking_id", "username", *MOVE_FIELDS) if extra.get(name)}
    language = reply_language((origin.triage or {}).get("response") or "")
    result = TriageResult(category=extra["category"], confidence=extra["probability"], **fields,
                          response=render_reply(extra["category"], fields, split.sender, language))
    recorded = store.record_triage_if_received(split.id, result.to_dict(), review_flags(split, result, thresholds))
    if recorded and workflow is not None:
        store.add_flags(split.id, backend_flags(workflow, split.id))


def _results(triager, tickets: list[Ticket], batch_size: int) -> Iterator:
    """The model's results for a batch; when the batch fails, mail by mail, so one mail's error
    stays that mail's (an Exception in its place). Mail by mail, each result comes as it is ready,
    so a round that ends on one (a second mail the model server is slow on) asks no further mail;
    a batch of one is not asked again: a mail the server is slow on would cost a second timeout."""
    try:
        results = triager.triage_many([email_of(ticket) for ticket in tickets], batch_size=batch_size)
    except ModelServerUnavailable:
        raise  # the model server is away, not the mail's fault: every ticket stays received
    except Exception as error:  # find which mail it was
        if len(tickets) == 1:
            log.exception("triaging ticket %s failed", tickets[0].id)
            yield error
            return
        log.exception("a triage batch failed; triaging its mails one by one")
    else:
        yield from results
        return
    for ticket in tickets:
        try:
            result = triager.triage(email_of(ticket))
        except ModelServerUnavailable:
            raise
        except Exception as error:  # noqa: BLE001 - kept as this mail's result, logged by the caller
            result = error
        yield result


def _named(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _triage_failed(store: TicketStore, ticket: Ticket, reason: str) -> None:
    """Count a failed triage against its ticket, which stays received and is tried again next
    round; the third failure sends it to review with the reason."""
    log.error("ticket %s: %s", ticket.id, reason)
    count = store.record_failure(ticket.id, TRIAGE, reason, "model")
    if count >= PARK_AFTER_FAILURES:  # not retried by itself again: a person reads it
        _park(store, ticket, f"triage failed {count} times, so a person must read it: {reason}")


def _park(store: TicketStore, ticket: Ticket, problem: str, check_mail: bool = True) -> None:
    """Send a received ticket to review with an invalid answer whose problem says why. ``check_mail``:
    flag it by the mail's own checks too (not when the mail may be what kills the process)."""
    parked = TriageResult(category="other", confidence=0.0, valid=False, problems=[problem])
    flags = [problem]
    if check_mail:
        try:
            flags = review_flags(ticket, parked, DEFAULT_RULE.thresholds)
        except Exception:  # the mail's own checks may be what failed: the answer's problems still say why
            log.exception("ticket %s: flagging the parked ticket failed", ticket.id)
            flags = model_review_reasons(parked, DEFAULT_RULE.thresholds)
    else:
        log.error("ticket %s: %s", ticket.id, problem)
    # the parked answer is invalid: its flags are never empty, so it goes to review
    store.record_triage_if_received(ticket.id, parked.to_dict(), flags)


def received_ids(store: TicketStore) -> list[int]:
    """The received tickets' ids, oldest first, read without their rows (one odd row stops nothing)."""
    return store.ticket_ids(State.RECEIVED)


def triage_queue(store: TicketStore) -> list[int]:
    """The received tickets in the order they are triaged: each sender's oldest waiting mail before
    anyone's second, then each one's second, and so on, oldest first within each turn. So one
    sender's flood of mail (a script, a mail loop, an attacker) keeps each other sender's oldest
    mail waiting behind at most one of its mails, however many it sends. Senders are told apart by
    their address, case-folded; mails without one readable address (none, several, a damaged row)
    are one sender. Read without the rows."""
    waiting = store.ticket_senders(State.RECEIVED)
    keys = {sender: _sender_key(sender) for sender in {sender for _, sender in waiting}}  # a flood: one parse
    turns: dict[str | None, int] = {}
    queue = []
    for ticket_id, sender in waiting:  # oldest first, so each sender's turn counts up from its oldest mail
        key = keys[sender]
        turns[key] = turns.get(key, -1) + 1
        queue.append((turns[key], ticket_id))
    return [ticket_id for _, ticket_id in sorted(queue)]


def _sender_key(sender: object) -> str | None:
    address = sender_address(sender) if isinstance(sender, str) else None
    return address_key(address).casefold() if address else None


def triage_slice(store: TicketStore, bounds: TriageSlice = TRIAGE_SLICE) -> tuple[list[int], int]:
    """The head of ``triage_queue`` one pass triages (the Inbox's Fetch, without a worker's time
    bound) and how many wait beyond it: a flood of one sender's mail holds the page and the fetch
    lock for a slice, not for the whole flood."""
    queue = triage_queue(store)
    return queue[:bounds.mails], max(0, len(queue) - bounds.mails)


def triage_received(store: TicketStore, triager, workflow: Workflow | None = None,
                    progress: Callable[[int], None] = lambda done: None, bounds: TriageSlice = TRIAGE_SLICE,
                    queue: Sequence[int] | None = None) -> int:
    """Triage the head of ``queue`` (by default ``triage_queue``), one slice of it (``bounds``),
    telling ``progress`` how many are done after each batch (the worker's heartbeat); returns how
    many. The rest stay received for the next slice, whose queue is read again (a new sender's
    first mail goes before them)."""
    queue = triage_queue(store) if queue is None else queue
    started = time.monotonic()
    done = 0
    with closing(triage_tickets(store, triager, workflow, queue[:bounds.mails])) as batches:
        for done in batches:
            progress(done)
            if time.monotonic() - started >= bounds.seconds:
                break
    return done


def main(argv: list[str] | None = None) -> int:
    from model.inference import load_triager  # deferred: torch loads only for the command line
    from model.metadata import DEFAULT_ADAPTER

    parser = argparse.ArgumentParser(description="Triage one saved email and print the TriageResult as JSON")
    parser.add_argument("eml", type=Path, help="an RFC 5322 message file (.eml)")
    parser.add_argument("--adapter", default=str(DEFAULT_ADAPTER), help="LoRA adapter folder; '' for none")
    parser.add_argument("--base-model", default=None, help="base model id or path (default: the adapter's)")
    args = parser.parse_args(argv)
    try:
        parsed = parse_eml(args.eml.read_bytes())
    except (OSError, MailParseError) as error:
        print(f"error: {args.eml}: {error}", file=sys.stderr)
        return 2
    triager = load_triager(args.base_model, args.adapter or None)
    print(json.dumps(triager.triage(parsed.email).to_dict(), ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
