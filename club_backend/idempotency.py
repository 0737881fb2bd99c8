"""Run a write at most once per ``Idempotency-Key``.

The key's record and the write's effect are committed in the same transaction, so there
is no moment where the effect exists without the record (a retry would do it again) or
the record without the effect (a retry would wrongly replay success). Refusals (404, 409,
422 from the rules) are stored and replayed too: the same request gets the same answer.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from club_backend import db
from club_backend.db import Database
from club_backend.errors import ApiError
from club_backend.rules import format_club_time

Action = Callable[[sqlite3.Connection], tuple[int, dict]]


@dataclass(frozen=True)
class Outcome:
    status: int
    body: dict
    replayed: bool


def fingerprint(method: str, path: str, payload: dict | None) -> str:
    """What makes two requests "the same": method, path and the parsed body, key order ignored."""
    canonical = json.dumps([method.upper(), path, payload], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_once(database: Database, key: str, request_fingerprint: str, action: Action,
             now: datetime) -> Outcome:
    with database.transaction() as connection:
        stored = db.find_idempotency_record(connection, key)
        if stored is not None:
            if stored["fingerprint"] != request_fingerprint:
                raise ApiError(409, "idempotency_key_reused",
                               "this Idempotency-Key was already used for a different request")
            return Outcome(stored["status"], stored["body"], replayed=True)
        status, body = _attempt(connection, action)
        db.store_idempotency_record(connection, key, request_fingerprint, status, body, format_club_time(now))
        return Outcome(status, body, replayed=False)


def _attempt(connection: sqlite3.Connection, action: Action) -> tuple[int, dict]:
    # A savepoint, so a refusal raised halfway through an action leaves nothing behind
    # while the key's record of that refusal is still committed.
    connection.execute("SAVEPOINT attempt")
    try:
        result = action(connection)
    except ApiError as refusal:
        connection.execute("ROLLBACK TO attempt")
        result = refusal.status, refusal.body()
    connection.execute("RELEASE attempt")
    return result
