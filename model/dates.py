"""Resolving the dates and times an email states ("next Saturday", "10am") against the
email's Date header. Code does this, not the model: a 270M model cannot count days."""

from __future__ import annotations

import re
from datetime import datetime

import dateparser

_LANGUAGES = ["en", "de", "fr", "es"]
# Words meaning "next/this/coming": the weekday alone already resolves to the coming one.
_RELATIVE_WORDS = re.compile(
    r"\b(next|this|coming|nächsten|nächster|kommenden|diesen|prochain|prochaine|ce|el|este|próximo|próxima)\b",
    re.IGNORECASE,
)
_DAY_MONTH = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\.(\d{2,4})?\s*$")  # 14.06. is a date, not 14:06
_SETTINGS = {"PREFER_DATES_FROM": "future", "DATE_ORDER": "DMY"}


def resolve_date(text: str | None, reference: datetime | None) -> str | None:
    """ISO date for ``text`` as seen from ``reference`` (the email's date); None if unclear,
    also for dates no calendar holds (a forged Date header in the year 9999 ends here, not in
    an OverflowError)."""
    if not text:
        return None
    try:
        return _resolve_date(text, (reference or datetime.now()).replace(tzinfo=None))
    except (OverflowError, ValueError):
        return None


def _resolve_date(text: str, reference: datetime) -> str | None:
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
