"""The operator's inbox, without streamlit: what pages/inbox.py shows and what its buttons do.

- **Pages of tickets** as table rows (``load_page``): a view (a group of states) and
  categories filter, newest first, SQL LIMIT/OFFSET on indexed columns, so a page costs the
  same with fifty tickets or fifty thousand.
- **Drafts**: what the operator typed (reply, fields, override reason) before deciding, kept
  per ticket id so a page change or new mail never moves an edit to another ticket.
- **Plans**: the exact club API call an approval will make (``plan_approval``), shown before
  anything runs; ``approve_and_send`` runs only what was shown.
- **Outcomes** in plain words: what the backend did, or why nothing happened and what to do.
- **Fetching and triage** with progress, and the state of the connections (never a secret).
"""

from __future__ import annotations

import json
import math
import smtplib
import ssl
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from email import message_from_bytes
from email.policy import default as default_policy
from email.utils import parseaddr
from pathlib import Path

import pandas as pd

from integrations.club_api import ClubApi, ClubApiError
from integrations.imap_mailbox import ImapMailbox, ImapSettings, ImapUnavailable
from integrations.mail_parsing import MailParseError, parse_eml
from integrations.mail_sending import SmtpSettings
from model.prompt import Email
from model.schema import FIELDS
from support.actions import SENDER_MISMATCH, Action, ticket_fields
from support.settings import DeskSettings
from support.states import State, TransitionError
from support.store import TicketStore
from support.worker import backend_flags, fetch_eml_dir, fetch_imap, review_flags
from support.workflow import NEEDS_OVERRIDE, NeedsOverride, Workflow

INJECTION = "mail tries to instruct the system"
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
REJECT_REASONS = ("not a request the club handles", "machine mail (auto-reply, bounce, newsletter)",
                  "spam or phishing", "duplicate of another ticket", "answered outside AceDesk")


# -- a page of the table ----------------------------------------------------------------------

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


def page_count(store: TicketStore, query: InboxQuery) -> int:
    return max(1, math.ceil(store.count_tickets(**_where(query)) / query.page_size))


def load_page(store: TicketStore, query: InboxQuery) -> InboxPage:
    """The rows of one page (clamped to the last page when the list shrank)."""
    total = store.count_tickets(**_where(query))
    pages = max(1, math.ceil(total / query.page_size))
    page = min(max(1, query.page), pages)
    tickets = store.ticket_page(**_where(query), limit=query.page_size, offset=(page - 1) * query.page_size)
    ids = [ticket["id"] for ticket in tickets]
    actions = store.latest_actions(ids)
    rejections = store.rejection_reasons([t["id"] for t in tickets if t["state"] == State.REJECTED])
    rows = [inbox_row(t, actions.get(t["id"]), rejections.get(t["id"])) for t in tickets]
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


def inbox_row(ticket: dict, action: dict | None = None, rejection: str | None = None) -> InboxRow:
    fields = ticket_fields(ticket)
    triage = ticket["triage"] or {}
    return InboxRow(
        id=ticket["id"], received=received_text(ticket), sender=sender_name(ticket["sender"]),
        subject=ticket["subject"], category=fields.get("category"), confidence=triage.get("confidence"),
        username=fields.get("username"), booking_id=fields.get("booking_id"), state=ticket["state"],
        flags=flag_labels(ticket), reply=proposed_reply(ticket), note=row_note(ticket, action, rejection))


def received_text(ticket: dict) -> str:
    """When the mail was written (when it arrived, if it has no date), in the server's time zone:
    mails from several zones then read in one order."""
    stamp = datetime.fromisoformat(ticket["mail_date"] or ticket["created_at"])
    return f"{stamp.astimezone() if stamp.tzinfo else stamp:%d %b %H:%M}"


def sender_name(sender: str) -> str:
    name, address = parseaddr(sender)
    return name or address or sender


def proposed_reply(ticket: dict) -> str:
    return (ticket["edits"] or {}).get("reply") or (ticket["triage"] or {}).get("response") or ""


def flag_labels(ticket: dict) -> list[str]:
    """Short labels for the table; the full reasons are in the note and the ticket's detail."""
    flags = ticket["flags"]
    labels = []
    if ticket["state"] == State.QUARANTINED:
        labels.append("quarantined")
    if ticket["state"] == State.NEEDS_REVIEW:
        labels.append("needs review")
    if any(flag.startswith(SENDER_MISMATCH) for flag in flags):
        labels.append("sender ≠ account")
    if ticket["machine_mail"]:
        labels.append("machine mail")
    if any(flag.startswith(INJECTION) for flag in flags):
        labels.append("possible injection")
    return labels


