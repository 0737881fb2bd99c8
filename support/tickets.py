"""Inspect and decide tickets from the command line (the app's inbox page does the same).

    python -m support.tickets export                     # every ticket as one JSON line
    python -m support.tickets show 7                     # one ticket with its audit log
    python -m support.tickets approve 7 [--reply "..."] [--field booking_id=BK-48213] [--override "why"]
    python -m support.tickets reject 7 --reason "spam"
    python -m support.tickets corrections --out corrections.csv   # decided tickets as training rows, pseudonymised

``approve`` executes at once against the club backend (ACEDESK_CLUB_API_URL/_TOKEN) and sends
the reply (SMTP, or the outbox folder); a failure leaves the ticket ``failed`` and retryable.

Whatever came from a mail is printed as the operator's terminal must show it: a character the
terminal would act on (an escape sequence that clears the screen, writes the clipboard or hides a
link; a carriage return over the line) or draw as nothing (an invisible or direction-changing
one) is written as its code point, ``\\u202e`` in JSON, ``⟨U+202E⟩`` in a sentence.

``corrections`` writes every decision kept in the store (support/corrections.py) in the training
CSV's format plus ``changed``, ``decided_at`` and ``decision``; names, addresses, phone numbers,
usernames and booking numbers are replaced by stand-ins (support/pseudonymise.py).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import unicodedata
from dataclasses import asdict
from pathlib import Path

from core.settings import Settings, load_settings
from core.text import code_points_shown, unseen
from model.schema import FIELDS
from support.corrections import MAX_PER_SENDER, export_corrections
from support.desk import StoreUnavailable, build_workflow, open_store
from support.records import Ticket
from support.store import TicketStore

LARGEST_TICKET_NUMBER = 2**63 - 1
"""SQLite's largest integer: a larger number is no ticket, and SQLite cannot even be asked."""


def acts_on_terminal(char: str) -> bool:
    """A character a terminal acts on or draws as nothing: a control (ESC and the one-character
    CSI/OSC U+009B/U+009D start sequences; CR returns over the line), a line or paragraph
    separator, or what ``unseen`` names (a bidi override turns the line around)."""
    return char not in "\n\t" and (unseen(char) or unicodedata.category(char) in ("Cc", "Zl", "Zp"))


def visible(text: str) -> str:
    """``text`` for a sentence on the terminal: such characters as ``⟨U+202E⟩`` (as the Inbox shows them)."""
    return code_points_shown(text, acts_on_terminal)


def visible_json(data, **options) -> str:
    """``data`` as JSON whose strings read back unchanged, with such characters as ``\\u`` escapes;
    other text as it is (names and subjects come in every language)."""
    text = json.dumps(data, ensure_ascii=False, **options)
    # JSON's own escapes cover C0 controls only; U+009B, U+202E and the like pass through raw.
    hidden = {ord(char): json.dumps(char)[1:-1] for char in set(text) if acts_on_terminal(char)}
    return text.translate(hidden) if hidden else text


def ticket_number(text: str) -> int:
    """The ticket argument: a number SQLite can be asked about (argparse names anything else)."""
    number = int(text)
    if not -LARGEST_TICKET_NUMBER <= number <= LARGEST_TICKET_NUMBER:
        raise argparse.ArgumentTypeError(f"no ticket {text}: ticket numbers are at most {LARGEST_TICKET_NUMBER}")
    return number


def export_line(ticket: Ticket) -> str:
    triage = ticket.triage or {}
    return visible_json({
        "id": ticket.id,
        "message_id": ticket.message_id,
        "state": ticket.state,
        "flags": ticket.flags,
        "category": triage.get("category"),
        "confidence": triage.get("confidence"),
        **{name: triage.get(name) for name in FIELDS},
        "machine_mail": ticket.machine_mail,
        "quarantine_reason": ticket.quarantine_reason,
        "failure_reason": ticket.failure_reason,
    })


def parse_fields(pairs: list[str]) -> dict:
    """The --field edits; a NAME given twice is refused, never the last one silently run."""
    fields = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in ("category", *FIELDS):
            raise SystemExit(f"--field wants NAME=VALUE with NAME one of category, {', '.join(FIELDS)}")
        if name in fields:
            raise SystemExit(f"--field {name} is given twice: give it once, with the value to use")
        fields[name] = value or None
    return fields


