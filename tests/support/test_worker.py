import dataclasses
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imap_tools import MailBoxUnencrypted

from core.mail import MailRef
from core.settings import load_settings
from integrations.imap_mailbox import FETCH_CHUNK_MAILS
from model.inference import load_triager
from model.review import ReviewRule, ReviewThresholds
from model.schema import CATEGORIES, TriageResult
from model.served import ModelServerUnavailable
from support import health, intake, tickets, triage, worker
from support.desk import open_store
from support.health import Round, record_progress, record_round, worker_health, worker_started
from support.intake import eml_dir_mails, fetch_eml_dir, fetch_imap, ingest
from support.states import State
from support.store import PARK_AFTER_FAILURES, TicketStore
from support.triage import triage_received
from support.worker import main, poll
from tests.conftest import MIME_CORPUS, REPO_ROOT
from tests.support.test_store import DAMAGES, damage, three_tickets

PERSON = (b"From: Anna Berg <anna@example.org>\r\nSubject: Cancel\r\nMessage-ID: <p1@example.org>\r\n"
          b"Date: Wed, 25 Nov 2026 09:00:00 +0000\r\n\r\nPlease cancel BK-12345.\r\n")
AUTO_REPLY = (b"From: Tom <tom@example.org>\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n"
              b"Message-ID: <o1@example.org>\r\n\r\nI am away until Monday.\r\n")


@pytest.fixture
def mailbox(tmp_path):
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "01-person.eml").write_bytes(PERSON)
    (folder / "02-auto.eml").write_bytes(AUTO_REPLY)
    (folder / "03-empty.eml").write_bytes(b"\r\n\r\n")
    return folder


def run_once(store, folder, triager) -> tuple[int, int]:
    return fetch_eml_dir(store, folder), triage_received(store, triager)


def test_fetch_stores_triages_flags_and_a_second_fetch_adds_nothing(mailbox, tmp_path, tiny_base_dir):
    store = TicketStore(tmp_path / "t.sqlite3")
    triager = load_triager(str(tiny_base_dir), adapter=None)
    assert run_once(store, mailbox, triager) == (3, 2)
    assert run_once(store, mailbox, triager) == (0, 0)

    by_uid = {t.uid: t for t in store.tickets()}
    assert by_uid["03-empty.eml"].state == State.QUARANTINED
    assert "neither a sender nor any text" in by_uid["03-empty.eml"].quarantine_reason
    auto = by_uid["02-auto.eml"]
    assert auto.state == State.NEEDS_REVIEW and "never auto-answered" in auto.flags[0]
    assert by_uid["01-person.eml"].triage["category"] in CATEGORIES


