"""Two requests in one mail (issue 14): the second is shown on the ticket and split off, with one
click, into a linked ticket of its own, triaged and checked like any other."""

from datetime import date, timedelta

import pytest

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


def anna_reset_and_cancel(store, uid="both"):
    """Anna's mail: a password reset (its first request) that also cancels BK-48213."""
    return two_request_ticket(store, uid, "Please reset my password (anna.berg). Also cancel BK-48213, I'm injured.",
                              {"category": "cancel_booking", "booking_id": "BK-48213",
                               "clause": "Also cancel BK-48213, I'm injured.", "probability": 0.96},
                              "cancel booking BK-48213")


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so nothing in the workflow catches it."""


def desk_workflow(store, club_backend, smtp_server, **options):
    sender = SmtpSender(smtp_server.settings(from_address="s@club.example"))
    return Workflow(store, club_backend.api(), sender, from_address="s@club.example", **options)


def test_approving_a_ticket_without_splitting_it_splits_its_second_request_off_first(tmp_path, club_backend,
                                                                                     smtp_server):
    # Once approved the ticket offers no split: approving without one used to lose the cancellation.
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    workflow = desk_workflow(store, club_backend, smtp_server)
    first = anna_reset_and_cancel(store)

    workflow.approve(first, "desk@club.example")
    assert workflow.execute(first) == State.REPLIED
    [split] = [ticket for ticket in store.tickets() if ticket.id != first]
    assert split.state in (State.TRIAGED, State.NEEDS_REVIEW)
    assert (split.triage["category"], split.triage["booking_id"]) == ("cancel_booking", "BK-48213")
    assert [e.detail for e in store.audit_log(first) if e.event == "split"] == [{"second_request_ticket": split.id}]

    workflow.approve(split.id, "desk@club.example")  # decided like any other ticket
    assert workflow.execute(split.id) == State.REPLIED and club_backend.effects()["cancel"] == 1


def test_a_crash_between_the_split_and_the_approval_splits_once_when_approved_again(tmp_path, club_backend,
                                                                                    smtp_server):
    path = tmp_path / "acedesk.sqlite3"

    def crash_after_split(step):
        if step == "split":
            raise Crash(step)

    first = anna_reset_and_cancel(TicketStore(path))
    with pytest.raises(Crash):
        desk_workflow(TicketStore(path), club_backend, smtp_server, checkpoint=crash_after_split).approve(
            first, "desk@club.example")
    store = TicketStore(path)
    assert store.state_of(first) == State.NEEDS_REVIEW and len(store.tickets()) == 2  # the split survived the crash

    desk_workflow(store, club_backend, smtp_server).approve(first, "desk@club.example")
    assert store.state_of(first) == State.APPROVED and len(store.tickets()) == 2
    assert len([e for e in store.audit_log(first) if e.event == "split"]) == 1


def test_a_split_left_untriaged_by_a_crash_is_triaged_when_the_ticket_is_approved(tmp_path, club_backend,
                                                                                  smtp_server):
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    first = anna_reset_and_cancel(store)
    split_id, _ = store.add_split(first, "the second request of ticket 1's mail", "desk@club.example")  # then died

    desk_workflow(store, club_backend, smtp_server).approve(first, "desk@club.example")
    split = store.ticket(split_id)
    assert len(store.tickets()) == 2 and split.state in (State.TRIAGED, State.NEEDS_REVIEW)
    assert (split.triage["category"], split.triage["booking_id"]) == ("cancel_booking", "BK-48213")


def test_approving_after_the_split_button_splits_nothing_more(tmp_path, club_backend, smtp_server):
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    workflow = desk_workflow(store, club_backend, smtp_server)
    first = anna_reset_and_cancel(store)
    split_id = split_second_request(store, workflow, first, "desk@club.example")

    workflow.approve(first, "desk@club.example")
    assert [ticket.id for ticket in store.tickets()] == [first, split_id]


def test_a_ticket_the_operator_turned_into_its_second_request_is_not_split_again(tmp_path, club_backend,
                                                                                 smtp_server):
    # The operator decided the mail is the cancellation: a split would ask the club to cancel twice.
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    workflow = desk_workflow(store, club_backend, smtp_server)
    first = anna_reset_and_cancel(store)

    workflow.approve(first, "desk@club.example", fields={"category": "cancel_booking", "booking_id": "BK-48213"})
    assert [ticket.id for ticket in store.tickets()] == [first]


def test_a_split_move_carries_its_new_day_and_time_and_runs_as_it_stands(tmp_path, club_backend, smtp_server):
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    workflow = desk_workflow(store, club_backend, smtp_server)
    day = (date.today() + timedelta(days=5)).isoformat()
    first = two_request_ticket(store, "move", "Please reset my password (anna.berg). And move BK-48213 to 10am then.",
                               {"category": "modify_booking", "booking_id": "BK-48213", "new_date": day,
                                "new_time": "10:00", "clause": "And move BK-48213 to 10am then.",
                                "probability": 0.95}, f"modify booking BK-48213 to {day} 10:00")

    split = store.ticket(split_second_request(store, workflow, first, "desk@club.example"))
    assert (split.triage["new_date"], split.triage["new_time"]) == (day, "10:00")
    assert split.flags[0] == f"the second request of ticket 1's mail (modify booking BK-48213 to {day} 10:00)"
    assert not [flag for flag in split.flags if flag.startswith("cannot run")]  # no time for the operator to type
    workflow.approve(split.id, "desk@club.example")
    assert workflow.execute(split.id) == State.REPLIED
    assert store.action(split.id).request["new_time"] == "10:00"


def test_a_split_made_by_approving_is_decided_by_the_inbox_models_rule(tmp_path, club_backend, smtp_server):
    # the Split button uses the promoted adapter's rule; the split an approval makes must not use another
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    strict = ReviewThresholds(confidence=0.99, check=0.05)
    workflow = desk_workflow(store, club_backend, smtp_server, review_thresholds=strict)
    first = anna_reset_and_cancel(store)

    workflow.approve(first, "desk@club.example")
    [split] = [ticket for ticket in store.tickets() if ticket.id != first]
    assert split.state == State.NEEDS_REVIEW and "low confidence (96%)" in split.flags


def test_the_confirmation_says_approving_makes_the_second_request_a_ticket_of_its_own(tmp_path, club_backend,
                                                                                      smtp_server):
    # Approving splits the second request off: the operator confirms that too, so it is said beforehand.
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    workflow = desk_workflow(store, club_backend, smtp_server)
    first = anna_reset_and_cancel(store)

    notes = workflow.approval_notes(first, workflow.check(first, {}), {})
    assert [note for note in notes if "second request" in note] == [
        ("its second request (cancel booking BK-48213) becomes a ticket of its own, linked to this one, to be "
         "decided there")]


def test_the_confirmation_says_nothing_of_a_split_that_approving_will_not_make(tmp_path, club_backend, smtp_server):
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    workflow = desk_workflow(store, club_backend, smtp_server)
    first = anna_reset_and_cancel(store)
    # the operator made this ticket the cancellation: approving splits nothing (the same rule as the split's)
    edits = {"fields": {"category": "cancel_booking", "booking_id": "BK-48213"}}
    assert not [note for note in workflow.approval_notes(first, workflow.check(first, edits), edits)
                if "second request" in note]

    split_second_request(store, workflow, first, "desk@club.example")  # split by the button already
    assert not [note for note in workflow.approval_notes(first, workflow.check(first, {}), {})
                if "second request" in note]


def test_the_split_ticket_keeps_what_intake_found_in_the_mail(tmp_path):
    # A From whose display name shows another member's address: intake flags it, and the flag stays
    # through triage. The split ticket is the same mail, so it must carry the same warning; it used
    # to carry only its note, and the operator approving it saw no sign of the disguised sender.
    from support.intake import store_mail

    store = TicketStore(tmp_path / "acedesk.sqlite3")
    raw = (b'From: "anna.berg@example.org" <x@mailbox.example>\r\nTo: desk@club.example\r\n'
           b"Subject: Two things\r\nMessage-ID: <disguised@mailbox.example>\r\n\r\n"
           b"Please reset my password (anna.berg). Also cancel BK-48213, I'm injured.\r\n")
    first = store_mail(store, MailRef("INBOX", "1", "7", None), raw)
    [disguise] = store.ticket(first).flags
    triage = TriageResult(category="reset_password", username="anna.berg", confidence=0.97).to_dict()
    triage["second_request"] = {"category": "cancel_booking", "booking_id": "BK-48213",
                                "clause": "Also cancel BK-48213, I'm injured.", "probability": 0.96}
    store.record_triage(first, triage, [f"{ALSO_ASKS}: cancel booking BK-48213"])

    split = store.ticket(split_second_request(store, None, first, "desk@club.example"))
    assert split.flags[0] == "the second request of ticket 1's mail (cancel booking BK-48213)"
    assert disguise in split.flags and split.state == State.NEEDS_REVIEW
    store.retriage(split.id, "desk@club.example")  # both stay through a triage again: intake flags
    assert store.ticket(split.id).flags == (split.flags[0], disguise)
