"""The reply a member receives, built from what the backend actually did.

Success: the operator's edited text if they changed it, else the club's template filled
with the values the backend confirmed (the new time as booked, not as asked). Refusal: a
kind explanation of the backend's reason. A reply never claims what did not happen.
"""

from __future__ import annotations

import re
from datetime import date, time

from core.text import unseen
from model.replies import (
    SIGN_OFF,
    greeting,
    placeholders,
    reads_as_name,
    render_reply,
)
from support.actions import NEW_USERNAME, ONE_ADDRESS, action_kind
from support.records import Ticket

# A refusal's explanation by the backend's error code, in the member's language.
REFUSALS = {
    "cancellation_window_closed": {
        "en": "unfortunately we could not {verb_en} booking {booking}: it starts in less than 24 hours, and "
              "bookings can only be changed or cancelled up to 24 hours before the start. If something "
              "urgent came up, please call the club office.",
        "de": "leider konnten wir die Buchung {booking} nicht {verb_de}: Sie beginnt in weniger als 24 Stunden, "
              "und Buchungen lassen sich nur bis 24 Stunden vor Beginn ändern oder stornieren. In dringenden "
              "Fällen rufen Sie bitte im Clubbüro an.",
        "fr": "malheureusement, nous n'avons pas pu {verb_fr} la réservation {booking} : elle commence dans moins "
              "de 24 heures, et les réservations ne peuvent être modifiées ou annulées que jusqu'à 24 heures "
              "avant le début. En cas d'urgence, merci d'appeler le secrétariat du club.",
        "es": "lamentablemente no hemos podido {verb_es} la reserva {booking}: empieza en menos de 24 horas, y "
              "las reservas solo se pueden cambiar o cancelar hasta 24 horas antes del inicio. Si es urgente, "
              "llama a la oficina del club.",
    },
    "slot_taken": {
        "en": "unfortunately the time you asked for is already booked, so booking {booking} is unchanged. "
              "Reply with another time and we will gladly move it.",
        "de": "leider ist die gewünschte Zeit schon vergeben, die Buchung {booking} bleibt daher unverändert. "
              "Nennen Sie uns gern eine andere Zeit, dann verlegen wir sie.",
        "fr": "malheureusement, le créneau demandé est déjà réservé ; la réservation {booking} reste donc "
              "inchangée. Indiquez-nous un autre horaire et nous la déplacerons volontiers.",
        "es": "lamentablemente la hora que pediste ya está reservada, así que la reserva {booking} no ha "
              "cambiado. Respóndenos con otra hora y la cambiaremos encantados.",
    },
    "slot_in_past": {
        "en": "the new time you asked for has already passed, so booking {booking} is unchanged. Reply with "
              "another time and we will gladly move it.",
    },
    "outside_opening_hours": {
        "en": "the club is open from 07:00 to 22:00, so we could not move booking {booking} to the time you asked "
              "for. Reply with another time and we will gladly move it.",
    },
    "already_cancelled": {
        "en": "booking {booking} had already been cancelled, so there is nothing more to do.",
    },
    "booking_not_found": {
        "en": "we could not find booking {booking}. Could you check the booking number?",
        "de": "wir konnten die Buchung {booking} nicht finden. Könnten Sie die Buchungsnummer prüfen?",
        "fr": "nous n'avons pas trouvé la réservation {booking}. Pourriez-vous vérifier le numéro ?",
        "es": "no hemos encontrado la reserva {booking}. ¿Podrías comprobar el número?",
    },
    "member_not_found": {
        "en": "we could not find the account you mentioned. Could you check the username?",
    },
    "username_taken": {
        "en": "the username {username} is already taken. Reply with another one and we will send the invitation.",
    },
    "email_taken": {
        "en": "there is already an account for that email address. If you cannot log in, we can send a "
              "password reset link instead.",
    },
}
# An unknown refusal's message stays with the ticket for the operator, never goes to the member: the
# backend writes it, often echoing what the mail asked for ("there is no court named '…'"), so a
# link or a phone number in the mail would reach the member in the club's words, unseen by anyone.
FALLBACK_REFUSAL = "unfortunately we could not complete your request. A member of our team will get back to you."


def reply_language(text: str | None) -> str:
    """The language of the model's proposed reply, recognised by the club's sign-off."""
    for lang, sign_off in SIGN_OFF.items():
        if text and sign_off.split("\n")[0] in text:
            return lang
    return "en"


# What the club's successful answer may put into the member's reply, value by value. The contract
# (club_backend/openapi.json) types each as a string and shows its shape by example ("BK-48213",
# "Court 3", "2026-11-28T10:00"); a value of another shape is not put into the club's own words: a
# backend (or a gateway in front of it) that answers 200 with a link, a phone number, 5 KB of text, a
# line break or a direction-changing character in the court or the booking id would otherwise mail
# it, as the club's confirmation, to the member's address on file.
MAX_CONFIRMED_CHARS = 100
"""The contract's longest value (a member's name, InvitationRequest.name maxLength)."""
_BOOKING_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TIME = re.compile(r"[0-9]{2}:[0-9]{2}")
# A court as clubs and members name them: "Court 3", "centre court", "court no. 5", "court #2",
# "court n°7", "pista central 1", "Hallenplatz 4" (every new_court of training/data); no number
# longer than three digits (a phone number split into words).
_COURT_WORD = r"(?:[^\W\d_]{1,20}\.?|#?[0-9]{1,3}|[nN]°[0-9]{1,3}|[^\W\d_]{1,3}[0-9]{1,3})"
_COURT = re.compile(rf"{_COURT_WORD}(?: {_COURT_WORD}){{0,3}}")


