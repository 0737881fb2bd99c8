"""The ticket store's schema, as the migrations that build it: ``PRAGMA user_version`` says how
many have run; a store opened by newer code is migrated on open, in one transaction each."""

from __future__ import annotations

import sqlite3

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
    # 5: a mail's identity is mailbox + UIDVALIDITY + UID *and* its content: a Message-ID another
    # mail already used no longer hides the second mail (the UNIQUE constraint goes, so the table
    # is rebuilt); every fetched UID is recorded (mail_seen), with whether the server has it marked
    # processed yet; a step's failures are counted (three park the ticket); an executing ticket
    # carries a lease (who works on it, until when); the worker's rounds are recorded (health).
    """
    CREATE TABLE tickets_v5 (
        id INTEGER PRIMARY KEY,
        mailbox TEXT NOT NULL,
        uidvalidity TEXT NOT NULL,
        uid TEXT NOT NULL,
        message_id TEXT,
        content_hash TEXT,
        sender TEXT NOT NULL DEFAULT '',
        subject TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL DEFAULT '',
        mail_date TEXT,
        machine_mail TEXT,
        state TEXT NOT NULL,
        triage TEXT,
        edits TEXT,
        flags TEXT NOT NULL DEFAULT '[]',
        intake_flags TEXT NOT NULL DEFAULT '[]',
        quarantine_reason TEXT,
        failure_reason TEXT,
        override_reason TEXT,
        reply_to TEXT,
        references_header TEXT,
        failures TEXT NOT NULL DEFAULT '{}',
        lease_owner TEXT,
        lease_until TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        category TEXT GENERATED ALWAYS AS
            (coalesce(json_extract(edits, '$.fields.category'), json_extract(triage, '$.category'))) VIRTUAL,
        UNIQUE (mailbox, uidvalidity, uid)
    );
    INSERT INTO tickets_v5 (id, mailbox, uidvalidity, uid, message_id, sender, subject, body, mail_date,
        machine_mail, state, triage, edits, flags, quarantine_reason, failure_reason, override_reason, reply_to,
        references_header, created_at, updated_at)
        SELECT id, mailbox, uidvalidity, uid, message_id, sender, subject, body, mail_date, machine_mail, state,
        triage, edits, flags, quarantine_reason, failure_reason, override_reason, reply_to, references_header,
        created_at, updated_at FROM tickets;
    DROP TABLE tickets;
    ALTER TABLE tickets_v5 RENAME TO tickets;
    CREATE INDEX tickets_by_state ON tickets (state, id);
    CREATE INDEX tickets_by_category ON tickets (category, id);
    CREATE INDEX tickets_by_message_id ON tickets (message_id);
    CREATE INDEX tickets_by_content_hash ON tickets (content_hash);
    CREATE TABLE mail_seen (
        mailbox TEXT NOT NULL,
        uidvalidity TEXT NOT NULL,
        uid TEXT NOT NULL,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        processed INTEGER NOT NULL DEFAULT 0,
        seen_at TEXT NOT NULL,
        PRIMARY KEY (mailbox, uidvalidity, uid)
    );
    INSERT INTO mail_seen (mailbox, uidvalidity, uid, ticket_id, processed, seen_at)
        SELECT mailbox, uidvalidity, uid, id, 1, created_at FROM tickets;
    CREATE TABLE worker_rounds (
        worker TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        last_round_at TEXT NOT NULL,
        every_s REAL NOT NULL,
        rounds INTEGER NOT NULL DEFAULT 0,
        fetched INTEGER NOT NULL DEFAULT 0,
        triaged INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        stopped_at TEXT
    );
    """,
    # 6: who sent it, as the club's own MX verified it (integrations/sender_auth.py), and the
    # Reply-To only when the mail had one
    """
    ALTER TABLE tickets ADD COLUMN sender_auth TEXT;
    UPDATE tickets SET reply_to = NULL WHERE reply_to IS NOT NULL AND instr(lower(sender), lower(reply_to)) > 0;
    """,
    # 7: the operator's decisions as labelled examples (support/corrections.py), one per decided ticket
    # (the latest decision stands): the model's answer and the final one as JSON, what changed, who
    # decided when. The mail itself stays in its ticket: the raw text is kept in one place only.
    # ``agreed`` (category and fields accepted unchanged) is a column so the inbox's alert is one query.
    """
    CREATE TABLE corrections (
        ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
        decided_at TEXT NOT NULL,
        actor TEXT NOT NULL,
        decision TEXT NOT NULL,
        reason TEXT,
        was_ready INTEGER NOT NULL,
        agreed INTEGER NOT NULL,
        model TEXT NOT NULL,
        final TEXT NOT NULL,
        changes TEXT NOT NULL
    );
    CREATE INDEX corrections_by_time ON corrections (decided_at);
    """,
    # 8: since when the worker's mailbox has been unavailable (the first failed fetch after the last
    # good one) and its latest error: hours of refused connections are no longer "1 error" on the strip
    """
    ALTER TABLE worker_rounds ADD COLUMN mailbox_down_since TEXT;
    ALTER TABLE worker_rounds ADD COLUMN mailbox_error TEXT;
    """,
    # 9: a lease's deadline on the boot clock of its holder's boot (seconds since that boot, which no
    # wall-clock step moves), beside its wall-clock one; NULL where the holder is of another machine,
    # and in a lease taken before (both keep the wall-clock rule)
    """
    ALTER TABLE tickets ADD COLUMN lease_until_boot REAL;
    """,
    # 10: a fetch round lists only the UIDs above the highest one stored, found by the index without
    # reading the generation's rows, and the whole folder now and then: when a round last did so,
    # per folder generation (integrations/imap_mailbox.py, ImapMailbox.new_mails_since)
    """
    CREATE INDEX mail_seen_by_uid_number ON mail_seen (mailbox, uidvalidity, CAST(uid AS INTEGER));
    CREATE TABLE mail_listings (
        mailbox TEXT NOT NULL,
        uidvalidity TEXT NOT NULL,
        listed_whole_at TEXT NOT NULL,
        PRIMARY KEY (mailbox, uidvalidity)
    );
    """,
]


