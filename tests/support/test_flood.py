"""A flood of mail from one sender (a script, a mail loop, an attacker) must not hold the desk up:
each round triages a slice, each sender's oldest mail first, then finishes approved tickets."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest

from core.mail import MailRef
from core.processes import process_name
from integrations.mail_sending import SmtpSender
from model.schema import TriageResult
from support.health import record_round, worker_health, worker_started
from support.intake import fetch_eml_dir
from support.states import State
from support.store import TicketStore
from support.triage import TRIAGE_SLICE, TriageSlice, triage_queue, triage_received, triage_slice
from support.worker import poll
from support.workflow import Workflow
from tests.conftest import REPO_ROOT
from tests.support.test_worker import cli_env
from tests.support.test_workflow import CLUB, cancel_ticket

FLOOD = 300
MEMBER_SUBJECT = "Please cancel BK-48213"


def eml(sender: str, subject: str, n: int) -> bytes:
    return (f"From: {sender}\r\nTo: {CLUB}\r\nSubject: {subject}\r\nMessage-ID: <m{n}@example.org>\r\n"
            f"Date: Wed, 25 Nov 2026 09:00:00 +0000\r\n\r\nMail number {n}.\r\n").encode()


@pytest.fixture
def flooded(tmp_path):
    """A mail folder: a flood from one sender (its address spelled in several cases), then one member's mail."""
    folder = tmp_path / "mail"
    folder.mkdir()
    spellings = ["Mail Loop <loop@example.net>", "LOOP@Example.NET", "loop@EXAMPLE.net"]
    for n in range(FLOOD):
        (folder / f"{n:04}-flood.eml").write_bytes(eml(spellings[n % 3], f"flood {n}", n))
    (folder / "9999-member.eml").write_bytes(eml("Anna Berg <anna.berg@example.org>", MEMBER_SUBJECT, 9999))
    return folder


class Scripted:
    """A stand-in triager at the model boundary (the real model is tested elsewhere): every mail is
    surely 'other'; it keeps the subjects it read, in order."""

    def __init__(self):
        self.read: list[str] = []

    def triage(self, email):
        self.read.append(email.subject)
        return TriageResult(category="other", confidence=0.99, response="Thanks")

    def triage_many(self, emails, batch_size=8):
        return [self.triage(email) for email in emails]


