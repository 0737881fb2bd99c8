"""Training rows for the mails that look like a request and are not one (issue 14): stage 7's data.

    .venv/bin/python -m training.trap_families --out training/data/train_traps.csv [--seed 71 --n 1100]

The shipped adapter answers any mail that mentions an action with that action, at full
confidence: a thank-you that quotes the club's own confirmation, a how-to question about the app,
a request taken back, an automated security notice. Each family here is templated in the four
languages members write in, with its counterpart that *is* a request (a reply that asks to cancel
the quoted booking after all, a question that asks the club to act), so the model learns the
difference rather than "a quote means other". The club's quoted answers are the club's own
replies (model/replies.py), as a member's mail client would quote them. Written without looking
at the evaluation sets' wording (training/data/dev.csv and the real-world benchmark measure it);
rows whose text is in val, test or dev are dropped.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from pathlib import Path

from model.replies import render_reply
from model.schema import FIELDS
from training.generate_data import text_key

DATA = Path(__file__).resolve().parent / "data"
COLUMNS = ["sender", "subject", "body", "date", "category", *FIELDS, "response", "lang", "family"]
LANGS = {"en": 0.55, "de": 0.15, "fr": 0.15, "es": 0.15}
FIRST = ["Anna", "Ben", "Clara", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kerstin", "Luis",
         "Maya", "Nils", "Olga", "Pedro", "Rosa", "Sami", "Tess", "Ugo", "Vera", "Wim", "Yara", "Zoe"]
LAST = ["Meyer", "Dubois", "García", "Okafor", "Lindqvist", "Rossi", "Nowak", "Brennan", "Schulz", "Moreau",
        "Ortega", "Haddad", "Fischer", "Laurent", "Santos", "Kowalski"]
CLUBS = ["Lakeside TC", "TC Rot-Weiß", "Club de Tennis Sol", "Tennis Club des Tilleuls", "Parkway LTC"]
QUOTE_HEADER = {
    "en": ["On {day}, {club} wrote:", "-----Original Message-----\nFrom: {club} <support@club.example>", ""],
    "de": ["Am {day} schrieb {club}:", "-----Ursprüngliche Nachricht-----\nVon: {club} <support@club.example>"],
    "fr": ["Le {day}, {club} a écrit :", "-------- Message d'origine --------\nDe : {club}"],
    "es": ["El {day}, {club} escribió:", "-----Mensaje original-----\nDe: {club}"],
}
DAYS = {"en": ["Mon, 3 Mar 2025", "12 May 2025", "Fri, 19 Sep 2025"], "de": ["Mo., 3. März 2025", "12.05.2025"],
        "fr": ["lun. 3 mars 2025", "12 mai 2025"], "es": ["lun, 3 mar 2025", "12 may 2025"]}
SIGN = {"en": ["Thanks", "Cheers", "Best", "Kind regards", "Many thanks"], "de": ["Danke", "Viele Grüße", "LG"],
        "fr": ["Merci", "Cordialement", "Bonne journée"], "es": ["Gracias", "Un saludo", "Saludos"]}

ACKS = {
    "en": ["Thanks, that's perfect!", "Great, thank you - see you on court.", "Got it, all working again. Thanks!",
           "Brilliant, thanks for sorting that so quickly.", "Received, thank you very much.",
           "Lovely, that works for us.", "Perfect, cheers!", "Thank you! All good now.",
           "That's great, thanks a lot for your help.", "Many thanks, much appreciated."],
    "de": ["Danke, passt perfekt!", "Super, vielen Dank!", "Hat geklappt, danke schön.",
           "Vielen Dank für die schnelle Hilfe!", "Alles klar, danke."],
    "fr": ["Merci, c'est parfait !", "Super, merci beaucoup.", "C'est bon, ça marche, merci !",
           "Merci pour votre réactivité.", "Bien reçu, merci."],
    "es": ["¡Gracias, perfecto!", "Genial, muchas gracias.", "Ya funciona, ¡gracias!",
           "Gracias por la rapidez.", "Recibido, mil gracias."],
}
AFTER_ALL = {  # a reply to the club's confirmation that asks for more: a request after all
    "cancel_booking": {
        "en": ["Actually, could you cancel it after all? {reason}", "Sorry - please cancel this one, {reason}"],
        "de": ["Können Sie die Buchung doch stornieren? {reason}"],
        "fr": ["Finalement, pouvez-vous l'annuler ? {reason}"],
        "es": ["Al final, ¿podéis cancelarla? {reason}"],
    },
    "modify_booking": {
        "en": ["Could you move it to {time} instead? {reason}", "Sorry, can we change it to {time} after all?"],
        "de": ["Könnten Sie sie doch auf {time} verlegen?"],
        "fr": ["Pourriez-vous plutôt la déplacer à {time} ?"],
        "es": ["¿Podríais cambiarla a las {time}?"],
    },
}
REASONS = {"en": ["my partner is ill.", "I've hurt my wrist.", "work got in the way.", "the forecast is awful."],
           "de": ["mein Partner ist krank.", "ich muss arbeiten."], "fr": ["mon partenaire est malade."],
           "es": ["mi pareja está enferma."]}
TIMES = {"en": ["6pm", "10:30", "7 pm"], "de": ["18 Uhr", "10:30"], "fr": ["18h", "10h30"], "es": ["18:00", "10:30"]}

HOWTO = {
    "en": ["How do I {action} in the app?", "Can I {action} myself, or do I have to email you?",
           "Where in the app can I {action}?", "Is it possible to {action} online? I couldn't find it.",
           "Quick question: what's the way to {action}?", "how do you {action} on the website",
           "Am I able to {action} from my phone?"],
    "de": ["Wie kann ich in der App {action}?", "Kann ich selbst {action}, oder muss ich Ihnen schreiben?",
           "Wo in der App kann man {action}?"],
    "fr": ["Comment peut-on {action} dans l'application ?", "Est-ce que je peux {action} moi-même ?",
           "Où dans l'appli peut-on {action} ?"],
    "es": ["¿Cómo puedo {action} en la app?", "¿Puedo {action} yo mismo o tengo que escribiros?",
           "¿Dónde se puede {action} en la web?"],
}
HOWTO_ACTIONS = {
    "en": ["add a guest to my booking", "add the other players to a doubles booking", "change my password",
           "reset my password without writing to you", "cancel a booking", "move a booking to another court",
           "create an account for my child", "add my husband to our family account",
           "turn on two-step verification", "see which bookings I have", "change my email address",
           "add a coach to a lesson booking", "book for a friend who isn't a member"],
    "de": ["einen Gast zu meiner Buchung hinzufügen", "mein Passwort ändern", "eine Buchung stornieren",
           "eine Buchung verschieben", "ein Konto für mein Kind anlegen", "Mitspieler eintragen"],
    "fr": ["ajouter un invité à ma réservation", "changer mon mot de passe", "annuler une réservation",
           "déplacer une réservation", "créer un compte pour mon enfant", "ajouter mes partenaires de double"],
    "es": ["añadir un invitado a mi reserva", "cambiar mi contraseña", "cancelar una reserva",
           "cambiar una reserva de pista", "crear una cuenta para mi hijo", "añadir a los otros jugadores"],
}
WITHDRAWN = {
    "en": ["Please ignore my email from earlier about {what} - {why}", "Forget what I said about {what}, {why}",
           "No need to {what2} any more, {why}", "Scrap my last message about {what}: {why}",
           "You can disregard my request about {what}. {why}"],
    "de": ["Bitte ignorieren Sie meine Mail wegen {what}, {why}", "Vergessen Sie meine Anfrage zu {what}, {why}"],
    "fr": ["Merci d'ignorer mon message concernant {what}, {why}", "Oubliez ma demande pour {what}, {why}"],
    "es": ["Olvidad mi correo sobre {what}, {why}", "Podéis ignorar mi petición de {what}, {why}"],
}
WITHDRAWN_WHAT = {
    "en": [("cancelling Saturday", "cancel Saturday", "cancel_booking"),
           ("moving my lesson", "move the lesson", "other"),
           ("the password reset", "reset my password", "reset_password"),
           ("the account for my daughter", "set up the account", "add_user")],
    "de": [("der Stornierung", "", "cancel_booking"), ("dem Passwort", "", "reset_password"),
           ("der Verlegung", "", "modify_booking")],
    "fr": [("l'annulation de samedi", "", "cancel_booking"), ("le mot de passe", "", "reset_password"),
           ("le déplacement du cours", "", "modify_booking")],
    "es": [("cancelar el sábado", "", "cancel_booking"), ("la contraseña", "", "reset_password"),
           ("cambiar la clase", "", "modify_booking")],
}
WHY = {"en": ["we're playing after all.", "I found my password.", "it's sorted now.", "plans changed back."],
       "de": ["wir spielen doch.", "hat sich erledigt."], "fr": ["on joue finalement.", "c'est réglé."],
       "es": ["al final jugamos.", "ya está solucionado."]}
NOTICES = {
    "en": [("New sign-in to your account", ("We noticed a new sign-in to your {club} account.\n\nDevice: {device}\n"
            "If this was you, you don't need to do anything. If not, reset your password in the app.")),
           ("Your password was changed", ("The password for your {club} account was just changed. If you did "
            "not do this, contact support.")),
           ("Your verification code", "Your verification code is {code}. It expires in 10 minutes."),
           ("Password reset requested", ("Someone asked to reset the password of your {club} account. If this "
            "was you, use the link below. If not, ignore this email.")),
           ("Undeliverable: Your booking", ("Delivery has failed to these recipients: {address}\n\nThe mailbox "
            "is full.\n\nOriginal message: Your booking {booking_id} has been cancelled.")),
           ("Account locked", ("Automated message: the account {username} was locked after 5 failed sign-in "
            "attempts. It unlocks by itself in 30 minutes."))],
    "de": [("Neue Anmeldung", ("Wir haben eine neue Anmeldung bei Ihrem Konto bei {club} festgestellt. Gerät: "
            "{device}. Falls Sie das nicht waren, ändern Sie Ihr Passwort.")),
           ("Ihr Bestätigungscode", "Ihr Bestätigungscode lautet {code}. Er ist 10 Minuten gültig.")],
    "fr": [("Nouvelle connexion", ("Une nouvelle connexion à votre compte {club} a été détectée ({device}). Si ce "
            "n'était pas vous, changez votre mot de passe.")),
           ("Votre code de vérification", "Votre code de vérification est {code}. Il expire dans 10 minutes.")],
    "es": [("Nuevo inicio de sesión", ("Hemos detectado un nuevo inicio de sesión en tu cuenta de {club} "
            "({device}). Si no fuiste tú, cambia tu contraseña.")),
           ("Tu código de verificación", "Tu código de verificación es {code}. Caduca en 10 minutos.")],
}
DEVICES = ["Chrome on Windows", "Safari on iPhone", "Firefox on Linux", "Edge on Windows"]
FAMILY_WEIGHTS = {"ack": 0.22, "after_all": 0.22, "howto": 0.24, "withdrawn": 0.12, "notice": 0.12,
                  "withdrawn_then_asked": 0.08}
SUBJECT_OF = {"cancel_booking": "Booking cancelled", "modify_booking": "Your booking was moved",
              "reset_password": "Password reset", "add_user": "Welcome to the booking app"}


def draw_booking_id(rng: random.Random) -> str:
    return f"BK-{rng.randint(10000, 99999)}"


def draw_username(rng: random.Random, first: str, last: str) -> str:
    return rng.choice([f"{first.lower()}.{last[0].lower()}", f"{first}{last[:3]}{rng.randint(1, 99)}",
                       f"{first.lower()}_{rng.randint(1990, 2015)}", f"{first[0]}{last}".replace("í", "i")])


def quote(rng: random.Random, lang: str, text: str) -> str:
    header = rng.choice(QUOTE_HEADER[lang]).format(day=rng.choice(DAYS[lang]), club=rng.choice(CLUBS))
    quoted = "\n".join(f"> {line}" if line else ">" for line in text.split("\n"))
    return f"{header}\n{quoted}" if header else quoted


def club_confirmation(rng: random.Random, lang: str, member: str, categories: tuple[str, ...] = tuple(SUBJECT_OF)
                      ) -> tuple[str, dict[str, str], str]:
    """A confirmation the club sent: its category, fields and text."""
    category = rng.choice(categories)
    fields = {}
    if category in ("cancel_booking", "modify_booking"):
        fields["booking_id"] = draw_booking_id(rng)
    if category == "modify_booking":
        fields["new_time"] = rng.choice(TIMES[lang])
    if category in ("reset_password", "add_user") and rng.random() < 0.6:
        first, last = member.split()
        fields["username"] = draw_username(rng, first, last)
    return category, fields, render_reply(category, fields, f"{member} <x@example.org>", lang)


def row(rng: random.Random) -> dict[str, str]:
    lang = rng.choices(list(LANGS), weights=list(LANGS.values()))[0]
    family = rng.choices(list(FAMILY_WEIGHTS), weights=list(FAMILY_WEIGHTS.values()))[0]
    first, last = rng.choice(FIRST), rng.choice(LAST)
    member = f"{first} {last}"
    sender = rng.choice([f"{member} <{first.lower()}.{last.lower()}@example.org>", f"{first.lower()}@example.net"])
    category, fields, subject = "other", {}, ""
    sign = f"\n\n{rng.choice(SIGN[lang])}\n{first}" if rng.random() < 0.8 else ""
    if family in ("ack", "after_all"):
        quoted_category, quoted_fields, confirmation = club_confirmation(
            rng, lang, member, tuple(AFTER_ALL) if family == "after_all" else tuple(SUBJECT_OF))
        subject = rng.choice(["Re: ", "RE: ", "AW: " if lang == "de" else "Re: "]) + SUBJECT_OF[quoted_category]
        text = rng.choice(ACKS[lang])
        if family == "after_all":
            category = quoted_category
            text = rng.choice(AFTER_ALL[category][lang]).format(reason=rng.choice(REASONS[lang]),
                                                                time=rng.choice(TIMES[lang]))
            fields = {"booking_id": quoted_fields["booking_id"]}
            if category == "modify_booking":
                fields["new_time"] = next(t for t in TIMES[lang] if t in text)
        else:
            fields = {name: value for name, value in quoted_fields.items() if name in ("booking_id", "username")}
        body = f"{text}{sign}\n\n{quote(rng, lang, confirmation)}"
    elif family == "howto":
        action = rng.choice(HOWTO_ACTIONS[lang])
        body = rng.choice(HOWTO[lang]).format(action=action) + sign
        subject = rng.choice(["", "Question", "App question", "Frage", "Question appli", "Pregunta"])
    elif family in ("withdrawn", "withdrawn_then_asked"):
        what, what2, asked = rng.choice(WITHDRAWN_WHAT[lang])
        templates = [t for t in WITHDRAWN[lang] if what2 or "{what2}" not in t]
        body = rng.choice(templates).format(what=what, what2=what2, why=rng.choice(WHY[lang])) + sign
        subject = rng.choice(["", "Re: my email", "Update", "Never mind"])
        if family == "withdrawn_then_asked" and lang == "en":  # the same topic, asked again: a request
            category, booking_id = asked, draw_booking_id(rng)
            body = (f"Sorry for the back and forth - please go ahead after all with {what}"
                    f"{', booking ' + booking_id if asked in ('cancel_booking', 'other') else ''}.{sign}")
            if asked in ("cancel_booking", "other"):  # "other": a move without a new time is no move yet
                fields["booking_id"] = booking_id
    else:  # an automated notice
        subject, template = rng.choice(NOTICES[lang])
        booking_id, username = draw_booking_id(rng), draw_username(rng, first, last)
        body = template.format(club=rng.choice(CLUBS), device=rng.choice(DEVICES), address=sender.split("<")[-1]
                               .strip(">"), code=f"{rng.randint(100, 999)} {rng.randint(100, 999)}",
                               booking_id=booking_id, username=username)
        fields = {name: value for name, value in (("booking_id", booking_id), ("username", username))
                  if value in body}
        sender = rng.choice(["noreply@club.example", "Mail Delivery System <mailer-daemon@mail.example>",
                             f"{rng.choice(CLUBS)} <no-reply@club.example>"])
    response = render_reply(category, fields, sender, lang)
    return {"sender": sender, "subject": subject, "body": body, "date": "", "category": category,
            **{name: fields.get(name, "") for name in FIELDS}, "response": response, "lang": lang,
            "family": f"trap.{family}.{lang}"}


def body_key(text: str) -> str:
    """A body's letters and digits only: two texts that differ in case, spaces or punctuation are one."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def build(seed: int, n: int, data: Path) -> list[dict[str, str]]:
    """``n`` rows, none whose text or body is in the validation, test or dev data."""
    held_out = set()
    for name in ("val.csv", "test.csv", "dev.csv"):
        with (data / name).open(newline="", encoding="utf-8") as handle:
            for held in csv.DictReader(handle):
                held_out.update((text_key(held), body_key(held["body"])))
    rng, rows, seen = random.Random(seed), [], set()
    while len(rows) < n:
        candidate = row(rng)
        key = text_key(candidate)
        if not {key, body_key(candidate["body"])} & held_out and key not in seen:
            seen.add(key)
            rows.append(candidate)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DATA / "train_traps.csv")
    parser.add_argument("--seed", type=int, default=71)
    parser.add_argument("--n", type=int, default=1100)
    args = parser.parse_args(argv)
    rows = build(args.seed, args.n, DATA)
    with args.out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} rows -> {args.out}")


if __name__ == "__main__":
    main()
