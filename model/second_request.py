"""A second request in the same mail ("reset my login, and cancel BK-35209 too"): the triage
labels the first action; this finds the other one, for the ticket to show and split.

    extra = second_request(triager, email, result)   # SecondRequest | None
    if extra: print(f"also asks: {extra.category} {extra.booking_id or ''}")

How: the mail's new text (as the prompt shows it) is cut into clauses (sentences, lines,
"1)"/"2)" items, "; "), and the model scores the categories of each clause alone, as a mail of
its own (one prefill per clause, the prompt's fixed start cached). A clause the model gives an
action other than the first one with probability >= ``SECOND_REQUEST_MIN_PROBABILITY``, and
that the category check (model/category_check.py, the second reader) also reads as that action,
is a second request; ``other`` never is (a question beside a request is no action). Its booking id
is the first id (the club's booking-id policy, model/schema.py) from that clause on that is not
the first request's. The same booking action again ("cancel BK-40817. And BK-40833 as well")
is a second request only where the clause itself names a booking other than the first
request's (which must be known): the booking is what makes it a second action. A second
account (``add_user`` twice) is not found. Cost: one prefill of ~20-40 tokens per clause after
the cached start (``python -m training.evaluate --second-requests`` reports it per mail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.mail import Email
from model.category_check import check_text, load_category_check
from model.copying import booking_ids
from model.prompt import mail_parts
from model.schema import TriageResult

SECOND_REQUEST_MIN_PROBABILITY = 0.9
"""Fixed before measuring (dev.csv's second_category column measures it, never tunes it):
precision matters more than recall, since a person splits the ticket on the strength of it.
For the same reason the check must agree: the model alone, reading a clause out of its mail,
called narrative ("the lesson clashes with her dentist") an action; the check's agreement and
the same-kind rule came after reading dev's misses, so training/data/second_requests.csv,
written before either was measured on it, is what measures them (README, "Measured")."""
MAX_CLAUSES = 8
"""Clauses scored at most (the first ones: requests come first), so the cost is bounded."""
_CLAUSE_BREAK = re.compile(r"(?<=[.!?;])\s+|\n+|\s(?=\d\)\s)|\s+-\s+")
_MIN_WORDS = 3
BOOKING_ACTIONS = ("cancel_booking", "modify_booking")


@dataclass(frozen=True)
class SecondRequest:
    """The other action one mail asks for."""

    category: str
    """One of the four actions (never ``other``)."""
    booking_id: str | None
    """Its booking id where the clause states one (``BK-NNNNN`` or as written)."""
    clause: str
    """The text it was found in, for the operator to read."""
    probability: float
    """The model's probability of ``category`` for that clause alone."""


def clauses(text: str) -> list[str]:
    """The clauses of a mail's new text worth scoring (three words or more)."""
    found = [part.strip() for part in _CLAUSE_BREAK.split(text) if part and part.strip()]
    return [part for part in found if len(part.split()) >= _MIN_WORDS][:MAX_CLAUSES]


def second_request(triager, email: Email, result: TriageResult) -> SecondRequest | None:
    """The most likely second action of ``email`` beside ``result``'s, or None."""
    if result.category == "other":
        return None
    text = mail_parts(email, triager.tokenizer).text
    best = None
    for clause in clauses(text):
        probabilities = triager.category_probabilities(Email(email.sender, "", clause, email.date))
        category = max(probabilities, key=probabilities.get)
        probability = probabilities[category]
        if category == "other" or probability < SECOND_REQUEST_MIN_PROBABILITY:
            continue
        if best is not None and probability <= best.probability:
            continue
        if _check_reads(clause) != category:
            continue
        if category == result.category:
            named = [value for value in booking_ids(clause) if value != result.booking_id]
            if category not in BOOKING_ACTIONS or result.booking_id is None or not named:
                continue
            best = SecondRequest(category, named[0], clause, round(probability, 4))
        else:
            later = text[text.find(clause):]  # "... cancel my Saturday court. It's BK-35209."
            booking_id = next((value for value in booking_ids(later) if value != result.booking_id), None)
            best = SecondRequest(category, booking_id, clause, round(probability, 4))
    return best


def _check_reads(clause: str) -> str:
    """The category check's most likely category for a clause read alone."""
    check = load_category_check()
    row = check.probabilities([check_text("", clause)])[0]
    return check.classes[int(row.argmax())]
