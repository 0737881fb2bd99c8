"""Build AceDesk's triage training set: synthetic support emails with their labels and replies.

    .venv/bin/python -m training.generate_data --seed 13 --n 3600 --out training/data

writes ``train.csv``, ``val.csv`` and ``test.csv`` (about 85 / 7.5 / 7.5 %). The same seed gives
byte-identical files, plus ``train_chat.csv``: extra one-line chat messages with typos, for
training only (see ``build_chat_rows``). ``--teacher`` adds paraphrases from a teacher model
(training/distill.py).

How a row is made: pick a category, a language and a template family; draw values (names,
usernames, booking ids, dates ...) from pools with the seeded RNG; fill a request template,
dress it as a full mail (greeting, reason, signature, quoted or forwarded history) or as a
one-line chat message (lowercase, typos); read the fields off the placeholders the text used.
Because fields come from placeholders, every extracted value stands verbatim in the text.
Hand-written rows (training/data/handwritten.csv) are merged in before deduplication.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

from core.files import write_atomically
from model.replies import render_reply
from model.schema import CATEGORIES, FIELDS, normalize_booking_id
from training.phrasebook import (
    ACTION_ASIDES_EN,
    ADD_DE,
    ADD_EN,
    ADD_ES,
    ADD_FR,
    CANCEL_DE,
    CANCEL_EN,
    CANCEL_ES,
    CANCEL_FR,
    CANCEL_REASONS_EN,
    CHAT_SUBJECTS,
    FILLER_EN,
    GENERIC_ACCOUNT_KINDS,
    GENERIC_EN,
    GENERIC_OBJECTS,
    GREETINGS,
    INJECTIONS_EN,
    MODIFY_DE,
    MODIFY_EN,
    MODIFY_ES,
    MODIFY_FR,
    MODIFY_REASONS_EN,
    OPENERS_EN,
    OTHER_DE,
    OTHER_EN,
    OTHER_ES,
    OTHER_FR,
    OTHER_WHOLE_EN,
    QUOTE_HEADERS,
    QUOTES,
    RESET_DE,
    RESET_EN,
    RESET_ES,
    RESET_FR,
    SIGNOFFS,
    SUBJECTS,
    SUBJECTS_EN,
    WITHDRAWN_EN,
)

COLUMNS = ("sender", "subject", "body", "date", "category", *FIELDS, "response", "lang", "family")
HANDWRITTEN = Path(__file__).parent / "data" / "handwritten.csv"

# Row mix. "other" is the largest class because most real mail needs no action.
CATEGORY_WEIGHTS = {
    "add_user": 0.17,
    "reset_password": 0.17,
    "cancel_booking": 0.17,
    "modify_booking": 0.17,
    "other": 0.32,  # a little above the 30 % target: chat-style "other" rows dedupe the most
}
LANG_WEIGHTS = {"en": 0.88, "de": 0.04, "fr": 0.04, "es": 0.04}
CHAT_SHARE = 0.25  # one-line, chat-style messages: the eval set looks like this
INJECTION_SHARE = 0.03
TWO_REQUEST_SHARE = 0.03
QUOTED_SHARE = 0.10
FORWARD_SHARE = 0.04
LONG_SHARE = 0.05
# Share of each category's English rows that come from the generic chat family (see phrasebook).
# About 40 % of the action rows and 30 % of the "other" rows (weights against the family counts).
GENERIC_WEIGHT = {"add_user": 0.67, "reset_password": 0.67, "cancel_booking": 3.3, "modify_booking": 1.33,
                  "other": 5.6}
CHAT_EXTRA = 1600
"""Extra chat rows (train_chat.csv): stage 5's validation and test errors were mostly short chat
messages with a typo in the word that decides the category."""
CHAT_EXTRA_TYPOS = (1, 1, 2, 3)  # how many typos an extra chat row gets: always at least one
SPLIT_BUCKETS = (850, 925)  # of 1000: train below 850, val below 925, test the rest

# A placeholder in a template becomes a field only in the categories that carry that field.
# {date} in an "other" mail (a new booking request) is context, not a field.
FIELD_OF = {
    "user": "username",
    "bk": "booking_id",
    "name": "member_name",
    "email": "member_email",
    "date": "new_date",
    "time": "new_time",
    "court": "new_court",
}
EXTRACTED = {
    "add_user": {"user", "bk", "name", "email"},
    "reset_password": {"user", "bk"},
    "cancel_booking": {"user", "bk"},
    "modify_booking": {"user", "bk", "date", "time", "court"},
    "other": {"user", "bk"},
}
SHORT = {
    "add_user": "add",
    "reset_password": "reset",
    "cancel_booking": "cancel",
    "modify_booking": "modify",
    "other": "other",
}

# ---------------------------------------------------------------------------------------------
# Value pools
# ---------------------------------------------------------------------------------------------

FIRST_NAMES = {
    "en": (
        "Anna", "James", "Olivia", "Tom", "Sophie", "Daniel", "Emma", "Liam", "Grace", "Noah", "Chloe",
        "Ben", "Hannah", "Oliver", "Mia", "Jack", "Ella", "Sam", "Ruth", "Priya", "Raj", "Aisha",
        "Mohammed", "Wei", "Yuki", "Kofi", "Fiona", "Callum", "Megan", "Harry", "Isla", "Ethan",
        "Zoe", "Lucas", "Nina", "Peter", "Laura", "Mark", "Kate", "Chris", "Dana", "Alex",
    ),
    "de": (
        "Jürgen", "Anna", "Lukas", "Lena", "Felix", "Marie", "Jonas", "Sabine", "Thomas", "Katrin",
        "Stefan", "Julia", "Moritz", "Leonie", "Uwe", "Birgit", "Tim", "Sophie", "Maximilian", "Greta",
    ),
    "fr": (
        "Camille", "Louis", "Chloé", "Hugo", "Léa", "Julien", "Manon", "Nicolas", "Élodie", "Antoine",
        "Sophie", "Mathieu", "Inès", "Thomas", "Claire", "Pierre",
    ),
    "es": (
        "Lucía", "Pablo", "María", "Javier", "Carmen", "Diego", "Sofía", "Alejandro", "Elena", "Miguel",
        "Laura", "Carlos", "Marta", "Andrés", "Paula", "Sergio",
    ),
}
LAST_NAMES = {
    "en": (
        "Smith", "Berg", "Taylor", "Brown", "Wilson", "Evans", "Walker", "Patel", "Khan", "Nguyen",
        "O'Brien", "Murphy", "Clarke", "Hughes", "Wright", "Green", "Hall", "Kowalski", "Chen", "Okafor",
        "Fraser", "Doyle", "Price", "Morgan", "Reid", "Sato", "Hill", "Ward",
    ),
    "de": (
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann",
        "Keller", "Braun", "Zimmermann", "Krüger", "Hartmann", "Lange",
    ),
    "fr": ("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Laurent", "Girard", "Roux", "Fournier", "Blanc"),
    "es": ("García", "Fernández", "López", "Martínez", "Sánchez", "Romero", "Navarro", "Torres", "Ruiz", "Díaz"),
}
MAIL_DOMAINS = (
    "gmail.com", "outlook.com", "yahoo.co.uk", "web.de", "gmx.de", "icloud.com", "hotmail.com",
    "proton.me", "orange.fr", "free.fr", "telefonica.es", "posteo.de", "btinternet.com", "aol.com",
)
WEEKDAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
    "es": ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"),
}
MONTHS = {
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober",
           "November", "Dezember"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
           "novembre", "décembre"),
    "es": ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"),
}
CLUBS = ("Riverside LTC", "Oakfield Tennis Club", "Parkside Tennis", "TC Grün-Weiß", "Ace Club", "Hillcrest LTC")

# Values the injected instructions use; the genuine pools never produce them.
INJECTED_USERS = ("admin", "root", "administrator", "superuser", "sysop")
INJECTED_IDS = ("BK-00000", "BK-99999", "#BK00001", "BK-99998")
INJECTED_EMAILS = ("attacker@evil-mail.ru", "root@pwned.io", "x@exfil.cc")


def ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def ascii_lower(text: str) -> str:
    """Name -> something usable in a login or an address (Jürgen -> juergen, Élodie -> elodie)."""
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, plain).replace(umlaut.upper(), plain.capitalize())
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", text.lower())


def draw_date(rng: random.Random, lang: str) -> str:
    """A requested date as people write it; code resolves it later, so keep the variety."""
    wd = rng.choice(WEEKDAYS[lang])
    day, month_no = rng.randint(1, 28), rng.randint(1, 12)
    month = MONTHS[lang][month_no - 1]
    forms = {
        "en": (f"next {wd}", f"this {wd}", wd, "tomorrow", "the day after tomorrow", f"{wd} {day} {month}",
               f"{day} {month}", f"{month} {day}", f"{month} {ordinal(day)}", f"the {ordinal(day)}",
               f"{wd} the {ordinal(day)}", f"{day}/{month_no}", f"{wd[:3]} {day} {month[:3]}", f"next week {wd}"),
        "de": (f"nächsten {wd}", "morgen", "übermorgen", wd, f"{wd}, den {day}. {month}", f"den {day}. {month}",
               f"den {day:02d}.{month_no:02d}."),
        "fr": (f"{wd} prochain", "demain", "après-demain", wd, f"{wd} {day} {month}", f"le {day} {month}"),
        "es": (f"el próximo {wd}", "mañana", "pasado mañana", f"el {wd}", f"el {wd} {day} de {month}",
               f"el {day} de {month}"),
    }
    return rng.choice(forms[lang])


def draw_time(rng: random.Random, lang: str) -> str:
    hour = rng.randint(7, 21)
    minute = rng.choice(("00", "30", "30", "15", "45"))
    h12 = hour - 12 if hour > 12 else hour
    ampm = "pm" if hour >= 12 else "am"
    forms = {
        "en": (f"{h12}{ampm}", f"{h12} {ampm}", f"{hour}:{minute}", f"{h12}.{minute}{ampm}", f"{h12}:{minute}{ampm}",
               f"{h12}{ampm.upper()}", f"{hour:02d}:{minute}"),
        "de": (f"{hour}:{minute} Uhr", f"{hour} Uhr", f"{hour}:{minute}", f"{hour}.{minute} Uhr"),
        "fr": (f"{hour}h{minute}", f"{hour}h", f"{hour}:{minute}"),
        "es": (f"{hour}:{minute}", f"{hour}h", f"{hour}:{minute}h"),
    }
    return rng.choice(forms[lang])


def draw_court(rng: random.Random, lang: str) -> str:
    n = rng.randint(1, 9)
    forms = {
        "en": (f"court {n}", f"Court {n}", f"court no. {n}", f"indoor court {n}", f"court #{n}", "centre court",
               f"clay court {n}"),
        "de": (f"Platz {n}", f"Hallenplatz {n}", f"Court {n}"),
        "fr": (f"court {n}", f"terrain {n}", f"court n°{n}"),
        "es": (f"pista {n}", f"pista cubierta {n}", f"pista central {n}"),
    }
    return rng.choice(forms[lang])


def draw_booking_id(rng: random.Random) -> str:
    """Mostly BK-numbers in every spelling people use, some bare numbers, some other id styles."""
    n = rng.randint(10000, 98997)
    roll = rng.random()
    if roll < 0.70:
        return rng.choice((f"BK-{n}", f"#BK{n}", f"BK{n}", f"bk {n}", f"BK {n}", f"bk-{n}", f"#BK-{n}", f"Bk{n}",
                           f"bk{n}", f"BK#{n}"))
    if roll < 0.82:
        return str(n)
    k = rng.randint(1000, 9999)
    return rng.choice((f"R-{k}", f"RES-{k}", f"L-{k}", f"TB{k}", f"R{k}", f"CT-{k}-{rng.randint(1, 9)}"))


def draw_username(rng: random.Random, first: str, last: str) -> str:
    f, last_ = ascii_lower(first) or "user", ascii_lower(last) or "player"
    forms = (
        f"{f}.{last_}", f"{f[0]}{last_}{rng.randint(60, 99)}", f"{f}_{rng.randint(1990, 2016)}",
        f"{f[0]}{last_[0]}_{rng.randint(2000, 2016)}", f"{last_}{rng.randint(1, 99)}", f"{f}{last_[0]}",
        f"ace_{f}", f"{f}.{last_[0]}{rng.randint(1, 9)}", f"{f[:3]}{last_[:3]}",
        f"{f.capitalize()}{last_.capitalize()}", f"{last_}.{f}", f"{f}-{last_}", f"{f}{rng.randint(10, 999)}",
        f"tennis_{f}", f"{f}_{last_}", f"{f[0]}.{last_}", f"{last_.upper()}{f[0].upper()}",
    )
    return rng.choice(forms)


def draw_phone(rng: random.Random) -> str:
    return rng.choice((
        f"0{rng.randint(151, 179)} {rng.randint(1000000, 9999999)}",
        f"+44 7700 {rng.randint(100000, 999999)}",
        f"06 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}",
    ))


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    address: str

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"


def draw_person(rng: random.Random, lang: str, last: str | None = None) -> Person:
    first = rng.choice(FIRST_NAMES[lang])
    last = last or rng.choice(LAST_NAMES[lang])
    f, lname = ascii_lower(first), ascii_lower(last)
    local = rng.choice((f"{f}.{lname}", f"{f[0]}{lname}", f"{f}{rng.randint(1, 99)}", f"{lname}.{f}", f"{f}_{lname}"))
    return Person(first, last, f"{local}@{rng.choice(MAIL_DOMAINS)}")


def sender_header(rng: random.Random, person: Person) -> str:
    """Most mail clients send ``Name <address>``; some send the bare address."""
    roll = rng.random()
    if roll < 0.75:
        return f"{person.full} <{person.address}>"
    if roll < 0.8:
        return f'"{person.last}, {person.first}" <{person.address}>'
    return person.address


def draw_values(rng: random.Random, lang: str, person: Person) -> dict[str, str]:
    """Every placeholder a template may use, drawn once per row (cheap, keeps code simple)."""
    member = draw_person(rng, lang, last=person.last if rng.random() < 0.6 else None)
    old_date = draw_date(rng, lang)
    old_day = rng.choice(WEEKDAYS[lang])
    new_time, old_time = draw_time(rng, lang), draw_time(rng, lang)
    while old_time == new_time:
        old_time = draw_time(rng, lang)
    court, old_court = draw_court(rng, lang), draw_court(rng, lang)
    while old_court == court:
        old_court = draw_court(rng, lang)
    date = draw_date(rng, lang)
    while date in (old_date, old_day):
        date = draw_date(rng, lang)
    return {
        "bk": draw_booking_id(rng),
        "user": draw_username(rng, member.first if rng.random() < 0.5 else person.first, person.last),
        "name": member.full if rng.random() < 0.75 else member.first,
        "email": member.address,
        "kid": member.first,
        "date": date,
        "time": new_time,
        "court": court,
        "old_date": old_date,
        "old_day": old_day,
        "old_time": old_time,
        "old_court": old_court,
        "member_no": str(rng.randint(10000, 99999)),
        "invoice": rng.choice((f"INV-{rng.randint(2023, 2025)}-{rng.randint(100, 999)}", str(rng.randint(10000, 99999)))),
        "phone": draw_phone(rng),
        "sig": rng.choice((person.first, person.full, person.first[0], f"{person.first} ({person.last})")),
        "club": rng.choice(CLUBS),
        "inj_user": rng.choice(INJECTED_USERS),
        "inj_bk": rng.choice(INJECTED_IDS),
        "inj_email": rng.choice(INJECTED_EMAILS),
        "acct": rng.choice(GENERIC_ACCOUNT_KINDS),
        "obj": rng.choice(GENERIC_OBJECTS),
        "url": rng.choice(("http://club-login-verify.top/reset", "https://acedesk-secure.help/acc",
                           "http://bit.ly/3xTnnis")),
    }


# ---------------------------------------------------------------------------------------------
# Templates. A family is one kind of mail; its requests are interchangeable phrasings.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    id: str
    category: str
    lang: str
    requests: tuple[str, ...]
    subjects: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    whole: bool = False
    """The request is the whole mail (auto-replies, bounces, newsletters): no dressing."""
    weight: float = 1.0
    """How often the family is picked relative to the others of its category and language."""
    chat_share: float = CHAT_SHARE / 0.95  # whole-mail families are never chat, make up for them


def build_families() -> list[Family]:
    en = SUBJECTS_EN
    families = [
        Family("cancel.plain.en", "cancel_booking", "en", CANCEL_EN, en["cancel_booking"]),
        *(Family(f"cancel.{why}.en", "cancel_booking", "en", CANCEL_EN, en["cancel_booking"], reasons)
          for why, reasons in CANCEL_REASONS_EN.items()),
        Family("modify.plain.en", "modify_booking", "en", MODIFY_EN, en["modify_booking"]),
        Family("modify.reason.en", "modify_booking", "en", MODIFY_EN, en["modify_booking"], MODIFY_REASONS_EN),
        Family("reset.plain.en", "reset_password", "en", RESET_EN, en["reset_password"]),
        Family("add.plain.en", "add_user", "en", ADD_EN, en["add_user"]),
        *(Family(f"other.{kind}.en", "other", "en", texts, en["other"]) for kind, texts in OTHER_EN.items()),
        *(Family(f"other.{kind}.en", "other", "en", texts, whole=True) for kind, texts in OTHER_WHOLE_EN.items()),
        # Generic wording is what the model meets least in tennis-flavoured templates: weight it up.
        *(Family(f"{SHORT[category]}.generic.en", category, "en", texts, CHAT_SUBJECTS,
                 weight=GENERIC_WEIGHT[category], chat_share=0.8)
          for category, texts in GENERIC_EN.items()),
    ]
    by_lang = {
        "de": (CANCEL_DE, MODIFY_DE, RESET_DE, ADD_DE, OTHER_DE),
        "fr": (CANCEL_FR, MODIFY_FR, RESET_FR, ADD_FR, OTHER_FR),
        "es": (CANCEL_ES, MODIFY_ES, RESET_ES, ADD_ES, OTHER_ES),
    }
    order = ("cancel_booking", "modify_booking", "reset_password", "add_user", "other")
    for lang, pools in by_lang.items():
        for category, texts in zip(order, pools, strict=True):
            families.append(Family(f"{SHORT[category]}.plain.{lang}", category, lang, texts, SUBJECTS[lang][category]))
    return families


FAMILIES = build_families()

_SLOT = re.compile(r"(\{[a-z_]+\})")


def add_typo(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) > 3 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    w = words[i]
    j = rng.randrange(1, len(w) - 1)
    words[i] = rng.choice((w[:j] + w[j + 1] + w[j] + w[j + 2:], w[:j] + w[j + 1:], w[:j] + w[j] + w[j:]))
    return " ".join(words)


def chatify(rng: random.Random, text: str, typo_counts: tuple[int, ...] = (0, 1, 1, 2)) -> str:
    """Turn a tidy sentence template into what people type into a chat box.

    Works on the template: placeholder names are lowercase and never alphabetic-only words,
    so lowercasing and typos leave the values that fill them untouched.
    """
    if rng.random() < 0.6:
        text = text.lower()
    if rng.random() < 0.4:
        text = text.replace("'", "")
    if rng.random() < 0.5:
        text = text.rstrip(".!")
    for _ in range(rng.choice(typo_counts)):
        text = add_typo(rng, text)
    if rng.random() < 0.15:
        text = rng.choice(("hi ", "hey ", "hello, ", "pls ")) + text
    if rng.random() < 0.1:
        text += rng.choice((" thx", " thanks", " asap", " pls", " ty"))
    return text


def pick(rng: random.Random, seq):
    return seq[rng.randrange(len(seq))]


def request_text(rng: random.Random, family: Family) -> str:
    text = pick(rng, family.requests)
    if family.reasons and rng.random() < 0.8:
        reason = pick(rng, family.reasons)
        text = f"{reason} {text}" if rng.random() < 0.7 else f"{text} {reason}"
    return text


def dress_mail(rng: random.Random, lang: str, text: str, long: bool) -> str:
    """Greeting, optional opener and chatter, the request, sign-off."""
    parts = []
    if rng.random() < 0.85:
        parts.append(pick(rng, GREETINGS[lang]))
    middle = text
    if lang == "en" and rng.random() < 0.3:
        middle = f"{pick(rng, OPENERS_EN)} {middle}"
    if long and lang == "en":
        chatter = rng.sample(FILLER_EN, rng.randint(4, 9))
        cut = rng.randint(0, len(chatter))
        middle = " ".join([*chatter[:cut], middle, *chatter[cut:]])
    parts.append(middle)
    if rng.random() < 0.9:
        parts.append(pick(rng, SIGNOFFS[lang]))
    return "\n\n".join(parts)


def add_quote(rng: random.Random, category: str, body: str) -> str:
    """An earlier message below the new text; booking mails often quote the confirmation."""
    kind = "booking" if category in ("cancel_booking", "modify_booking", "other") else "account"
    header = pick(rng, QUOTE_HEADERS)
    quote = pick(rng, QUOTES[kind])
    return f"{body}\n\n{quote}" if header == "> " else f"{body}\n\n{header}\n{quote}"


def add_forward(rng: random.Random, inner_subject: str, body: str, forwarder: Person) -> tuple[str, str]:
    """A family member or colleague forwards the actual request; the forwarder is the sender."""
    note = pick(rng, ("", "See below, can you sort this out?", "Forwarding this from my wife.",
                      "FYI - my son asked me to send this on.", "Please see the message below. Thanks"))
    original = draw_person(rng, "en", last=forwarder.last)
    header = f"---------- Forwarded message ---------\nFrom: {original.full} <{original.address}>\nSubject: {inner_subject}\n"
    body = body.replace("{sig}", original.first)  # the forwarded mail is signed by its writer
    return f"Fwd: {inner_subject}", f"{note}\n\n{header}\n{body}".lstrip()


def subject_for(rng: random.Random, family: Family, chat: bool) -> str:
    if chat and rng.random() < 0.7:
        return pick(rng, CHAT_SUBJECTS)
    if not family.subjects:
        return pick(rng, SUBJECTS_EN["other"])
    subject = pick(rng, family.subjects)
    return subject.lower() if chat else subject


def fields_from(category: str, templates: list[str], values: dict[str, str]) -> dict[str, str]:
    """The fields are exactly the extracted placeholders the text used."""
    used = {m.group(0)[1:-1] for t in templates for m in _SLOT.finditer(t)}
    fields = {}
    for slot in sorted(used & EXTRACTED[category]):
        value = values[slot]
        fields[FIELD_OF[slot]] = normalize_booking_id(value) if slot == "bk" else value
    return fields


@dataclass
class Draft:
    """A row before filling: templates, the family and the label."""

    family: str
    category: str
    lang: str
    subject: str
    body: str
    injection: str = ""


def chat_family(family_id: str) -> str:
    """cancel.plain.en -> cancel.chat.en, cancel.injury.en -> cancel.injury-chat.en"""
    short, variant, lang = family_id.split(".")
    return f"{short}.{'chat' if variant == 'plain' else variant + '-chat'}.{lang}"


def draft_chat(rng: random.Random, family: Family, text: str, typo_counts: tuple[int, ...] = (0, 1, 1, 2)) -> Draft:
    body = chatify(rng, text, typo_counts)
    return Draft(chat_family(family.id), family.category, family.lang, subject_for(rng, family, True), body)


def draft_normal(rng: random.Random, family: Family, sender: Person) -> Draft:
    lang, category = family.lang, family.category
    if family.whole:
        return Draft(family.id, category, lang, pick(rng, SUBJECTS_WHOLE[family.id.split(".")[1]]),
                     pick(rng, family.requests))
    chat = rng.random() < family.chat_share
    text = request_text(rng, family)
    if chat:
        return draft_chat(rng, family, text)
    if rng.random() < 0.1:
        text = add_typo(rng, text)
    body = dress_mail(rng, lang, text, long=rng.random() < LONG_SHARE)
    subject = subject_for(rng, family, False)
    roll = rng.random()
    if roll < QUOTED_SHARE:
        body, subject = add_quote(rng, category, body), f"Re: {subject}"
    elif roll < QUOTED_SHARE + FORWARD_SHARE:
        subject, body = add_forward(rng, subject, body, sender)
    return Draft(family.id, category, lang, subject, body)


SUBJECTS_WHOLE = {
    "ooo": ("Automatic reply: Your booking", "Out of office", "Abwesenheitsnotiz", "Auto: Re: your request",
            "Automatic reply: Booking {bk}"),
    "bounce": ("Undeliverable: Cancellation", "Delivery Status Notification (Failure)", "Mail delivery failed",
               "Returned mail: see transcript for details"),
    "spam": ("Urgent: account verification", "You won!", "Invoice {invoice}", "Security alert", "Partnership"),
    "newsletter": ("Club newsletter", "Your weekly digest", "Tennis Weekly"),
}
WHOLE_SENDERS = {
    "bounce": "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
    "spam": "Account Security <no-reply@secure-verify-login.top>",
    "newsletter": "Tennis Weekly <newsletter@tennisweekly.example>",
}


def draft_injection(rng: random.Random, family: Family) -> Draft:
    """A genuine request with an instruction aimed at the model; the label ignores the instruction."""
    text = request_text(rng, family)
    injection = pick(rng, INJECTIONS_EN)
    body = f"{text} {injection}" if rng.random() < 0.6 else f"{injection}\n\n{text}"
    if rng.random() < 0.5:
        body = dress_mail(rng, "en", body, long=False)
    subject = subject_for(rng, family, False)
    return Draft(f"inject.{SHORT[family.category]}.en", family.category, "en", subject, body, injection)


def draft_two_requests(rng: random.Random, families: list[Family]) -> Draft:
    """Two requests: the actionable one wins, or the first of two actions, or the un-withdrawn one."""
    roll = rng.random()
    first = pick(rng, [f for f in families if f.category != "other" and not f.whole])
    if roll < 0.25:
        body = pick(rng, WITHDRAWN_EN)
        return Draft("two.withdrawn.en", "modify_booking", "en", "Booking", dress_mail(rng, "en", body, False))
    text = request_text(rng, first)
    if roll < 0.6:
        aside = pick(rng, ACTION_ASIDES_EN)
        body = f"{aside} {text}" if rng.random() < 0.5 else f"{text} {aside}"
        return Draft(f"two.aside.{SHORT[first.category]}.en", first.category, "en", subject_for(rng, first, False),
                     dress_mail(rng, "en", body, False))
    second_family = pick(rng, [f for f in families if f.category not in ("other", first.category) and not f.whole])
    # The second request must not bring a booking id or username: they would belong to the wrong action.
    taken = {"{bk}", "{user}", *(set(_SLOT.findall(text)) & {"{name}", "{email}", "{date}", "{time}", "{court}"})}
    options = [t for t in second_family.requests if not set(_SLOT.findall(t)) & taken]
    second = pick(rng, options)
    joiner = pick(rng, (" Also: ", " And one more thing. ", "\n\nSecond thing: ", " Oh, and: "))
    body = text + joiner + second
    return Draft(f"two.actions.{SHORT[first.category]}.en", first.category, "en", subject_for(rng, first, False),
                 dress_mail(rng, "en", body, False))


def email_date(rng: random.Random) -> str:
    start = datetime(2024, 3, 1, tzinfo=UTC)
    moment = start + timedelta(minutes=rng.randrange(600 * 24 * 60))
    offset = timezone(timedelta(hours=rng.choice((0, 1, 2, -5))))
    return format_datetime(moment.astimezone(offset))


def choose(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def pick_family(rng: random.Random, families: list[Family], category: str, lang: str) -> Family:
    options = [f for f in families if f.category == category and f.lang == lang]
    return rng.choices(options, weights=[f.weight for f in options])[0]


def make_row(rng: random.Random, families: list[Family]) -> dict[str, str]:
    roll = rng.random()
    category, lang = choose(rng, CATEGORY_WEIGHTS), choose(rng, LANG_WEIGHTS)
    person = draw_person(rng, lang)
    if roll < INJECTION_SHARE or roll < INJECTION_SHARE + TWO_REQUEST_SHARE:
        en = [f for f in families if f.lang == "en" and not f.whole]
        if roll < INJECTION_SHARE:
            draft = draft_injection(rng, pick(rng, [f for f in en if f.category == category]))
        else:
            draft = draft_two_requests(rng, en)
        person = draw_person(rng, "en")
    else:
        draft = draft_normal(rng, pick_family(rng, families, category, lang), person)
    values = draw_values(rng, draft.lang, person)
    sender = WHOLE_SENDERS.get(draft.family.split(".")[1], "") if draft.family.startswith("other.") else ""
    return fill(draft, values, sender or sender_header(rng, person), email_date(rng))


def fill(draft: Draft, values: dict[str, str], sender: str, date: str) -> dict[str, str]:
    fields = fields_from(draft.category, [draft.subject, draft.body], values)
    row = {column: "" for column in COLUMNS}
    row.update(fields)
    row.update(
        sender=sender,
        subject=draft.subject.format_map(values),
        body=draft.body.format_map(values),
        date=date,
        category=draft.category,
        response=render_reply(draft.category, fields, sender, draft.lang),
        lang=draft.lang,
        family=draft.family,
    )
    if draft.injection:
        row["_injection"] = draft.injection.format_map(values)
    return row


# ---------------------------------------------------------------------------------------------
# Hand-written rows, dedup, splits, files
# ---------------------------------------------------------------------------------------------


def load_handwritten(path: Path = HANDWRITTEN) -> list[dict[str, str]]:
    """Hand-written rows; their replies are rendered here so the voice stays the same."""
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["booking_id"] = normalize_booking_id(row.get("booking_id")) or ""
        fields = {name: row[name] for name in FIELDS if row.get(name)}
        row["response"] = row.get("response") or render_reply(row["category"], fields, row["sender"], row["lang"])
        row["family"] = row.get("family") or "handwritten"
    return rows


def text_key(row: dict[str, str]) -> str:
    """Normalised subject+body: the identity used for dedup and for the split."""
    return " ".join(f"{row['subject']}\n{row['body']}".lower().split())


def key_hash(row: dict[str, str]) -> str:
    return hashlib.sha256(text_key(row).encode("utf-8")).hexdigest()


def split_of(row: dict[str, str]) -> str:
    """Stable split by text hash: the same text always lands in the same split."""
    bucket = int(key_hash(row)[:8], 16) % 1000
    return "train" if bucket < SPLIT_BUCKETS[0] else "val" if bucket < SPLIT_BUCKETS[1] else "test"


def dedupe(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    seen, unique = set(), []
    for row in rows:
        key = text_key(row)
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


def build_rows(seed: int = 13, n: int = 3600, handwritten: Path = HANDWRITTEN) -> list[dict[str, str]]:
    """All rows, deduplicated, hand-written ones first (they win a duplicate)."""
    rng = random.Random(seed)
    generated = [make_row(rng, FAMILIES) for _ in range(n)]
    return dedupe(load_handwritten(handwritten) + generated)


def build_chat_rows(rows: list[dict[str, str]], seed: int = 13, n: int = CHAT_EXTRA) -> list[dict[str, str]]:
    """``n`` more English one-line chat rows for the train split only.

    A row is kept only when its text is new and hashes into the train split, so ``rows``'
    validation and test splits stay exactly as they are and nothing leaks into them.
    """
    rng = random.Random(f"chat-{seed}")  # its own stream: the main rows stay byte-identical
    families = [f for f in FAMILIES if not f.whole]  # whole-mail families are never chat
    taken, extra = {text_key(row) for row in rows}, []
    for _ in range(30 * n):  # ample: short chat texts repeat, the split keeps 85 % of the rest
        if len(extra) == n:
            break
        family = pick_family(rng, families, choose(rng, CATEGORY_WEIGHTS), "en")
        draft = draft_chat(rng, family, request_text(rng, family), CHAT_EXTRA_TYPOS)
        person = draw_person(rng, "en")
        row = fill(draft, draw_values(rng, "en", person), sender_header(rng, person), email_date(rng))
        if split_of(row) == "train" and text_key(row) not in taken:
            taken.add(text_key(row))
            extra.append(row)
    return sorted(extra, key=key_hash)


def split_rows(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    splits: dict[str, list[dict[str, str]]] = {"train": [], "val": [], "test": []}
    for row in rows:
        splits[split_of(row)].append(row)
    for rows_of_split in splits.values():  # hash order: deterministic and well mixed
        rows_of_split.sort(key=key_hash)
    return splits


def write_split(path: Path, rows: list[dict[str, str]]) -> None:
    """The whole CSV or the old file: a run killed or failing mid-write must not leave a short
    file that training then reads as the full split."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, text.getvalue())


