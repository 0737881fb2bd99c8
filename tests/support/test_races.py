"""Races between real processes (issue 12): two ``support.worker`` processes and an operator
approving through the store, over 200 mails, with an SMTP server that stalls 5 s per message and
a club backend that drops 10% of its answers after acting. Afterwards: no worker crashed, no mail
is lost, every approved ticket had exactly one backend effect and exactly one reply.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest

from integrations.club_api import ClubApiError
from integrations.mail_sending import SmtpSender
from support.actions import ActionProblem
from support.states import State, TransitionError
from support.store import TicketStore
from support.trust import TrustPolicy
from support.workflow import NeedsOverride, Workflow
from testbed.smtp import SmtpTestServer
from tests.conftest import REPO_ROOT

MAILS = 200
APPROVED_SHARE = 10  # every tenth mail is approved: 20 replies, 5 s each at the stalling server
STALL_S = 5.0
DROP_RATE = 0.1
DEADLINE_S = 600
MEMBERS = [("anna.berg", "anna.berg@example.org"), ("sarah.lee", "sarah.lee@example.com"),
           ("jgarcia", "javier.garcia@example.es"), ("tom_baker", "tom.baker@example.co.uk"),
           ("lena.fischer", "lena.fischer@example.de")]
CLUB = "support@club.example"


def mails(folder) -> dict[str, str]:
    """200 reset requests from members at their addresses on file; returns Message-ID -> username."""
    folder.mkdir()
    sent = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    wanted = {}
    for number in range(MAILS):
        username, address = MEMBERS[number % len(MEMBERS)]
        message_id = make_msgid(f"race{number}", "example.org")
        wanted[message_id] = username
        (folder / f"{number:03d}.eml").write_bytes(
            f"From: {address}\r\nTo: {CLUB}\r\nSubject: Password {number}\r\nMessage-ID: {message_id}\r\n"
            f"Date: {format_datetime(sent + timedelta(minutes=number))}\r\n\r\n"
            f"Hi, please reset my password. My username is {username}.\r\n".encode())
    return wanted


@pytest.fixture
def stalling_smtp():
    server = SmtpTestServer(stall_s=STALL_S)
    server.start()
    yield server
    server.stop()


def test_two_workers_and_an_operator_race_without_loss_duplicates_or_crashes(tmp_path, tiny_base_dir,
                                                                             club_backend, stalling_smtp):
    wanted = mails(tmp_path / "mail")
    data = tmp_path / "data"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ACEDESK_")},
           "ACEDESK_DATA_DIR": str(data), "ACEDESK_BASE_MODEL": str(tiny_base_dir), "ACEDESK_ADAPTER": "",
           "ACEDESK_THREADS": "1", "ACEDESK_CLUB_API_URL": club_backend.url,
           "ACEDESK_CLUB_API_TOKEN": club_backend.token, "ACEDESK_SMTP_HOST": stalling_smtp.host,
           "ACEDESK_SMTP_PORT": str(stalling_smtp.port), "ACEDESK_SMTP_SECURITY": "plain",
           "ACEDESK_SMTP_FROM": f"Club support <{CLUB}>"}
    club_backend.inject_fault("drop", after_effect=True, rate=DROP_RATE, seed=7)
    logs = [(tmp_path / f"worker{n}.log").open("wb") for n in range(2)]
    workers = [subprocess.Popen([sys.executable, "-m", "support.worker", "--eml-dir", str(tmp_path / "mail"),
                                 "--every", "0.5"], cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
               for log in logs]
    try:
        store = TicketStore(data / "acedesk.sqlite3")
        operator = Workflow(store, club_backend.api(retries=2, timeout=(1.0, 3.0)),
                            SmtpSender(stalling_smtp.settings(from_address=CLUB, timeout=30)), from_address=CLUB,
                            trust=TrustPolicy())
        approved = operate(store, operator, wanted)
        assert all(worker.poll() is None for worker in workers), "a worker died"
    finally:
        for worker in workers:
            worker.terminate()
        for worker, log in zip(workers, logs, strict=True):
            worker.wait(timeout=30)
            log.close()
    club_backend.inject_fault("drop", count=0)
    for log in logs:
        text = Path(log.name).read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]

    assert store.db.execute("SELECT count(*) FROM mail_seen").fetchone()[0] == MAILS  # nothing lost
    assert len(store.tickets()) == MAILS and {t.message_id for t in store.tickets()} == set(wanted)
    replies = {}
    for mail in stalling_smtp.messages:
        replies[mail.message["In-Reply-To"]] = replies.get(mail.message["In-Reply-To"], 0) + 1
    approved_ids = {store.ticket(ticket_id).message_id for ticket_id in approved}
    assert replies == dict.fromkeys(approved_ids, 1)  # exactly one reply per approved ticket, none elsewhere
    assert club_backend.effects()["password_reset"] == len(approved)  # exactly one effect each


def operate(store: TicketStore, operator: Workflow, wanted: dict[str, str]) -> set[int]:
    """Approve every tenth ticket as soon as it is triaged, executing half of them here (racing the
    workers, as the app does); then wait until each ends. Returns the approved tickets."""
    chosen = {message_id for number, message_id in enumerate(wanted) if number % APPROVED_SHARE == 0}
    approved: set[int] = set()
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        for ticket in store.tickets():
            if ticket.message_id not in chosen or ticket.id in approved:
                continue
            if ticket.state not in (State.TRIAGED, State.NEEDS_REVIEW):
                continue
            fields = {"category": "reset_password", "username": wanted[ticket.message_id]}
            try:
                operator.approve(ticket.id, "operator", fields=fields, override_reason="race test")
            except (ClubApiError, ActionProblem, NeedsOverride, TransitionError):
                continue  # the backend dropped the check, or a worker moved the ticket: next time
            approved.add(ticket.id)
            if ticket.id % 2:
                operator.execute(ticket.id, "operator")
        ended = [store.ticket(ticket_id).state for ticket_id in approved]
        if len(approved) == len(chosen) and all(state == State.REPLIED for state in ended):
            return approved
        for ticket_id in approved:  # a parked one (three failures in a row): a person approves it again
            ticket = store.ticket(ticket_id)
            if ticket.state == State.FAILED and store.parked(ticket_id, "execute"):
                fields = {"category": "reset_password", "username": wanted[ticket.message_id]}
                try:
                    operator.approve(ticket_id, "operator", fields=fields, override_reason="race test")
                except (ClubApiError, ActionProblem, TransitionError):
                    pass
        time.sleep(0.5)
    states = {ticket_id: store.ticket(ticket_id).state for ticket_id in approved}
    raise AssertionError(f"not all approved tickets were replied within {DEADLINE_S} s: {states}")
