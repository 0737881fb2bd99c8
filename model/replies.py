"""The club's voice: reply templates for each category, in the languages members write in.

Training targets are rendered here, so the model learns one consistent voice; inference
uses the same texts as drafts for speculative decoding (model/decoding.py), and the
workflow rewrites replies from the backend's real result with them.
"""

from __future__ import annotations

from email.utils import parseaddr

LANGUAGES = ("en", "de", "fr", "es")
SIGN_OFF = {
    "en": "Best wishes,\nYour club support team",
    "de": "Viele Grüße,\nIhr Club-Support-Team",
    "fr": "Cordialement,\nL'équipe support du club",
    "es": "Un saludo,\nEl equipo de soporte del club",
}
GREETING = {"en": "Hi {name},", "de": "Hallo {name},", "fr": "Bonjour {name},", "es": "Hola {name}:"}
GREETING_NO_NAME = {"en": "Hello,", "de": "Hallo,", "fr": "Bonjour,", "es": "Hola:"}

# Written for the action's success case; {placeholders} are filled from the triage fields.
BODIES = {
    "add_user": {
        "en": "we have sent an invitation{to_member} to set up the new account{as_username}.",
        "de": "wir haben eine Einladung{to_member} zum Anlegen des neuen Kontos{as_username} verschickt.",
        "fr": "nous avons envoyé une invitation{to_member} pour créer le nouveau compte{as_username}.",
        "es": "hemos enviado una invitación{to_member} para crear la nueva cuenta{as_username}.",
    },
    "reset_password": {
        "en": "we have sent a password reset link to the email address on file{for_username}.",
        "de": "wir haben einen Link zum Zurücksetzen des Passworts an die hinterlegte E-Mail-Adresse{for_username} geschickt.",
        "fr": "nous avons envoyé un lien de réinitialisation du mot de passe à l'adresse e-mail enregistrée{for_username}.",
        "es": "hemos enviado un enlace para restablecer la contraseña a la dirección de correo registrada{for_username}.",
    },
    "cancel_booking": {
        "en": "your booking{booking} has been cancelled.",
        "de": "Ihre Buchung{booking} wurde storniert.",
        "fr": "votre réservation{booking} a été annulée.",
        "es": "tu reserva{booking} ha sido cancelada.",
    },
    "modify_booking": {
        "en": "your booking{booking} has been moved{when}.",
        "de": "Ihre Buchung{booking} wurde verlegt{when}.",
        "fr": "votre réservation{booking} a été déplacée{when}.",
        "es": "tu reserva{booking} ha sido cambiada{when}.",
    },
    "other": {
        "en": "thank you for your message. A member of our team will get back to you shortly.",
        "de": "vielen Dank für Ihre Nachricht. Ein Teammitglied meldet sich in Kürze bei Ihnen.",
        "fr": "merci pour votre message. Un membre de l'équipe vous répondra rapidement.",
        "es": "gracias por tu mensaje. Un miembro del equipo te responderá en breve.",
    },
}
_TO = {"en": " to {0}", "de": " an {0}", "fr": " à {0}", "es": " a {0}"}
_AS_USERNAME = {"en": " (username {0})", "de": " (Benutzername {0})", "fr": " (identifiant {0})", "es": " (usuario {0})"}
_WHEN = {"en": " to {0}", "de": " auf {0}", "fr": " au {0}", "es": " a {0}"}


def first_name(sender: str) -> str | None:
    """The display name's first word, or None for a bare address."""
    name, _ = parseaddr(sender)
    name = name.strip().strip('"')
    if "," in name:  # "Berg, Anna"
        name = name.split(",", 1)[1]
    if not name.strip() or "@" in name:
        return None
    return name.split()[0]


def render_reply(category: str, fields: dict, sender: str, lang: str = "en") -> str:
    """The proposed reply for ``category``, filled from the stated ``fields``."""
    lang = lang if lang in LANGUAGES else "en"
    name = first_name(sender)
    greeting = GREETING[lang].format(name=name) if name else GREETING_NO_NAME[lang]
    booking_id = fields.get("booking_id")
    member = fields.get("member_name") or fields.get("member_email")
    username = fields.get("username")
    when = " ".join(v for v in (fields.get("new_date"), fields.get("new_time")) if v)
    if fields.get("new_court"):
        when = f"{when} ({fields['new_court']})".strip()
    body = BODIES[category][lang].format(
        to_member=_TO[lang].format(member) if member else "",
        as_username=_AS_USERNAME[lang].format(username) if username else "",
        for_username=_AS_USERNAME[lang].format(username) if username else "",
        booking=f" {booking_id}" if booking_id else "",
        when=_WHEN[lang].format(when) if when else "",
    )
    return f"{greeting} {body}\n\n{SIGN_OFF[lang]}"


def reply_language(reply: str) -> str:
    """The language a reply was started in, from its greeting (English when it has none)."""
    return next((lang for lang in LANGUAGES if reply.startswith((GREETING[lang].split(" ")[0],
                                                                  GREETING_NO_NAME[lang].rstrip(",:")))), "en")


def draft_texts() -> list[str]:
    """Every fixed piece of the club's replies: the drafts speculative decoding looks up."""
    pieces = [*SIGN_OFF.values(), *GREETING_NO_NAME.values()]
    for by_lang in BODIES.values():
        pieces.extend(by_lang.values())
    return pieces