def summary(name: str, rows: list[dict[str, str]]) -> str:
    counts = Counter(row["category"] for row in rows)
    langs = Counter(row["lang"] for row in rows)
    per_category = " ".join(f"{c}={counts[c]}" for c in CATEGORIES)
    per_lang = " ".join(f"{lang}={langs[lang]}" for lang in sorted(langs))
    return f"{name}: {len(rows)} rows | {per_category} | {per_lang}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--n", type=int, default=3600, help="generated rows before dedup (plus hand-written)")
    parser.add_argument("--out", type=Path, default=Path("training/data"))
    parser.add_argument("--handwritten", type=Path, default=HANDWRITTEN)
    parser.add_argument("--chat-extra", type=int, default=CHAT_EXTRA,
                        help="extra chat rows written to train_chat.csv (0 = none)")
    parser.add_argument("--teacher", action="store_true", help="add teacher paraphrases (training/distill.py)")
    args = parser.parse_args(argv)

    rows = build_rows(args.seed, args.n, args.handwritten)
    if args.teacher:
        from training.distill import TeacherError, add_paraphrases  # network and env vars: only when asked

        try:
            rows = dedupe(rows + add_paraphrases(rows, seed=args.seed))
        except TeacherError as err:
            raise SystemExit(f"error: {err}") from None
    args.out.mkdir(parents=True, exist_ok=True)
    for name, split in split_rows(rows).items():
        write_split(args.out / f"{name}.csv", split)
        print(summary(name, split))
    if args.chat_extra:
        extra = build_chat_rows(rows, args.seed, args.chat_extra)
        write_split(args.out / "train_chat.csv", extra)
        print(summary("train_chat", extra))


if __name__ == "__main__":
    main()
