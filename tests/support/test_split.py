"""Two requests in one mail (issue 14): the second is shown on the ticket and split off, with one
click, into a linked ticket of its own, triaged and checked like any other."""

from core.mail import MailRef
from integrations.mail_sending import SmtpSender
from model.review import ReviewThresholds
from model.schema import TriageResult
from support.states import State
from support.store import TicketStore
from support.triage import ALSO_ASKS, split_second_request
from support.workflow import Workflow

ANNA = "Anna Berg <anna.berg@example.org>"


def two_request_ticket(store, uid, body, second_request, flag):
    """Anna's mail triaged as a password reset that also makes ``second_request``."""
    first = store.add_ticket(MailRef("INBOX", "1", uid, f"<{uid}@example.org>"), sender=ANNA, subject="Two things",
                             body=body)
    triage = TriageResult(category="reset_password", username="anna.berg", confidence=0.97).to_dict()
    triage["second_request"] = second_request
    store.record_triage(first, triage, [f"{ALSO_ASKS}: {flag}"])
    return first


def test_the_second_request_becomes_a_linked_ticket_triaged_and_checked(tmp_path, club_backend, smtp_server):
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    workflow = Workflow(store, club_backend.api(), SmtpSender(smtp_server.settings(from_address="s@club.example")),
                        from_address="s@club.example")
    first = two_request_ticket(store, "two", "Please reset my password (anna.berg). Also cancel BK-48213, I'm injured.",
                               {"category": "cancel_booking", "booking_id": "BK-48213",
                                "clause": "Also cancel BK-48213, I'm injured.", "probability": 0.96},
                               "cancel booking BK-48213")

    second = split_second_request(store, workflow, first, "desk@club.example")
    split = store.ticket(second)
    assert split.state in (State.TRIAGED, State.NEEDS_REVIEW) and split.message_id == "<two@example.org>"
    assert (split.triage["category"], split.triage["booking_id"]) == ("cancel_booking", "BK-48213")
    assert split.flags[0] == "the second request of ticket 1's mail (cancel booking BK-48213)"
    assert [e.detail for e in store.audit_log(first) if e.event == "split"] == [{"second_request_ticket": second}]

    # a second click (or another session) finds the split, it does not make another
    assert split_second_request(store, workflow, first, "desk@club.example") == second
    assert len(store.tickets()) == 2

    workflow.approve(second, "desk@club.example")  # checked like any other: Anna's own booking, from her
    assert workflow.execute(second) == State.REPLIED and club_backend.effects()["cancel"] == 1
    [reply] = smtp_server.messages
    assert reply.message["In-Reply-To"] == "<two@example.org>" and "BK-48213" in reply.message.get_content()


def test_a_second_new_account_splits_off_with_its_own_login(tmp_path):
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    first = store.add_ticket(MailRef("INBOX", "1", "8", "<accounts@example.org>"), sender=ANNA, subject="Accounts",
                             body="Could you add me as aberg and my son as jberg_14?")
    triage = TriageResult(category="add_user", username="aberg", confidence=0.97).to_dict()
    triage["second_request"] = {"category": "add_user", "booking_id": None, "username": "jberg_14",
                                "clause": "Could you add me as aberg and my son as jberg_14?", "probability": 0.97}
    store.record_triage(first, triage, [f"{ALSO_ASKS}: add user jberg_14"])

    split = store.ticket(split_second_request(store, None, first, "desk@club.example"))
    assert (split.triage["category"], split.triage["username"]) == ("add_user", "jberg_14")
    assert split.flags[0] == "the second request of ticket 1's mail (add user jberg_14)"


def test_the_split_ticket_is_decided_by_the_rule_it_is_given(tmp_path):
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    first = two_request_ticket(store, "rule", "Please reset my password (anna.berg). Also cancel BK-48213.",
                               {"category": "cancel_booking", "booking_id": "BK-48213",
                                "clause": "Also cancel BK-48213.", "probability": 0.75}, "cancel booking BK-48213")
    strict = ReviewThresholds(confidence=0.8, check=0.05)  # the adapter in use doubts a 75% second request
    split = store.ticket(split_second_request(store, None, first, "desk@club.example", strict))
    assert split.state == State.NEEDS_REVIEW and "low confidence (75%)" in split.flags
