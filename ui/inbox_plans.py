"""Deciding tickets, without streamlit: the exact club API call and reply an approval will make,
shown before anything runs (``plan_approval``); ``approve_and_send`` then runs only what was
shown. Rejections and re-triage, and every outcome in plain words."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

from core.processes import shown_name
from integrations.club_api import ClubApiError, ClubRequest
from integrations.mail_parsing import MailParseError, parse_eml
from support.actions import Action
from support.records import AuditEntry, ReplyRecord, Ticket
from support.states import State, TransitionError
from support.store import TicketStore
from support.workflow import NeedsOverride, Shown, Workflow, approval_edits
from ui.inbox_rows import APPROVABLE, as_seen, row_note, ticket_label
from ui.inbox_session import Draft

REJECT_REASONS = ("not a request the club handles", "machine mail (auto-reply, bounce, newsletter)",
                  "spam or phishing", "duplicate of another ticket", "answered outside AceDesk")


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
    """The reply's recipient: for an account action, the member's address on file."""
    reply_text: str = ""
    """The reply as it goes out if the club does as asked (support/outcome_replies.py builds both)."""
    reply_note: str = ""
    notes: tuple[str, ...] = ()
    """What else the operator should know before confirming (an earlier attempt, sender unverified)."""
    override_reason: str = ""
    draft: Draft = field(default_factory=Draft)
    """The draft this plan was built from: confirming runs it, never one edited after it was shown."""

    @property
    def call(self) -> ClubRequest | None:
        """The request the approval sends: the same object the workflow sends."""
        return self.action.request if self.action else None

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
    plan = Plan(ticket_id, ticket_label(ticket), review=ticket.flags,
                reply_to=ticket.reply_to or ticket.sender, override_reason=draft.override_reason, draft=draft)
    if ticket.state not in APPROVABLE:
        return replace(plan, problem=f"it is {ticket.state}: there is nothing to approve")
    if draft.reply is not None and not draft.reply.strip():
        return replace(plan, problem="the edited reply is empty: write one, or undo the edit")
    edits = approval_edits(ticket, draft.reply, draft.fields)
    try:
        check = workflow.check(ticket_id, edits)
        reply_text = workflow.reply_preview(ticket_id, edits, check)
    except ValueError as problem:  # ActionProblem, or a field that cannot be read (a date like 2026-13-01)
        return replace(plan, problem=f"{problem}. Fix the fields in the ticket's detail, or reject it")
    except ClubApiError as error:
        return replace(plan, problem=f"the club backend could not check it ({error}). Try again in a moment")
    return replace(plan, action=check.action, flags=tuple(check.flags), blocking=tuple(check.blocking),
                   reply_to=check.recipient, reply_text=reply_text, reply_note=_reply_note("reply" in edits, check.action),
                   notes=tuple(workflow.approval_notes(ticket_id, check, edits)))


def _reply_note(reply_edited: bool, action: Action | None) -> str:
    """Which text the member gets (support/outcome_replies.py decides it from the outcome)."""
    if reply_edited:
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
    """Approve, call the backend, send the reply: exactly the plan's call, reply and override
    reason, or nothing. ``draft``: the ticket's draft now, which an edit after the plan was shown
    (a reply cell, Save draft) may have changed."""
    ticket_id = plan.ticket_id
    if (draft or Draft()) != plan.draft:
        return Outcome(ticket_id, "error", f"#{ticket_id} not approved: it was edited after the confirmation was "
                                           "shown. Approve it again to see the new one")
    shown = Shown(plan.action, plan.reply_to, plan.reply_text)
    try:
        workflow.approve(ticket_id, actor, reply=plan.draft.reply, fields=plan.draft.fields or None,
                         override_reason=plan.draft.override_reason or None, shown=shown)
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
    if ticket.state == State.REPLIED:
        level = "warning" if action and action.status == "refused" else "success"
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
    if ticket.state == State.RECEIVED:
        return Outcome(ticket_id, "warning", f"#{ticket_id} waits for the model: fetch new mail to triage it")
    triage = ticket.triage or {}
    text = f"#{ticket_id} triaged again: {triage.get('category')} ({triage.get('confidence') or 0:.0%})"
    if ticket.flags:
        return Outcome(ticket_id, "warning", f"{text}; needs review: {'; '.join(ticket.flags)}")
    return Outcome(ticket_id, "success", text)



def attachments(ticket: Ticket) -> list[str] | None:
    """The attachments' names, read again from the mail folder; None where AceDesk cannot see
    them (IMAP: the store keeps the text, not the files)."""
    if not ticket.mailbox.startswith("eml:"):
        return None
    path = Path(ticket.mailbox.removeprefix("eml:")) / ticket.uid
    try:
        return parse_eml(path.read_bytes()).attachments
    except (OSError, MailParseError):
        return None


def reply_text(reply: ReplyRecord) -> str:
    """The text of a stored reply (as sent, or as it will be sent)."""
    message = message_from_bytes(reply.raw, policy=default_policy)
    body = message.get_body(preferencelist=("plain",))
    return body.get_content() if body is not None else ""


def audit_rows(entries: list[AuditEntry]) -> list[dict]:
    return [{"at": entry.at, "who": shown_name(entry.actor), "what": entry.event,
             "detail": as_seen(json.dumps(_shown_detail(entry.detail), ensure_ascii=False)) if entry.detail else ""}
            for entry in entries]


def _shown_detail(detail: dict) -> dict:
    """A taken-over ticket names the process it was taken ``from`` as the "who" column names one."""
    if isinstance(detail.get("from"), str):
        return {**detail, "from": shown_name(detail["from"])}
    return detail