def row_note(ticket: dict, action: dict | None, rejection: str | None = None) -> str:
    """Where the ticket stands, in plain words: the outcome, or what stops it and what to do."""
    state = ticket["state"]
    if state == State.QUARANTINED:
        return f"{ticket['quarantine_reason'] or 'the mail could not be read'}: reject it"
    if state == State.FAILED:
        return f"{ticket['failure_reason'] or 'failed'}. Approve it again to retry, or reject it"
    if state == State.REJECTED:
        return f"rejected: {rejection}" if rejection else "rejected"
    if state == State.REPLIED:
        return f"replied · {action_outcome(action)}"
    if state in (State.APPROVED, State.EXECUTING, State.EXECUTED):
        return f"{state}: being finished (the worker resumes it if this stops)"
    if state == State.RECEIVED:
        return "waiting for the model"
    if ticket["machine_mail"]:
        return f"machine mail ({ticket['machine_mail']}): never answered, reject it"
    return "; ".join(ticket["flags"])


def action_outcome(action: dict | None) -> str:
    """What the club backend did, from the stored action."""
    if action is None:
        return "no club action, reply only"
    result = action["result"] or {}
    if action["status"] == "refused":
        return f"the club refused: {result.get('message') or result.get('code')}"
    if action["status"] != "succeeded":
        return f"{action['kind']}: {action['status']}"
    return success_text(action["kind"], result)


def success_text(kind: str, result: dict) -> str:
    if kind == "invite_member":
        return f"invitation for {result.get('member', {}).get('username')} sent to {result.get('sent_to')}"
    if kind == "password_reset":
        return f"reset link sent to {result.get('sent_to')}"
    if kind == "cancel_booking":
        return f"{result.get('booking_id')} cancelled"
    start = str(result.get("start", ""))[:16].replace("T", " ")
    return f"{result.get('booking_id')} moved to {start}, court {result.get('court')}"


def ticket_label(ticket: dict) -> str:
    return f"#{ticket['id']} · {sender_name(ticket['sender'])} · {ticket['subject'] or '(no subject)'}"


# -- drafts: the operator's edits before a decision -----------------------------------------

@dataclass(frozen=True)
class Draft:
    reply: str | None = None
    """None: the reply as proposed."""
    fields: dict = field(default_factory=dict)
    """Changed triage fields only (category included)."""
    override_reason: str = ""

    def check_edits(self) -> dict:
        """The edits as Workflow.check reads them."""
        return {"fields": self.fields} if self.fields else {}


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


def field_changes(ticket: dict, values: dict) -> dict:
    """The fields the operator changed (empty text = no value), against the model's answer."""
    triage = ticket["triage"] or {}
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

    def take_table_edits(self, selected: set[int], replies: dict[int, str | None]) -> None:
        self.selected = selected
        for ticket_id, reply in replies.items():
            self.drafts[ticket_id] = with_reply(self.drafts.get(ticket_id), reply)
        if replies:
            self.drafts_version += 1
            self.unsaved_drafts.update(replies)

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


# -- plans: the call an approval makes, shown before it runs ---------------------------------

@dataclass(frozen=True)
class ApiCall:
    method: str
    path: str
    body: dict | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def request_text(self, base_url: str) -> str:
        """The request as it goes out (the Idempotency-Key is made and stored at approval)."""
        lines = [f"{self.method} {base_url.rstrip('/')}{self.path}", "Idempotency-Key: <new, stored before the call>"]
        if self.body is not None:
            lines += ["", json.dumps(self.body, indent=2, ensure_ascii=False)]
        return "\n".join(lines)


def api_call(action: Action) -> ApiCall:
    """The club API request an action becomes (integrations/club_api.py, club_backend/openapi.json)."""
    params = action.params
    if action.kind == "invite_member":
        return ApiCall("POST", "/members/invitations",
                       {"username": params["username"], "name": params["name"], "email": params["email"]})
    if action.kind == "password_reset":
        return ApiCall("POST", f"/members/{params['username']}/password-reset")
    if action.kind == "cancel_booking":
        return ApiCall("POST", f"/bookings/{params['booking_id']}/cancel")
    body = {"start": params["start"]}
    if params.get("court") is not None:
        body["court"] = params["court"]
    return ApiCall("POST", f"/bookings/{params['booking_id']}/move", body)


