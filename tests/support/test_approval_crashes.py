"""The approval path killed for real between every two steps: a child process approves and executes a
ticket and dies with ``os._exit`` at one step (no ``finally``, no lease released, no transaction
finished), then a fresh workflow resumes as the next worker round would. Afterwards the club acted
exactly once, the member got at most one mail (the aiosmtpd fixture counts them) and the ticket says
where it stands."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from integrations.mail_sending import OutboxSender, SmtpSender
from support.states import State
from support.store import TicketStore
from support.workflow import Workflow
from tests.conftest import REPO_ROOT
from tests.support.test_split import anna_reset_and_cancel
from tests.support.test_workflow import CLUB, cancel_ticket

KILLED = 70
"""The child's exit status when it died at its step (any other means it never got there)."""

APPROVE_AND_EXECUTE_THEN_DIE_AT = """
import os, sys
from integrations.club_api import ClubApi
from integrations.mail_sending import OutboxSender, SmtpSender, SmtpSettings
from support.store import TicketStore
from support.workflow import Workflow

store_path, ticket_id, step, smtp_port, outbox, status, club = sys.argv[1:]

def die_at(name):
    if name == step:
        os._exit(int(status))

sender = OutboxSender(outbox) if outbox else SmtpSender(SmtpSettings(host="127.0.0.1", port=int(smtp_port),
    security="plain", user=None, password=None, from_address=club, timeout=5))
api = ClubApi(os.environ["CLUB_URL"], os.environ["CLUB_TOKEN"], timeout=5, retries=2, backoff=0.01)
workflow = Workflow(TicketStore(store_path), api, sender, from_address=club, checkpoint=die_at)
workflow.approve(int(ticket_id), "operator")
workflow.execute(int(ticket_id))
"""


