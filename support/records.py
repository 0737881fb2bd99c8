"""What the ticket store holds, as typed records: a ticket, its backend action, its reply and
its audit trail. The store builds them from rows; everything above the store reads them."""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields

from support.states import State

log = logging.getLogger(__name__)

UNREADABLE_FLAGS = "the ticket's stored flags could not be read: a person must check it"
"""The flag a ticket shows in place of a flags column that is not a list of texts (a damaged
row): never read as "no flags", which would let it pass as clean."""


class UnreadableRow(ValueError):
    """A stored row this version cannot turn into its record: a state it does not know (written
    by a newer version that was rolled back, or by hand). Lists leave the row out with a warning;
    asking for the ticket itself raises this, naming the row."""


@dataclass(frozen=True)
class Ticket:
    """One mail and everything decided about it."""

    id: int
    mailbox: str
    uid: str
    state: State
    message_id: str | None = None
    uidvalidity: str = ""
    sender: str = ""
    """The From header as written (display name and address)."""
    subject: str = ""
    body: str = ""
    """The mail's text; empty in lists of tickets (``TicketStore.ticket_page``), which leave it out."""
    mail_date: str | None = None
    """The Date header, ISO 8601 (with its offset), or None when the mail had none it could read."""
    machine_mail: str | None = None
    """Why the mail is from a machine (never answered), or None."""
    triage: dict | None = None
    """The model's TriageResult as a dict, or None before triage."""
    edits: dict | None = None
    """The operator's approved edits: ``{"fields": {...}, "reply": "..."}``."""
    flags: tuple[str, ...] = ()
    """Why a person must look, in words."""
    quarantine_reason: str | None = None
    failure_reason: str | None = None
    override_reason: str | None = None
    reply_to: str | None = None
    """The Reply-To address, when the mail had one."""
    sender_auth: dict | None = None
    """The receiving MX's verdict on the From (integrations/sender_auth.py): status, reason, domain."""
    references_header: str | None = None
    created_at: str = ""
    updated_at: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Ticket:
        """The ticket of a row. A JSON column that cannot be read, or is not what it should be, reads
        as absent (logged), so one damaged row spoils only itself; a state this version does not
        know raises UnreadableRow."""
        known = {spec.name for spec in dataclass_fields(cls)}
        data = {key: value for key, value in dict(row).items() if key in known}
        try:
            data["state"] = State(data["state"])
        except ValueError:
            raise UnreadableRow(f"ticket {data.get('id')} cannot be read: its state {data['state']!r} is unknown to "
                                "this version (written by a newer one?)") from None
        for key in ("triage", "edits", "sender_auth"):
            if key in data:
                data[key] = json_dict(data[key], f"ticket {data.get('id')}'s {key}")
        if "flags" in data:
            data["flags"] = tuple(stored_flags(data["flags"], f"ticket {data.get('id')}'s flags"))
        return cls(**data)

    @property
    def fields(self) -> dict:
        """The triage fields with the operator's edits applied (category included)."""
        values = dict(self.triage or {})
        edited = (self.edits or {}).get("fields")
        if isinstance(edited, dict):  # {"fields": null} (or any other damage) edits nothing
            values.update(edited)
        return values

    @property
    def category(self) -> str | None:
        return self.fields.get("category")

    @property
    def proposed_reply(self) -> str:
        """The reply as it stands: the operator's edit, else the model's proposal."""
        for proposal in ((self.edits or {}).get("reply"), (self.triage or {}).get("response")):
            if proposal and isinstance(proposal, str):
                return proposal
        return ""


@dataclass(frozen=True)
class ActionRecord:
    """One club backend call, stored with its idempotency key before it is made."""

    id: int
    ticket_id: int
    kind: str
    idempotency_key: str
    request: dict
    """The action's parameters."""
    status: str
    """pending, succeeded, refused or unavailable (outcome unknown: retry with the same key)."""
    result: dict | None = None
    created_at: str = ""
    updated_at: str = ""

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ActionRecord:
        data = dict(row)
        data["request"] = json.loads(data["request"])
        data["result"] = json.loads(data["result"]) if data["result"] else None
        return cls(**data)


@dataclass(frozen=True)
class ReplyRecord:
    """The reply as it was (or will be) sent: stored before sending, claimed by one sender."""

    ticket_id: int
    message_id: str
    raw: bytes
    status: str
    """prepared, sending or sent."""
    created_at: str = ""
    sent_at: str | None = None
    answered_flagged: bool = False

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> ReplyRecord:
        data = dict(row)
        data["answered_flagged"] = bool(data["answered_flagged"])
        return cls(**data)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    ticket_id: int | None
    at: str
    actor: str
    event: str
    detail: dict = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AuditEntry:
        return cls(**{**dict(row), "detail": json_dict(row["detail"], f"audit entry {row['id']}'s detail") or {}})


def json_dict(value: str | bytes | None, what: str) -> dict | None:
    """A JSON object stored in a column; None when there is none, or (logged) when it cannot be read
    or is not an object."""
    if not value:
        return None
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        log.warning("%s is not readable JSON; read as absent: %.80r", what, value)
        return None
    if not isinstance(parsed, dict):
        log.warning("%s is not a JSON object; read as absent: %.80r", what, value)
        return None
    return parsed


def json_list(value: str | bytes | None, what: str) -> list[str] | None:
    """A JSON list of texts stored in a column ([] when there is none); None (logged) when it cannot
    be read or is not a list."""
    if not value:
        return []
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        parsed = None
    if not isinstance(parsed, list):
        log.warning("%s is not a readable JSON list: %.80r", what, value)
        return None
    return [item if isinstance(item, str) else json.dumps(item, ensure_ascii=False) for item in parsed]


def stored_flags(value: str | bytes | None, what: str) -> list[str]:
    """A flags column: its texts, or UNREADABLE_FLAGS alone when it cannot be read (never none)."""
    flags = json_list(value, what)
    return [UNREADABLE_FLAGS] if flags is None else flags
