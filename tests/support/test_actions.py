"""What a move stores of the club's answer, and what the member and the operator are told from it:
the real client against the real stand-in backend, and against a loopback server that answers what
each test scripts (a backend, or a gateway in front of it, that answers 200 with what its contract
does not promise)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.club_api import ClubApi, ClubApiUnavailable
from model.replies import render_reply
from support.actions import (
    Action,
    ActionProblem,
    action_kind,
    call_fields,
    check_action,
    club_start,
    plan_action,
    run_action,
)
from support.outcome_replies import success_reply, unconfirmed_values
from support.records import Ticket
from support.states import State
from tests.core.test_text import UNSEEN_EXAMPLES

MOVE = action_kind("move_booking")
ASKED = {"booking_id": "BK-30917", "new_date": "2030-01-02", "new_time": "10:00", "court": None,
         "start": "2030-01-02T10:00"}
FIELDS = {"category": "modify_booking", "booking_id": "BK-30917", "new_date": "2030-01-02", "new_time": "10:00"}
SENDER = "Markus Hoffmann <markus.hoffmann@example.de>"


def ticket() -> Ticket:
    return Ticket(1, "eml:/inbox", "1.eml", State.EXECUTED, sender=SENDER,
                  triage={"category": "modify_booking", "response": ""})


def answering(start: str, court: str, status: str = "active"):
    """A club that answers every call 200 with BK-30917 at ``start`` on ``court``."""
    body = json.dumps({"booking": {"booking_id": "BK-30917", "username": "mhoffmann", "court": court,
                                   "start": start, "end": "2030-01-02T11:00", "status": status}}).encode()

    def answer(handler):
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
    return answer


def moved_by(scripted, start: str, court: str = "Court 1", asked: dict = ASKED) -> dict:
    """The stored result of the move ``asked`` when the club answers it 200 with ``start`` and ``court``."""
    api = ClubApi(scripted(answering(start, court)).url, "tok", timeout=2, retries=0)
    return run_action(Action("move_booking", asked), api, "move-1")


def test_a_move_the_club_booked_as_asked_is_stated_and_nothing_differs(club_backend):
    api = club_backend.api()
    start = api.booking("BK-30917").start + timedelta(days=1)
    fields = {"category": "modify_booking", "booking_id": "BK-30917", "new_date": start.date().isoformat(),
              "new_time": "11:00"}
    action, _ = check_action(plan_action(fields), fields, SENDER, api)
    result = run_action(action, api, "move-1")
    assert MOVE.confirmed_fields(result) == {"booking_id": "BK-30917", "new_date": start.date().isoformat(),
                                             "new_time": "11:00", "new_court": "Court 1"}
    assert MOVE.success_text(result) == f"BK-30917 moved to {start.date().isoformat()} 11:00, court Court 1"


@pytest.mark.parametrize("start", ["2030-01-02T10:00<junk>", "2030-01-02T10:00 call +44 20 7946 0958",
                                   "2030-01-02T10:00:00+01:00", "2030-01-02T10:00Z", "2030-01-02",
                                   "2030-01-02T10:00:30", "tomorrow at ten", "10 January 2030 10:00"])
def test_a_start_that_is_not_one_club_time_confirms_no_date_or_time(scripted, start):
    """Sliced as start[:10] and start[11:16], the first six gave a clean date and time: the reply
    stated a time the club never gave as one, and nobody was told."""
    result = moved_by(scripted, start)
    confirmed = MOVE.confirmed_fields(result)
    assert (confirmed["new_date"], confirmed["new_time"]) == (start, start)  # as it came: refused whole
    assert success_reply(ticket(), FIELDS, "move_booking", result) == render_reply("modify_booking", {}, SENDER)
    assert repr(start) in unconfirmed_values(FIELDS, "move_booking", result)  # named for the operator
    assert "is no date and time" in MOVE.success_text(result)  # the operator learns why the time is missing


def test_a_move_to_another_time_than_asked_is_stated_as_booked_and_shown_as_different(scripted):
    result = moved_by(scripted, "2030-01-02T11:30", court="Court 4")
    assert "moved to 2030-01-02 11:30 (Court 4)." in success_reply(ticket(), FIELDS, "move_booking", result)
    assert MOVE.success_text(result) == "BK-30917 moved to 2030-01-02 11:30, court Court 4 (not the 2030-01-02 10:00 asked for)"
    other_court = moved_by(scripted, "2030-01-02T10:00", court="Court 4", asked={**ASKED, "court": "Court 2"})
    assert MOVE.success_text(other_court) == ("BK-30917 moved to 2030-01-02 10:00, court Court 4 "
                                              "(not the court 'Court 2' asked for)")


def test_a_result_stored_before_the_request_was_kept_beside_it_still_reads():
    old = {"booking_id": "BK-30917", "start": "2030-01-02T11:30", "court": "Court 1", "status": "active"}
    assert MOVE.success_text(old) == "BK-30917 moved to 2030-01-02 11:30, court Court 1"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40),
                 st.datetimes().map(lambda moment: moment.isoformat(timespec="minutes")),
                 st.tuples(st.datetimes().map(lambda moment: moment.isoformat(timespec="minutes")),
                           st.text(min_size=1, max_size=20)).map("".join)))
def test_a_confirmed_date_and_time_is_always_the_whole_start(start):
    confirmed = MOVE.confirmed_fields({"booking_id": "BK-1", "start": start, "court": "Court 1"})
    if club_start(start) is None:
        assert (confirmed["new_date"], confirmed["new_time"]) == (start, start)
        assert unconfirmed_values({}, "move_booking", {"booking_id": "BK-1", "start": start, "court": "Court 1"})
        return
    assert datetime.fromisoformat(start) == datetime.fromisoformat(f"{confirmed['new_date']}T{confirmed['new_time']}")
    assert datetime.fromisoformat(start).tzinfo is None


@pytest.mark.parametrize(("kind", "status"), [("cancel_booking", "active"), ("move_booking", "cancelled"),
                                              ("cancel_booking", "pending")])
def test_a_2xx_whose_booking_says_it_was_not_done_is_no_outcome_to_tell_the_member(scripted, kind, status):
    # "cancelled" in the member's reply while the club's own answer says the booking is active
    api = ClubApi(scripted(answering("2030-01-02T10:00", "Court 1", status)).url, "tok", timeout=2, retries=0)
    params = {"booking_id": "BK-30917"} if kind == "cancel_booking" else ASKED
    with pytest.raises(ClubApiUnavailable, match="status is"):
        run_action(Action(kind, params), api, "key-1")


def test_a_cancellation_the_real_club_carried_out_reads_as_done(club_backend):
    result = run_action(Action("cancel_booking", {"booking_id": "BK-48213"}), club_backend.api(), "cancel-1")
    assert result["status"] == "cancelled" and club_backend.effects()["cancel"] == 1


@pytest.mark.parametrize("char", UNSEEN_EXAMPLES, ids=lambda char: f"U+{ord(char):04X}")
def test_a_field_holding_a_character_the_confirmation_cannot_show_is_refused(char):
    """Before, a variation selector, grapheme joiner or Hangul/Khmer filler passed: the operator
    approved "BK-48213" and the club was asked about another booking id."""
    with pytest.raises(ActionProblem, match="the booking id"):
        call_fields({"booking_id": f"BK-482{char}13"})
    with pytest.raises(ActionProblem, match="the member name"):
        call_fields({"member_name": f"Anna{char} Berg"})


def test_a_field_of_letters_accents_and_spaces_passes_as_typed():
    assert call_fields({"member_name": " Zoë Weiß-Öztürk ", "booking_id": "BK-48213"})["member_name"] == "Zoë Weiß-Öztürk"


@pytest.mark.parametrize("name", ["Jürgen Kasse", "Julien Bureau", "Tom Manager", "John Board", "Anna Staff"])
def test_a_person_whose_surname_is_a_role_word_is_no_staff_account(name):
    # a name with a first name is a person's: before, these members' new accounts were flagged as the club's
    from support.actions import club_role_findings

    assert club_role_findings({"username": "newmember1", "name": name, "email": "new@example.org"}) == []
    assert club_role_findings({"username": "office", "name": name, "email": "new@example.org"}) != []  # its login counts


@pytest.mark.parametrize("name", ["Vorstand TC Nord", "Tennis Club Office", "Kasse"])
def test_guard_a_name_of_club_words_alone_is_a_staff_account(name):
    from support.actions import club_role_findings

    assert club_role_findings({"username": "newmember1", "name": name, "email": "new@example.org"}) != []


def test_a_desk_writing_from_a_public_provider_flags_no_member_at_that_provider():
    # the club's desk at tcnord@gmail.com: before, every invitee at gmail.com read as "on the club's domain"
    from support.actions import club_domain_findings

    assert club_domain_findings("m.weber@gmail.com", "tcnord@gmail.com") == []
    assert club_domain_findings("m.weber@gmx.net", "tc-nord@gmx.de") == []
    assert club_domain_findings("m.weber@club.example", "support@club.example") != []
