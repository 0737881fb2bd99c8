"""What the ticket store holds, as typed records: a ticket, its backend action, its reply and
its audit trail. The store builds them from rows; everything above the store reads them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields

from support.states import State


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
        known = {spec.name for spec in dataclass_fields(cls)}
        data = {key: value for key, value in dict(row).items() if key in known}
        data["state"] = State(data["state"])
        for key in ("triage", "edits", "sender_auth"):
            if key in data:
                data[key] = json.loads(data[key]) if data[key] else None
        data["flags"] = tuple(json.loads(data.get("flags") or "[]"))
        return cls(**data)

    @property
    def fields(self) -> dict:
        """The triage fields with the operator's edits applied (category included)."""
        values = dict(self.triage or {})
        values.update((self.edits or {}).get("fields", {}))
        return values

    @property
    def category(self) -> str | None:
        return self.fields.get("category")

    @property
    def proposed_reply(self) -> str:
        """The reply as it stands: the operator's edit, else the model's proposal."""
        return (self.edits or {}).get("reply") or (self.triage or {}).get("response") or ""


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
        return cls(**{**dict(row), "detail": json.loads(row["detail"])})
