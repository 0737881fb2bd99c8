"""The club's voice: reply templates for each category, in the languages members write in.

Training targets are rendered here, so the model learns one consistent voice; inference
uses the same texts as drafts for speculative decoding (model/decoding.py), and the
workflow rewrites replies from the backend's real result with them.
"""

from __future__ import annotations

import re
import unicodedata
from email.utils import parseaddr

from core.text import unseen
from model.schema import FIELDS

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


GREETING_NAME_MAX_CHARS = 40
"""Longer than any first name: a longer word is not one, and the greeting says "Hello," instead."""
# Words before a name that are not one: "Frau Weber", "Mme Dupont", "Dr. Anna Weber", "Familie Weber".
# ("Don" is left out: it is a first name as often as a Spanish title.)
_TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "family",
    "herr", "frau", "familie",
    "mme", "mlle", "monsieur", "madame", "mademoiselle", "famille",
    "sr", "sra", "srta", "señor", "señora", "señorita", "dra", "familia",
})
# Two people in one display name ("Anna & Tom Berg", "Mr. and Mrs. Smith"): greeting one of them is odd.
_AND = frozenset({"and", "und", "et", "y", "&", "+"})
# A display name that names a mailbox's role or an organisation, not a person ("Info", "Team Support",
# "Tennis Club Nord", "Secrétariat"): "Hi Info," reads as a machine's greeting. The roles are those a
# club's own mailboxes and staff go by: a new account named so reads as the club (``club_role_words``).
_CLUB_ROLES = """
    info information team support admin administrator office contact service services reception
    secretary helpdesk billing accounts accounting staff committee board treasurer manager management
    noreply no-reply postmaster webmaster
    kontakt verwaltung vorstand geschäftsstelle sekretariat buchhaltung kasse kassenwart
    secrétariat secretariat accueil équipe bureau comptabilité trésorier
    secretaría secretaria oficina equipo administración contabilidad recepción tesorero
"""
_ORGANISATIONS = """
    club tennis sport sports sales booking bookings hello mail mailer-daemon newsletter member members
    verein mannschaft
"""
CLUB_ROLE_WORDS = frozenset(_CLUB_ROLES.split())
_NOT_PERSONS = CLUB_ROLE_WORDS | frozenset(_ORGANISATIONS.split())
_ROLE_RUN_MAX_CHARS = 60


def club_role_words(name: str) -> list[str]:
    """The club roles ``name`` (a login, a display name, an address's local part) reads as: a word
    of CLUB_ROLE_WORDS, alone ("office", "Tennis Club Office", "admin2") or run together with the
    club's words ("clubsecretary", "TennisClubAdmin"); [] for a person's name ("tennis_raj")."""
    words = re.split(r"[\W\d_]+", name.casefold())
    # a word longer than any run of the club's words is none, and the search is quadratic in its length
    return list(dict.fromkeys(role for word in words if 0 < len(word) <= _ROLE_RUN_MAX_CHARS
                              for role in _role_parts(word)))


def _role_parts(word: str) -> list[str]:
    """The role words ``word`` is made of, run together with the club's words and roles alone
    ("clubsecretary": ["secretary"]); [] when it is not made of them or holds no role."""
    ways: list[list[str] | None] = [[]] + [None] * len(word)  # ways[i]: the words of word[:i]
    for end in range(1, len(word) + 1):
        for start in range(end):
            if ways[start] is not None and word[start:end] in _NOT_PERSONS:
                ways[end] = [*ways[start], word[start:end]]
                break
    return [part for part in ways[-1] or [] if part in CLUB_ROLE_WORDS]