def die_at(step, path, ticket_id, club_backend, smtp_server=None, outbox=None):
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "CLUB_URL": club_backend.url,
           "CLUB_TOKEN": club_backend.token}
    port = str(smtp_server.port) if smtp_server else ""
    child = subprocess.run([sys.executable, "-c", APPROVE_AND_EXECUTE_THEN_DIE_AT, str(path), str(ticket_id), step,
                            port, str(outbox or ""), str(KILLED), CLUB], check=False, cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == KILLED, child.stderr  # it died at that very step


def restarted(path, club_backend, sender) -> Workflow:
    return Workflow(TicketStore(path), club_backend.api(), sender, from_address=CLUB)


COMPLETED_ON_RESUME = ["approved", "leased", "api_called", "result_recorded", "reply_prepared", "replied"]


@pytest.mark.parametrize("step", COMPLETED_ON_RESUME)
def test_a_process_killed_before_the_reply_left_is_completed_once_by_the_next_round(tmp_path, club_backend,
                                                                                   smtp_server, step):
    path = tmp_path / "acedesk.sqlite3"
    ticket_id = cancel_ticket(TicketStore(path))
    die_at(step, path, ticket_id, club_backend, smtp_server)

    workflow = restarted(path, club_backend, SmtpSender(smtp_server.settings(from_address=CLUB)))
    workflow.resume()
    workflow.resume()  # a second round finds nothing more to do
    assert workflow.store.state_of(ticket_id) == State.REPLIED
    assert club_backend.effects()["cancel"] == 1
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize("step", ["reply_claimed", "reply_sent"])
def test_a_process_killed_while_sending_over_smtp_never_sends_again_by_itself(tmp_path, club_backend, smtp_server,
                                                                              step):
    # No SMTP client can ask the server whether it holds a message: a missing mail beats a double one.
    path = tmp_path / "acedesk.sqlite3"
    ticket_id = cancel_ticket(TicketStore(path))
    die_at(step, path, ticket_id, club_backend, smtp_server)
    sent_before = len(smtp_server.messages)
    assert sent_before == (1 if step == "reply_sent" else 0)

    workflow = restarted(path, club_backend, SmtpSender(smtp_server.settings(from_address=CLUB)))
    workflow.resume()
    workflow.resume()
    ticket = workflow.store.ticket(ticket_id)
    assert ticket.state == State.FAILED and ticket.failure_reason.startswith("the reply may have gone out")
    assert len(smtp_server.messages) == sent_before and club_backend.effects()["cancel"] == 1


def test_a_process_killed_between_the_split_and_the_approval_splits_and_acts_once(tmp_path, club_backend,
                                                                                   smtp_server):
    path = tmp_path / "acedesk.sqlite3"
    first = anna_reset_and_cancel(TicketStore(path))
    die_at("split", path, first, club_backend, smtp_server)
    store = TicketStore(path)
    assert store.state_of(first) == State.NEEDS_REVIEW and len(store.tickets()) == 2  # not approved; split kept

    workflow = restarted(path, club_backend, SmtpSender(smtp_server.settings(from_address=CLUB)))
    assert workflow.resume() == []  # the approval died with the process: a person approves again
    workflow.approve(first, "operator")
    workflow.resume()
    assert store.state_of(first) == State.REPLIED and len(store.tickets()) == 2
    [split] = [ticket for ticket in store.tickets() if ticket.id != first]
    assert split.state in (State.TRIAGED, State.NEEDS_REVIEW)  # waits for its own decision
    effects = club_backend.effects()
    assert (effects["password_reset"], effects["cancel"]) == (1, 0) and len(smtp_server.messages) == 1


def test_a_process_killed_after_writing_the_outbox_reply_is_found_there_and_finished(tmp_path, club_backend):
    # The outbox, unlike an SMTP server, can be asked: the reply is written whole or not at all.
    path, outbox = tmp_path / "acedesk.sqlite3", tmp_path / "outbox"
    ticket_id = cancel_ticket(TicketStore(path))
    die_at("reply_sent", path, ticket_id, club_backend, outbox=outbox)

    workflow = restarted(path, club_backend, OutboxSender(outbox))
    workflow.resume()
    workflow.resume()
    assert workflow.store.state_of(ticket_id) == State.REPLIED  # no person asked to look for it
    [written] = outbox.glob("*.eml")
    assert workflow.store.reply(ticket_id).status == "sent"
    assert f"Message-ID: {workflow.store.reply(ticket_id).message_id}".encode() in written.read_bytes()
    assert club_backend.effects()["cancel"] == 1


def test_a_process_killed_before_writing_the_outbox_reply_still_leaves_it_to_a_person(tmp_path, club_backend):
    # A file missing from the outbox may have been taken away by whatever relays it: never written again by itself.
    path, outbox = tmp_path / "acedesk.sqlite3", tmp_path / "outbox"
    ticket_id = cancel_ticket(TicketStore(path))
    die_at("reply_claimed", path, ticket_id, club_backend, outbox=outbox)

    workflow = restarted(path, club_backend, OutboxSender(outbox))
    workflow.resume()
    ticket = workflow.store.ticket(ticket_id)
    assert ticket.state == State.FAILED and ticket.failure_reason.startswith("the reply may have gone out")
    assert list(outbox.glob("*.eml")) == []


def test_the_outbox_knows_a_reply_by_its_whole_message_id_never_by_a_file_name_alike(tmp_path):
    from email.message import EmailMessage

    outbox = OutboxSender(tmp_path / "outbox")
    assert not outbox.holds("<never@club.example>")  # no folder yet
    stem = "a" * 130  # file names keep 120 characters: these two ids give the same one
    sent, other = f"<{stem}1@club.example>", f"<{stem}2@club.example>"
    message = EmailMessage()
    message["From"], message["To"], message["Message-ID"] = CLUB, "anna@example.org", sent
    message.set_content("Cancelled.")
    outbox.send(message)
    assert outbox.holds(sent) and not outbox.holds(other)


# -- filing the sent reply in IMAP: the original flagged \Answered, a copy APPENDed to Sent -------

FILE_THEN_DIE_AT = """
import json, os, sys
from integrations.club_api import ClubApi
from integrations.imap_mailbox import ImapMailbox, ImapReplyFiling, ImapSettings
from integrations.mail_sending import SmtpSender, SmtpSettings
from support.store import TicketStore
from support.workflow import Workflow

store_path, ticket_id, step, smtp_port, status, club = sys.argv[1:]

def die_at(name):
    if name == step:
        os._exit(int(status))

# The two IMAP gaps lie inside one filing; the process dies there as it would between two commands.
flag_then_append = ImapMailbox.append_sent
def append_sent(mailbox, raw, message_id=None):
    die_at("answered_stored")
    flag_then_append(mailbox, raw, message_id)
    die_at("sent_appended")
ImapMailbox.append_sent = append_sent

sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=int(smtp_port), security="plain", user=None, password=None,
                                 from_address=club, timeout=5))
api = ClubApi(os.environ["CLUB_URL"], os.environ["CLUB_TOKEN"], timeout=5, retries=2, backoff=0.01)
filing = ImapReplyFiling(ImapSettings(**json.loads(os.environ["IMAP_SETTINGS"])))
workflow = Workflow(TicketStore(store_path), api, sender, from_address=club, mailbox=filing, checkpoint=die_at)
workflow.approve(int(ticket_id), "operator")
workflow.execute(int(ticket_id))
die_at("filing_recorded")
"""

FILING_GAPS = {"replied": (False, 0, False), "answered_stored": (True, 0, False),
               "sent_appended": (True, 1, False), "filing_recorded": (True, 1, True)}
"""Where the process dies once the reply was sent and recorded: before filing; after the original was
flagged \\Answered and before the Sent APPEND; after the APPEND and before the store records the filing;
after it recorded it. Each with what it left: the original flagged, copies in Sent, the filing recorded."""


@pytest.fixture
def imap_ticket(tmp_path, dovecot_server):
    """Anna's cancellation fetched from a real Dovecot account (moved to Done), triaged to be approved."""
    from model.schema import TriageResult
    from support.intake import fetch_imap
    from tests.test_end_to_end import ANNA_CANCELS

    user = dovecot_server.add_user()
    settings = dovecot_server.settings(user, processed_folder="Done", sent_folder="Sent", timeout=5)
    dovecot_server.append(user, ANNA_CANCELS.read_bytes())
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    assert fetch_imap(store, settings) == 1
    [ticket] = store.tickets()
    triage = TriageResult(response="Hi, done.\n\nBest wishes,\nYour club support team", confidence=0.99,
                          category="cancel_booking", booking_id="BK-48213")
    store.record_triage(ticket.id, triage.to_dict(), flags=[])
    return store.path, ticket.id, settings


def file_then_die_at(step, path, ticket_id, imap, club_backend, smtp_server):
    import dataclasses
    import json

    imap_json = json.dumps({name: value for name, value in dataclasses.asdict(imap).items() if name != "ssl_context"})
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "CLUB_URL": club_backend.url,
           "CLUB_TOKEN": club_backend.token, "IMAP_SETTINGS": imap_json}
    child = subprocess.run([sys.executable, "-c", FILE_THEN_DIE_AT, str(path), str(ticket_id), step,
                            str(smtp_server.port), str(KILLED), CLUB], check=False, cwd=REPO_ROOT, env=env,
                           capture_output=True, text=True, timeout=60)
    assert child.returncode == KILLED, child.stderr  # it died at that very step