def test_every_mime_corpus_message_is_ingested_or_quarantined(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in MIME_CORPUS:
        shutil.copy(path, folder / f"{path.name}.eml")
    store = TicketStore(tmp_path / "t.sqlite3")
    ids = ingest(store, eml_dir_mails(folder))
    stored = store.tickets()
    assert len(stored) == len(MIME_CORPUS) == len(ids) + 0  # nothing lost, nothing doubled
    for ticket in stored:
        assert ticket.state in (State.RECEIVED, State.QUARANTINED)
        if ticket.state == State.QUARANTINED:
            assert ticket.quarantine_reason


def test_export_prints_one_json_line_per_ticket(mailbox, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    ingest(open_store(load_settings()), eml_dir_mails(mailbox))
    assert tickets.main(["export"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["state"] for line in lines] == ["received", "received", "quarantined"]
    assert lines[0]["message_id"] == "<p1@example.org>" and lines[2]["quarantine_reason"]


# -- IMAP (a real private Dovecot: tests/fixtures/dovecot.py) ---------------------------------
def imap_env(monkeypatch, settings, tmp_path, **extra):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    values = {"HOST": settings.host, "PORT": str(settings.port), "SECURITY": settings.security,
              "USER": settings.user, "PASSWORD": settings.password, **extra}
    for name, value in values.items():
        monkeypatch.setenv(f"ACEDESK_IMAP_{name}", value)


def folder_flags(settings, folder="INBOX") -> list[set[str]]:
    with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password, folder) as box:
        return [set(msg.flags) - {"\\Recent"} for msg in box.fetch(mark_seen=False, headers_only=True)]


def test_worker_cli_fetches_from_the_imap_account_in_the_environment(
        dovecot_server, imap_account, tmp_path, monkeypatch):
    dovecot_server.append_many(imap_account.user, [PERSON, AUTO_REPLY, b"\r\n\r\n"])
    imap_env(monkeypatch, imap_account, tmp_path, PROCESSED_FOLDER="Processed", MARK_SEEN="1")

    assert main(["--once", "--no-triage"]) == 0
    assert main(["--once", "--no-triage"]) == 0  # nothing new: no duplicate

    stored = open_store(load_settings()).tickets()
    assert [t.state for t in stored] == [State.RECEIVED, State.RECEIVED, State.QUARANTINED]
    assert stored[0].mailbox == f"imap:{imap_account.user}@127.0.0.1/INBOX"
    assert folder_flags(imap_account) == []
    assert folder_flags(imap_account, "Processed") == [{"\\Seen"}] * 3


def test_worker_cli_triages_imap_mail(dovecot_server, imap_account, tmp_path, monkeypatch, tiny_base_dir):
    dovecot_server.append_many(imap_account.user, [PERSON, AUTO_REPLY])
    imap_env(monkeypatch, imap_account, tmp_path)
    monkeypatch.setattr(worker, "_load_triager", lambda settings: load_triager(str(tiny_base_dir), adapter=None))

    assert main(["--once"]) == 0
    states = [t.state for t in open_store(load_settings()).tickets()]
    assert states[1] == State.NEEDS_REVIEW and states[0] in (State.TRIAGED, State.NEEDS_REVIEW)
    assert folder_flags(imap_account) == [set(), set()]  # nothing configured: mail stays as it was


def test_worker_cli_without_a_mail_source_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.delenv("ACEDESK_IMAP_HOST", raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["--once", "--no-triage"])
    assert exited.value.code == 2 and "ACEDESK_IMAP_HOST" in capsys.readouterr().err


def test_worker_cli_exits_1_when_the_mailbox_is_unavailable(imap_account, tmp_path, monkeypatch, caplog):
    imap_env(monkeypatch, imap_account, tmp_path, PASSWORD="wrong-pw-123")
    assert main(["--once", "--no-triage"]) == 1
    assert "login refused" in caplog.text and "wrong-pw-123" not in caplog.text


class CrashingStore(TicketStore):
    """A store that fails (disk full, say) once it holds ``limit`` tickets."""

    limit: int | None = None

    def add_ticket(self, ref, **fields):
        if self.limit is not None and len(self.tickets()) >= self.limit:
            raise OSError("disk full")
        return super().add_ticket(ref, **fields)


def test_mail_is_flagged_and_moved_only_after_its_ticket_is_stored(dovecot_server, imap_account, tmp_path):
    dovecot_server.append_many(imap_account.user, [PERSON, AUTO_REPLY, b"\r\n\r\n"])
    settings = dataclasses.replace(imap_account, mark_seen=True, processed_folder="Processed")
    store = CrashingStore(tmp_path / "t.sqlite3")
    store.limit = 1

    with pytest.raises(OSError, match="disk full"):
        fetch_imap(store, settings)
    assert len(store.tickets()) == 1
    assert folder_flags(settings, "Processed") == [{"\\Seen"}]
    assert folder_flags(settings) == [set(), set()]  # not stored, so not touched

    store.limit = None
    assert fetch_imap(store, settings) == 2
    assert folder_flags(settings) == [] and len(folder_flags(settings, "Processed")) == 3


def test_dropped_connection_then_next_poll_resumes_without_loss_or_duplicates(
        dovecot_server, imap_account, tmp_path):
    mails = [PERSON.replace(b"<p1@", b"<p%d@" % n) for n in range(FETCH_CHUNK_MAILS + 20)]
    dovecot_server.append_many(imap_account.user, mails)
    settings = dataclasses.replace(imap_account, processed_folder="Processed")

    class KickingStore(TicketStore):
        def add_ticket(self, ref, **fields):
            ticket_id = super().add_ticket(ref, **fields)
            if ticket_id == 10:
                dovecot_server.kick(settings.user)  # the server goes away mid-fetch
            return ticket_id

    store = KickingStore(tmp_path / "t.sqlite3")
    fetch = partial(fetch_imap, settings=settings)
    assert poll(store, fetch, triager=None).mailbox_available is False
    assert len(store.tickets()) == 10  # stored before the drop; the 10th's move failed with the link
    assert poll(store, fetch, triager=None).mailbox_available is True
    message_ids = [t.message_id for t in store.tickets()]
    assert len(message_ids) == len(set(message_ids)) == len(mails)


@pytest.mark.parametrize("check", ["original_from_headers", "authenticate_sender", "machine_mail_reason",
                                   "address_tricks"])
def test_an_unexpected_error_on_one_mail_quarantines_it_and_the_others_go_on(mailbox, tmp_path, monkeypatch, check):
    # Every check intake runs on a read mail: one that raises on the first mail in line must not
    # stop the fetch (the same mail would be first again on every fetch after it).
    real = getattr(intake, check)

    def breaks_on_the_auto_reply(*args):
        if any("tom@example.org" in str(arg) for arg in args):
            raise LookupError("unknown encoding: x-weird")
        return real(*args)

    monkeypatch.setattr(intake, check, breaks_on_the_auto_reply)
    (mailbox / "00-auto.eml").write_bytes((mailbox / "02-auto.eml").read_bytes().replace(b"o1@", b"o0@") + b"!")
    store = TicketStore(tmp_path / "t.sqlite3")
    assert len(ingest(store, eml_dir_mails(mailbox))) == 4
    by_uid = {t.uid: t for t in store.tickets()}
    for auto in (by_uid["00-auto.eml"], by_uid["02-auto.eml"]):
        assert auto.state == State.QUARANTINED
        assert "LookupError: unknown encoding" in auto.quarantine_reason
        assert (auto.sender, auto.subject) == ("Tom <tom@example.org>", "Out of office")  # named for the operator
    assert by_uid["01-person.eml"].state == State.RECEIVED
    assert len(ingest(store, eml_dir_mails(mailbox))) == 0  # and not stored twice
    assert by_uid["01-person.eml"].reply_to is None  # it has no Reply-To


POISON_DATE = (b"From: Member <member@example.org>\r\nSubject: Court\r\nMessage-ID: <poison@example.org>\r\n"
               b"Date: Fri, 31 Dec 9999 23:59:59 -1200\r\n\r\nCan we move my booking BK-90316 to 14.06.?\r\n")


class BrokenOn:
    """A model that fails on mails whose subject says so (an OOM, a bug in a tokenizer): the rest
    of the real triager's surface is the tiny model's."""

    def __init__(self, triager, subject: str):
        self.triager, self.subject, self.calls = triager, subject, 0

    def triage(self, email):
        self.calls += 1
        if email.subject == self.subject:
            raise RuntimeError("out of memory")
        return self.triager.triage(email)

    def triage_many(self, emails, batch_size=8):
        return [self.triage(email) for email in emails]


def test_a_mail_the_model_fails_on_goes_to_review_after_three_tries_and_the_others_go_on(
        mailbox, tmp_path, tiny_base_dir):
    (mailbox / "04-poison.eml").write_bytes(POISON_DATE)
    store = TicketStore(tmp_path / "t.sqlite3")
    triager = BrokenOn(load_triager(str(tiny_base_dir), adapter=None), "Court")
    fetch_eml_dir(store, mailbox)
    for _ in range(3):
        done = poll(store, lambda store: 0, triager)
        assert done.errors == 0  # contained in the ticket, not a round's error
    by_uid = {t.uid: t for t in store.tickets()}
    poison = by_uid["04-poison.eml"]
    assert poison.state == State.NEEDS_REVIEW and store.failures(poison.id) == {"triage": 3}
    assert any("triage failed 3 times" in flag and "out of memory" in flag for flag in poison.flags)
    assert by_uid["01-person.eml"].state in (State.TRIAGED, State.NEEDS_REVIEW)  # the others went on


def test_a_mail_whose_answer_cannot_be_checked_is_counted_against_it_and_the_mails_after_it_go_on(
        mailbox, tmp_path, tiny_base_dir, monkeypatch):
    """The model answers, then flagging the answer fails (a bug in a check, hit by one strange
    mail): the mail is the first in line, so a round that stopped there would leave every later
    mail untriaged for good."""
    (mailbox / "00-poison.eml").write_bytes(POISON_DATE)
    real = triage.mail_injection_reason

    def breaks_on_court(subject, body):
        if subject == "Court":
            raise UnicodeError("a check broke on this mail")
        return real(subject, body)

    monkeypatch.setattr(triage, "mail_injection_reason", breaks_on_court)
    store = TicketStore(tmp_path / "t.sqlite3")
    triager = load_triager(str(tiny_base_dir), adapter=None)
    fetch_eml_dir(store, mailbox)
    by_uid = {t.uid: t for t in store.tickets()}
    poison, person = by_uid["00-poison.eml"], by_uid["01-person.eml"]
    assert poison.id < person.id  # the poison is triaged first
    done = poll(store, lambda store: 0, triager)
    assert done.errors == 0 and store.ticket(person.id).state in (State.TRIAGED, State.NEEDS_REVIEW)
    assert store.ticket(poison.id).state == State.RECEIVED and store.failures(poison.id) == {"triage": 1}
    for _ in range(2):
        assert poll(store, lambda store: 0, triager).errors == 0
    parked = store.ticket(poison.id)
    assert parked.state == State.NEEDS_REVIEW and store.failures(poison.id) == {"triage": 3}
    assert any("triage failed 3 times" in flag and "a check broke on this mail" in flag for flag in parked.flags)


def test_a_heartbeat_the_locked_store_refused_does_not_stop_the_worker(mailbox, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))

    def locked(*args):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(worker, "record_round", locked)
    assert main(["--once", "--no-triage", "--eml-dir", str(mailbox)]) == 0
    assert len(open_store(load_settings()).tickets()) == 3  # the round's work stands
    assert "heartbeat failed" in caplog.text


def test_the_year_9999_mail_is_triaged_and_listed(mailbox, tmp_path, tiny_base_dir):
    (mailbox / "04-poison.eml").write_bytes(POISON_DATE)
    store = TicketStore(tmp_path / "t.sqlite3")
    assert run_once(store, mailbox, load_triager(str(tiny_base_dir), adapter=None)) == (4, 3)
    poison = next(ticket for ticket in store.tickets() if ticket.uid == "04-poison.eml")
    assert poison.state in (State.TRIAGED, State.NEEDS_REVIEW) and poison.mail_date.startswith("9999-12-31")


def test_a_round_records_its_heartbeat_and_the_strip_says_so(mailbox, tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    assert worker_health(open_store(load_settings())).text.startswith("no worker has run yet")
    assert main(["--once", "--no-triage", "--eml-dir", str(mailbox)]) == 0
    health = worker_health(open_store(load_settings()))
    assert not health.running and health.text.startswith("worker not running since")  # --once said it stopped
    store = open_store(load_settings())
    start = worker_started(store, "host:1", every_s=30)
    record_round(store, start, Round(fetched=2, triaged=2, errors=1, last_error="mailbox unavailable"))
    health = worker_health(store)
    assert health.running and "2 fetched" in health.text and "1 error" in health.text
    later = datetime.now(UTC) + timedelta(minutes=10)
    assert not worker_health(store, now=later).running  # no round for 20 intervals: stale


def test_a_mark_that_failed_is_made_on_the_next_fetch(dovecot_server, imap_account, tmp_path):
    dovecot_server.append_many(imap_account.user, [PERSON])
    settings = dataclasses.replace(imap_account, mark_seen=True)
    store = TicketStore(tmp_path / "t.sqlite3")
    from integrations.imap_mailbox import ImapMailbox, ImapUnavailable

    def server_gone(ref):
        raise ImapUnavailable("connection lost")

    with ImapMailbox(settings) as mailbox, pytest.raises(ImapUnavailable):
        ingest(store, mailbox.new_mails(store.known_uids), on_stored=server_gone)
    assert len(store.tickets()) == 1 and folder_flags(settings) == [set()]  # stored, not marked
    assert fetch_imap(store, settings) == 0  # nothing new, but the mark is made now
    assert folder_flags(settings) == [{"\\Seen"}]
    assert store.unmarked_uids(*store.db.execute("SELECT mailbox, uidvalidity FROM mail_seen").fetchone()) == []


class SureAt:
    """A triager that reads every mail as a cancellation at one confidence, under a given review rule."""

    def __init__(self, confidence, review_rule):
        self.confidence, self.review_rule = confidence, review_rule

    def triage(self, email):
        return TriageResult("cancel_booking", booking_id="BK-12345", confidence=self.confidence,
                            category_check=0.9, response="Your booking BK-12345 is cancelled.")

    def triage_many(self, emails, batch_size=8):
        return [self.triage(email) for email in emails]


@pytest.mark.parametrize("threshold, ready", [(0.6, True), (0.8, False)])
def test_the_worker_decides_by_the_rule_of_the_adapter_that_answered(mailbox, tmp_path, threshold, ready):
    store = TicketStore(tmp_path / "t.sqlite3")
    rule = ReviewRule(ReviewThresholds(confidence=threshold, check=0.05))
    run_once(store, mailbox, SureAt(0.7, rule))
    person = next(ticket for ticket in store.tickets() if ticket.uid == "01-person.eml")
    assert (person.state == State.TRIAGED) is ready
    assert ("low confidence (70%)" in person.flags) is not ready


# -- one damaged row; a mail that kills the triage process ----------------------------------------
class Canned:
    """A stand-in triager (no model is loaded): every mail is surely 'other'."""

    def triage(self, email):
        return TriageResult(category="other", confidence=0.99, response="Thanks")

    def triage_many(self, emails, batch_size=8):
        return [self.triage(email) for email in emails]


def cli_env(**extra) -> dict[str, str]:
    """The environment of a command run by a test: none of the developer's ACEDESK_* settings."""
    return {**{name: value for name, value in os.environ.items() if not name.startswith("ACEDESK_")},
            "PYTHONPATH": str(REPO_ROOT), **extra}


@pytest.mark.parametrize("name", [name for name in DAMAGES if not name.startswith("edits")])  # what a received row holds
def test_one_damaged_row_neither_stops_a_triage_round_nor_the_other_tickets(tmp_path, name):
    store = TicketStore(tmp_path / "t.sqlite3")
    good_one, bad, good_two = three_tickets(store, triaged=False)
    damage(store, bad, name)
    done = poll(store, lambda store: 0, Canned())
    assert (done.errors, done.last_error) == (0, None)
    states = dict(store.db.execute("SELECT id, state FROM tickets").fetchall())
    assert states[good_one] == states[good_two] == State.TRIAGED
    if name == "unknown state":  # not this version's to triage: left as it is
        assert states[bad] == "archived"
    else:  # the damaged part read as absent: the ticket itself is triaged
        assert states[bad] in (State.TRIAGED, State.NEEDS_REVIEW) and store.failures(bad) == {}


@pytest.mark.parametrize("name", ["unknown state", "unreadable sender_auth", "unreadable flags"])
def test_export_leaves_out_only_a_row_it_cannot_read_and_says_which(tmp_path, name):
    data = tmp_path / "data"
    store = TicketStore(data / "acedesk.sqlite3")
    good_one, bad, good_two = three_tickets(store, triaged=True)
    damage(store, bad, name)
    done = subprocess.run([sys.executable, "-m", "support.tickets", "export"], check=False, cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120, env=cli_env(ACEDESK_DATA_DIR=str(data)))
    exported = [json.loads(line) for line in done.stdout.splitlines()]
    if name == "unknown state":  # the others exported; the one left out named on stderr, and the exit says so
        assert [line["id"] for line in exported] == [good_one, good_two]
        assert done.returncode == 1 and f"not exported: ticket {bad}," in done.stderr
        assert "its state 'archived' is unknown" in done.stderr
    else:
        assert done.returncode == 0, done.stderr
        assert [(line["id"], line["category"]) for line in exported] == [(t, "other") for t in (good_one, bad, good_two)]


class AwayWhileWatched:
    """A model server that is away; while it is asked, another connection reads the store."""

    def __init__(self, path):
        self.watcher, self.seen = TicketStore(path), []

    def triage_many(self, emails, batch_size=8):
        self.seen = [json.loads(row[0]) for row in self.watcher.db.execute("SELECT failures FROM tickets ORDER BY id")]
        raise ModelServerUnavailable("the model server at http://127.0.0.1:9 did not answer")


def test_a_triage_run_is_counted_before_the_model_reads_and_taken_back_when_it_ends(tmp_path):
    """Counted and committed first, or a process killed while the model reads leaves nothing; taken
    back when the run ends in an exception (the model server away), which is not the mails' doing."""
    store = TicketStore(tmp_path / "t.sqlite3")
    ids = three_tickets(store, triaged=False)
    away = AwayWhileWatched(tmp_path / "t.sqlite3")
    assert poll(store, lambda store: 0, away).errors == 1
    assert away.seen == [{"triage_unfinished": 1}] * 3  # in the store, for any other process to see
    assert [store.failures(ticket_id) for ticket_id in ids] == [{}] * 3
    assert store.state_counts() == {"received": 3}


KILLED_ROUND = r"""
import os, signal, sys
from model.schema import TriageResult
from support.store import TicketStore
from support.worker import poll

class KilledOnPoison:  # a stand-in triager (no model) killed, as by the OOM killer, on the mail 'poison'

    def triage(self, email):
        if email.subject == "poison":
            os.kill(os.getpid(), signal.SIGKILL)
        return TriageResult(category="other", confidence=0.99, response="Thanks")

    def triage_many(self, emails, batch_size=8):
        return [self.triage(email) for email in emails]

sys.exit(1 if poll(TicketStore(sys.argv[1]), lambda store: 0, KilledOnPoison()).errors else 0)
"""


def test_a_mail_that_kills_the_triage_process_goes_to_review_and_the_queue_moves_on(tmp_path):
    path = tmp_path / "t.sqlite3"
    store = TicketStore(path)
    ids = [store.add_ticket(MailRef("INBOX", "1", str(n), f"<m{n}@example.org>"), content_hash=str(n) * 64,
                            sender=f"m{n}@example.org", subject="poison" if n == 2 else "Booking", body="Hello")
           for n in range(1, 8)]
    poison = ids[1]  # in the first batch, with three ordinary mails
    exits = []
    for _ in range(PARK_AFTER_FAILURES + 3):  # worker rounds, each a process, restarted when one dies
        if not store.state_counts().get(State.RECEIVED):
            break
        exits.append(subprocess.run([sys.executable, "-c", KILLED_ROUND, str(path)], check=False, cwd=REPO_ROOT,
                                    env=cli_env(), capture_output=True, timeout=120).returncode)
    assert exits.count(-signal.SIGKILL) == PARK_AFTER_FAILURES and exits[-1] == 0  # it died; the last round ended
    assert store.state_counts() == {State.TRIAGED: len(ids) - 1, State.NEEDS_REVIEW: 1}
    parked = store.ticket(poison)
    reason = f"the triage process stopped on this mail {PARK_AFTER_FAILURES} times"
    assert parked.state == State.NEEDS_REVIEW and any(flag.startswith(reason) for flag in parked.flags)
    assert not parked.triage["valid"] and parked.triage["problems"][0].startswith(reason)
    for ticket_id in ids:
        assert store.failures(ticket_id) == {}  # nothing left counted against any mail
        if ticket_id != poison:  # no ordinary mail was parked: each has the stand-in's answer
            ordinary = store.ticket(ticket_id)
            assert (ordinary.state, ordinary.flags, ordinary.triage["valid"]) == (State.TRIAGED, (), True)


STOPPED_ROUND = r"""
import sys, time
from pathlib import Path
from model.schema import TriageResult
from support.store import TicketStore
from support.worker import poll, stop_on_sigterm

class Slow:  # a stand-in triager (no model) that is still reading when the worker is stopped
    def triage_many(self, emails, batch_size=8):
        Path(sys.argv[2]).touch()
        time.sleep(60)
        return [TriageResult(category="other", confidence=0.99, response="Thanks") for _ in emails]

stop_on_sigterm()
poll(TicketStore(sys.argv[1]), lambda store: 0, Slow())
"""


def test_a_worker_stopped_by_sigterm_counts_no_unfinished_run_against_its_mails(tmp_path):
    path, reading = tmp_path / "t.sqlite3", tmp_path / "reading"
    store = TicketStore(path)
    ids = [store.add_ticket(MailRef("INBOX", "1", str(n), f"<m{n}@example.org>"), content_hash=str(n) * 64,
                            sender=f"m{n}@example.org", subject="Booking", body="Hello") for n in range(1, 4)]
    worker = subprocess.Popen([sys.executable, "-c", STOPPED_ROUND, str(path), str(reading)], cwd=REPO_ROOT,
                              env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not reading.exists() and worker.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reading.exists(), worker.communicate()[0]
        assert store.failures(ids[0]) == {"triage_unfinished": 1}  # counted while it reads
        worker.terminate()
        output = worker.communicate(timeout=30)[0].decode()
    finally:
        worker.kill()
    assert worker.returncode == 128 + signal.SIGTERM and "Traceback" not in output, output
    assert [store.failures(ticket_id) for ticket_id in ids] == [{}] * 3  # a stop is not the mails' doing
    assert store.state_counts() == {"received": 3}


def test_a_round_tells_its_progress_after_the_fetch_and_after_each_triage_batch(tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    for n in range(9):  # batches of 4, 4 and 1
        store.add_ticket(MailRef("INBOX", "1", str(n), f"<m{n}@example.org>"), content_hash=str(n) * 64,
                         sender=f"m{n}@example.org", subject="Booking", body="Hello")
    beats = []
    done = poll(store, lambda store: 2, Canned(), progress=beats.append)
    assert [(beat.fetched, beat.triaged, beat.errors) for beat in beats] == [(2, 0, 0), (2, 4, 0), (2, 8, 0), (2, 9, 0)]
    assert (done.fetched, done.triaged, done.errors) == (2, 9, 0)


def test_a_heartbeat_the_busy_store_refused_is_one_line_naming_the_store_not_a_traceback(mailbox, tmp_path, monkeypatch,
                                                                                      caplog):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    store = open_store(load_settings())
    store.db.execute("PRAGMA busy_timeout=0")  # the 30 s a write waits, spent at once
    monkeypatch.setattr(worker, "open_store", lambda settings: store)
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's write, held past the busy timeout
    try:
        assert main(["--once", "--no-triage", "--eml-dir", str(mailbox)]) == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    beats = [record for record in caplog.records if "heartbeat failed" in record.getMessage()]
    assert len(beats) == 2  # the beat after the fetch and the round's end
    for beat in beats:
        assert beat.exc_info is None and f"the ticket store {store.path} is busy" in beat.getMessage(), beat


class Clock:
    """The heartbeat's clock, one second later at each reading."""

    def __init__(self):
        self.start, self.readings = datetime.now(UTC).replace(microsecond=0), 0

    def __call__(self) -> str:
        self.readings += 1
        return self.last

    @property
    def last(self) -> str:
        return (self.start + timedelta(seconds=self.readings)).isoformat(timespec="seconds")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(beats=st.lists(st.tuples(st.one_of(st.none(), st.text(max_size=30)), st.booleans()), min_size=1, max_size=10))
def test_the_mailbox_is_down_since_the_first_failed_fetch_after_the_last_good_one(tmp_path, beats):
    """Any run of rounds and beats within them, the mailbox refused or fine, with whatever words
    its server said: the strip warns exactly while the latest beat found it down, since the first
    of those beats."""
    store = TicketStore(tmp_path / "t.sqlite3")
    store.db.execute("DELETE FROM worker_rounds")
    clock, expected_since = Clock(), None
    with mock.patch.object(health, "_now", clock):
        start = worker_started(store, "host:1", every_s=30)
        for mailbox_error, round_ended in beats:
            beat = record_round if round_ended else record_progress
            beat(store, start, Round(errors=mailbox_error is not None, mailbox_error=mailbox_error))
            expected_since = None if mailbox_error is None else expected_since or clock.last
            stored = store.db.execute("SELECT mailbox_down_since FROM worker_rounds").fetchone()[0]
            assert stored == expected_since
            now = worker_health(store, now=datetime.fromisoformat(clock.last))
            assert now.running and now.problem == (mailbox_error is not None), now
            if mailbox_error is not None:
                since = datetime.fromisoformat(expected_since).astimezone()
                assert now.text.endswith(f"but cannot reach the mailbox since {since:%H:%M} (today): {mailbox_error}")
            else:
                assert now.text.startswith("worker: active 0 s ago, latest round 0 fetched, 0 triaged, 0 errors")
    store.db.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(st.one_of(st.sampled_from(["restart", "restart refused"]),
                                  st.tuples(st.one_of(st.none(), st.text(max_size=30)), st.booleans())),
                       min_size=1, max_size=12))
def test_the_mailbox_stays_down_since_its_first_failure_across_worker_restarts(tmp_path, events):
    """Workers restarted (a supervisor after a crash, the next --once run) among rounds that find the
    mailbox down or fine: the time is the first failure since the last good fetch of any of them; a
    restarted worker warns again only once its own fetch failed (it may be back). A start the store
    refused (locked past its busy timeout) changes none of it: its first beat records it."""
    store = TicketStore(tmp_path / "t.sqlite3")
    store.db.execute("DELETE FROM worker_rounds")
    clock, expected_since, pid = Clock(), None, 1
    with mock.patch.object(health, "_now", clock):
        start = worker_started(store, f"host:{pid}", every_s=30)
        for event in events:
            if event == "restart refused":
                pid += 1
                locked = sqlite3.OperationalError("database is locked")
                with mock.patch.object(store, "write", side_effect=locked):
                    start = worker_started(store, f"host:{pid}", every_s=30)
                assert store.db.execute("SELECT count(*) FROM worker_rounds WHERE worker=?", (start.name,)).fetchone()[0] == 0
                continue
            if event == "restart":
                pid += 1
                start = worker_started(store, f"host:{pid}", every_s=30)
                now = worker_health(store, now=datetime.fromisoformat(clock.last))
                assert now.running and not now.problem, now  # not fetched yet: no warning from its predecessor
                continue
            mailbox_error, round_ended = event
            beat = record_round if round_ended else record_progress
            beat(store, start, Round(errors=mailbox_error is not None, mailbox_error=mailbox_error))
            expected_since = None if mailbox_error is None else expected_since or clock.last
            assert tuple(store.db.execute("SELECT started_at, every_s FROM worker_rounds WHERE worker=?",
                                          (start.name,)).fetchone()) == (start.started_at, 30)
            now = worker_health(store, now=datetime.fromisoformat(clock.last))
            assert now.problem == (mailbox_error is not None), now
            if mailbox_error is not None:
                since = datetime.fromisoformat(expected_since).astimezone()
                assert now.text.endswith(f"but cannot reach the mailbox since {since:%H:%M} (today): {mailbox_error}")
                assert store.db.execute("SELECT mailbox_down_since FROM worker_rounds WHERE worker=?",
                                        (f"host:{pid}",)).fetchone()[0] == expected_since
    store.db.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(runs_died_in=st.lists(st.integers(min_value=0, max_value=PARK_AFTER_FAILURES), max_size=11))
def test_triage_received_tells_each_batch_and_returns_how_many_it_was_given(tmp_path, runs_died_in):
    """The worker's heartbeat and the inbox's count come from one loop: tickets a run died on (alone,
    after the others) and ones parked unread count too, and each beat says more than the one before."""
    store = TicketStore(tmp_path / f"{uuid.uuid4()}.sqlite3")  # one per example: tickets cannot be deleted
    for n, died in enumerate(runs_died_in):
        ticket_id = store.add_ticket(MailRef("INBOX", "1", str(n), f"<m{n}@example.org>"), content_hash=f"{n:064}",
                                     sender=f"m{n}@example.org", subject="Booking", body="Hello")
        for _ in range(died):
            store.begin_runs([ticket_id], triage.TRIAGE_RUNS)
    beats = []
    assert triage_received(store, Canned(), progress=beats.append) == len(runs_died_in)
    assert beats == sorted(set(beats)) and beats[-1:] == ([len(runs_died_in)] if runs_died_in else [])
    assert store.state_counts().get("received", 0) == 0
    store.db.close()