@dataclass(frozen=True)
class Plan:
    ticket_id: int
    label: str
    action: Action | None = None
    flags: tuple[str, ...] = ()
    blocking: tuple[str, ...] = ()
    """Flags that need an override with a reason."""
    problem: str | None = None
    """Why it cannot be approved as it stands; nothing runs."""
    review: tuple[str, ...] = ()
    """Why the ticket was flagged for review (model, backend check)."""
    reply_to: str = ""
    reply_note: str = ""
    override_reason: str = ""

    @property
    def call(self) -> ApiCall | None:
        return api_call(self.action) if self.action else None

    @property
    def ready(self) -> bool:
        return self.problem is None and (not self.blocking or bool(self.override_reason.strip()))

    @property
    def hold_reason(self) -> str | None:
        """Why this one will not run, with what to do; None when ready."""
        if self.problem:
            return self.problem
        if not self.ready:
            return (f"{'; '.join(self.blocking)}. Open the ticket and give an override reason to approve it "
                    "anyway, or reject it")
        return None


def plan_approval(workflow: Workflow, store: TicketStore, ticket_id: int, draft: Draft | None) -> Plan:
    """What approving the ticket with the draft will do, checked against the backend now."""
    draft = draft or Draft()
    ticket = store.ticket(ticket_id)
    plan = Plan(ticket_id, ticket_label(ticket), review=tuple(ticket["flags"]),
                reply_to=ticket["reply_to"] or ticket["sender"], override_reason=draft.override_reason)
    if ticket["state"] not in APPROVABLE:
        return replace(plan, problem=f"it is {ticket['state']}: there is nothing to approve")
    if draft.reply is not None and not draft.reply.strip():
        return replace(plan, problem="the edited reply is empty: write one, or undo the edit")
    try:
        action, flags = workflow.check(ticket_id, draft.check_edits())
    except ValueError as problem:  # ActionProblem, or a field that cannot be read (a date like 2026-13-01)
        return replace(plan, problem=f"{problem}. Fix the fields in the ticket's detail, or reject it")
    except ClubApiError as error:
        return replace(plan, problem=f"the club backend could not check it ({error}). Try again in a moment")
    blocking = tuple(flag for flag in flags if flag.startswith(NEEDS_OVERRIDE))
    return replace(plan, action=action, flags=tuple(flags), blocking=blocking,
                   reply_note=_reply_note(draft, action))


def _reply_note(draft: Draft, action: Action | None) -> str:
    """Which text the member gets (support/outcome_replies.py decides it from the outcome)."""
    if draft.reply is not None:
        return "your edited reply" + (" (if the club refuses, a kind explanation instead)" if action else "")
    if action is None:
        return "the proposed reply, as shown"
    return "the club's reply, filled in with what the backend confirms (or a kind explanation if it refuses)"


@dataclass(frozen=True)
class Outcome:
    ticket_id: int | None
    """None: about no one ticket (e.g. the model did not load)."""
    level: str
    """"success", "warning" (done, but not as asked: e.g. the club refused) or "error" (nothing done)."""
    text: str


def approve_and_send(workflow: Workflow, plan: Plan, draft: Draft | None, actor: str) -> Outcome:
    """Approve, call the backend, send the reply: exactly the plan's call, or nothing."""
    draft = draft or Draft()
    ticket_id = plan.ticket_id
    try:
        action, _ = workflow.check(ticket_id, draft.check_edits())
        if action != plan.action:  # the club's data changed since the preview
            return Outcome(ticket_id, "error", f"#{ticket_id} not approved: the call changed since it was shown. "
                                               "Approve it again to see the new one")
        workflow.approve(ticket_id, actor, reply=draft.reply, fields=draft.fields or None,
                         override_reason=draft.override_reason or None)
    except (ValueError, NeedsOverride) as problem:  # ActionProblem and TransitionError are ValueErrors
        return Outcome(ticket_id, "error", f"#{ticket_id} not approved: {problem}")
    except ClubApiError as error:
        return Outcome(ticket_id, "error", f"#{ticket_id} not approved: the club backend did not answer ({error}). "
                                           "Try again in a moment")
    workflow.execute(ticket_id, actor)
    return outcome_of(workflow.store, ticket_id)