def first_name(sender: str) -> str | None:
    """The display name's first name when it clearly is one, else None (the greeting without one).

    The display name is the sender's to choose, and the greeting goes into every reply, including
    an account action's confirmation to the member's address on file: a first word that is a link,
    a phone number, markup or a direction-changing character would be the club's own text there.
    A title is passed over ("Dr. Anna Weber": Anna), but a title before one word leaves only the
    surname ("Frau Weber"), and initials ("J. Smith", "JD") are no first name: both give None."""
    name, _ = parseaddr(sender)
    name = unicodedata.normalize("NFKC", name).strip().strip('"')  # NFKC: "Ａｎｎａ" is "Anna"
    if "@" in name:
        return None
    surname_first = "," in name  # "Berg, Anna"
    if surname_first:
        name = name.split(",", 1)[1]
    words = name.split()
    titled = False
    while words and words[0].removesuffix(".").casefold() in _TITLES:
        words, titled = words[1:], True
    if not words or (titled and not surname_first and len(words) == 1) or _AND & {w.casefold() for w in words[:2]}:
        return None
    word = words[0]
    if not reads_as_name(word) or _initials(word) or word.casefold() in _NOT_PERSONS:
        return None
    # "ANNA WEBER", "anna weber": the name as it is written by hand, not shouted or typed in haste
    return word.title() if word.isupper() or word.islower() else word


def _initials(word: str) -> bool:
    """One or two letters of one case, also joined by a hyphen or dot: "J", "JD", "jd", "J-P", "A-A"
    ("Jo" and "Al" are names)."""
    parts = [part for part in re.split(r"[-'.]", word) if part]
    return bool(parts) and all(len(part) <= 2 for part in parts) and (word.isupper() or word.islower())


def reads_as_name(word: str) -> bool:
    """Letters (with their accents) of any script, joined by single apostrophes or hyphens
    ("D'Arcy", "Jean-Luc"), at most GREETING_NAME_MAX_CHARS long, none of them one the reader
    would not see (a Hangul filler is a letter; a variation selector, a mark)."""
    if not word or len(word) > GREETING_NAME_MAX_CHARS:
        return False
    for index, char in enumerate(word):
        if unseen(char):
            return False
        if char in "'’-":
            if index in (0, len(word) - 1) or not word[index - 1].isalpha() or not word[index + 1].isalpha():
                return False
        elif not (char.isalpha() or (index and unicodedata.category(char).startswith("M"))):
            return False
    return True


def greeting(sender: str, lang: str) -> str:
    """The reply's first words: the sender's first name (``first_name``) or the greeting without one."""
    name = first_name(sender)
    return GREETING[lang].format(name=name) if name else GREETING_NO_NAME[lang]


def render_reply(category: str, fields: dict, sender: str, lang: str = "en") -> str:
    """The proposed reply for ``category``, filled from the stated ``fields``."""
    lang = lang if lang in LANGUAGES else "en"
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
    return f"{greeting(sender, lang)} {body}\n\n{SIGN_OFF[lang]}"


def reply_language(reply: str) -> str:
    """The language a reply was started in, from its greeting (English when it has none)."""
    return next((lang for lang in LANGUAGES if reply.startswith((GREETING[lang].split(" ")[0],
                                                                  GREETING_NO_NAME[lang].rstrip(",:")))), "en")


# Text left standing for something to fill in: "[name]", "{booking_id}", "{{ time }}", "<time>", "XXX",
# "XX:XX", "TODO", "FIXME". The club's replies never hold a bracket, brace or angle around a word, nor these
# markers: none of the labelled replies of training/data does, nor any rendered template (their
# {placeholders} are filled by render_reply). Each repeat is capped: an edited reply may be long.
PLACEHOLDER = re.compile(r"\[\s{0,3}(?:[^\W\d][\w .'’/-]{0,40}|\.{3}|…)\s{0,3}\]"
                         r"|\{\{?\s{0,3}[^\W\d][\w .-]{0,40}\}\}?"
                         r"|<\s{0,3}[^\W\d][\w -]{0,40}>"
                         r"|\bX{3,40}\b|\bXX(?:[:./-]XX{1,3}){1,3}\b|\b(?:TODO|FIXME)\b")


def placeholders(text: str) -> list[str]:
    """The placeholders left in ``text`` (see PLACEHOLDER), first five, in order."""
    return list(dict.fromkeys(match.group() for match in PLACEHOLDER.finditer(text)))[:5]


def draft_texts() -> list[str]:
    """Every fixed piece of the club's replies: the drafts speculative decoding looks up."""
    pieces = [*SIGN_OFF.values(), *GREETING_NO_NAME.values()]
    for by_lang in BODIES.values():
        pieces.extend(by_lang.values())
    return pieces