def migrate(db: sqlite3.Connection) -> None:
    """Run the migrations this database has not had. Foreign keys are off meanwhile (a migration may
    rebuild a table others refer to) and checked afterwards.

    Several processes may open a store that is not migrated yet at the same moment (the worker and
    the app after an upgrade, or both on a fresh data folder): each migration runs under
    ``BEGIN IMMEDIATE`` with ``user_version`` read again inside it, so one process runs it and the
    others, waiting for the lock, find it done and go on with the next one still needed."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= len(MIGRATIONS):
        return  # the version only grows: a store found up to date stays so
    db.execute("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction: set before the first
    try:
        while _migrate_one(db):
            pass
    finally:
        db.execute("PRAGMA foreign_keys=ON")


def _migrate_one(db: sqlite3.Connection) -> bool:
    """Run the next migration this database needs, in one transaction; False when none is left."""
    db.execute("BEGIN IMMEDIATE")  # executescript would commit half-way: statement by statement
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]  # inside the lock: what is still needed
        if version >= len(MIGRATIONS):
            db.execute("ROLLBACK")
            return False
        number = version + 1
        for statement in _statements(MIGRATIONS[version]):
            db.execute(statement)
        if problems := db.execute("PRAGMA foreign_key_check").fetchall():
            raise sqlite3.IntegrityError(f"migration {number} broke foreign keys: {problems[:3]}")
        db.execute(f"PRAGMA user_version = {number}")
    except BaseException:
        if db.in_transaction:  # SQLite may have rolled back already (a full disk)
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return True


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";") if part.strip()]