def mailbox_as_left(imap) -> tuple[bool, list]:
    """Whether the original (moved to Done) is flagged \\Answered, and the Message-IDs of Sent's mails,
    as another mail client sees them; the INBOX is empty (the original was moved)."""
    from imap_tools import MailBoxUnencrypted

    with MailBoxUnencrypted(imap.host, imap.port).login(imap.user, imap.password, "Done") as box:
        [original] = box.fetch(mark_seen=False)
        box.folder.set("INBOX")
        assert list(box.fetch(mark_seen=False)) == []
        if not box.folder.exists("Sent"):  # created by the first APPEND
            return "\\Answered" in original.flags, []
        box.folder.set("Sent")
        sent = [mail.headers["message-id"] for mail in box.fetch(mark_seen=False)]
    return "\\Answered" in original.flags, sent


@pytest.mark.parametrize("step", FILING_GAPS)
def test_a_process_killed_while_filing_the_reply_files_it_once_and_never_sends_it_again(imap_ticket, club_backend,
                                                                                       smtp_server, step):
    from integrations.imap_mailbox import ImapReplyFiling
    from support.workflow import FILE_REPLY

    path, ticket_id, imap = imap_ticket
    file_then_die_at(step, path, ticket_id, imap, club_backend, smtp_server)
    answered, sent_copies, recorded = FILING_GAPS[step]
    left_answered, left_in_sent = mailbox_as_left(imap)
    assert (left_answered, len(left_in_sent)) == (answered, sent_copies)  # it died at that gap
    assert TicketStore(path).reply(ticket_id).answered_flagged == recorded and len(smtp_server.messages) == 1

    workflow = Workflow(TicketStore(path), club_backend.api(), SmtpSender(smtp_server.settings(from_address=CLUB)),
                        from_address=CLUB, mailbox=ImapReplyFiling(imap))
    for _ in range(3):  # the next rounds: the filing is done, nothing more happens
        workflow.resume()
    store = workflow.store
    reply = store.reply(ticket_id)
    assert store.state_of(ticket_id) == State.REPLIED and reply.answered_flagged
    assert store.unfiled_replies() == [] and store.failures(ticket_id).get(FILE_REPLY) is None
    assert len(smtp_server.messages) == 1 and club_backend.effects()["cancel"] == 1
    assert mailbox_as_left(imap) == (True, [(reply.message_id,)])  # one copy in Sent, the original answered
    events = [entry.event for entry in store.audit_log(ticket_id)]
    assert events.count("executed->replied") == 1