def outcome_of(store: TicketStore, ticket_id: int) -> Outcome:
    ticket, action = store.ticket(ticket_id), store.action(ticket_id)
    note = row_note(ticket, action)
    if ticket["state"] == State.REPLIED:
        level = "warning" if action and action["status"] == "refused" else "success"
        return Outcome(ticket_id, level, f"#{ticket_id} {note}")
    return Outcome(ticket_id, "error", f"#{ticket_id} {note}")


def reject_tickets(store: TicketStore, ticket_ids: Iterable[int], reason: str, actor: str) -> list[Outcome]:
    outcomes = []
    for ticket_id in ticket_ids:
        try:
            store.move(ticket_id, State.REJECTED, actor, reason=reason)
        except TransitionError as error:
            outcomes.append(Outcome(ticket_id, "error", f"#{ticket_id} not rejected: {error}"))
        else:
            outcomes.append(Outcome(ticket_id, "success", f"#{ticket_id} rejected: {reason}"))
    return outcomes


def send_back_to_triage(store: TicketStore, ticket_ids: Iterable[int], actor: str) -> tuple[list[int], list[Outcome]]:
    """Back to received: the ids that went, and why the others did not."""
    moved, refused = [], []
    for ticket_id in ticket_ids:
        try:
            store.retriage(ticket_id, actor)
        except TransitionError as error:
            refused.append(Outcome(ticket_id, "error", f"#{ticket_id} not triaged again: {error}"))
        else:
            moved.append(ticket_id)
    return moved, refused


def retriage_outcome(store: TicketStore, ticket_id: int) -> Outcome:
    ticket = store.ticket(ticket_id)
    if ticket["state"] == State.RECEIVED:
        return Outcome(ticket_id, "warning", f"#{ticket_id} waits for the model: fetch new mail to triage it")
    triage = ticket["triage"] or {}
    text = f"#{ticket_id} triaged again: {triage.get('category')} ({triage.get('confidence') or 0:.0%})"
    if ticket["flags"]:
        return Outcome(ticket_id, "warning", f"{text}; needs review: {'; '.join(ticket['flags'])}")
    return Outcome(ticket_id, "success", text)


# -- fetching and triage ------------------------------------------------------------------------

class NoMailSource(RuntimeError):
    """Neither IMAP nor a mail folder is configured (or the folder is missing)."""


def fetch_new_mail(store: TicketStore, settings: DeskSettings) -> int:
    """New mails stored as tickets, from IMAP when configured, else the .eml folder. Raises
    NoMailSource, or ImapUnavailable when the mailbox does not answer."""
    if settings.imap is not None:
        return fetch_imap(store, settings.imap)
    if settings.eml_dir is None:
        raise NoMailSource("no mail source is configured: set ACEDESK_IMAP_HOST (and the other ACEDESK_IMAP_*) "
                           "or ACEDESK_EML_DIR, then reload the page")
    if not settings.eml_dir.is_dir():
        raise NoMailSource(f"the mail folder {settings.eml_dir} does not exist: create it or fix ACEDESK_EML_DIR")
    return fetch_eml_dir(store, settings.eml_dir)


def triage_tickets(store: TicketStore, triager, workflow: Workflow | None, ticket_ids: Sequence[int],
                   batch_size: int = 4) -> Iterator[int]:
    """Triage received tickets a batch at a time, yielding how many are done (for a progress
    bar). A ticket the worker or another session triaged meanwhile keeps their result."""
    done = 0
    for start in range(0, len(ticket_ids), batch_size):
        tickets = [store.ticket(ticket_id) for ticket_id in ticket_ids[start:start + batch_size]]
        results = triager.triage_many([_email(ticket) for ticket in tickets], batch_size=batch_size)
        for ticket, result in zip(tickets, results, strict=True):
            recorded = store.record_triage_if_received(ticket["id"], result.to_dict(), review_flags(ticket, result))
            if recorded and workflow is not None and not ticket["machine_mail"]:
                store.add_flags(ticket["id"], backend_flags(workflow, ticket["id"]))
        done += len(tickets)
        yield done


