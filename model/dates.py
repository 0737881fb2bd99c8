"""Resolving the dates and times an email states ("next Saturday", "10am") against the
email's Date header. Code does this, not the model: a 270M model cannot count days."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import dateparser

_LANGUAGES = ["en", "de", "fr", "es"]
# Words meaning "next/this/coming": the weekday alone already resolves to the coming one.
_RELATIVE_WORDS = re.compile(
    r"\b(next|this|coming|nächsten|nächster|kommenden|diesen|prochain|prochaine|ce|el|este|próximo|próxima)\b",
    re.IGNORECASE,
)
_DAY_MONTH = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{2,4})?\s*$")  # 14.06. is a date, not 14:06
_SETTINGS = {"PREFER_DATES_FROM": "future", "DATE_ORDER": "DMY"}
_FAST_CLOCK = timedelta(days=1)
# "the 15th", "le 15", "15.": dateparser takes the reference's month even once that day is gone
_DAY_ALONE = re.compile(r"^\s*(?:the|le|el)?\s*(\d{1,2})\s*(?:st|nd|rd|th|er|\.)?\s*$", re.IGNORECASE)
_GERMAN_ARTICLE = re.compile(r"^\s*(?:den|am)\s+(?=\d)", re.IGNORECASE)
_WEEKDAY_NAMES = (
    ("monday", "mon", "montag", "lundi", "lunes"),
    ("tuesday", "tue", "tues", "dienstag", "mardi", "martes"),
    ("wednesday", "wed", "mittwoch", "mercredi", "miércoles", "miercoles"),
    ("thursday", "thu", "thur", "thurs", "donnerstag", "jeudi", "jueves"),
    ("friday", "fri", "freitag", "vendredi", "viernes"),
    ("saturday", "sat", "samstag", "sonnabend", "samedi", "sábado", "sabado"),
    ("sunday", "sun", "sonntag", "dimanche", "domingo"),
)
_WEEKDAYS = {name: number for number, names in enumerate(_WEEKDAY_NAMES) for name in names}
_WEEKDAY_WORD = re.compile(r"\b(?:" + "|".join(sorted(_WEEKDAYS, key=len, reverse=True)) + r")\b,?", re.IGNORECASE)


def resolve_date(text: str | None, reference: datetime | None) -> str | None:
    """ISO date for ``text`` as seen from ``reference`` (the email's date); None if unclear,
    also for dates no calendar holds (a forged Date header in the year 9999 ends here, not in
    an OverflowError), and for a weekday the date contradicts ("Saturday the 14th" where the
    14th is a Sunday: which of the two the member meant, only they know).

    A mail is not written after it arrives: a Date header up to a day ahead of now (a sender's
    clock running fast) counts as now; one further ahead resolves nothing, as "tomorrow" in a mail
    dated half a year ahead (forged, or a clock set wrong) is no day anyone can tell."""
    if not text:
        return None
    try:
        return _resolve_date(text, _written_at(reference))
    except (OverflowError, ValueError):
        return None


def _written_at(reference: datetime | None) -> datetime:
    now = datetime.now(reference.tzinfo if reference else None)  # the sender's zone: its wall-clock day
    if reference is not None and reference > now + _FAST_CLOCK:
        raise ValueError(f"the mail is dated {reference:%Y-%m-%d}, after it arrived")
    return min(reference or now, now).replace(tzinfo=None)


def _resolve_date(text: str, reference: datetime) -> str | None:
    named = {_WEEKDAYS[word.casefold()] for word in re.findall(r"[^\W\d_]+", text) if word.casefold() in _WEEKDAYS}
    if not named or not re.search(r"\d", text):
        return _resolve_day(text, reference)  # "next Saturday": the weekday is the date
    resolved = _resolve_day(_WEEKDAY_WORD.sub(" ", text).strip(" ,"), reference)
    if resolved is None or date.fromisoformat(resolved).weekday() not in named:
        return None
    return resolved


def _resolve_day(text: str, reference: datetime) -> str | None:
    text = _GERMAN_ARTICLE.sub("", text)  # "den 17.10.", "den 8. Juni": dateparser reads neither
    if day_alone := _DAY_ALONE.match(text):
        return _next_day_numbered(int(day_alone.group(1)), reference.date())
    match = _DAY_MONTH.match(text)
    if match:
        day, month, year = int(match.group(1)), int(match.group(2)), match.group(3)
        year = int(year) + (2000 if year and len(year) == 2 else 0) if year else reference.year
        try:
            candidate = datetime(year, month, day)
        except ValueError:
            return None
        if not match.group(3) and candidate.date() < reference.date():
            try:
                candidate = candidate.replace(year=year + 1)
            except ValueError:  # 29 February, or past the year 9999
                return None
        return candidate.date().isoformat()
    cleaned = _RELATIVE_WORDS.sub(" ", text).strip() or text
    try:
        parsed = dateparser.parse(cleaned, languages=_LANGUAGES, settings={**_SETTINGS, "RELATIVE_BASE": reference})
    except (OverflowError, ValueError):  # a Date header like 31 Dec 9999: no date rather than a crash
        return None
    return parsed.date().isoformat() if parsed else None


def _next_day_numbered(day: int, reference: date) -> str | None:
    """The first day numbered ``day`` on or after ``reference`` (the 31st skips shorter months)."""
    year, month = reference.year, reference.month
    for _ in range(13):
        try:
            candidate = date(year, month, day)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= reference:
            return candidate.isoformat()
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


_BARE_HOUR = re.compile(r"^\s*(\d{1,2})\s*$")


def resolve_time(text: str | None) -> str | None:
    """``HH:MM`` for "10am", "6:30pm", "18:30", "18 Uhr", a bare "11"; None if unclear."""
    if not text:
        return None
    if bare := _BARE_HOUR.match(text):  # dateparser reads a lone number as a day of the month
        hour = int(bare.group(1))
        return f"{hour:02d}:00" if hour < 24 else None
    cleaned = re.sub(r"\s*(uhr|h)\s*$", ":00", text.strip(), flags=re.IGNORECASE)
    cleaned = re.sub(r"^(\d{1,2})h(\d{2})$", r"\1:\2", cleaned)
    parsed = dateparser.parse(cleaned, languages=["en"], settings={"RELATIVE_BASE": datetime(2000, 1, 1)})
    if not parsed or not re.search(r"\d", cleaned):
        return None
    return parsed.strftime("%H:%M")