def _has_promised_shape(name: str, value: object) -> bool:
    if not isinstance(value, str) or not value or len(value) > MAX_CONFIRMED_CHARS or value != value.strip():
        return False
    if any(unseen(char) or (char.isspace() and char != " ") for char in value):
        return False  # a control, a line break, an invisible or direction-changing character
    if name == "booking_id":
        return bool(_BOOKING_ID.fullmatch(value))
    if name == "username":
        return bool(NEW_USERNAME.fullmatch(value))
    if name == "member_email":
        return bool(ONE_ADDRESS.fullmatch(value))
    if name == "member_name":  # the name asked for, or the username when none was (InviteMember.build)
        return bool(NEW_USERNAME.fullmatch(value)) or all(reads_as_name(word.removesuffix("."))
                                                          for word in value.split(" "))
    if name == "new_date":
        return bool(_DATE.fullmatch(value)) and _reads(date.fromisoformat, value)
    if name == "new_time":
        return bool(_TIME.fullmatch(value)) and _reads(time.fromisoformat, value)
    if name == "new_court":
        return bool(_COURT.fullmatch(value))
    return False  # a value this module was not told about goes into no reply


def _reads(parse, value: str) -> bool:
    try:
        parse(value)
    except ValueError:
        return False
    return True


def unconfirmed_values(fields: dict, kind: str, result: dict | None) -> str | None:
    """Why the club's successful answer cannot be put into the member's reply, for the operator: each
    value not of the shape the contract promises, and a booking answered under another id than the
    one asked for; None when every value can go in."""
    confirmed = action_kind(kind).confirmed_fields(result or {})
    problems = [f"{name.replace('_', ' ')} {value[:60]!r}" if isinstance(value, str) else
                f"{name.replace('_', ' ')} (a {type(value).__name__}, not text)"
                for name, value in confirmed.items() if value is not None and not _has_promised_shape(name, value)]
    asked, answered = (fields.get("booking_id") or "").strip(), confirmed.get("booking_id")
    if asked and isinstance(answered, str) and answered.casefold() != asked.casefold() and not problems:
        problems.append(f"booking id {answered[:60]!r}, not the {asked!r} asked for")
    if not problems:
        return None
    return ("the club's answer holds what its contract does not promise, so the member got the general "
            f"sentence without it: {', '.join(problems)}")


MAX_REPLY_CHARS = 10_000
"""An edited reply's longest: four pages of letter (the longest labelled reply is 179 characters). A
longer one is a paste gone wrong, and a mail server refuses a message over its SIZE (552) only after
the club has acted, so the member would hear nothing of what was done."""


def edited_reply_problem(reply: str | None) -> str | None:
    """Why the operator's edited reply cannot go out as written, in words for them, or None: it is
    over MAX_REPLY_CHARS, or it still holds a placeholder ("[name]", "{booking_id}", "XXX", "TODO").
    Checked before approval, so nothing runs for a reply that would not be sent as meant."""
    return _reply_text_problem(reply, "the edited reply", "fill it in")


def proposed_reply_problem(ticket: Ticket) -> str | None:
    """Why the model's proposal cannot go out unedited where it is the reply (nothing is executed:
    ``success_reply``), or None: it still holds a placeholder or is over MAX_REPLY_CHARS. Review
    already flags it; approving it from review unedited must not send "Hi [name]" either."""
    if (ticket.edits or {}).get("reply"):
        return None  # the edited reply goes out instead (edited_reply_problem)
    return _reply_text_problem((ticket.triage or {}).get("response"), "the proposed reply", "edit the reply")


def _reply_text_problem(reply: str | None, whose: str, remedy: str) -> str | None:
    if not reply:
        return None
    if len(reply) > MAX_REPLY_CHARS:
        return f"{whose} is {len(reply):,} characters long, over the {MAX_REPLY_CHARS:,} a reply may have: shorten it"
    if left := placeholders(reply):
        return f"{whose} still holds {', '.join(repr(text) for text in left)}: {remedy}"
    return None


def success_reply(ticket: Ticket, fields: dict, kind: str | None, result: dict | None) -> str:
    edited = (ticket.edits or {}).get("reply")
    if edited:
        return edited
    proposed = (ticket.triage or {}).get("response") or ""
    if kind is None:  # nothing executed (category other): the proposal is the reply
        return proposed or render_reply("other", {}, ticket.sender)
    # the club did act (a 2xx): the general sentence ("your booking has been cancelled.") is still true
    confirmed = {} if unconfirmed_values(fields, kind, result) else action_kind(kind).confirmed_fields(result or {})
    return render_reply(fields["category"], confirmed, ticket.sender, reply_language(proposed))


def refusal_reply(ticket: Ticket, fields: dict, kind: str, error: dict) -> str:
    """The backend's refusal explained in the member's language (English where a text has no
    translation yet: the whole reply is then English, never a mix)."""
    texts = REFUSALS.get(error.get("code"), {"en": FALLBACK_REFUSAL})
    lang = reply_language((ticket.triage or {}).get("response"))
    lang = lang if lang in texts else "en"
    verbs = action_kind(kind).verbs
    body = texts[lang].format(booking=fields.get("booking_id") or "", username=fields.get("username") or "",
                              **{f"verb_{code}": verbs.get(code, "") for code in SIGN_OFF})
    return f"{greeting(ticket.sender, lang)} {body}\n\n{SIGN_OFF[lang]}"
