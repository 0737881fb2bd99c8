"""SQLite store of tickets, actions and the audit log, in the app's data folder.

The schema (support/migrations.py) is versioned and migrated on open. A fetched mail is known by
mailbox + UIDVALIDITY + UID (every UID seen is recorded, whatever became of it) and by its
content: the same mail seen again — a refetch, a rebuilt folder, a new UIDVALIDITY — adds
nothing, whatever flags the server has, while another mail that reuses a known Message-ID is a
ticket of its own, flagged. Every state change is a compare-and-set in one transaction: of two
processes racing for a ticket, one wins and the other's move is a no-op (or a TransitionError
where a person asked for it).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.mail import MailRef
from core.processes import ProcessState, of_this_boot, process_state
from support.corrections import OVERRIDDEN, REJECTED, Agreement, Correction, correction_of
from support.migrations import migrate
from support.records import (
    ActionRecord,
    AuditEntry,
    ReplyRecord,
    Ticket,
    UnreadableRow,
    json_dict,
    stored_flags,
)
from support.states import State, TransitionError, check_transition

log = logging.getLogger(__name__)

PARK_AFTER_FAILURES = 3
"""A step that failed this often on one ticket is not retried by itself any more: a person decides."""
LEASE_S = 300
"""How long a process may work on an executing ticket before another may take it over (the
backend's and the mail server's timeouts are far shorter)."""

REUSED_MESSAGE_ID = "reuses the Message-ID"
"""Start of the flag of a mail that arrived with another ticket's Message-ID."""
LIST_COLUMNS = ("id, mailbox, uid, message_id, sender, subject, mail_date, machine_mail, state, triage, edits,"
                " flags, quarantine_reason, failure_reason, reply_to, references_header, sender_auth, created_at,"
                " updated_at")
"""What a list of tickets shows: everything but the mail body."""


BUSY_TIMEOUT_S = 30
"""How long a write waits for another process's write lock before it fails as "database is locked"."""
WAL_TRIES_S = float(BUSY_TIMEOUT_S)
"""How long opening a store retries switching it to WAL while another opener holds the file (as
long as the busy timeout: the switch does not wait by itself)."""


