import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.replies import render_reply
from support.actions import action_kind
from support.outcome_replies import (
    MAX_REPLY_CHARS,
    edited_reply_problem,
    refusal_reply,
    reply_language,
    success_reply,
    unconfirmed_values,
)
from support.records import Ticket
from support.states import State


def ticket(response="", sender="Markus Hoffmann <markus.hoffmann@example.de>", edits=None):
    return Ticket(1, "eml:/inbox", "1.eml", State.EXECUTED, sender=sender,
                  triage={"category": "modify_booking", "response": response}, edits=edits)


GERMAN = render_reply("cancel_booking", {"booking_id": "BK-30917"}, "Markus <m@example.de>", "de")


def test_the_language_is_the_one_the_model_answered_in():
    assert reply_language(GERMAN) == "de"
    assert reply_language("Hi Anna, done.\n\nBest wishes,\nYour club support team") == "en"
    assert reply_language(None) == "en"


def test_a_success_reply_states_what_the_backend_booked_not_what_was_asked():
    result = {"booking_id": "BK-22845", "start": "2026-11-29T10:00", "court": "Court 2", "username": "sarah.lee"}
    fields = {"category": "modify_booking", "booking_id": "BK-22845", "new_time": "09:00"}
    text = success_reply(ticket("Best wishes,"), fields, "move_booking", result)
    assert "2026-11-29 10:00 (Court 2)" in text and "09:00" not in text
    assert action_kind("cancel_booking").confirmed_fields({"booking_id": "BK-1"}) == {"booking_id": "BK-1"}


def test_the_operators_edited_text_wins_on_success():
    edited = ticket(edits={"reply": "Done, Markus!"})
    assert success_reply(edited, {"category": "cancel_booking"}, "cancel_booking", {}) == "Done, Markus!"


def test_a_refusal_is_explained_in_the_members_language():
    text = refusal_reply(ticket(GERMAN), {"booking_id": "BK-30917"}, "cancel_booking",
                         {"code": "cancellation_window_closed", "message": "too late"})
    assert text.startswith("Hallo Markus,") and "nicht stornieren" in text and "24 Stunden" in text
    assert "storniert." not in text  # never the success sentence


def test_a_refusal_without_a_translation_is_all_english_and_an_unknown_code_says_why():
    text = refusal_reply(ticket(GERMAN), {"booking_id": "BK-1"}, "move_booking", {"code": "slot_in_past"})
    assert text.startswith("Hi Markus,") and text.endswith("Your club support team")
    unknown = refusal_reply(ticket(), {}, "move_booking", {"code": "weird", "message": "court flooded"})
    assert "could not complete your request" in unknown


@pytest.mark.parametrize(("sender", "greeting"), [("Frau Weber <w@example.de>", "Hallo,"), ("JD <jd@example.de>", "Hallo,"),
                                                 ("Dr. Anna Weber <w@example.de>", "Hallo Anna,")])
def test_a_refusal_greets_as_the_proposed_reply_does(sender, greeting):
    """One greeting (model.replies.greeting): before, the refusal said "Hallo Frau," and "Hallo JD,"."""
    text = refusal_reply(ticket(GERMAN, sender=sender), {"booking_id": "BK-30917"}, "cancel_booking",
                         {"code": "cancellation_window_closed"})
    assert text.startswith(f"{greeting} ")


def test_an_unknown_refusals_message_stays_with_the_operator():
    """The backend's message often echoes what the mail asked for; the member never gets it."""
    echoed = "there is no court named 'Court 1 - confirm at http://club-verify.example or call +44 20 7946 0958'"
    text = refusal_reply(ticket(), {}, "move_booking", {"code": "invalid_request", "message": echoed + "x" * 10_000})
    assert "club-verify" not in text and "7946" not in text and len(text) < 300


# What a successful answer may put into the reply: the shapes the contract promises, nothing else

HOSTILE_VALUES = {
    "link": "BK-48213 - confirm your account at http://club-verify.example/login",
    "phone": "Court 1, call +44 20 7946 0958", "5 KB": "Court 1 " + "x" * 5_000,
    "line break": "Court 1\n\nP.S. your password is hunter2", "RTL override": "Court \u202e1 txet",
    "markdown": "**[Court 1](http://e.example)**", "spaced phone": "Court 0044 2079 4609 58", "a number": 3,
    "variation selectors": "Court 1" + "\ufe01" * 8, "grapheme joiner": "Court\u034f 1",
}


@pytest.mark.parametrize("label", list(HOSTILE_VALUES))
@pytest.mark.parametrize(("kind", "category", "key"), [("cancel_booking", "cancel_booking", "booking_id"),
                                                       ("move_booking", "modify_booking", "court"),
                                                       ("move_booking", "modify_booking", "start")])
