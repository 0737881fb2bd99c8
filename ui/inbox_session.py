"""One operator's work in progress, without streamlit: drafts (what they typed before deciding,
kept per ticket id and in the store, so a reload or a closed tab loses nothing), the selection,
the confirmation panel that is open, and the outcomes of the last decisions."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from model.schema import FIELDS
from support.records import Ticket
from support.store import TicketStore
from ui.inbox_rows import APPROVABLE

if TYPE_CHECKING:
    from integrations.connections import Connection
    from ui.inbox_plans import Outcome, Plan


@dataclass(frozen=True)
class Draft:
    reply: str | None = None
    """None: the reply as proposed."""
    fields: dict = field(default_factory=dict)
    """Changed triage fields only (category included)."""
    override_reason: str = ""


def with_reply(draft: Draft | None, reply: str | None) -> Draft:
    return replace(draft or Draft(), reply=reply)


def saved_drafts(store: TicketStore) -> dict[int, Draft]:
    """The drafts a reload or a closed tab left behind, for tickets still awaiting a decision."""
    return {ticket_id: Draft(**draft) for ticket_id, draft in store.drafts(APPROVABLE).items()}


def keep_drafts(store: TicketStore, session: OperatorSession) -> None:
    """Write the session's changed drafts to the store (an empty or decided one is removed)."""
    for ticket_id in sorted(session.unsaved_drafts):
        draft = session.drafts.get(ticket_id)
        store.put_draft(ticket_id, asdict(draft) if draft and draft != Draft() else None)
    session.unsaved_drafts.clear()


def field_changes(ticket: Ticket, values: dict) -> dict:
    """The fields the operator changed (empty text = no value), against the model's answer."""
    triage = ticket.triage or {}
    changed = {}
    for name in ("category", *FIELDS):
        value = (values.get(name) or "").strip() or None
        if value != (triage.get(name) or None):
            changed[name] = value
    return changed


@dataclass
class OperatorSession:
    """One operator's work in progress (kept in the page's session state, never shared)."""

    drafts: dict[int, Draft] = field(default_factory=dict)
    selected: set[int] = field(default_factory=set)
    table_version: int = 0
    """Changes when the table must start afresh from the drafts (not after the table's own edits)."""
    drafts_version: int = 0
    """Changes with every draft: the detail view's fields start afresh from it."""
    plans: list[Plan] = field(default_factory=list)
    """Approvals shown and waiting for the operator's confirmation."""
    rejecting: tuple[int, ...] = ()
    """Tickets whose rejection waits for a reason and a confirmation."""
    panel_from: str = ""
    """"table" or "detail": where the confirmation is shown."""
    confirmed: bool = False
    """The open panel was confirmed: the next run carries it out."""
    panel_error: str = ""
    outcomes: list[Outcome] = field(default_factory=list)
    pinned: tuple[int, ...] = ()
    probes: dict[str, Connection] = field(default_factory=dict)
    """Connections as the last "Check connections" found them."""
    last_auto_fetch: float = 0.0
    auto_fetch_note: str = ""

    unsaved_drafts: set[int] = field(default_factory=set)
    """Tickets whose draft changed since ``keep_drafts`` last wrote them to the store."""
    table_base: tuple[str, frozenset[int], dict[int, Draft]] = ("", frozenset(), {})
    """The rows on screen (as ``table_data`` names them), and the selection and drafts the table
    has drawn them with since their first run."""

    def table_data(self, rows: str) -> tuple[frozenset[int], dict[int, Draft]]:
        """The selection and drafts to draw the table's ``rows`` with. The editor keeps the
        operator's ticks and edits on top of its data; data that changed under it would make the
        browser drop them and ask for a rerun of its own, which can overtake a click in flight
        and swallow it (an Approve that does nothing on a loaded machine). So the same rows are
        drawn with the same selection and drafts, taken after their first run."""
        if self.table_base[0] == rows:
            return self.table_base[1], self.table_base[2]
        return frozenset(self.selected), dict(self.drafts)

    def take_table_edits(self, rows: str, selected: set[int], replies: dict[int, str | None]) -> None:
        """The ticks and the replies that changed since the last run, read from the table of ``rows``."""
        self.selected = selected
        for ticket_id, reply in replies.items():
            self.drafts[ticket_id] = with_reply(self.drafts.get(ticket_id), reply)
        if replies:
            self.drafts_version += 1
            self.unsaved_drafts.update(replies)
        if self.table_base[0] != rows:  # their first run: later runs draw them as they are now
            self.table_base = (rows, frozenset(self.selected), dict(self.drafts))

    def save_draft(self, ticket_id: int, draft: Draft) -> None:
        self.drafts[ticket_id] = draft
        self.drafts_version += 1
        self.table_version += 1
        self.unsaved_drafts.add(ticket_id)

    def decided(self, outcomes: list[Outcome]) -> None:
        """After approvals, rejections or re-triage: the tickets stay on screen with their outcome;
        what was done leaves the selection and the drafts."""
        self.outcomes = outcomes
        done = {outcome.ticket_id for outcome in outcomes if outcome.level != "error"}
        touched = [outcome.ticket_id for outcome in outcomes if outcome.ticket_id is not None]
        self.pinned = tuple(dict.fromkeys([*self.pinned, *touched]))
        self.selected -= done
        for ticket_id in done:
            self.drafts.pop(ticket_id, None)
        self.unsaved_drafts |= done
        self.close_panel()
        self.table_version += 1
        self.drafts_version += 1

    def dismiss_outcomes(self) -> None:
        self.outcomes = []

    def confirm(self) -> None:
        self.confirmed, self.panel_error = True, ""

    def close_panel(self) -> None:
        self.plans, self.rejecting, self.panel_from = [], (), ""
        self.confirmed, self.panel_error = False, ""

    def new_filter(self) -> None:
        """Another view or category: what was pinned there is not pinned here."""
        self.pinned = ()


