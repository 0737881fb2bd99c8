"""SQLite store of tickets, actions and the audit log, in the app's data folder.

The schema is versioned with ``PRAGMA user_version`` and migrated on open. A mail is
known by mailbox + UIDVALIDITY + UID and by its Message-ID, so fetching the same mail twice
never makes two tickets, whatever flags the server has.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from support.states import State, check_transition

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
]


def data_dir() -> Path:
    """The app's data folder (SQLite, outbox): ``$ACEDESK_DATA_DIR`` or ``./data``."""
    return Path(os.environ.get("ACEDESK_DATA_DIR", "data"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class MailRef:
    """Where a mail came from: enough to recognise it on the next fetch."""

    mailbox: str
    uidvalidity: str
    uid: str
    message_id: str | None


class TicketStore:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else data_dir() / "acedesk.sqlite3"
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
                   quarantine_reason: str | None = None) -> int | None:
        """Store a fetched mail as a ticket; None when it is already known (no duplicate)."""
        state = State.QUARANTINED if quarantine_reason else State.RECEIVED
        with self.transaction():
            if self.is_known(ref):
                return None
            now = _now()
            cursor = self.db.execute(
                "INSERT INTO tickets (mailbox, uidvalidity, uid, message_id, sender, subject, body, mail_date,"
                " machine_mail, state, quarantine_reason, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (ref.mailbox, ref.uidvalidity, ref.uid, ref.message_id, sender, subject, body, mail_date,
                 machine_mail, state, quarantine_reason, now, now),
            )
            ticket_id = cursor.lastrowid
            self._audit(ticket_id, "fetcher", "received" if not quarantine_reason else "quarantined",
                        {"reason": quarantine_reason} if quarantine_reason else {})
        return ticket_id

    def ticket(self, ticket_id: int) -> dict:
        row = self.db.execute("SELECT * FROM tickets WHERE id=?", (ticket_id,)).fetchone()
        if row is None:
            raise KeyError(f"no ticket {ticket_id}")
        return _ticket_dict(row)

    def tickets(self, state: State | None = None) -> list[dict]:
        query, args = "SELECT * FROM tickets", ()
        if state:
            query, args = query + " WHERE state=?", (state,)
        return [_ticket_dict(row) for row in self.db.execute(query + " ORDER BY id", args)]

    def move(self, ticket_id: int, target: State, actor: str, **detail) -> None:
        """Change a ticket's state (checked against the allowed moves) and audit it."""
        with self.transaction():
            current = State(self.ticket(ticket_id)["state"])
            check_transition(current, target)
            self.db.execute("UPDATE tickets SET state=?, updated_at=? WHERE id=?", (target, _now(), ticket_id))
            self._audit(ticket_id, actor, f"{current}->{target}", detail)

    def record_triage(self, ticket_id: int, triage: dict, flags: list[str]) -> None:
        """Save the model's result and move the ticket to triaged or needs_review."""
        target = State.NEEDS_REVIEW if flags else State.TRIAGED
        with self.transaction():
            current = State(self.ticket(ticket_id)["state"])
            check_transition(current, target)
            self.db.execute("UPDATE tickets SET triage=?, flags=?, state=?, updated_at=? WHERE id=?",
                            (json.dumps(triage), json.dumps(flags), target, _now(), ticket_id))
            self._audit(ticket_id, "model", f"{current}->{target}", {"flags": flags})

    def audit_log(self, ticket_id: int) -> list[dict]:
        rows = self.db.execute("SELECT * FROM audit WHERE ticket_id=? ORDER BY id", (ticket_id,))
        return [{**dict(row), "detail": json.loads(row["detail"])} for row in rows]

    def _audit(self, ticket_id: int | None, actor: str, event: str, detail: dict) -> None:
        self.db.execute("INSERT INTO audit (ticket_id, at, actor, event, detail) VALUES (?,?,?,?,?)",
                        (ticket_id, _now(), actor, event, json.dumps(detail)))


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]


def _ticket_dict(row: sqlite3.Row) -> dict:
    data = dict(row)
    for key in ("triage", "edits"):
        data[key] = json.loads(data[key]) if data[key] else None
    data["flags"] = json.loads(data["flags"])
    return data
