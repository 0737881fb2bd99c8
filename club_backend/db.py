"""SQLite schema and queries of the stand-in booking system.

One short-lived connection per request: uvicorn runs sync endpoints in a thread pool and
a sqlite3 connection must not be shared between threads. Writes run in ``BEGIN IMMEDIATE``
transactions, which take SQLite's write lock up front, so two concurrent writes (say the
same retried request twice) are serialised instead of both reading "not done yet".

Times are stored as ``YYYY-MM-DDTHH:MM`` text (local club time), which sorts and compares
chronologically as plain strings. Usernames, emails, courts and booking ids compare
case-insensitively, as people type them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS members (
    username TEXT PRIMARY KEY COLLATE NOCASE,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    status TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS courts (
    name TEXT PRIMARY KEY COLLATE NOCASE
);
CREATE TABLE IF NOT EXISTS bookings (
    booking_id TEXT PRIMARY KEY COLLATE NOCASE,
    username TEXT NOT NULL REFERENCES members(username),
    court TEXT NOT NULL REFERENCES courts(name),
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    status TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bookings_by_court ON bookings (court, starts_at);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    username TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS effects (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""

EFFECT_KINDS = ("cancel", "move", "invite", "password_reset")
_DATA_TABLES = ("bookings", "members", "courts", "notifications", "effects", "idempotency_keys")


class Database:
    """The SQLite file; ``:memory:`` is not supported (each connection would see its own)."""

    def __init__(self, path: str | Path):
        self.path = str(path)

    def initialise(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as connection:
            # WAL lets reads go on while a write transaction holds the lock.
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(SCHEMA)

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as connection:
            yield connection

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as connection:
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN ourselves, so the lock is taken when we say.
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA foreign_keys=ON")
        return connection


def is_empty(connection: sqlite3.Connection) -> bool:
    return connection.execute("SELECT COUNT(*) FROM members").fetchone()[0] == 0


def wipe(connection: sqlite3.Connection) -> None:
    for table in _DATA_TABLES:
        connection.execute(f"DELETE FROM {table}")


# Members


def member_row(row: sqlite3.Row) -> dict:
    return {"username": row["username"], "name": row["name"], "email": row["email"], "status": row["status"]}


def find_member(connection: sqlite3.Connection, *, username: str | None = None,
                email: str | None = None) -> dict | None:
    column, value = ("username", username) if username is not None else ("email", email)
    row = connection.execute(f"SELECT * FROM members WHERE {column} = ?", (value,)).fetchone()
    return member_row(row) if row else None


def insert_member(connection: sqlite3.Connection, username: str, name: str, email: str, status: str) -> None:
    connection.execute("INSERT INTO members (username, name, email, status) VALUES (?, ?, ?, ?)",
                       (username, name, email, status))


# Courts


def find_court(connection: sqlite3.Connection, name: str) -> str | None:
    row = connection.execute("SELECT name FROM courts WHERE name = ?", (name,)).fetchone()
    return row["name"] if row else None


def insert_court(connection: sqlite3.Connection, name: str) -> None:
    connection.execute("INSERT INTO courts (name) VALUES (?)", (name,))


# Bookings


def booking_row(row: sqlite3.Row) -> dict:
    return {"booking_id": row["booking_id"], "username": row["username"], "court": row["court"],
            "start": row["starts_at"], "end": row["ends_at"], "status": row["status"]}


def find_booking(connection: sqlite3.Connection, booking_id: str) -> dict | None:
    row = connection.execute("SELECT * FROM bookings WHERE booking_id = ?", (booking_id,)).fetchone()
    return booking_row(row) if row else None


def active_bookings_of(connection: sqlite3.Connection, username: str) -> list[dict]:
    rows = connection.execute(
        "SELECT * FROM bookings WHERE username = ? AND status = 'active' ORDER BY starts_at, booking_id",
        (username,))
    return [booking_row(row) for row in rows]


def active_bookings_on(connection: sqlite3.Connection, court: str, start: str, end: str) -> list[dict]:
    """Active bookings on ``court`` that overlap [start, end)."""
    rows = connection.execute(
        "SELECT * FROM bookings WHERE court = ? AND status = 'active' AND starts_at < ? AND ends_at > ? "
        "ORDER BY starts_at", (court, end, start))
    return [booking_row(row) for row in rows]


def insert_booking(connection: sqlite3.Connection, booking: dict) -> None:
    connection.execute(
        "INSERT INTO bookings (booking_id, username, court, starts_at, ends_at, status) VALUES (?, ?, ?, ?, ?, ?)",
        (booking["booking_id"], booking["username"], booking["court"], booking["start"], booking["end"],
         booking["status"]))


def set_booking_status(connection: sqlite3.Connection, booking_id: str, status: str) -> None:
    connection.execute("UPDATE bookings SET status = ? WHERE booking_id = ?", (status, booking_id))


def reschedule_booking(connection: sqlite3.Connection, booking_id: str, court: str, start: str, end: str) -> None:
    connection.execute("UPDATE bookings SET court = ?, starts_at = ?, ends_at = ? WHERE booking_id = ?",
                       (court, start, end, booking_id))


# Notifications and effects: what the system did, for the test routes to count.


def add_notification(connection: sqlite3.Connection, kind: str, recipient: str, username: str, at: str) -> None:
    connection.execute("INSERT INTO notifications (kind, recipient, username, created_at) VALUES (?, ?, ?, ?)",
                       (kind, recipient, username, at))


def notifications(connection: sqlite3.Connection) -> list[dict]:
    rows = connection.execute("SELECT kind, recipient, username, created_at FROM notifications ORDER BY id")
    return [{"kind": row["kind"], "to": row["recipient"], "username": row["username"],
             "created_at": row["created_at"]} for row in rows]


def record_effect(connection: sqlite3.Connection, kind: str, subject: str, at: str) -> None:
    assert kind in EFFECT_KINDS, kind
    connection.execute("INSERT INTO effects (kind, subject, at) VALUES (?, ?, ?)", (kind, subject, at))


def effect_counts(connection: sqlite3.Connection) -> dict[str, int]:
    counts = dict.fromkeys(EFFECT_KINDS, 0)
    for row in connection.execute("SELECT kind, COUNT(*) AS n FROM effects GROUP BY kind"):
        counts[row["kind"]] = row["n"]
    return counts


# Idempotency keys


def find_idempotency_record(connection: sqlite3.Connection, key: str) -> dict | None:
    row = connection.execute("SELECT fingerprint, status, body FROM idempotency_keys WHERE key = ?",
                             (key,)).fetchone()
    if row is None:
        return None
    return {"fingerprint": row["fingerprint"], "status": row["status"], "body": json.loads(row["body"])}


def store_idempotency_record(connection: sqlite3.Connection, key: str, fingerprint: str, status: int,
                             body: dict, at: str) -> None:
    connection.execute(
        "INSERT INTO idempotency_keys (key, fingerprint, status, body, created_at) VALUES (?, ?, ?, ?, ?)",
        (key, fingerprint, status, json.dumps(body, ensure_ascii=False), at))