def _now(offset_s: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat(timespec="seconds")


DECIDED_FROM = {State.APPROVED: (State.TRIAGED, State.NEEDS_REVIEW, State.FAILED),
                State.REJECTED: (State.TRIAGED, State.NEEDS_REVIEW)}
"""Moves that decide on the model's answer, and so keep a correction: an approval (again, after a
failure), and a rejection of what the model proposed (rejecting a failed ticket judges the
delivery, not the answer: its approval's example stands)."""


DISK_FULL_CODES = (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR_SHMSIZE)
"""SQLite's words for a full disk: "database or disk is full", and the "disk I/O error" of a WAL
whose shared-memory file cannot grow (a store opened on a full disk)."""


class StoreFull(sqlite3.OperationalError):
    """A write the full disk refused, naming the store's file and what to do: SQLite's own "database
    or disk is full" names neither, and the worker's log, the page and the CLI show only this text.
    An OperationalError still, so every caller that handles SQLite's keeps handling it."""

    def __init__(self, path: Path, error: sqlite3.OperationalError):
        super().__init__(f"the ticket store {path} is full ({error}): nothing of this write was kept; free space on"
                         f" the disk that holds {path.parent}, then try again (the worker does by itself)")
        self.sqlite_errorcode, self.sqlite_errorname = error.sqlite_errorcode, error.sqlite_errorname


class TicketStore:
    def __init__(self, path: str | Path, *, collect_corrections: bool = True):
        """``collect_corrections``: keep each decision as a labelled example (support/corrections.py;
        the ``ACEDESK_COLLECT_CORRECTIONS`` setting)."""
        self.path = Path(path)
        self.collect_corrections = collect_corrections
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")  # processes share the file: wait for a writer
        with self._full_disk_named():  # opening writes too (the WAL's shared memory, migrations)
            _use_wal(self.db)
            migrate(self.db)
        self.db.execute("PRAGMA foreign_keys=ON")

    @contextmanager
    def transaction(self):
        with self._full_disk_named():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.db.execute("COMMIT")  # inside: a COMMIT that fails must not leave the transaction open
            except BaseException:
                # SQLite rolls the whole transaction back by itself on a full disk or an I/O error: a
                # second ROLLBACK would bury that error under "no transaction is active".
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise

    def write(self, sql: str, args: Sequence = ()) -> sqlite3.Cursor:
        """One statement that writes on its own (or inside a transaction), a full disk said as
        StoreFull, as in a transaction."""
        with self._full_disk_named():
            return self.db.execute(sql, args)

    def failure_words(self, error: sqlite3.Error) -> str:
        """A failed read or write of the store in words for the operator (the CLI, a page): which
        file, what happened and what to do, where SQLite's own words name neither."""
        if isinstance(error, StoreFull):
            return str(error)
        if getattr(error, "sqlite_errorcode", None) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):  # none on a closed db
            return (f"the ticket store {self.path} is busy: another process held it for over {BUSY_TIMEOUT_S} s"
                    f" ({error}); nothing of this write was kept, try again")
        return f"the ticket store {self.path} failed ({error})"

    @contextmanager
    def _full_disk_named(self):
        """SQLite's "database or disk is full" as StoreFull: the one place it is translated."""
        try:
            yield
        except sqlite3.OperationalError as error:
            if isinstance(error, StoreFull) or getattr(error, "sqlite_errorcode", None) not in DISK_FULL_CODES:
                raise
            raise StoreFull(self.path, error) from error

    # -- intake: every fetched mail once -----------------------------------------------
    def is_known(self, ref: MailRef) -> bool:
        """This UID of this mailbox generation was fetched before (whatever became of it)."""
        row = self.db.execute("SELECT 1 FROM mail_seen WHERE mailbox=? AND uidvalidity=? AND uid=?",
                              (ref.mailbox, ref.uidvalidity, ref.uid)).fetchone()
        return row is not None

    def known_uids(self, mailbox: str, uidvalidity: str) -> set[str]:
        """UIDs already seen in one mailbox generation: a fetch asks the server for the rest only."""
        rows = self.db.execute("SELECT uid FROM mail_seen WHERE mailbox=? AND uidvalidity=?", (mailbox, uidvalidity))
        return {row[0] for row in rows}

    def highest_known_uid(self, mailbox: str, uidvalidity: str) -> int:
        """The highest UID seen in one mailbox generation (0: none), read off an index whatever the
        number of rows: a round asks the server only for the UIDs above it."""
        # the expression must be the index's (migration 10), or SQLite reads every row of the generation
        row = self.db.execute("SELECT MAX(CAST(uid AS INTEGER)) FROM mail_seen WHERE mailbox=? AND uidvalidity=?",
                              (mailbox, uidvalidity)).fetchone()
        return row[0] or 0

    def listed_whole_at(self, mailbox: str, uidvalidity: str) -> datetime | None:
        """When a round last listed the whole folder of this generation and stored all it found (None: never)."""
        row = self.db.execute("SELECT listed_whole_at FROM mail_listings WHERE mailbox=? AND uidvalidity=?",
                              (mailbox, uidvalidity)).fetchone()
        return datetime.fromisoformat(row[0]) if row else None

    def record_listed_whole(self, mailbox: str, uidvalidity: str, at: datetime) -> None:
        self.write("INSERT INTO mail_listings (mailbox, uidvalidity, listed_whole_at) VALUES (?,?,?)"
                   " ON CONFLICT (mailbox, uidvalidity) DO UPDATE SET listed_whole_at=excluded.listed_whole_at",
                   (mailbox, uidvalidity, at.isoformat(timespec="seconds")))

    def add_ticket(self, ref: MailRef, *, content_hash: str | None = None, sender: str = "", subject: str = "",
                   body: str = "", mail_date: str | None = None, machine_mail: str | None = None,
                   quarantine_reason: str | None = None, reply_to: str | None = None,
                   references: str | None = None, sender_auth: dict | None = None,
                   flags: Sequence[str] = ()) -> int | None:
        """Store a fetched mail as a ticket (quarantined when ``quarantine_reason``); None when
        nothing new arrived: its UID was seen, or the same content is a ticket already (then this
        UID is recorded as another sighting of that ticket). A mail whose Message-ID another
        ticket has, with other content, is a new ticket flagged with that ticket's number.
        ``flags``: what intake already found for a person to look at (they stay through triage)."""
        with self.transaction():
            if self.is_known(ref):
                return None
            now = _now()
            same = self._ticket_with_content(content_hash, ref.message_id)
            if same is not None:
                self._see(ref, same, now)
                self._audit(same, "fetcher", "seen_again", {"mailbox": ref.mailbox, "uid": ref.uid})
                return None
            intake_flags = list(flags)
            if ref.message_id and (first := self._ticket_with_message_id(ref.message_id)) is not None:
                intake_flags.append(f"{REUSED_MESSAGE_ID} of ticket {first} (other content)")
            state = State.QUARANTINED if quarantine_reason else State.RECEIVED
            cursor = self.db.execute(
                "INSERT INTO tickets (mailbox, uidvalidity, uid, message_id, content_hash, sender, subject, body,"
                " mail_date, machine_mail, state, flags, intake_flags, quarantine_reason, reply_to,"
                " references_header, sender_auth, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (ref.mailbox, ref.uidvalidity, ref.uid, ref.message_id, content_hash, sender, subject, body,
                 mail_date, machine_mail, state, json.dumps(intake_flags), json.dumps(intake_flags),
                 quarantine_reason, reply_to, references, json.dumps(sender_auth) if sender_auth else None, now, now),
            )
            ticket_id = cursor.lastrowid
            self._see(ref, ticket_id, now)
            detail = {"reason": quarantine_reason} if quarantine_reason else {}
            if intake_flags:
                detail["flags"] = intake_flags
            self._audit(ticket_id, "fetcher", "quarantined" if quarantine_reason else "received", detail)
        return ticket_id

    def add_split(self, ticket_id: int, note: str, actor: str,
                  not_from: Iterable[str] = ()) -> tuple[int | None, bool]:
        """A ticket of its own for the second request of ``ticket_id``'s mail: the same mail (so
        the reply threads under it), received, with ``note`` as a flag that stays through triage
        (before the mail's own intake flags);
        both tickets' audit logs name the other. Returns its id and whether this call made it: a
        second split of the same ticket (a double click, another session) finds the first. None
        when the ticket is in a state of ``not_from`` now and was never split: checked in the same
        step as the insert, so a rejection by another session cannot slip between the two."""
        excluded = tuple(not_from)
        with self.transaction():
            now = _now()
            # The same mail: what intake found in it (a disguised From, a reused Message-ID) stays on
            # the split ticket too, after its note.
            origin = self.db.execute("SELECT intake_flags FROM tickets WHERE id=?", (ticket_id,)).fetchone()
            flags = json.dumps([note, *(flag for flag in json.loads(origin[0]) if flag != note)] if origin else [note])
            cursor = self.db.execute(
                "INSERT INTO tickets (mailbox, uidvalidity, uid, message_id, sender, subject, body, mail_date,"
                " machine_mail, state, flags, intake_flags, reply_to, references_header, sender_auth, created_at,"
                " updated_at) SELECT mailbox, uidvalidity, uid || '#' || id || '-2', message_id, sender, subject,"
                " body, mail_date, machine_mail, ?, ?, ?, reply_to, references_header, sender_auth, ?, ?"
                f" FROM tickets WHERE id=? AND state NOT IN ({','.join('?' * len(excluded))})"
                " ON CONFLICT (mailbox, uidvalidity, uid) DO NOTHING",
                (State.RECEIVED, flags, flags, now, now, ticket_id, *excluded))
            if cursor.rowcount == 0:  # split before (the same mailbox, uidvalidity, uid exists), or not to be split
                row = self.db.execute(
                    "SELECT s.id FROM tickets s JOIN tickets t ON s.mailbox IS t.mailbox AND s.uidvalidity IS"
                    " t.uidvalidity AND s.uid = t.uid || '#' || t.id || '-2' WHERE t.id=?", (ticket_id,)).fetchone()
                return (row[0] if row else None), False
            split_id = cursor.lastrowid
            self._audit(split_id, actor, "received", {"split_from": ticket_id})
            self._audit(ticket_id, actor, "split", {"second_request_ticket": split_id})
        return split_id, True

    def _ticket_with_content(self, content_hash: str | None, message_id: str | None) -> int | None:
        """The ticket of the same mail: same content, or (no content known) the same Message-ID."""
        if content_hash:
            row = self.db.execute("SELECT id FROM tickets WHERE content_hash=? ORDER BY id LIMIT 1",
                                  (content_hash,)).fetchone()
            return row[0] if row else None
        return self._ticket_with_message_id(message_id) if message_id else None

    def _ticket_with_message_id(self, message_id: str) -> int | None:
        row = self.db.execute("SELECT id FROM tickets WHERE message_id=? ORDER BY id LIMIT 1", (message_id,)).fetchone()
        return row[0] if row else None

    def _see(self, ref: MailRef, ticket_id: int, now: str) -> None:
        self.db.execute("INSERT INTO mail_seen (mailbox, uidvalidity, uid, ticket_id, seen_at) VALUES (?,?,?,?,?)",
                        (ref.mailbox, ref.uidvalidity, ref.uid, ticket_id, now))

    def unmarked_uids(self, mailbox: str, uidvalidity: str) -> list[str]:
        """UIDs stored but not yet marked processed on the server (\\Seen, the move): retried each fetch."""
        rows = self.db.execute("SELECT uid FROM mail_seen WHERE mailbox=? AND uidvalidity=? AND processed=0"
                               " ORDER BY CAST(uid AS INTEGER)", (mailbox, uidvalidity))
        return [row[0] for row in rows]

    def mark_uid_processed(self, mailbox: str, uidvalidity: str, uid: str) -> None:
        self.write("UPDATE mail_seen SET processed=1 WHERE mailbox=? AND uidvalidity=? AND uid=?",
                   (mailbox, uidvalidity, uid))

    # -- tickets ------------------------------------------------------------------------
    def ticket(self, ticket_id: int) -> Ticket:
        """The ticket; KeyError when there is none, UnreadableRow (naming it) when this version
        cannot read its row."""
        row = self.db.execute("SELECT * FROM tickets WHERE id=?", (ticket_id,)).fetchone()
        if row is None:
            raise KeyError(f"no ticket {ticket_id}")
        return Ticket.from_row(row)

    def tickets(self, state: State | None = None, *, skipped: list[int] | None = None) -> list[Ticket]:
        """Every ticket (in ``state``), oldest first. A row this version cannot read is left out with
        a warning, its id appended to ``skipped`` when given: one odd row never takes the list down."""
        query, args = "SELECT * FROM tickets", ()
        if state:
            query, args = query + " WHERE state=?", (state,)
        return _readable(self.db.execute(query + " ORDER BY id", args), skipped)

    def each_ticket(self, *, skipped: list[int] | None = None) -> Iterator[Ticket]:
        """Every ticket, oldest first, read as it is used (``tickets`` holds them all at once: 1.25 GB
        for 100,000 mails of 8 KB); unreadable rows as for ``tickets``. The reading holds one snapshot
        of the store until it ends: for a consumer that writes out, not one that writes to the store."""
        return _each_readable(self.db.execute("SELECT * FROM tickets ORDER BY id"), skipped)

    def ticket_ids(self, state: State) -> list[int]:
        """The ids of the tickets in ``state``, oldest first (their rows are not read)."""
        return [row[0] for row in self.db.execute("SELECT id FROM tickets WHERE state=? ORDER BY id", (state,))]

    def ticket_senders(self, state: State) -> list[tuple[int, object]]:
        """The ids and stored From of the tickets in ``state``, oldest first (the rest of their rows
        is not read; a damaged row's sender may be no text)."""
        return self.db.execute("SELECT id, sender FROM tickets WHERE state=? ORDER BY id", (state,)).fetchall()

    def state_of(self, ticket_id: int) -> State:
        return self.ticket(ticket_id).state

    def move(self, ticket_id: int, target: State, actor: str, *, failure_reason: str | None = None,
             **detail) -> None:
        """Change a ticket's state (checked against the allowed moves) and audit it."""
        with self.transaction():
            self._move(ticket_id, target, actor, failure_reason, detail)

    def claim(self, ticket_id: int, allowed: set[State], target: State, actor: str, *, lease: bool = False,
              **detail) -> bool:
        """Move the ticket only if it is in one of ``allowed``: of two racing callers, one wins.
        ``lease``: the winner works on it for LEASE_S; nobody else takes it over meanwhile."""
        with self.transaction():
            if self.state_of(ticket_id) not in allowed:
                return False
            self._move(ticket_id, target, actor, None, detail)
            if lease:
                self._lease(ticket_id, actor)
        return True

    def claim_abandoned(self, ticket_id: int, states: set[State], actor: str) -> bool:
        """Take over a ticket in ``states`` whose worker is gone: its lease ran out (it crashed or
        hangs somewhere), or it was a process of this machine that no longer runs. False while
        someone holds it."""
        with self.transaction():
            row = self.db.execute("SELECT state, lease_owner, lease_until, lease_until_boot FROM tickets WHERE id=?",
                                  (ticket_id,)).fetchone()
            if row is None or State(row["state"]) not in states:
                return False
            owner, until = row["lease_owner"], row["lease_until"]
            if _lease_runs(owner, until, row["lease_until_boot"]) and _owner_alive(owner, until):
                return False
            self._lease(ticket_id, actor)
            if row["lease_owner"]:  # a ticket nobody held (a filing retried) is not taken from anyone
                self._audit(ticket_id, actor, "taken_over", {"state": row["state"], "from": row["lease_owner"]})
        return True

    def _lease(self, ticket_id: int, actor: str) -> None:
        until_boot = _boot_clock() + LEASE_S if of_this_boot(actor) else None
        self.write("UPDATE tickets SET lease_owner=?, lease_until=?, lease_until_boot=? WHERE id=?",
                   (actor, _now(LEASE_S), until_boot, ticket_id))

    def release(self, ticket_id: int) -> None:
        self.write("UPDATE tickets SET lease_owner=NULL, lease_until=NULL, lease_until_boot=NULL WHERE id=?",
                   (ticket_id,))

    # -- failures: counted per step; the third parks the ticket ------------------------------
    def record_failure(self, ticket_id: int, step: str, reason: str, actor: str) -> int:
        """Count one more failure of ``step`` on the ticket (with the reason in its audit log);
        returns how many there have been."""
        with self.transaction():
            failures = self.failures(ticket_id)
            failures[step] = failures.get(step, 0) + 1
            self.db.execute("UPDATE tickets SET failures=? WHERE id=?", (json.dumps(failures), ticket_id))
            self._audit(ticket_id, actor, "step_failed", {"step": step, "reason": reason[:500], "count": failures[step]})
        return failures[step]

    def failures(self, ticket_id: int) -> dict[str, int]:
        """Each step's failure count on the ticket; a count that cannot be read is none."""
        row = self.db.execute("SELECT failures FROM tickets WHERE id=?", (ticket_id,)).fetchone()
        counts = json_dict(row[0], f"ticket {ticket_id}'s failures") if row else None
        return {step: count for step, count in (counts or {}).items() if isinstance(count, int)}

    def parked(self, ticket_id: int, step: str) -> bool:
        return self.failures(ticket_id).get(step, 0) >= PARK_AFTER_FAILURES

    def begin_runs(self, ticket_ids: Sequence[int], step: str) -> None:
        """Count one more run of ``step`` on each ticket, committed before the work starts, and taken
        back by clear_failures when the run ends: a count left behind is a run the process died in
        (the OOM killer, a segfault), which no exception handler could count."""
        with self.transaction():
            for ticket_id in ticket_ids:
                failures = self.failures(ticket_id)
                failures[step] = failures.get(step, 0) + 1
                self.db.execute("UPDATE tickets SET failures=? WHERE id=?", (json.dumps(failures), ticket_id))

    def end_run(self, ticket_id: int, step: str) -> None:
        """Take back one run that ``begin_runs`` counted and that ended without the process dying
        (a stop, the model server away): the runs it died in before stay counted."""
        with self.transaction():
            failures = self.failures(ticket_id)
            if failures.get(step, 0) > 1:
                failures[step] -= 1
            elif failures.pop(step, None) is None:
                return
            self.db.execute("UPDATE tickets SET failures=? WHERE id=?", (json.dumps(failures), ticket_id))

    def give_up(self, ticket_id: int, step: str, reason: str, actor: str) -> bool:
        """Say in the audit log, once, that ``step`` is not tried again on the ticket (its tries are
        spent); False when it was said before. The tries a dying process counted said nothing themselves."""
        event = f"{step}_given_up"
        with self.transaction():
            if self.db.execute("SELECT 1 FROM audit WHERE ticket_id=? AND event=? LIMIT 1",
                               (ticket_id, event)).fetchone():
                return False
            tries = self.failures(ticket_id).get(step, 0)
            self._audit(ticket_id, actor, event, {"step": step, "tries": tries, "reason": reason[:500]})
        return True

    def clear_failures(self, ticket_id: int, step: str) -> None:
        """The step gets its tries back (a person decided again, a run ended)."""
        with self.transaction():
            failures = self.failures(ticket_id)
            if failures.pop(step, None) is not None:
                self.db.execute("UPDATE tickets SET failures=? WHERE id=?", (json.dumps(failures), ticket_id))

    def _move(self, ticket_id: int, target: State, actor: str, failure_reason: str | None, detail: dict) -> None:
        current = self.state_of(ticket_id)
        check_transition(current, target)
        self.db.execute("UPDATE tickets SET state=?, failure_reason=?, updated_at=? WHERE id=?",
                        (target, failure_reason, _now(), ticket_id))
        self._audit(ticket_id, actor, f"{current}->{target}",
                    {**detail, "reason": failure_reason} if failure_reason else detail)
        if self.collect_corrections and current in DECIDED_FROM.get(target, ()):
            self._keep_correction(ticket_id, current, target, actor, detail)

    def _keep_correction(self, ticket_id: int, current: State, target: State, actor: str, detail: dict) -> None:
        """The decision as a labelled example, in the decision's transaction. A ticket approved again
        after a failure keeps whether it first sat in the Ready view. Never fails the decision: an
        example that cannot be kept is logged and left out."""
        override = detail.get("override_reason")
        decision = REJECTED if target == State.REJECTED else OVERRIDDEN if override else "approved"
        try:
            correction = correction_of(self.ticket(ticket_id), decision, actor, override or detail.get("reason"),
                                       current == State.TRIAGED, _now())
            if correction is None:
                return
            columns = correction.columns()
            updates = ", ".join(f"{name}=excluded.{name}" for name in columns if name not in ("ticket_id", "was_ready"))
            self.db.execute(f"INSERT INTO corrections ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))})"
                            f" ON CONFLICT (ticket_id) DO UPDATE SET {updates}", tuple(columns.values()))
        except Exception:  # the operator's decision stands whatever becomes of its example
            if not self.db.in_transaction:
                # SQLite took the decision's whole transaction with it (a full disk): going on would
                # write the rest of the decision outside any transaction, half of it at best.
                raise
            log.exception("ticket %s: its decision could not be kept as a correction", ticket_id)

    def save_approval(self, ticket_id: int, edits: dict, override_reason: str | None, actor: str,
                      action: tuple[str, str, dict] | None = None) -> None:
        """The operator's edits and override reason, the planned action ``(kind, idempotency key,
        request)`` when it is new, then ``approved``: all or nothing, so of two racing
        approvals the loser leaves no trace. A reply not known to have gone out (prepared, or
        lost in a crash while sending) is dropped, so the one built from this approval is sent;
        the execution step gets its tries back."""
        with self.transaction():
            if action is not None:
                self._add_action(ticket_id, *action)
            self.db.execute("UPDATE tickets SET edits=?, override_reason=?, failures=json_remove(failures, '$.execute')"
                            " WHERE id=?", (json.dumps(edits), override_reason, ticket_id))
            dropped = self.db.execute("DELETE FROM replies WHERE ticket_id=? AND status IN ('prepared', 'sending')"
                                      " RETURNING status", (ticket_id,)).fetchall()
            detail = {"edited": sorted(edits)}
            if override_reason:
                detail["override_reason"] = override_reason
            if dropped:
                detail["unsent_reply_dropped"] = dropped[0][0]
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

    def settle_action(self, action_id: int, status: str, result: dict) -> None:
        """The outcome of an earlier call, found by replaying its key (the ticket does not move)."""
        with self.transaction():
            ticket_id = self.db.execute("UPDATE actions SET status=?, result=?, updated_at=? WHERE id=?"
                                        " RETURNING ticket_id", (status, json.dumps(result), _now(), action_id)).fetchone()[0]
            self._audit(ticket_id, "workflow", "action_settled", {"status": status})

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

    def fail(self, ticket_id: int, reason: str, actor: str, **detail) -> bool:
        """Stop the ticket as failed with the reason, from wherever the workflow stands (a failed
        ticket gets the new reason); a no-op for a ticket no longer in the workflow."""
        with self.transaction():
            current = self.state_of(ticket_id)
            if current == State.FAILED:
                self.db.execute("UPDATE tickets SET failure_reason=?, updated_at=? WHERE id=?",
                                (reason, _now(), ticket_id))
                self._audit(ticket_id, actor, "failure_reason", {**detail, "reason": reason})
            elif current in (State.EXECUTING, State.EXECUTED):
                self._move(ticket_id, State.FAILED, actor, reason, detail)
            else:
                return False
        return True

    def mark_replied(self, ticket_id: int) -> None:
        with self.transaction():
            self.db.execute("UPDATE replies SET status='sent', sent_at=? WHERE ticket_id=?", (_now(), ticket_id))
            self._move(ticket_id, State.REPLIED, "workflow", None, {})

    def unfiled_replies(self) -> list[int]:
        """Replied tickets of an IMAP mailbox whose original is not yet flagged \\Answered (and the
        reply not filed in Sent), oldest first."""
        rows = self.db.execute("SELECT t.id FROM tickets t JOIN replies r ON r.ticket_id = t.id WHERE t.state=?"
                               " AND r.status='sent' AND r.answered_flagged=0 AND t.mailbox LIKE 'imap:%'"
                               " ORDER BY t.id", (State.REPLIED,))
        return [row[0] for row in rows]

    def mark_answered_flagged(self, ticket_id: int) -> None:
        self.write("UPDATE replies SET answered_flagged=1 WHERE ticket_id=?", (ticket_id,))

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
        flags = self._intake_flags(ticket_id) + [flag for flag in flags if flag not in self._intake_flags(ticket_id)]
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
            self.db.execute("UPDATE tickets SET triage=NULL, edits=NULL, flags=intake_flags, override_reason=NULL,"
                            " failures='{}' WHERE id=?", (ticket_id,))
            self.db.execute("DELETE FROM corrections WHERE ticket_id=?", (ticket_id,))  # its answer is gone

    def _intake_flags(self, ticket_id: int) -> list[str]:
        value = self.db.execute("SELECT intake_flags FROM tickets WHERE id=?", (ticket_id,)).fetchone()[0]
        return stored_flags(value, f"ticket {ticket_id}'s intake flags")

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

    # -- corrections: the decisions as labelled examples -------------------------------------------
    def corrections(self, since: str | None = None) -> list[Correction]:
        """The examples (with their mails), oldest decision first; ``since``: decided at or after (ISO)."""
        rows = self.db.execute("SELECT c.*, t.sender, t.subject, t.body, t.mail_date FROM corrections c"
                               " JOIN tickets t ON t.id = c.ticket_id WHERE c.decided_at >= ?"
                               " ORDER BY c.decided_at, c.ticket_id", (since or "",))
        return [Correction.from_row(row) for row in rows]

    def corrections_version(self) -> tuple[int, str]:
        """How many examples there are and the newest decision: a cache key for their export."""
        count, newest = self.db.execute("SELECT count(*), coalesce(max(decided_at), '') FROM corrections").fetchone()
        return count, newest

    def agreement_since(self, since: str) -> Agreement:
        """Decisions since ``since`` (ISO) and how many accepted the model's category and fields: one
        indexed query, cheap enough for every inbox rerun."""
        decisions, agreed = self.db.execute("SELECT count(*), coalesce(sum(agreed), 0) FROM corrections"
                                            " WHERE decided_at >= ?", (since,)).fetchone()
        return Agreement(decisions, agreed)

    # -- the inbox's queries ----------------------------------------------------------------
    def ticket_page(self, *, states: Sequence[str] = (), categories: Sequence[str] = (),
                    pinned: Sequence[int] = (), limit: int = 50, offset: int = 0) -> list[Ticket]:
        """One page of tickets, newest first, without their bodies. Empty ``states`` or
        ``categories`` filter nothing; ``pinned`` ids are listed whatever the filters."""
        where, args = _filter(states, categories, pinned)
        # The page's ids come from the indexes alone; only those rows are read in full.
        rows = self.db.execute(f"SELECT {LIST_COLUMNS} FROM tickets WHERE id IN (SELECT id FROM tickets{where}"
                               " ORDER BY id DESC LIMIT ? OFFSET ?) ORDER BY id DESC", (*args, limit, offset))
        return _readable(rows)

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
        return {row["ticket_id"]: (json_dict(row["detail"], f"ticket {row['ticket_id']}'s audit") or {}).get("reason")
                or "" for row in rows}

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
        return _readable(rows)

    def split_tickets(self) -> set[int]:
        """The tickets split off another's mail (support/triage.split_origin), in one query; a
        damaged audit detail names none."""
        rows = self.db.execute("SELECT ticket_id FROM audit WHERE event='received' AND CASE WHEN json_valid(detail)"
                               " THEN json_extract(detail, '$.split_from') END IS NOT NULL")
        return {row[0] for row in rows}

    def audit_log(self, ticket_id: int) -> list[AuditEntry]:
        rows = self.db.execute("SELECT * FROM audit WHERE ticket_id=? ORDER BY id", (ticket_id,))
        return [AuditEntry.from_row(row) for row in rows]

    # -- drafts: the operator's edits before a decision -------------------------------------
    def put_draft(self, ticket_id: int, draft: dict | None) -> None:
        """Store the draft, or forget it (None)."""
        if draft is None:
            self.write("DELETE FROM drafts WHERE ticket_id = ?", (ticket_id,))
            return
        self.write("INSERT INTO drafts (ticket_id, draft, updated_at) VALUES (?, ?, ?) ON CONFLICT (ticket_id)"
                   " DO UPDATE SET draft = excluded.draft, updated_at = excluded.updated_at",
                   (ticket_id, json.dumps(draft), _now()))

    def drafts(self, states: Sequence[str]) -> dict[int, dict]:
        """Drafts of tickets still in one of ``states`` (a decided ticket's draft is moot)."""
        marks = ",".join("?" * len(states))
        rows = self.db.execute(f"SELECT d.ticket_id, d.draft FROM drafts d JOIN tickets t ON t.id = d.ticket_id"
                               f" WHERE t.state IN ({marks})", tuple(states))
        drafts = {row["ticket_id"]: json_dict(row["draft"], f"ticket {row['ticket_id']}'s draft") for row in rows}
        return {ticket_id: draft for ticket_id, draft in drafts.items() if draft is not None}

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