RESUME_DYING_IN_THE_FILING = """
import json, os, sys
from integrations.imap_mailbox import ImapMailbox, ImapReplyFiling, ImapSettings
from support.store import TicketStore
from support.workflow import Workflow

store_path, status, club = sys.argv[1:]

def append_sent(mailbox, raw, message_id=None):  # a reply the IMAP library chokes on, every time
    os._exit(int(status))
ImapMailbox.append_sent = append_sent

filing = ImapReplyFiling(ImapSettings(**json.loads(os.environ["IMAP_SETTINGS"])))
Workflow(TicketStore(store_path), None, None, from_address=club, mailbox=filing).resume()
"""


def test_a_filing_that_kills_the_process_every_time_is_given_up_after_three_tries(imap_ticket, club_backend,
                                                                                   smtp_server):
    # Before, a try was counted only when filing raised: every worker round died in it again, forever.
    import dataclasses
    import json

    from support.workflow import FILE_REPLY

    path, ticket_id, imap = imap_ticket
    file_then_die_at("answered_stored", path, ticket_id, imap, club_backend, smtp_server)  # the first try
    imap_json = json.dumps({name: value for name, value in dataclasses.asdict(imap).items() if name != "ssl_context"})
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "IMAP_SETTINGS": imap_json}
    rounds = [subprocess.run([sys.executable, "-c", RESUME_DYING_IN_THE_FILING, str(path), str(KILLED), CLUB],
                             check=False, cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                             timeout=60).returncode for _ in range(3)]
    assert rounds == [KILLED, KILLED, 0]  # two more tries die; the round after them leaves it alone
    store = TicketStore(path)
    assert store.state_of(ticket_id) == State.REPLIED and store.failures(ticket_id)[FILE_REPLY] == 3
    [given_up] = [entry for entry in store.audit_log(ticket_id) if entry.event == "file_reply_given_up"]
    assert given_up.detail["tries"] == 3 and len(smtp_server.messages) == 1