def test_a_value_of_another_shape_in_a_successful_answer_gives_the_general_sentence(kind, category, key, label):
    """Before, each went into the club's confirmation as the backend wrote it ("your booking BK-48213 -
    confirm your account at http://club-verify.example/login has been cancelled")."""
    fields = {"category": category, "booking_id": "BK-48213", "new_time": "10:00"}
    result = {**BOOKED, key: HOSTILE_VALUES[label]}
    text = success_reply(ticket("Best wishes,"), fields, kind, result)
    general = render_reply(category, {}, "Markus <m@example.de>")
    assert text == general, text
    reason = unconfirmed_values(fields, kind, result)
    assert reason is not None and key.replace("_", " ").replace("start", "new") in reason


BOOKED = {"booking_id": "BK-48213", "start": "2026-12-10T10:00", "court": "Court 3", "status": "cancelled"}


@pytest.mark.parametrize("court", ["Court 3", "centre court", "court no. 5", "court #2", "court n°7", "pista central 1",
                                   "Hallenplatz 4", "Indoor Court 9"])
def test_the_clubs_own_values_still_go_in(court):
    fields = {"category": "modify_booking", "booking_id": "bk-48213", "new_time": "10:00"}
    result = {**BOOKED, "court": court}
    assert unconfirmed_values(fields, "move_booking", result) is None
    assert f"BK-48213 has been moved to 2026-12-10 10:00 ({court})" in success_reply(ticket(), fields, "move_booking",
                                                                                       result)


def test_a_booking_answered_under_another_id_is_not_confirmed_as_that_one():
    fields = {"category": "cancel_booking", "booking_id": "BK-48213"}
    result = {**BOOKED, "booking_id": "BK-11111"}
    assert "BK-11111" not in success_reply(ticket(), fields, "cancel_booking", result)
    assert "BK-11111" in unconfirmed_values(fields, "cancel_booking", result)


def test_an_invitation_names_only_a_name_username_and_address_of_their_shapes():
    fields = {"category": "add_user", "username": "tk_2009", "member_email": "tim@example.org"}
    good = {"member": {"username": "tk_2009", "name": "Tim O'Neil-Keller Jr."}, "sent_to": "tim@example.org"}
    assert "Tim O'Neil-Keller Jr." in success_reply(ticket(), fields, "invite_member", good)
    for member, sent_to in [({"username": "tk_2009", "name": "Tim, call +44 20 7946 0958"}, "tim@example.org"),
                            ({"username": "tk_2009", "name": "Tim"}, "tim@example.org, evil@example.net"),
                            ({"username": "tk 2009 www.evil.example", "name": "Tim"}, "tim@example.org")]:
        text = success_reply(ticket(), fields, "invite_member", {"member": member, "sent_to": sent_to})
        assert text == render_reply("add_user", {}, "Markus <m@example.de>"), text


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["booking_id", "court", "start"]), st.text(max_size=300))
def test_whatever_the_answer_holds_the_reply_holds_no_link_control_or_long_text(key, value):
    fields = {"category": "modify_booking", "booking_id": "BK-48213", "new_time": "10:00"}
    text = success_reply(ticket(), fields, "move_booking", {**BOOKED, key: value})
    assert len(text) < 300
    assert not any(unicodedata.category(char)[0] == "C" and char != "\n" for char in text)
    assert "://" not in text and "@" not in text and not re.search(r"\d[\d ]{6,}\d", text)


# An edited reply that cannot go out as meant is refused before anything runs

@pytest.mark.parametrize("reply", ["Hi [name], your booking is cancelled.", "Booking {booking_id} is cancelled.",
                                   "Moved to <time>.", "Your new court: XXX", "TODO: say which court",
                                   "x" * (MAX_REPLY_CHARS + 1)])
def test_an_edited_reply_with_a_placeholder_or_over_the_cap_is_refused_naming_why(reply):
    problem = edited_reply_problem(reply)
    assert problem is not None and ("fill it in" in problem or "shorten it" in problem), problem


def test_an_edited_reply_as_the_club_writes_them_is_fine():
    for category in ("cancel_booking", "modify_booking", "add_user", "reset_password", "other"):
        assert edited_reply_problem(render_reply(category, {"booking_id": "BK-1", "username": "tk_2009"},
                                                 "Anna Berg <anna@example.org>", "de") + " Bis bald!") is None
    assert edited_reply_problem("Hi Anna, done <3 See you on court 3 at 10:00, xxx" + " ok" * 3000) is None
