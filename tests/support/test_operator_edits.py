"""What the operator edits before approving, and that approving runs exactly what the confirmation
showed: against the real stand-in club backend and a real store, replies to an outbox folder."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from club_backend.seed import SEED_BOOKINGS
from core.mail import MailRef
from integrations.mail_sending import OutboxSender
from model.schema import FIELDS, TriageResult
from support.actions import NEW_USERNAME, ActionProblem, call_fields
from support.states import State
from support.store import TicketStore
from support.workflow import Shown, Workflow
from tests.conftest import REPO_ROOT
from ui.inbox_plans import approve_and_send, plan_approval
from ui.inbox_session import Draft

ANNA = "anna.berg@example.org"
SEEDED_BOOKINGS = {booking.booking_id for booking in SEED_BOOKINGS}
PROPOSED = "Hi, done.\n\nBest wishes,\nYour club support team"


@pytest.fixture
def store(tmp_path):
    return TicketStore(tmp_path / "acedesk.sqlite3")


@pytest.fixture
def outbox(tmp_path):
    return tmp_path / "outbox"


@pytest.fixture
def flow(store, club_backend, outbox):
    return Workflow(store, club_backend.api(), OutboxSender(outbox), from_address="support@club.example")


def add_triaged(store, uid="1", sender=ANNA, response=PROPOSED, **fields) -> int:
    ticket_id = store.add_ticket(MailRef("INBOX", "1", uid, f"<m{uid}@example.org>"), sender=sender,
                                 subject="Booking", body="Hello", reply_to=sender)
    store.record_triage(ticket_id, TriageResult(response=response, confidence=0.99, **fields).to_dict(), flags=[])
    return ticket_id


def nothing_ran(store, ticket_id, club_backend, outbox) -> bool:
    effects = club_backend.effects()
    return (store.ticket(ticket_id).state in (State.TRIAGED, State.NEEDS_REVIEW) and store.action(ticket_id) is None
            and not any(effects[kind] for kind in ("cancel", "move", "invite", "password_reset"))
            and not list(outbox.glob("*.eml")))


# -- the confirmation is what runs ------------------------------------------------------------

@pytest.mark.parametrize("later", [Draft(reply="Edited after the confirmation was shown"),
                                   Draft(override_reason="another reason"),
                                   Draft(fields={"booking_id": "BK-22845"})])
def test_a_draft_edited_after_the_confirmation_was_shown_runs_nothing(store, flow, club_backend, outbox, later):
    ticket_id = add_triaged(store, category="cancel_booking", booking_id="BK-48213")
    plan = plan_approval(flow, store, ticket_id, Draft(override_reason="called Anna"))
    assert plan.ready

    outcome = approve_and_send(flow, plan, later, "operator")  # a reply cell or Save draft, then Confirm
    assert outcome.level == "error" and "edited after the confirmation was shown" in outcome.text
    assert nothing_ran(store, ticket_id, club_backend, outbox)


def test_a_ticket_triaged_again_since_it_was_shown_runs_nothing(store, flow, club_backend, outbox):
    ticket_id = add_triaged(store, category="other", response="The reply the operator read")
    plan = plan_approval(flow, store, ticket_id, None)
    store.retriage(ticket_id, "worker")  # the worker reads it again while the confirmation is open
    store.record_triage(ticket_id, TriageResult(response="A reply nobody read", confidence=0.9,
                                                category="other").to_dict(), flags=[])

    outcome = approve_and_send(flow, plan, None, "operator")
    assert outcome.level == "error" and "changed since it was shown" in outcome.text
    assert nothing_ran(store, ticket_id, club_backend, outbox)
    assert approve_and_send(flow, plan_approval(flow, store, ticket_id, None), None, "operator").level == "success"
    [sent] = outbox.glob("*.eml")
    assert "A reply nobody read" in sent.read_text()  # now it was shown


def test_the_workflow_refuses_an_approval_whose_shown_reply_is_not_the_one_it_would_send(store, flow, club_backend,
                                                                                          outbox):
    ticket_id = add_triaged(store, category="cancel_booking", booking_id="BK-48213")
    check = flow.check(ticket_id, {})
    shown = Shown(check.action, check.recipient, flow.reply_preview(ticket_id, {}, check))
    with pytest.raises(ActionProblem, match="changed since it was shown"):
        flow.approve(ticket_id, "operator", reply="Another text", shown=shown)
    assert nothing_ran(store, ticket_id, club_backend, outbox)
    flow.approve(ticket_id, "operator", shown=shown)
    assert flow.execute(ticket_id) == State.REPLIED and club_backend.effects()["cancel"] == 1


def test_a_reply_edited_back_to_the_proposal_shows_the_reply_that_goes_out(store, flow, club_backend, outbox):
    ticket_id = add_triaged(store, category="cancel_booking", booking_id="BK-48213")
    draft = Draft(reply=f"  {PROPOSED}\n")  # no edit: the club's template, filled with what the backend confirms
    plan = plan_approval(flow, store, ticket_id, draft)
    assert approve_and_send(flow, plan, draft, "operator").level == "success"
    [sent] = outbox.glob("*.eml")
    assert "BK-48213 has been cancelled" in plan.reply_text and "BK-48213 has been cancelled" in sent.read_text()


# -- edited fields ----------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "named"), [
    ({"category": "cancel_booking", "booking_id": "BK-48213\u200b"}, "booking id"),
    ({"category": "cancel_booking", "booking_id": "BK-\u206048213"}, "booking id"),
    ({"category": "modify_booking", "booking_id": "BK-22845", "new_time": "10:00", "new_court": "Court\u00a03"},
     "new court"),
    ({"category": "add_user", "username": "tk_2009\u200b", "member_email": "tim@example.org"}, "username"),
    ({"category": "add_user", "username": "tk_2009", "member_email": "tim\u200b@example.org"}, "member email"),
    ({"category": "add_user", "username": "tk_2009", "member_email": "tim@example.org\r\nBcc: x@evil.example"},
     "member email"),
    ({"category": "add_user", "username": "tk_2009", "member_name": "Tim\r\nKeller", "member_email": "t@example.org"},
     "member name"),
    ({"category": "add_user", "username": "tk_2009", "member_email": "tim@example.org, x@evil.example"},
     "not one address"),
    ({"category": "add_user", "username": "tk 2009", "member_email": "tim@example.org"}, "not one the club accepts"),
])
def test_a_field_the_confirmation_could_not_show_truly_is_refused_before_anything_runs(
        store, flow, club_backend, outbox, fields, named):
    ticket_id = add_triaged(store, category="other")
    plan = plan_approval(flow, store, ticket_id, Draft(fields=fields))
    assert plan.action is None and named in plan.hold_reason and "Fix the fields" in plan.hold_reason
    assert approve_and_send(flow, plan, Draft(fields=fields), "operator").level == "error"
    with pytest.raises(ActionProblem, match=named):
        flow.approve(ticket_id, "operator", fields=fields)  # the command line's path
    assert nothing_ran(store, ticket_id, club_backend, outbox)


def test_spaces_around_a_booking_id_are_dropped_in_the_call_shown_and_run(store, flow, club_backend):
    ticket_id = add_triaged(store, category="cancel_booking", booking_id=" BK-48213 ")
    plan = plan_approval(flow, store, ticket_id, None)
    assert str(plan.call) == "POST /bookings/BK-48213/cancel"
    assert approve_and_send(flow, plan, None, "operator").level == "success"
    assert club_backend.effects()["cancel"] == 1


def test_the_username_rule_is_the_club_contracts():
    contract = json.loads((REPO_ROOT / "club_backend/openapi.json").read_text())
    patterns = {prop["pattern"] for schema in contract["components"]["schemas"].values()
                for name, prop in schema.get("properties", {}).items() if name == "username" and "pattern" in prop}
    assert patterns == {f"^{NEW_USERNAME.pattern}$"}


# -- hostile values -----------------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=30)))
def test_call_fields_never_pass_on_what_the_confirmation_cannot_show(fields):
    try:
        cleaned = call_fields(fields)
    except ActionProblem:
        return
    for value in cleaned.values():
        assert value is None or (value == value.strip() and value and value.isprintable()
                                 and not re.search(r"[^\S ]", value))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(booking_id=st.text(st.sampled_from("BK-48213bk \u200b\u00a0\r\n/.%?#\u0412"), max_size=14))
def test_any_edited_booking_id_ends_in_a_plain_problem_or_the_call_on_the_booking_shown(store, flow, club_backend,
                                                                                          booking_id):
    ticket_id = add_triaged(store, uid=str(len(store.tickets()) + 1), category="other")
    plan = plan_approval(flow, store, ticket_id, Draft(fields={"category": "cancel_booking", "booking_id": booking_id}))
    if plan.action is None:  # "1/" reads as the backend's redirect: a plain problem all the same
        assert plan.problem and not plan.ready
    else:
        assert str(plan.call) == f"POST /bookings/{booking_id.strip()}/cancel"
        assert booking_id.strip().upper() in SEEDED_BOOKINGS  # the booking checked is the booking called