def edited_reply(reply: str | None) -> str | None:
    """--reply as the approval takes it; an empty one is refused (the inbox refuses it too), never
    replaced by the proposal without a word."""
    if reply is not None and not reply.strip():
        raise SystemExit("--reply is empty: write the reply, or leave --reply out to send the proposed one")
    return reply


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("export", help="every ticket as one JSON line")
    show = commands.add_parser("show", help="one ticket and its audit log")
    show.add_argument("ticket", type=ticket_number)
    approve = commands.add_parser("approve", help="approve, execute and reply")
    approve.add_argument("ticket", type=ticket_number)
    approve.add_argument("--reply", help="the reply text, if edited")
    approve.add_argument("--field", action="append", default=[], help="NAME=VALUE edit of a triage field")
    approve.add_argument("--override", help="reason for executing a flagged ticket (sender mismatch, injection)")
    approve.add_argument("--actor", default="operator")
    reject = commands.add_parser("reject", help="close without action or reply")
    reject.add_argument("ticket", type=ticket_number)
    reject.add_argument("--reason", required=True)
    reject.add_argument("--actor", default="operator")
    corrections = commands.add_parser("corrections", help="the decisions as a pseudonymised training CSV")
    corrections.add_argument("--out", required=True, help="the CSV file to write")
    args = parser.parse_args(argv)

    settings = load_settings()
    try:
        store = open_store(settings)
    except StoreUnavailable as problem:
        raise SystemExit(str(problem)) from None
    try:
        return run(store, settings, args)
    except KeyError as missing:  # a ticket number that is not in the store
        print(visible(f"{args.command} failed: {missing.args[0]}"), file=sys.stderr)
        return 1
    except sqlite3.Error as problem:  # a full disk, a lock held too long: one sentence, never a traceback
        print(visible(f"{args.command} failed: {store.failure_words(problem)}"), file=sys.stderr)
        if getattr(args, "ticket", None) is not None:
            print(f"see where ticket {args.ticket} stands with: python -m support.tickets show {args.ticket}",
                  file=sys.stderr)
        return 1


def run(store: TicketStore, settings: Settings, args) -> int:
    if args.command == "export":
        return export(store)
    if args.command == "corrections":
        return corrections(store, args.out)
    if args.command == "show":
        audit = [asdict(entry) for entry in store.audit_log(args.ticket)]
        print(visible_json({**_public(store.ticket(args.ticket)), "audit": audit}, indent=2))
    else:
        return decide(store, settings, args)
    return 0


def corrections(store: TicketStore, out: str) -> int:
    """The training CSV written to ``out``, a file (new, or replaced whole). A folder, a device or a
    pipe is refused: the whole-or-nothing write renames a new file over the path, and would put a
    regular file where /dev/stdout or a FIFO was (as root, even /dev/full). A link is followed: the
    file it names is written, the link kept."""
    path = Path(out)
    if path.exists() and not path.is_file():
        print(visible(f"corrections failed: {out} is not a file (a folder, a device or a pipe): name a file to "
                      "write"), file=sys.stderr)
        return 1
    try:
        rows = export_corrections(store, path.resolve())
    except OSError as problem:  # no room, no permission, a file where a folder belongs: one sentence
        print(visible(f"corrections failed: cannot write {out}: {problem.strerror or problem}"
                      + (f" ({problem.filename})" if problem.filename else "")), file=sys.stderr)
        return 1
    left_out = store.corrections_version()[0] - rows
    why = (f"; {left_out} left out: anyone can mail the club, so a sender gives at most {MAX_PER_SENDER}, and a "
           "ticket split off another's mail none") if left_out > 0 else ""
    print(visible(f"{rows} decided ticket{'s' if rows != 1 else ''} written to {out} (pseudonymised){why}"))
    return 0


def export(store: TicketStore) -> int:
    """Every ticket as one JSON line; a row this version cannot read is left out, named on stderr
    (exit status 1: the export is not whole)."""
    skipped: list[int] = []
    for ticket in store.each_ticket(skipped=skipped):  # streamed: an export of every mail held none in memory
        try:
            line = export_line(ticket)
        except (TypeError, ValueError) as problem:  # a column another tool filled (bytes where text belongs)
            print(visible(f"ticket {ticket.id} cannot be exported: {problem}"), file=sys.stderr)
            skipped.append(ticket.id)
            continue
        sys.stdout.write(line + "\n")
    if skipped:
        named = ", ".join(str(ticket_id) for ticket_id in skipped)
        print(f"not exported: ticket{'s' if len(skipped) != 1 else ''} {named}, whose row this version cannot read"
              " (see the warnings above)", file=sys.stderr)
        return 1
    return 0


def decide(store: TicketStore, settings: Settings, args) -> int:
    from integrations.club_api import ClubApiError
    from support.actions import ActionProblem
    from support.states import State, TransitionError
    from support.workflow import NeedsOverride

    if args.command == "reject":
        store.move(args.ticket, State.REJECTED, args.actor, reason=args.reason)
        print(f"ticket {args.ticket}: rejected")
        return 0
    workflow = build_workflow(store, settings)
    if workflow is None:
        raise SystemExit("no club backend configured: set ACEDESK_CLUB_API_URL and ACEDESK_CLUB_API_TOKEN")
    try:
        workflow.approve(args.ticket, args.actor, reply=edited_reply(args.reply), fields=parse_fields(args.field) or None,
                         override_reason=args.override)
    except (ActionProblem, NeedsOverride, TransitionError) as problem:
        print(visible(f"ticket {args.ticket}: not approved: {problem}"), file=sys.stderr)
        return 1
    except ClubApiError as problem:  # the check before approval could not ask the backend
        print(visible(f"ticket {args.ticket}: not approved, the club backend did not answer the check (try again): "
                      f"{problem}"), file=sys.stderr)
        return 1
    state = workflow.execute(args.ticket, args.actor)
    reason = store.ticket(args.ticket).failure_reason
    print(visible(f"ticket {args.ticket}: {state}" + (f" ({reason})" if reason else "")))
    return 0 if state == "replied" else 1


def _public(ticket: Ticket) -> dict:
    return asdict(ticket) | {"body": ticket.body[:2000]}


if __name__ == "__main__":
    raise SystemExit(main())