def test_a_members_mail_is_triaged_in_the_first_slice_and_the_flood_after_enough_rounds_each_once(flooded, tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    triager = Scripted()
    first = poll(store, lambda store: fetch_eml_dir(store, flooded), triager)
    assert first.fetched == FLOOD + 1
    assert MEMBER_SUBJECT in triager.read[:TRIAGE_SLICE.mails]
    member = next(ticket for ticket in store.tickets() if ticket.subject == MEMBER_SUBJECT)
    assert member.state == State.TRIAGED
    rounds = 1
    while store.ticket_ids(State.RECEIVED):
        poll(store, lambda store: fetch_eml_dir(store, flooded), triager)
        rounds += 1
        assert rounds <= FLOOD, "the rounds make no progress"
    assert rounds == math.ceil((FLOOD + 1) / TRIAGE_SLICE.mails)  # each round a full slice
    assert Counter(triager.read) == Counter([f"flood {n}" for n in range(FLOOD)] + [MEMBER_SUBJECT])  # each once
    assert store.state_counts() == {State.TRIAGED: FLOOD + 1}


def test_an_approved_ticket_is_executed_and_replied_in_the_first_round_despite_the_flood(
        flooded, tmp_path, club_backend, smtp_server):
    """The operator approved a cancellation, and the process died before executing it (the
    approval saved): the worker's round executes it and replies, after one slice of the flood."""
    store = TicketStore(tmp_path / "t.sqlite3")
    ticket_id = cancel_ticket(store, uid="approved")

    class Died(BaseException):
        """The operator's process dying after the approval was saved."""

    def die_once_approved(step):
        if step == "approved":
            raise Died(step)

    sender = SmtpSender(smtp_server.settings(from_address=CLUB))
    with pytest.raises(Died):
        Workflow(store, club_backend.api(), sender, from_address=CLUB, checkpoint=die_once_approved).approve(
            ticket_id, "operator")
    assert store.state_of(ticket_id) == State.APPROVED

    triager = Scripted()
    done = poll(store, lambda store: fetch_eml_dir(store, flooded), triager,
                Workflow(store, club_backend.api(), sender, from_address=CLUB))
    assert (done.resumed, done.errors) == (1, 0)
    assert store.state_of(ticket_id) == State.REPLIED and len(smtp_server.messages) == 1
    assert club_backend.effects()["cancel"] == 1
    assert len(triager.read) <= TRIAGE_SLICE.mails  # the reply waited behind one slice, not the flood
    assert done.waiting == FLOOD + 1 - len(triager.read)


def add_mail(store: TicketStore, n: int, sender: str) -> int:
    return store.add_ticket(MailRef("INBOX", "1", str(n), f"<m{n}@example.org>"), content_hash=f"{n:064}",
                            sender=sender, subject=f"mail {n}", body="Hello")


def test_the_queue_takes_each_senders_oldest_mail_before_anyones_second(tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    senders = ["Loop <loop@example.net>", "LOOP@EXAMPLE.NET", "loop@example.net",  # one sender, its case aside
               "anna@example.org",
               "",  # no readable sender: these are one group
               "loop@example.net", "a@example.org, b@example.org", "ANNA@example.org", "tom@example.org"]
    ids = [add_mail(store, n, sender) for n, sender in enumerate(senders)]
    loop, anna, unreadable, tom = ids[:3] + ids[5:6], [ids[3], ids[7]], [ids[4], ids[6]], [ids[8]]
    assert triage_queue(store) == [loop[0], anna[0], unreadable[0], tom[0],  # each one's oldest
                                   loop[1], unreadable[1], anna[1],  # each one's second, oldest first
                                   loop[2], loop[3]]


class SlowBatches(Scripted):
    """A model on a busy CPU: each batch takes a while."""

    def triage_many(self, emails, batch_size=8):
        time.sleep(0.1)
        return super().triage_many(emails, batch_size)


def test_a_slice_begins_no_batch_after_its_seconds_and_leaves_the_rest_received_uncounted(tmp_path):
    """A slice of long mails (each up to the model's budget) is bounded by time as well as by mails."""
    store = TicketStore(tmp_path / "t.sqlite3")
    ids = [add_mail(store, n, f"member{n}@example.org") for n in range(40)]
    beats = []
    done = triage_received(store, SlowBatches(), progress=beats.append, bounds=TriageSlice(mails=40, seconds=0.25))
    assert 4 <= done < len(ids) and done % 4 == 0 and beats[-1] == done  # the batch under way was finished
    assert len(store.ticket_ids(State.RECEIVED)) == len(ids) - done
    assert all(store.failures(ticket_id) == {} for ticket_id in ids)  # no run left counted against the rest


def test_the_strip_says_how_many_mails_wait_for_the_model_after_a_round_of_one_slice(flooded, tmp_path):
    store = TicketStore(tmp_path / "t.sqlite3")
    start = worker_started(store, process_name(), every_s=60)  # this process: it runs
    record_round(store, start, poll(store, lambda store: fetch_eml_dir(store, flooded), Scripted()))
    waiting = FLOOD + 1 - TRIAGE_SLICE.mails
    text = worker_health(store).text
    assert text.endswith(f"latest round {FLOOD + 1} fetched, {TRIAGE_SLICE.mails} triaged, 0 errors;"
                         f" {waiting} mails waiting for the model"), text


LOOPING_WORKER = r"""
import sys
from model.schema import TriageResult
from support import worker

class Scripted:  # a stand-in triager (no model)
    def triage_many(self, emails, batch_size=8):
        return [TriageResult(category="other", confidence=0.99, response="Thanks") for _ in emails]

worker._load_triager = lambda settings: Scripted()
worker.main(["--eml-dir", sys.argv[1], "--every", "3600"])
"""


def test_guard_a_polling_worker_goes_on_with_the_next_slice_at_once_rather_than_after_its_interval(flooded, tmp_path):
    """A guard, not a failing-before test (a round took the whole flood before): slices must not
    each wait a poll interval, or a flood of 3,000 mails takes 94 intervals."""
    data = tmp_path / "data"
    process = subprocess.Popen([sys.executable, "-c", LOOPING_WORKER, str(flooded)], cwd=REPO_ROOT,
                               env=cli_env(ACEDESK_DATA_DIR=str(data)), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (data / "acedesk.sqlite3").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        store = TicketStore(data / "acedesk.sqlite3")
        while store.state_counts() != {State.TRIAGED: FLOOD + 1} and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        assert store.state_counts() == {State.TRIAGED: FLOOD + 1}
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    assert "Traceback" not in output, output


def test_the_inbox_fetch_triages_one_slice_with_the_members_mail_in_it(flooded, tmp_path):
    """The Inbox page's Fetch triaged every received mail in id order while it held the page and the
    fetch lock: a flood held the operator for the flood's length, the member's mail last."""
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    fetch_eml_dir(store, flooded)
    ids, waiting = triage_slice(store)
    assert len(ids) == TRIAGE_SLICE.mails and waiting == FLOOD + 1 - TRIAGE_SLICE.mails
    assert MEMBER_SUBJECT in {store.ticket(ticket_id).subject for ticket_id in ids}
