"""The inbox's table, without streamlit: a view (a group of states) and categories filter,
newest first, one page at a time (SQL LIMIT/OFFSET on indexed columns, so a page costs the same
with fifty tickets or fifty thousand), each ticket as a row of plain values.

Every value shown comes from the store as it is: any date, any length, any Unicode.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import TYPE_CHECKING

import pandas as pd
from confusable_homoglyphs import categories

from core.text import code_points_shown
from integrations.sender_auth import FROM_ALSO_SHOWS_ANOTHER_ADDRESS, NAME_SHOWS_ANOTHER_ADDRESS
from support.actions import ACCOUNT_CATEGORIES, SENDER_MISMATCH, action_kind
from support.outcome_replies import unconfirmed_values
from support.records import ActionRecord, Ticket
from support.safety import REASON_PREFIX
from support.states import State
from support.store import TicketStore
from support.triage import ALSO_ASKS
from support.trust import SENDER_NOT_AUTHENTICATED

if TYPE_CHECKING:
    from ui.inbox_session import Draft

INJECTION = REASON_PREFIX
OPEN_STATES = (State.RECEIVED, State.TRIAGED, State.NEEDS_REVIEW, State.FAILED, State.APPROVED, State.EXECUTING,
               State.EXECUTED)
VIEWS: dict[str, tuple[State, ...]] = {
    "To do": OPEN_STATES,
    "Ready": (State.TRIAGED,),
    "Needs review": (State.NEEDS_REVIEW,),
    "Failed": (State.FAILED,),
    "Quarantine": (State.QUARANTINED,),
    "Done": (State.REPLIED, State.REJECTED),
    "All": (),
}
"""The table's views: each a group of states (the state filter). "All" filters nothing."""
APPROVABLE = (State.TRIAGED, State.NEEDS_REVIEW, State.FAILED)
PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = 50


@dataclass(frozen=True)
class InboxQuery:
    view: str = "To do"
    categories: tuple[str, ...] = ()
    pinned: tuple[int, ...] = ()
    """Tickets decided in this session: they stay on screen with their outcome, whatever the view."""
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE


@dataclass(frozen=True)
class InboxRow:
    id: int
    received: str
    sender: str
    subject: str
    category: str | None
    confidence: float | None
    username: str | None
    booking_id: str | None
    state: str
    flags: list[str]
    reply: str
    note: str


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    total: int
    page: int
    pages: int


_LETTERS = re.compile(r"[^\W\d_]+")
_ANY_SCRIPT = {"LATIN", "COMMON", "INHERITED"}  # letters such as ª belong to no one script
_script = functools.cache(categories.alias)


def as_seen(text: str) -> str:
    """Text from a mail as the operator must read it to tell it apart from what it imitates: a
    character that draws nothing or turns the line around is shown as its code point (``tk_2009``
    + U+200B reads ``tk_2009⟨U+200B⟩``; U+202E no longer makes ``moc.elpmaxe@anna`` read as an
    address), and a letter of another script inside a Latin word is named (the Cyrillic ``а`` in
    ``аnna`` reads ``⟨Cyrillic а⟩nna``). A word wholly in one script is left alone: names and
    subjects come in every language."""
    characters = set(text)
    text = code_points_shown(text)
    foreign = {char for char in characters if char.isalpha() and _script(char) not in _ANY_SCRIPT}
    if not foreign or not any(char.isalpha() and _script(char) == "LATIN" for char in characters):
        return text
    return _LETTERS.sub(functools.partial(_mixed_scripts_named, foreign=foreign), text)


def _mixed_scripts_named(match: re.Match, foreign: set[str]) -> str:
    word = match.group(0)
    if word.isascii() or foreign.isdisjoint(word) or not any(_script(char) == "LATIN" for char in word):
        return word
    return "".join(f"⟨{_script(char).title()} {char}⟩" if char in foreign else char for char in word)


def page_count(store: TicketStore, query: InboxQuery) -> int:
    return max(1, math.ceil(store.count_tickets(**_where(query)) / query.page_size))