# What a reply may not say unless the club's own reply does: a link (a scheme, ``www.``, a domain),
# an address, a number long enough to call or pay to (seven digits or more, however grouped: a phone,
# an IBAN, an account), or a code mixing letters and digits (a booking id, a login, a voucher). Times,
# days and ordinals as a member writes them ("7pm", "11h30", "10:00-11:00", "12", "3rd") are not: the
# model copies the new time of a move from the mail, and the fields hold it normalised. Words are split
# off first and tested one by one: ``\S*…\S*`` over a long run of letters backtracks quadratically
# (40 KB of them took 54 s).
_LINK = re.compile(r"://|^www\.|^[^\W\d_][\w-]*(?:\.[\w-]+)*\.[^\W\d_]{2,}(?:/\S*)?$", re.IGNORECASE)
_LONG_NUMBER = re.compile(r"\+?\d(?:[\s()./-]*\d){6,}")
_DATE_OR_TIME = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{1,2}[:.h]\d{2}")
_TIME_OR_DAY = re.compile(r"\d{1,2}(?:[:.h]\d{2})?(?:[-–]\d{1,2}(?:[:.h]\d{2})?)?"
                          r"(?:am|pm|h|hrs?|uhr|st|nd|rd|th|er|e|ème|º|ª)?", re.IGNORECASE)
_WORD_EDGES = ".,;:!?()[]{}<>'\"«»“”‘’*_`"
_ADDRESS_FIELDS = ("member_email",)
"""Fields whose value is somewhere to write to: in a reply-only proposal it is the mail's, not the club's."""
# A link or address written so that no link reader sees it ("club-pay[.]example", "max (at) mail
# (dot) example", "max dot weber at gmail dot example", "max punkt weber at gmail punkt example"): the
# member still types it in. In the four languages; "point", "Punkt" and "punto" are everyday words,
# so unbracketed they count only in an address's shape (name, at-word, host, dot-word, ending), and
# the English "x dot y" not before a little word ("on the dot at 9", "the red dot on the door").
_AT_WORD = r"(?:at|ät|arobase|arroba)"
_DOT_WORD = r"(?:dot|punkt|point|punto)"
_SPELLED_OUT_LINK = re.compile(
    rf"[\[({{<]\s{{0,3}}(?:{_AT_WORD}|{_DOT_WORD}|\.|@)\s{{0,3}}[\])}}>]"
    rf"|\b[^\W\d_]+\s{{1,3}}{_AT_WORD}\s{{1,3}}[^\W\d_][\w-]*\s{{1,3}}{_DOT_WORD}\s{{1,3}}[^\W\d_]{{2,}}\b"
    r"|\b[^\W\d_]+\s{1,3}dot\s{1,3}(?!(?:at|on|in|of|to|and|or|the|for|is|with)\b)[^\W\d_]{2,}\b",
    re.IGNORECASE)
# A short number said to be a secret: a PIN, an access code, a password ("your PIN is 4821", "Ihr
# Passwort lautet 482193", "4821 is your door code"). A short number alone is not flagged (times, days,
# courts: see above), but next to one of these words it is a credential, and the club never mails one:
# it sends a reset link. No labelled reply of training/data holds a 4-6 digit number at all.
_SECRET_WORD = r"(?:PIN|PINs|codes?|pass(?:word|wort|code)s?|kennwort|mot de passe|contraseña|clave|código)"
_SECRET_NUMBER = r"(?<![\w.,:/-])\d{4,6}(?![\w:/-]|[.,]\d)"
_SHORT_SECRET = re.compile(rf"\b{_SECRET_WORD}\b(?:\W{{1,10}}\w{{1,40}}){{0,3}}?\W{{1,10}}({_SECRET_NUMBER})"
                           rf"|({_SECRET_NUMBER})(?:\W{{1,10}}\w{{1,40}}){{0,3}}?\W{{1,10}}{_SECRET_WORD}\b",
                           re.IGNORECASE)


def _pointing_words(text: str) -> list[str]:
    words = [word.strip(_WORD_EDGES) for word in text.split()]
    found = [word for word in words if "@" in word or _LINK.search(word)
             or (any(char.isdigit() for char in word) and any(char.isalpha() for char in word)
                 and not _TIME_OR_DAY.fullmatch(word))]
    found += _LONG_NUMBER.findall(_DATE_OR_TIME.sub(" ", text))  # dates and times first: not numbers to call
    found += [before or after for before, after in _SHORT_SECRET.findall(text)]
    found += _SPELLED_OUT_LINK.findall(text)
    return [word for word in found if word]


