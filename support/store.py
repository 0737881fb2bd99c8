"""SQLite store of tickets, actions and the audit log, in the app's data folder.

The schema is versioned with ``PRAGMA user_version`` and migrated on open. A mail is
known by mailbox + UIDVALIDITY + UID and by its Message-ID, so fetching the same mail twice
never makes two tickets, whatever flags the server has.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from core.mail import MailRef
from support.records import ActionRecord, AuditEntry, ReplyRecord, Ticket
from support.states import State, TransitionError, check_transition

MIGRATIONS = [
    """
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY,
        mailbox TEXT NOT NULL,
        uidvalidity TEXT NOT NULL,
        uid TEXT NOT NULL,
        message_id TEXT UNIQUE,
        sender TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL DEFAULT '',
        mail_date TEXT,
        machine_mail TEXT,
        state TEXT NOT NULL,
        triage TEXT,
        edits TEXT,
        flags TEXT NOT NULL DEFAULT '[]',
        quarantine_reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (mailbox, uidvalidity, uid)
    );
    CREATE TABLE actions (
        id INTEGER PRIMARY KEY,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        kind TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        request TEXT NOT NULL,
        status TEXT NOT NULL,
        result TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY,
        ticket_id INTEGER REFERENCES tickets(id),
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        event TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '{}'
    );
    """,
    # 2: what answering needs (threading headers, reply record) and why a ticket stopped
    """
    ALTER TABLE tickets ADD COLUMN reply_to TEXT;
    ALTER TABLE tickets ADD COLUMN references_header TEXT;
    ALTER TABLE tickets ADD COLUMN failure_reason TEXT;
    ALTER TABLE tickets ADD COLUMN override_reason TEXT;
    CREATE TABLE replies (
        ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
        message_id TEXT NOT NULL UNIQUE,
        raw BLOB NOT NULL,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        answered_flagged INTEGER NOT NULL DEFAULT 0
    );
    """,
    # 3: the inbox's table. The category as the operator sees it (an edit wins over the model's),
    # generated from the JSON so no writer has to keep it in step; indexed with the id, so a
    # filtered page, newest first, reads only its own rows even among thousands of tickets.
    """
    ALTER TABLE tickets ADD COLUMN category TEXT GENERATED ALWAYS AS
        (coalesce(json_extract(edits, '$.fields.category'), json_extract(triage, '$.category'))) VIRTUAL;
    CREATE INDEX tickets_by_state ON tickets (state, id);
    CREATE INDEX tickets_by_category ON tickets (category, id);
    """,
    # 4: the operator's unsent edits (reply, fields, override reason) survive a reload or a
    # closed tab; a decision on the ticket removes them
    """
    CREATE TABLE drafts (
        ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
        draft TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    """,
]

LIST_COLUMNS = ("id, mailbox, uid, message_id, sender, subject, mail_date, machine_mail, state, triage, edits,"
                " flags, quarantine_reason, failure_reason, reply_to, references_header, created_at, updated_at")
"""What a list of tickets shows: everything but the mail body."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class TicketStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():  # executescript would commit half-way: run statement by statement
                for statement in _statements(script):
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- tickets ------------------------------------------------------------------------
    def is_known(self, ref: MailRef) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM tickets WHERE (mailbox=? AND uidvalidity=? AND uid=?) OR message_id=?",
            (ref.mailbox, ref.uidvalidity, ref.uid, ref.message_id),
        ).fetchone()
        return row is not None

    def known_uids(self, mailbox: str, uidvalidity: str) -> set[str]:
        """UIDs already stored for one mailbox generation: a fetch asks the server for the rest only."""
        rows = self.db.execute("SELECT uid FROM tickets WHERE mailbox=? AND uidvalidity=?", (mailbox, uidvalidity))
        return {row[0] for row in rows}

    def add_ticket(self, ref: MailRef, *, sender: str = "", subject: str = "", body: str = "",
                   mail_date: str | None = None, machine_mail: str | None = None,
                   quarantine_reason: str | None = None, reply_to: str | None = None,
                   references: str | None = None) -> int | None:
        """Store a fetched mail as a ticket; None when it is already known (no duplicate)."""
        state = State.QUARANTINED if quarantine_reason else State.RECEIVED
        with self.transaction():
            if self.is_known(ref):
                return None
            now = _now()
            cursor = self.db.execute(
                "INSERT INTO tickets (mailbox, uidvalidity, uid, message_id, sender, subject, body, mail_date,"
                " machine_mail, state, quarantine_reason, reply_to, references_header, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (ref.mailbox, ref.uidvalidity, ref.uid, ref.message_id, sender, subject, body, mail_date,
                 machine_mail, state, quarantine_reason, reply_to, references, now, now),
            )
            ticket_id = cursor.lastrowid
            self._audit(ticket_id, "fetcher", "received" if not quarantine_reason else "quarantined",
                        {"reason": quarantine_reason} if quarantine_reason else {})
        return ticket_id

    def ticket(self, ticket_id: int) -> Ticket:
        row = self.db.execute("SELECT * FROM tickets WHERE id=?", (ticket_id,)).fetchone()
        if row is None:
            raise KeyError(f"no ticket {ticket_id}")
        return Ticket.from_row(row)

    def tickets(self, state: State | None = None) -> list[Ticket]:
        query, args = "SELECT * FROM tickets", ()
        if state:
            query, args = query + " WHERE state=?", (state,)
        return [Ticket.from_row(row) for row in self.db.execute(query + " ORDER BY id", args)]

    def state_of(self, ticket_id: int) -> State:
        return self.ticket(ticket_id).state

    def move(self, ticket_id: int, target: State, actor: str, *, failure_reason: str | None = None,
             **detail) -> None:
        """Change a ticket's state (checked against the allowed moves) and audit it."""
        with self.transaction():
            self._move(ticket_id, target, actor, failure_reason, detail)

    def claim(self, ticket_id: int, allowed: set[State], target: State, actor: str, **detail) -> bool:
        """Move the ticket only if it is in one of ``allowed``: of two racing callers, one wins."""
        with self.transaction():
            if self.state_of(ticket_id) not in allowed:
                return False
            self._move(ticket_id, target, actor, None, detail)
        return True

    def _move(self, ticket_id: int, target: State, actor: str, failure_reason: str | None, detail: dict) -> None:
        current = self.state_of(ticket_id)
        check_transition(current, target)
        self.db.execute("UPDATE tickets SET state=?, failure_reason=?, updated_at=? WHERE id=?",
                        (target, failure_reason, _now(), ticket_id))
        self._audit(ticket_id, actor, f"{current}->{target}",
                    {**detail, "reason": failure_reason} if failure_reason else detail)

    def save_approval(self, ticket_id: int, edits: dict, override_reason: str | None, actor: str,
                      action: tuple[str, str, dict] | None = None) -> None:
        """The operator's edits and override reason, the planned action ``(kind, idempotency key,
        request)`` when it is new, then ``approved``: all or nothing, so of two racing
        approvals the loser leaves no trace."""
        with self.transaction():
            if action is not None:
                self._add_action(ticket_id, *action)
            self.db.execute("UPDATE tickets SET edits=?, override_reason=? WHERE id=?",
                            (json.dumps(edits), override_reason, ticket_id))
            detail = {"edited": sorted(edits)}
            if override_reason:
                detail["override_reason"] = override_reason
            self._move(ticket_id, State.APPROVED, actor, None, detail)

    # -- actions: one row per backend call, keyed by its idempotency key ------------------
    def action(self, ticket_id: int) -> ActionRecord | None:
        """The ticket's newest action."""
        row = self.db.execute("SELECT * FROM actions WHERE ticket_id=? ORDER BY id DESC LIMIT 1",
                              (ticket_id,)).fetchone()
        return ActionRecord.from_row(row) if row else None

    def _add_action(self, ticket_id: int, kind: str, idempotency_key: str, request: dict) -> None:
        """Recorded before the call: a crash after it leaves the key to retry with."""
        now = _now()
        self.db.execute("INSERT INTO actions (ticket_id, kind, idempotency_key, request, status, created_at,"
                        " updated_at) VALUES (?,?,?,?,?,?,?)",
                        (ticket_id, kind, idempotency_key, json.dumps(request), "pending", now, now))
        self._audit(ticket_id, "workflow", "action_recorded", {"kind": kind})

    def finish_action(self, ticket_id: int, status: str, result: dict, target: State) -> None:
        """The call's outcome and the ticket's next state, in one transaction."""
        with self.transaction():
            action = self.action(ticket_id)
            self.db.execute("UPDATE actions SET status=?, result=?, updated_at=? WHERE id=?",
                            (status, json.dumps(result), _now(), action.id))
            reason = result.get("message") if target == State.FAILED else None
            self._move(ticket_id, target, "workflow", reason, {"action": action.kind, "status": status})

    # -- replies: stored before sending, so a resend after a crash reuses the Message-ID ---
    def reply(self, ticket_id: int) -> ReplyRecord | None:
        row = self.db.execute("SELECT * FROM replies WHERE ticket_id=?", (ticket_id,)).fetchone()
        return ReplyRecord.from_row(row) if row else None

    def add_reply(self, ticket_id: int, message_id: str, raw: bytes) -> None:
        with self.transaction():
            self.db.execute("INSERT INTO replies (ticket_id, message_id, raw, status, created_at) VALUES (?,?,?,?,?)",
                            (ticket_id, message_id, raw, "prepared", _now()))
            self._audit(ticket_id, "workflow", "reply_prepared", {"message_id": message_id})

    def claim_reply(self, ticket_id: int) -> bool:
        """prepared -> sending; False when another caller is sending or has sent it."""
        with self.transaction():
            cursor = self.db.execute("UPDATE replies SET status='sending' WHERE ticket_id=? AND status='prepared'",
                                     (ticket_id,))
        return cursor.rowcount == 1

    def release_reply(self, ticket_id: int, reason: str) -> None:
        """Sending failed before the server took the message: back to prepared, ticket failed."""
        with self.transaction():
            self.db.execute("UPDATE replies SET status='prepared' WHERE ticket_id=?", (ticket_id,))
            self._move(ticket_id, State.FAILED, "workflow", reason, {"step": "reply"})

    def mark_replied(self, ticket_id: int) -> None:
        with self.transaction():
            self.db.execute("UPDATE replies SET status='sent', sent_at=? WHERE ticket_id=?", (_now(), ticket_id))
            self._move(ticket_id, State.REPLIED, "workflow", None, {})

    def mark_answered_flagged(self, ticket_id: int) -> None:
        self.db.execute("UPDATE replies SET answered_flagged=1 WHERE ticket_id=?", (ticket_id,))

    def record_triage(self, ticket_id: int, triage: dict, flags: list[str]) -> None:
        """Save the model's result and move the ticket to triaged or needs_review."""
        with self.transaction():
            self._record_triage(ticket_id, triage, flags)

    def record_triage_if_received(self, ticket_id: int, triage: dict, flags: list[str]) -> bool:
        """As record_triage, unless the ticket left ``received`` while the model ran (the worker
        or another session triaged it first): then False, and their result stands."""
        with self.transaction():
            if self.state_of(ticket_id) != State.RECEIVED:
                return False
            self._record_triage(ticket_id, triage, flags)
        return True

    def _record_triage(self, ticket_id: int, triage: dict, flags: list[str]) -> None:
        target = State.NEEDS_REVIEW if flags else State.TRIAGED
        current = self.state_of(ticket_id)
        check_transition(current, target)
        self.db.execute("UPDATE tickets SET triage=?, flags=?, state=?, updated_at=? WHERE id=?",
                        (json.dumps(triage), json.dumps(flags), target, _now(), ticket_id))
        self._audit(ticket_id, "model", f"{current}->{target}", {"flags": flags})

    def retriage(self, ticket_id: int, actor: str) -> None:
        """Back to received for the model to read again; its old answer, the flags and the
        operator's edits go. Raises TransitionError for a failed ticket that has a backend call
        or a reply: its outcome may be out there, so it is retried or rejected instead."""
        with self.transaction():
            if self.state_of(ticket_id) == State.FAILED and (self.action(ticket_id) or self.reply(ticket_id)):
                raise TransitionError("a failed ticket that called the club backend or has a reply is retried "
                                      "(approve it again) or rejected, not triaged again")
            self._move(ticket_id, State.RECEIVED, actor, None, {"retriage": True})
            self.db.execute("UPDATE tickets SET triage=NULL, edits=NULL, flags='[]', override_reason=NULL WHERE id=?",
                            (ticket_id,))

    def add_flags(self, ticket_id: int, flags: list[str]) -> None:
        """More reasons for a person to look (e.g. the backend check): a triaged ticket needs review."""
        with self.transaction():
            ticket = self.ticket(ticket_id)
            new = [flag for flag in flags if flag not in ticket.flags]
            if not new:
                return
            self.db.execute("UPDATE tickets SET flags=? WHERE id=?", (json.dumps([*ticket.flags, *new]), ticket_id))
            if ticket.state == State.TRIAGED:
                self._move(ticket_id, State.NEEDS_REVIEW, "workflow", None, {"flags": new})

    # -- the inbox's queries ----------------------------------------------------------------
    def ticket_page(self, *, states: Sequence[str] = (), categories: Sequence[str] = (),
                    pinned: Sequence[int] = (), limit: int = 50, offset: int = 0) -> list[Ticket]:
        """One page of tickets, newest first, without their bodies. Empty ``states`` or
        ``categories`` filter nothing; ``pinned`` ids are listed whatever the filters."""
        where, args = _filter(states, categories, pinned)
        # The page's ids come from the indexes alone; only those rows are read in full.
        rows = self.db.execute(f"SELECT {LIST_COLUMNS} FROM tickets WHERE id IN (SELECT id FROM tickets{where}"
                               " ORDER BY id DESC LIMIT ? OFFSET ?) ORDER BY id DESC", (*args, limit, offset))
        return [Ticket.from_row(row) for row in rows]

    def count_tickets(self, *, states: Sequence[str] = (), categories: Sequence[str] = (),
                      pinned: Sequence[int] = ()) -> int:
        where, args = _filter(states, categories, pinned)
        return self.db.execute(f"SELECT count(*) FROM tickets{where}", args).fetchone()[0]

    def state_counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT state, count(*) FROM tickets GROUP BY state").fetchall())

    def latest_actions(self, ticket_ids: Sequence[int]) -> dict[int, ActionRecord]:
        """Each ticket's newest action, for a page of tickets in one query."""
        marks = ",".join("?" * len(ticket_ids))
        rows = self.db.execute("SELECT * FROM actions WHERE id IN (SELECT max(id) FROM actions"
                               f" WHERE ticket_id IN ({marks}) GROUP BY ticket_id)", tuple(ticket_ids))
        return {row["ticket_id"]: ActionRecord.from_row(row) for row in rows}

    def rejection_reasons(self, ticket_ids: Sequence[int]) -> dict[int, str]:
        """Why each rejected ticket of a page was rejected (the reason lives in the audit log)."""
        marks = ",".join("?" * len(ticket_ids))
        rows = self.db.execute(f"SELECT ticket_id, detail FROM audit WHERE ticket_id IN ({marks})"
                               " AND event LIKE '%->rejected' ORDER BY id", tuple(ticket_ids))
        return {row["ticket_id"]: json.loads(row["detail"]).get("reason") or "" for row in rows}

    def thread(self, ticket_id: int) -> list[Ticket]:
        """The other tickets of the ticket's conversation, oldest first (without bodies): those its
        References/In-Reply-To name, and those that name it."""
        ticket = self.ticket(ticket_id)
        named = re.findall(r"<[^<>\s]+>", ticket.references_header or "")
        marks = ",".join("?" * len(named))
        rows = self.db.execute(
            f"SELECT {LIST_COLUMNS} FROM tickets WHERE id != ? AND (message_id IN ({marks})"
            " OR (? IS NOT NULL AND instr(coalesce(references_header, ''), ?) > 0)) ORDER BY id",
            (ticket_id, *named, ticket.message_id, ticket.message_id))
        return [Ticket.from_row(row) for row in rows]

    def audit_log(self, ticket_id: int) -> list[AuditEntry]:
        rows = self.db.execute("SELECT * FROM audit WHERE ticket_id=? ORDER BY id", (ticket_id,))
        return [AuditEntry.from_row(row) for row in rows]

    # -- drafts: the operator's edits before a decision -------------------------------------
    def put_draft(self, ticket_id: int, draft: dict | None) -> None:
        """Store the draft, or forget it (None)."""
        if draft is None:
            self.db.execute("DELETE FROM drafts WHERE ticket_id = ?", (ticket_id,))
            return
        self.db.execute("INSERT INTO drafts (ticket_id, draft, updated_at) VALUES (?, ?, ?) ON CONFLICT (ticket_id)"
                        " DO UPDATE SET draft = excluded.draft, updated_at = excluded.updated_at",
                        (ticket_id, json.dumps(draft), _now()))

    def drafts(self, states: Sequence[str]) -> dict[int, dict]:
        """Drafts of tickets still in one of ``states`` (a decided ticket's draft is moot)."""
        marks = ",".join("?" * len(states))
        rows = self.db.execute(f"SELECT d.ticket_id, d.draft FROM drafts d JOIN tickets t ON t.id = d.ticket_id"
                               f" WHERE t.state IN ({marks})", tuple(states))
        return {row["ticket_id"]: json.loads(row["draft"]) for row in rows}

    def _audit(self, ticket_id: int | None, actor: str, event: str, detail: dict) -> None:
        self.db.execute("INSERT INTO audit (ticket_id, at, actor, event, detail) VALUES (?,?,?,?,?)",
                        (ticket_id, _now(), actor, event, json.dumps(detail)))


def _filter(states: Sequence[str], categories: Sequence[str], pinned: Sequence[int]) -> tuple[str, tuple]:
    """A WHERE clause (or nothing) and its arguments for the inbox's filters."""
    conditions, args = [], []
    for column, values in (("state", states), ("category", categories)):
        if values:
            conditions.append(f"{column} IN ({','.join('?' * len(values))})")
            args.extend(values)
    if not conditions:
        return "", ()
    where = " AND ".join(conditions)
    if pinned:
        where = f"({where}) OR id IN ({','.join('?' * len(pinned))})"
        args.extend(pinned)
    return f" WHERE {where}", tuple(args)


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]

