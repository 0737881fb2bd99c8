from model.replies import render_reply
from support.actions import action_kind
from support.outcome_replies import refusal_reply, reply_language, success_reply
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


def test_an_unknown_refusals_message_stays_with_the_operator():
    """The backend's message often echoes what the mail asked for; the member never gets it."""
    echoed = "there is no court named 'Court 1 - confirm at http://club-verify.example or call +44 20 7946 0958'"
    text = refusal_reply(ticket(), {}, "move_booking", {"code": "invalid_request", "message": echoed + "x" * 10_000})
    assert "club-verify" not in text and "7946" not in text and len(text) < 300