def load_page(store: TicketStore, query: InboxQuery) -> InboxPage:
    """The rows of one page (clamped to the last page when the list shrank)."""
    total = store.count_tickets(**_where(query))
    pages = max(1, math.ceil(total / query.page_size))
    page = min(max(1, query.page), pages)
    tickets = store.ticket_page(**_where(query), limit=query.page_size, offset=(page - 1) * query.page_size)
    ids = [ticket.id for ticket in tickets]
    actions = store.latest_actions(ids)
    rejections = store.rejection_reasons([t.id for t in tickets if t.state == State.REJECTED])
    rows = [inbox_row(t, actions.get(t.id), rejections.get(t.id)) for t in tickets]
    return InboxPage(rows, total, page, pages)


def _where(query: InboxQuery) -> dict:
    return {"states": VIEWS[query.view], "categories": query.categories, "pinned": query.pinned}


def range_text(page: InboxPage, page_size: int) -> str:
    """Which tickets the page shows, e.g. "51–100 of 1200 tickets, newest first"."""
    if not page.rows:
        return ""
    first = (page.page - 1) * page_size + 1
    return (f"{first}–{first + len(page.rows) - 1} of {page.total} ticket{'s' if page.total != 1 else ''}, "
            "newest first")


def view_counts(store: TicketStore) -> dict[str, int]:
    counts = store.state_counts()
    return {view: sum(counts.get(state, 0) for state in states) if states else sum(counts.values())
            for view, states in VIEWS.items()}


def inbox_row(ticket: Ticket, action: ActionRecord | None = None, rejection: str | None = None) -> InboxRow:
    fields = ticket.fields
    triage = ticket.triage or {}
    return InboxRow(
        id=ticket.id, received=received_text(ticket), sender=as_seen(sender_text(ticket)),
        subject=as_seen(ticket.subject), category=fields.get("category"), confidence=triage.get("confidence"),
        username=_field_as_seen(fields.get("username")), booking_id=_field_as_seen(fields.get("booking_id")),
        state=ticket.state, flags=flag_labels(ticket), reply=ticket.proposed_reply,
        note=as_seen(row_note(ticket, action, rejection)))


def _field_as_seen(value: str | None) -> str | None:
    return None if value is None else as_seen(str(value))


def received_text(ticket: Ticket) -> str:
    """When the mail was written (when it arrived, if it has no date), in the server's time zone:
    mails from several zones then read in one order. A date no clock can convert (a forged
    ``31 Dec 9999 -1200``) is shown as written."""
    try:
        stamp = datetime.fromisoformat(ticket.mail_date or ticket.created_at)
        return f"{stamp.astimezone() if stamp.tzinfo else stamp:%d %b %H:%M}"
    except (ValueError, OverflowError, OSError):
        return f"{ticket.mail_date or ticket.created_at}"[:16]


def sender_text(ticket: Ticket) -> str:
    """The full From (a name alone can be anyone's), and a Reply-To that points elsewhere."""
    elsewhere = ticket.reply_to and parseaddr(ticket.reply_to)[1].lower() != parseaddr(ticket.sender)[1].lower()
    return ticket.sender + (f" · Reply-To {ticket.reply_to}" if elsewhere else "")


def sender_name(sender: str) -> str:
    name, address = parseaddr(sender)
    return name or address or sender


def flag_labels(ticket: Ticket) -> list[str]:
    """Short labels for the table; the full reasons are in the note and the ticket's detail."""
    flags = ticket.flags
    labels = []
    if ticket.state == State.QUARANTINED:
        labels.append("quarantined")
    if ticket.state == State.NEEDS_REVIEW:
        labels.append("needs review")
    if any(flag.startswith(SENDER_MISMATCH) for flag in flags):
        labels.append("sender ≠ account")
    if any(flag.startswith(SENDER_NOT_AUTHENTICATED) for flag in flags):
        labels.append("sender not authenticated")
    elif (ticket.sender_auth or {}).get("status") == "off" and ticket.category in ACCOUNT_CATEGORIES:
        labels.append("sender unverified")
    if any(flag.startswith((NAME_SHOWS_ANOTHER_ADDRESS, FROM_ALSO_SHOWS_ANOTHER_ADDRESS)) for flag in flags):
        labels.append("From misleads")
    if ticket.machine_mail:
        labels.append("machine mail")
    if any(flag.startswith(INJECTION) for flag in flags):
        labels.append("possible injection")
    if any(flag.startswith(ALSO_ASKS) for flag in flags):
        labels.append("two requests")
    return labels


