"""The reply a member receives, built from what the backend actually did.

Success: the operator's edited text if they changed it, else the club's template filled
with the values the backend confirmed (the new time as booked, not as asked). Refusal: a
kind explanation of the backend's reason. A reply never claims what did not happen.
"""

from __future__ import annotations

from model.replies import GREETING, GREETING_NO_NAME, SIGN_OFF, first_name, render_reply

REFUSALS = {
    "cancellation_window_closed": "unfortunately we could not {verb} booking {booking}: it starts in less than "
                                  "24 hours, and bookings can only be changed or cancelled up to 24 hours "
                                  "before the start. If something urgent came up, please call the club office.",
    "slot_taken": "unfortunately the time you asked for is already booked, so booking {booking} is unchanged. "
                  "Reply with another time and we will gladly move it.",
    "slot_in_past": "the new time you asked for has already passed, so booking {booking} is unchanged. "
                    "Reply with another time and we will gladly move it.",
    "outside_opening_hours": "the club is open from 07:00 to 22:00, so we could not move booking {booking} "
                             "to the time you asked for. Reply with another time and we will gladly move it.",
    "already_cancelled": "booking {booking} had already been cancelled, so there is nothing more to do.",
    "booking_not_found": "we could not find booking {booking}. Could you check the booking number?",
    "member_not_found": "we could not find the account you mentioned. Could you check the username?",
    "username_taken": "the username {username} is already taken. Reply with another one and we will send "
                      "the invitation.",
    "email_taken": "there is already an account for that email address. If you cannot log in, we can "
                   "send a password reset link instead.",
}
FALLBACK_REFUSAL = "unfortunately we could not complete your request ({message}). A member of our team will " \
                   "get back to you."


def reply_language(text: str | None) -> str:
    """The language of the model's proposed reply, recognised by the club's sign-off."""
    for lang, sign_off in SIGN_OFF.items():
        if text and sign_off.split("\n")[0] in text:
            return lang
    return "en"


def success_reply(ticket: dict, fields: dict, kind: str | None, result: dict | None) -> str:
    edited = (ticket["edits"] or {}).get("reply")
    if edited:
        return edited
    proposed = (ticket["triage"] or {}).get("response") or ""
    if kind is None:  # nothing executed (category other): the proposal is the reply
        return proposed or render_reply("other", {}, ticket["sender"])
    confirmed = confirmed_fields(kind, result or {})
    return render_reply(fields["category"], confirmed, ticket["sender"], reply_language(proposed))


def confirmed_fields(kind: str, result: dict) -> dict:
    """The template's fields from the backend's answer, never from the request."""
    if kind == "invite_member":
        member = result.get("member", {})
        return {"username": member.get("username"), "member_name": member.get("name"),
                "member_email": result.get("invitation_sent_to")}
    if kind == "password_reset":
        return {"username": result.get("username")}
    booking = result.get("booking", result)
    fields = {"booking_id": booking.get("booking_id")}
    if kind == "move_booking":
        start = str(booking.get("start", ""))
        fields.update(new_date=start[:10] or None, new_time=start[11:16] or None, new_court=booking.get("court"))
    return fields


def refusal_reply(ticket: dict, fields: dict, kind: str, error: dict) -> str:
    """English for now: the refusal texts exist in one language (see README)."""
    template = REFUSALS.get(error.get("code"), FALLBACK_REFUSAL)
    body = template.format(verb="move" if kind == "move_booking" else "cancel",
                           booking=fields.get("booking_id") or "", username=fields.get("username") or "",
                           message=error.get("message", ""))
    name = first_name(ticket["sender"])
    greeting = GREETING["en"].format(name=name) if name else GREETING_NO_NAME["en"]
    return f"{greeting} {body}\n\n{SIGN_OFF['en']}"
