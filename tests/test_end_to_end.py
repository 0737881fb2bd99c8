"""The whole path with the real things: Dovecot -> fetch -> triage -> approval -> the club
backend over HTTP -> reply through aiosmtpd -> the original flagged \\Answered in Dovecot."""

from __future__ import annotations

import pytest
from imap_tools import MailBoxUnencrypted

from integrations.mail_sending import SmtpSender
from model.inference import load_triager
from support.intake import fetch_imap
from support.states import State
from support.store import TicketStore
from support.triage import triage_received
from support.workflow import Workflow
from tests.conftest import REPO_ROOT

CLUB = "support@club.example"
ANNA_CANCELS = REPO_ROOT / "demo/mail/01-anna-cancel-injured.eml"


@pytest.fixture
def mailbox(dovecot_server):
    user = dovecot_server.add_user()
    settings = dovecot_server.settings(user, processed_folder="Processed", sent_folder="Sent", mark_seen=True)
    dovecot_server.append(user, ANNA_CANCELS.read_bytes())
    return dovecot_server, settings


def run_desk(tmp_path, settings, club_backend, smtp_server, triager, operator_fields=None):
    from integrations.imap_mailbox import ImapReplyFiling

    store = TicketStore(tmp_path / "acedesk.sqlite3")
    workflow = Workflow(store, club_backend.api(), SmtpSender(smtp_server.settings(from_address=CLUB)),
                        from_address=CLUB, mailbox=ImapReplyFiling(settings))
    assert fetch_imap(store, settings) == 1
    assert fetch_imap(store, settings) == 0  # a second fetch adds nothing
    triage_received(store, triager, workflow=workflow)
    [ticket] = store.tickets()
    workflow.approve(ticket.id, "operator", fields=operator_fields)
    assert workflow.execute(ticket.id) == State.REPLIED
    return store, ticket


def assert_member_answered_and_mailbox_filed(server, settings, club_backend, smtp_server):
    assert club_backend.api().booking("BK-48213").status == "cancelled"
    assert club_backend.effects()["cancel"] == 1
    [reply] = smtp_server.messages
    original_id = "<" + ANNA_CANCELS.read_text().split("Message-ID: <", 1)[1].split(">", 1)[0] + ">"
    assert reply.message["In-Reply-To"] == original_id
    assert original_id in reply.message["References"]
    assert reply.rcpt_tos == ("anna.berg@example.org",)
    assert "BK-48213" in reply.message.get_content()
    with MailBoxUnencrypted("127.0.0.1", server.imap_port).login(settings.user, settings.password,
                                                                  "Processed") as box:
        [original] = list(box.fetch(mark_seen=False))
        assert {"\\Answered", "\\Seen"} <= set(original.flags)
        box.folder.set("INBOX")
        assert list(box.fetch()) == []
        box.folder.set("Sent")
        [sent] = list(box.fetch(mark_seen=False))
        assert sent.headers["in-reply-to"] == (original_id,)


def test_a_mail_goes_from_the_mailbox_to_a_threaded_reply(tmp_path, mailbox, club_backend, smtp_server,
                                                         tiny_base_dir):
    server, settings = mailbox
    triager = load_triager(str(tiny_base_dir), adapter=None)  # random weights: the operator corrects
    # the copied fields are spans of the mail, so random weights pick any word as the username: cleared
    run_desk(tmp_path, settings, club_backend, smtp_server, triager,
             operator_fields={"category": "cancel_booking", "booking_id": "BK-48213", "username": ""})
    assert_member_answered_and_mailbox_filed(server, settings, club_backend, smtp_server)


@pytest.mark.real_model
def test_the_shipped_model_triages_and_the_operator_only_approves(tmp_path, mailbox, club_backend, smtp_server):
    server, settings = mailbox
    store, ticket = run_desk(tmp_path, settings, club_backend, smtp_server, load_triager())
    triage = store.ticket(ticket.id).triage
    assert triage["category"] == "cancel_booking" and triage["booking_id"] == "BK-48213"
    assert_member_answered_and_mailbox_filed(server, settings, club_backend, smtp_server)