def row_note(ticket: Ticket, action: ActionRecord | None, rejection: str | None = None) -> str:
    """Where the ticket stands, in plain words: the outcome, or what stops it and what to do."""
    state = ticket.state
    if state == State.QUARANTINED:
        return f"{ticket.quarantine_reason or 'the mail could not be read'}: reject it"
    if state == State.FAILED:
        return f"{ticket.failure_reason or 'failed'}. Approve it again to retry, or reject it"
    if state == State.REJECTED:
        return f"rejected: {rejection}" if rejection else "rejected"
    if state == State.REPLIED:
        return f"replied · {action_outcome(action)}"
    if state in (State.APPROVED, State.EXECUTING, State.EXECUTED):
        return f"{state}: being finished (the worker resumes it if this stops)"
    if state == State.RECEIVED:
        return "waiting for the model"
    if ticket.machine_mail:
        return f"machine mail ({ticket.machine_mail}): never answered, reject it"
    return "; ".join(ticket.flags)


def action_outcome(action: ActionRecord | None) -> str:
    """What the club backend did, from the stored action, and why the member's reply left out what it
    answered, if it did (they got the general sentence)."""
    if action is None:
        return "no club action, reply only"
    result = action.result or {}
    if action.status == "refused":
        return f"the club refused: {result.get('message') or result.get('code')}"
    if action.status != "succeeded":
        return f"{action.kind}: {action.status}"
    done = action_kind(action.kind).success_text(result)
    left_out = unconfirmed_values(action.request, action.kind, action.result)
    return f"{done}; {left_out}" if left_out else done


def ticket_label(ticket: Ticket) -> str:
    return f"#{ticket.id} · {as_seen(sender_name(ticket.sender))} · {as_seen(ticket.subject) or '(no subject)'}"


# -- drafts: the operator's edits before a decision -----------------------------------------
TABLE_COLUMNS = ("Select", "Received", "From", "Subject", "Category", "Confidence", "Booking", "Username", "Flags",
                 "Reply", "State", "Note")
EDITABLE_COLUMNS = ("Select", "Reply")


def table_frame(rows: Sequence[InboxRow], drafts: dict[int, Draft], selected: Iterable[int]) -> pd.DataFrame:
    """The table as the editor shows it: the ticket id as the index, drafts applied."""
    selected = set(selected)
    records = [{
        "Select": row.id in selected, "Received": row.received, "From": row.sender, "Subject": row.subject,
        "Category": row.category, "Confidence": _percent(row.confidence), "Username": row.username,
        "Booking": row.booking_id, "State": row.state, "Flags": row.flags,
        "Reply": _draft_reply(drafts.get(row.id), row.reply), "Note": row.note,
    } for row in rows]
    frame = pd.DataFrame.from_records(records, index=pd.Index([row.id for row in rows], name="#"),
                                      columns=list(TABLE_COLUMNS))
    return frame.astype({"Select": bool, "Confidence": "Int64"})


def _percent(confidence: float | None) -> int | None:
    return None if confidence is None else round(confidence * 100)


def _draft_reply(draft: Draft | None, proposed: str) -> str:
    return draft.reply if draft is not None and draft.reply is not None else proposed


def grid_changes(shown: pd.DataFrame, edited: pd.DataFrame, proposed: dict[int, str]) -> tuple[set[int], dict]:
    """From the table as shown and as edited: the selected ticket ids and each ticket's reply
    draft (None where the reply is back to the proposal)."""
    selected = {int(ticket_id) for ticket_id in edited.index[edited["Select"].fillna(False).astype(bool)]}
    replies = {int(ticket_id): (None if text == proposed[int(ticket_id)] else text)
               for ticket_id, text in edited["Reply"].items() if text != shown.at[ticket_id, "Reply"]}
    return selected, replies