def _claims() -> dict[str, tuple[str, ...]]:
    """Per action, the words of its club reply that say it was done and that no other category's
    reply holds ("has been cancelled", "wurde verlegt", "nous avons envoyé une invitation"): cut from
    ``BODIES`` at its placeholders, so they follow the templates. ``other`` claims nothing."""
    pieces = {category: [piece.strip(" .,:").casefold() for text in bodies.values()
                         for piece in re.split(r"\{\w+\}", text)] for category, bodies in BODIES.items()}
    # every three words in a row (a piece of two: itself, "wurde storniert"), so that a reworded
    # sentence ("we have sent you a password reset link") still shows its claim; kept only where no
    # other category's reply holds them
    windows = {category: {" ".join(words[i:i + _CLAIM_WORDS]) for piece in own for words in [piece.split()]
                          if len(words) >= 2 for i in range(max(1, len(words) - _CLAIM_WORDS + 1))}
               for category, own in pieces.items()}
    return {category: tuple(sorted(window for window in own if not any(
                window in piece for other, others in pieces.items() if other != category for piece in others)))
            for category, own in windows.items() if category != "other"}


_CLAIM_WORDS = 3


ACTION_CLAIMS = _claims()


def reply_claims(category: str, proposed: str) -> str | None:
    """The action a reply-only proposal (``other``: nothing runs) says the club did, in plain words,
    or None. A mail can steer that answer into "your booking BK-48213 has been cancelled" while
    nothing is cancelled, and for ``other`` the proposal is what the member gets; no labelled
    ``other`` reply claims an action. An action's proposal is never sent as written: its reply is
    built from the club's answer (support/outcome_replies.py), so its wording claims nothing (on dev,
    flagging those sent two right tickets to review for a word of another template)."""
    if category != "other":
        return None
    text = " ".join(proposed.casefold().split())
    claimed = [action for action, words in ACTION_CLAIMS.items() if any(word in text for word in words)]
    if not claimed:
        return None
    return (f"the proposed reply says the club did what a {claimed[0].replace('_', ' ')} reply says, but nothing "
            "runs for this ticket")


def reply_additions(category: str, fields: dict, proposed: str) -> str | None:
    """What a proposed reply says that neither the club's own reply for ``category`` and ``fields``
    nor the fields themselves do (a link, address, long number, code or a short number called a PIN,
    code or password: see ``_LINK`` and ``_SHORT_SECRET`` above), in plain words, or None.

    The operator approves a "Ready" ticket in a few clicks, and for ``other`` the proposal is what
    the member gets. A link, address, phone number, amount or code that the club's reply, filled
    from the same fields, does not hold came from nowhere the club wrote, most likely from the mail,
    and a mail that wants the club to say something puts exactly that there; so does an invisible
    character. (The greeting's name is letters only, ``first_name``: it adds no such word.)"""
    template = render_reply(category, fields, "", reply_language(proposed))
    # an action's fields are shown to the operator beside its call: naming them is no addition. For
    # ``other`` nothing runs, so an address the mail gave ("write to us there from now on") is what the
    # mail wants the club to say; its booking id or login is only the member's own reference (an
    # auto-reply's "Ihre Buchung BK-38176", answered with it: a right ticket dev had sent to review)
    named = [str(fields[name]) for name in FIELDS if fields.get(name) and not (category == "other" and name in
                                                                               _ADDRESS_FIELDS)]
    stated = " ".join([template, *named])
    allowed = {word.strip(_WORD_EDGES).casefold() for word in stated.split()} | \
        {word.casefold() for word in _pointing_words(stated)}
    added = list(dict.fromkeys(word for word in _pointing_words(proposed) if word.casefold() not in allowed))
    hidden = sorted({f"U+{ord(char):04X}" for char in proposed if unseen(char) and char not in template})
    if not added and not hidden:
        return None
    named = [repr(word[:60]) for word in added[:5]] + hidden[:5]
    return (f"the proposed reply says what the club's {category.replace('_', ' ')} reply does not "
            f"(a link, address, number, code or PIN, or an invisible character): {', '.join(named)}")