def _readable(rows, skipped: list[int] | None = None) -> list[Ticket]:
    """The tickets of ``rows``, leaving out (with a warning, and their ids in ``skipped``) those
    this version cannot read."""
    return list(_each_readable(rows, skipped))


def _each_readable(rows, skipped: list[int] | None = None) -> Iterator[Ticket]:
    for row in rows:
        try:
            yield Ticket.from_row(row)
        except UnreadableRow as problem:
            log.warning("%s; left out of the list", problem)
            if skipped is not None:
                skipped.append(row["id"])


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL (a no-op once it is). On a fresh file another process opening it at
    the same moment holds it for a moment, and SQLite answers "database is locked" at once, without
    the busy timeout: tried again until WAL_TRIES_S have passed."""
    deadline = time.monotonic() + WAL_TRIES_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(0.02)


def _owner_alive(owner: str | None, lease_until: str) -> bool:
    """Whether a lease holder (core/processes.process_name) may still be working; another machine's
    is assumed to be. Its name's identity tells it from a process given its pid since, however the
    clock was stepped; a ``host:pid`` name (an older version's) had started by the time it took the
    lease: a process created since holds its pid, not the lease."""
    if not owner:
        return False
    leased_at = datetime.fromisoformat(lease_until).timestamp() - LEASE_S
    return process_state(owner, leased_at) is not ProcessState.GONE


def _lease_runs(owner: str | None, lease_until: str | None, lease_until_boot: float | None) -> bool:
    """Whether a lease has time left. One of a holder of this boot is measured on the boot clock,
    which no wall-clock step moves: a step forward would end a live holder's lease at once, a step
    back keep a hung one's for the step's length. Another machine's lease, or one an older version
    took, has only its wall-clock deadline."""
    if lease_until_boot is not None and of_this_boot(owner):
        return lease_until_boot > _boot_clock()
    return (lease_until or "") > _now()


def _boot_clock() -> float:
    """Seconds since this machine booted, suspend included: the clock a lease of this boot runs on."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)
