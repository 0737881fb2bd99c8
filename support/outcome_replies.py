"""The reply a member receives, built from what the backend actually did.

Success: the operator's edited text if they changed it, else the club's template filled
with the values the backend confirmed (the new time as booked, not as asked). Refusal: a
kind explanation of the backend's reason. A reply never claims what did not happen.
"""

from __future__ import annotations

from model.replies import GREETING, GREETING_NO_NAME, SIGN_OFF, first_name, render_reply
from support.actions import action_kind
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


def success_reply(ticket: Ticket, fields: dict, kind: str | None, result: dict | None) -> str:
    edited = (ticket.edits or {}).get("reply")
    if edited:
        return edited
    proposed = (ticket.triage or {}).get("response") or ""
    if kind is None:  # nothing executed (category other): the proposal is the reply
        return proposed or render_reply("other", {}, ticket.sender)
    confirmed = action_kind(kind).confirmed_fields(result or {})
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
    name = first_name(ticket.sender)
    greeting = GREETING[lang].format(name=name) if name else GREETING_NO_NAME[lang]
    return f"{greeting} {body}\n\n{SIGN_OFF[lang]}"
