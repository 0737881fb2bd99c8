"""A split-off second request against re-triage, a splitter that died, stale clicks and two
splitters at once: the linked ticket keeps the request it was split for, so no action runs twice,
and each outcome is a ticket state or a plain refusal. Real store, stand-in club backend and SMTP."""

from __future__ import annotations

import multiprocessing

import pytest

from core.mail import MailRef
from integrations.mail_sending import SmtpSender
from model.schema import TriageResult
from support.states import State
from support.store import TicketStore
from support.triage import ALSO_ASKS, NOT_SPLIT_FROM, NothingToSplit, split_second_request, triage_received
from support.workflow import Workflow

ANNA = "Anna Berg <anna.berg@example.org>"
BODY = "Please reset my password (anna.berg). Also cancel BK-48213, I'm injured."
SECOND = {"category": "cancel_booking", "booking_id": "BK-48213", "username": None,
          "clause": "Also cancel BK-48213, I'm injured.", "probability": 0.95}


class WholeMailTriager:
    """Reads the whole mail as its first request, as the model does: the split ticket holds the
    whole mail, so this is what a model run on it answers."""

    def triage_many(self, emails, batch_size=4):
        return [FIRST for _ in emails]


FIRST = TriageResult("reset_password", username="anna.berg", confidence=0.97, response="Hi Anna, a reset link.")


def anna_asks_twice(store: TicketStore, second_request: dict | None = SECOND) -> int:
    first = store.add_ticket(MailRef("INBOX", "1", "5", "<two@example.org>"), sender=ANNA, subject="Two things",
                             body=BODY)
    triage = FIRST.to_dict()
    if second_request:
        triage["second_request"] = second_request
    store.record_triage(first, triage, [f"{ALSO_ASKS}: cancel booking BK-48213"])
    return first


def desk(tmp_path, club_backend, smtp_server) -> tuple[TicketStore, Workflow]:
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    return store, Workflow(store, club_backend.api(), SmtpSender(smtp_server.settings(from_address="s@club.example")),
                           from_address="s@club.example")


def test_a_retriaged_split_ticket_keeps_its_second_request_and_no_action_runs_twice(
        tmp_path, club_backend, smtp_server):
    store, flow = desk(tmp_path, club_backend, smtp_server)
    first = anna_asks_twice(store)
    split = split_second_request(store, flow, first, "desk")

    store.retriage(split, "desk")  # the detail's Re-triage on the linked ticket
    triage_received(store, WholeMailTriager(), flow)
    assert (store.ticket(split).triage["category"], store.ticket(split).triage["booking_id"]) == \
        ("cancel_booking", "BK-48213")  # before: reset_password anna.berg, the first ticket's request
    assert "second_request" not in store.ticket(split).triage  # so the linked ticket is never split again

    for ticket_id in (first, split):
        flow.approve(ticket_id, "desk", override_reason="Anna asked for both")
        assert flow.execute(ticket_id) == State.REPLIED
    assert [store.action(ticket_id).kind for ticket_id in (first, split)] == ["password_reset", "cancel_booking"]
    effects = club_backend.effects()
    assert (effects["password_reset"], effects["cancel"]) == (1, 1)  # before: 2 resets, no cancellation
    ids = [reply.message["Message-ID"] for reply in smtp_server.messages]
    assert len(ids) == len(set(ids)) == 2
    assert {reply.message["In-Reply-To"] for reply in smtp_server.messages} == {"<two@example.org>"}


def test_a_split_ticket_left_received_by_a_splitter_that_died_is_triaged_as_its_second_request(tmp_path):
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    first = anna_asks_twice(store)
    split, _ = store.add_split(first, "the second request of ticket 1's mail (cancel booking BK-48213)", "desk")

    triage_received(store, WholeMailTriager())  # the worker finds it received
    assert (store.ticket(split).triage["category"], store.ticket(split).triage["booking_id"]) == \
        ("cancel_booking", "BK-48213")  # before: reset_password, the first ticket's request
    # a second click finds it triaged and leaves it as it is
    assert split_second_request(store, None, first, "desk") == split and len(store.tickets()) == 2


def test_a_split_ticket_whose_first_ticket_no_longer_names_a_second_request_goes_to_review(tmp_path):
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    first = anna_asks_twice(store)
    split = split_second_request(store, None, first, "desk")
    store.retriage(first, "desk")
    store.record_triage(first, FIRST.to_dict(), [])  # read again, the model finds no second request now

    store.retriage(split, "desk")
    triage_received(store, WholeMailTriager())
    ticket = store.ticket(split)
    assert ticket.state == State.NEEDS_REVIEW and ticket.triage["category"] == "other"
    assert any("no longer names a second request" in flag for flag in ticket.flags)


@pytest.mark.parametrize("change", ["rejected in another tab", "sent back to triage"])
def test_a_stale_split_of_a_ticket_that_changed_is_refused_plainly_and_makes_nothing(tmp_path, change):
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    first = anna_asks_twice(store)
    if change == "rejected in another tab":
        store.move(first, State.REJECTED, "desk", reason="phishing")
    else:
        store.retriage(first, "desk")
    with pytest.raises(NothingToSplit, match=f"ticket {first} is (rejected|received) now"):
        split_second_request(store, None, first, "desk")
    assert len(store.tickets()) == 1


def test_the_state_is_checked_in_the_same_step_as_the_split_is_made(tmp_path):
    """A rejection landing between the splitter's read and its insert: the insert itself refuses."""
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    first = anna_asks_twice(store)
    store.move(first, State.REJECTED, "desk", reason="phishing")
    assert store.add_split(first, "the second request", "desk", not_from=NOT_SPLIT_FROM) == (None, False)
    assert len(store.tickets()) == 1 and "split" not in [entry.event for entry in store.audit_log(first)]


def _split_at_once(path, first, barrier) -> int:
    store = TicketStore(path)
    barrier.wait()
    return split_second_request(store, None, first, "desk")


def test_two_processes_splitting_at_once_make_one_linked_ticket_triaged_once(tmp_path):
    path = tmp_path / "acedesk.sqlite3"
    store = TicketStore(path)
    first = anna_asks_twice(store)
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager, context.Pool(2) as pool:
        barrier = manager.Barrier(2)
        splits = pool.starmap(_split_at_once, [(path, first, barrier)] * 2, chunksize=1)
    assert splits[0] == splits[1] and len(store.tickets()) == 2
    assert [entry.event for entry in store.audit_log(splits[0])].count("triaged") <= 1
    assert [entry.event for entry in store.audit_log(first)].count("split") == 1
    assert store.ticket(splits[0]).triage["booking_id"] == "BK-48213"
