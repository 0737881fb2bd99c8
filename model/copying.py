"""Which strings a copied field may take: spans of the mail as the prompt shows it.

``username``, ``booking_id`` and ``member_email`` are decoded under a grammar whose only values
for them are these spans (model/constraint.py): the model chooses *which* span, or leaves the
field out, and never spells one. Spans come from the subject, the new text and the quoted part,
never from the From line, so a sender's display name or address cannot become a username.
The policy for each field is written down in model/schema.py (``COPY_POLICY``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from model.prompt import MailParts
from model.schema import BOOKING_ID_LIKE, MEMBER_NUMBER_CONTEXT, normalize_booking_id

COPIED_FIELDS = ("username", "booking_id", "member_email")

_WORD = re.compile(r"[\w.@+\-]+")
_EDGE = ".-+@"  # punctuation that ends a sentence or joins words, never a span's first or last character
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
_OTHER_ID = re.compile(r"^(?=(?:.*\d){3})(?=.*[A-Za-z])[A-Za-z0-9]+(?:[\-/#][A-Za-z0-9]+)*$")
"""A reference of letters and at least three digits, run together or joined (R1357, SQ-2207)."""
MAX_SPANS = 400
"""Spans per field at most (a prompt holds ~600 words): bounds the grammar's size."""


@dataclass(frozen=True)
class CopySpans:
    """The values each copied field may take for one mail (empty: the field cannot be stated)."""

    username: tuple[str, ...]
    booking_id: tuple[str, ...]
    member_email: tuple[str, ...]

    def of(self, field: str) -> tuple[str, ...]:
        return getattr(self, field)


def copy_spans(parts: MailParts) -> CopySpans:
    """Candidate values from the copyable text of ``parts`` (model/prompt.py ``mail_parts``)."""
    text = parts.copyable()
    words = [word.strip(_EDGE) for word in _WORD.findall(text)]
    usernames = [word for word in words if len(word) >= 2 and not word.isdigit() and "@" not in word]
    emails = [match.rstrip(".") for match in _EMAIL.findall(text)]
    return CopySpans(username=_unique(usernames), booking_id=_unique(booking_ids(text)),
                     member_email=_unique(emails))


def booking_ids(text: str) -> list[str]:
    """Booking-id candidates in ``text``, in the order they occur: the club's ``BK-NNNNN`` form
    for ``BK``-style ids and bare five-digit numbers (except member numbers), and any other
    reference with letters and three or more digits (``R-40231``, ``TB7082``) as written."""
    found = [normalize_booking_id(match.group(0)) for match in BOOKING_ID_LIKE.finditer(text)
             if not MEMBER_NUMBER_CONTEXT.search(text[max(0, match.start() - 30) : match.start()])]
    others = [word.strip(_EDGE) for word in _WORD.findall(text)]
    return [value for value in found if value] + [word for word in others if _OTHER_ID.match(word)
                                                  and not BOOKING_ID_LIKE.search(word)]


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(value for value in values if value and '"' not in value and "\\" not in value))[:MAX_SPANS]