def received_ids(store: TicketStore) -> list[int]:
    return [ticket["id"] for ticket in store.tickets(State.RECEIVED)]


def _email(ticket: dict) -> Email:
    date = datetime.fromisoformat(ticket["mail_date"]) if ticket["mail_date"] else None
    return Email(ticket["sender"], ticket["subject"], ticket["body"], date)


# -- a ticket's detail ------------------------------------------------------------------------

def attachments(ticket: dict) -> list[str] | None:
    """The attachments' names, read again from the mail folder; None where AceDesk cannot see
    them (IMAP: the store keeps the text, not the files)."""
    if not ticket["mailbox"].startswith("eml:"):
        return None
    path = Path(ticket["mailbox"].removeprefix("eml:")) / ticket["uid"]
    try:
        return parse_eml(path.read_bytes()).attachments
    except (OSError, MailParseError):
        return None


def reply_text(reply: dict) -> str:
    """The text of a stored reply (as sent, or as it will be sent)."""
    message = message_from_bytes(reply["raw"], policy=default_policy)
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""


def audit_rows(entries: list[dict]) -> list[dict]:
    return [{"at": entry["at"], "who": entry["actor"], "what": entry["event"],
             "detail": json.dumps(entry["detail"], ensure_ascii=False) if entry["detail"] else ""}
            for entry in entries]


# -- connections: where mail comes from and goes, never a secret ------------------------------

@dataclass(frozen=True)
class Connection:
    name: str
    state: str
    """"ok", "down", "unchecked" (configured, not tried yet) or "off" (not configured)."""
    text: str


def backend_connection(settings: DeskSettings) -> Connection:
    """Asks the backend's /health, briefly: a page must not hang on a backend that is away."""
    if not (settings.club_api_url and settings.club_api_token):
        return Connection("Club backend", "off", "not configured: set ACEDESK_CLUB_API_URL and "
                                                 "ACEDESK_CLUB_API_TOKEN. Approving is off until then")
    with ClubApi(settings.club_api_url, settings.club_api_token, timeout=(1, 2), retries=0) as api:
        healthy = api.health()
    if healthy:
        return Connection("Club backend", "ok", settings.club_api_url)
    return Connection("Club backend", "down", f"{settings.club_api_url} does not answer: approvals fail until it "
                                              "does (failed tickets are retried)")


def mail_in_connection(settings: DeskSettings) -> Connection:
    if settings.imap is not None:
        imap = settings.imap
        return Connection("Mail in", "unchecked", f"IMAP {imap.user}@{imap.host}:{imap.port} ({imap.security}), "
                                                  f"folder {imap.folder}")
    if settings.eml_dir is not None:
        state = "ok" if settings.eml_dir.is_dir() else "down"
        return Connection("Mail in", state, f"folder {settings.eml_dir}" + ("" if state == "ok" else " is missing"))
    return Connection("Mail in", "off", "no mail source: set ACEDESK_IMAP_* or ACEDESK_EML_DIR")


def mail_out_connection(settings: DeskSettings) -> Connection:
    if settings.smtp is None:
        return Connection("Mail out", "ok", f"no SMTP configured: replies are saved in {settings.outbox}")
    smtp = settings.smtp
    login = f" as {smtp.user}" if smtp.user else ""
    return Connection("Mail out", "unchecked", f"SMTP {smtp.host}:{smtp.port} ({smtp.security}){login}")


def probe_imap(settings: ImapSettings) -> Connection:
    """Logs in and selects the folder, nothing more."""
    try:
        with ImapMailbox(replace(settings, timeout=5)):
            pass
    except ImapUnavailable as error:
        return Connection("Mail in", "down", str(error))
    return Connection("Mail in", "ok", f"IMAP {settings.user}@{settings.host}:{settings.port}: login works")


def probe_smtp(settings: SmtpSettings) -> Connection:
    """Connects (and logs in, when configured); sends nothing."""
    where = f"SMTP {settings.host}:{settings.port} ({settings.security})"
    try:
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=5, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=5)
        with smtp:
            if settings.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.noop()
    except (smtplib.SMTPException, OSError) as error:
        text = f"{where}: {type(error).__name__}: {error}"
        return Connection("Mail out", "down", text.replace(settings.password, "***") if settings.password else text)
    return Connection("Mail out", "ok", f"{where}: the server answers" + (" and accepts the login"
                                                                          if settings.user else ""))
