"""The operator's outcome line for a club answer the member's reply left out: whatever the club
answered, the operator either finds it in the reply or is told why the member got the general
sentence instead."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.mail import MailRef
from model.schema import TriageResult
from support.outcome_replies import success_reply
from support.records import ActionRecord
from support.store import TicketStore
from ui.inbox_rows import action_outcome

ASKED = "BK-48213"
LEFT_OUT = "so the member got the general sentence without it"


@pytest.fixture(scope="module")
def anna_cancels(tmp_path_factory):
    store = TicketStore(tmp_path_factory.mktemp("store") / "acedesk.sqlite3")
    ticket_id = store.add_ticket(MailRef("INBOX", "1", "1", "<c@example.org>"), sender="Anna Berg <anna@example.org>",
                                 subject="Cancel", body=f"Please cancel {ASKED}.")
    store.record_triage(ticket_id, TriageResult(category="cancel_booking", booking_id=ASKED, confidence=0.97,
                                                response="Hi Anna, cancelled.").to_dict(), [])
    return store.ticket(ticket_id)


def cancelled(answered_id) -> ActionRecord:
    return ActionRecord(1, 1, "cancel_booking", "key", {"booking_id": ASKED}, "succeeded",
                        {"booking_id": answered_id, "status": "cancelled"})


@settings(max_examples=300, deadline=None)
@given(answered_id=st.one_of(st.text(max_size=80), st.sampled_from([ASKED, ASKED.lower(), "BK-99999", f" {ASKED}",
                                                                    f"{ASKED}\n", f"{ASKED} [x](http://a.example)"]),
                             st.integers(), st.none()))
def test_the_answer_is_in_the_reply_or_the_operator_is_told_why_not(anna_cancels, answered_id):
    reply = success_reply(anna_cancels, anna_cancels.fields, "cancel_booking", {"booking_id": answered_id})
    line = action_outcome(cancelled(answered_id))
    if answered_id is None:  # nothing answered: nothing left out
        assert LEFT_OUT not in line
    else:
        assert (isinstance(answered_id, str) and answered_id in reply) or LEFT_OUT in line, (reply, line)


def test_a_confirmed_answer_reads_as_before():
    assert action_outcome(cancelled(ASKED)) == f"{ASKED} cancelled"
