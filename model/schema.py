"""The triage output contract: one typed definition shared by training data, inference,
evaluation and the app.

The model answers with a compact JSON object (``MODEL_FIELDS`` in this order, fields the
email does not state left out); the runtime turns it into a :class:`TriageResult` and adds
what only the runtime knows: the category's confidence and whether the answer was valid.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

SCHEMA_VERSION = 1

CATEGORIES = ("add_user", "reset_password", "cancel_booking", "modify_booking", "other")
BOOKING_ACTIONS = ("cancel_booking", "modify_booking")
"""The actions on one booking, which a booking id names."""

# Keys of the model's JSON answer, in the order the model writes them.
# new_date / new_time are copied as the email writes them ("next Saturday", "10am");
# code resolves them against the email's Date header (model/dates.py), never the model.
FIELDS = (
    "username",
    "booking_id",
    "member_name",
    "member_email",
    "new_date",
    "new_time",
    "new_court",
)
MODEL_FIELDS = ("category", *FIELDS, "response")

COPY_POLICY = """How fields that copy the mail are decoded (model/copying.py, model/constraint.py).

- ``username``, ``booking_id``, ``member_name`` and ``member_email`` can only be a span of the mail
  as the prompt shows it (subject, new text, quoted part; never the From line), or left out: the
  model chooses which span and never spells one, so letters, case and separators stay as written.
- ``username``: any word of the mail (letters, digits, ``._-+``), as written; never an address
  nor an address's local part (no label in the data is one). The labels state it only where
  the mail presents it as the username or login. A plain capitalised word (``Geoffrey``,
  ``Riverside``) the model copies is dropped: a name or a word of the prose, never a login in
  the labelled data (model/copying.py ``could_be_login``).
- ``booking_id``: an id in the club's form (``BK-48213``, ``#BK48213``, ``bk 48213``) or a bare
  five-digit number is written ``BK-NNNNN``; a five-digit number right after member-number words
  ("member no.", "Mitgliedsnummer", "numéro d'adhérent", "socio") is not a booking id at all.
  Any other reference with letters and three or more digits (``R-40231``, ``SQ-2207``,
  ``TB7082``) is taken as written. Where the new text states two or more ids, only the first
  (outside a sentence flagged as an injection) may be chosen: the answer is the first request's.
- ``member_name``: one to four words of letters (inner ``'`` and ``-`` allowed) standing side by
  side on one line of the mail, as written. A capitalised name is then completed with the
  capitalised words that follow it where the mail states it longest ("Alfie" -> "Alfie Burton";
  model/copying.py ``whole_name``), never leftwards ("Tochter Lara Wolf" stays "Lara Wolf").
- ``member_email``: an address written in the mail, as written.
"""

BOOKING_ID_LIKE = re.compile(r"(?<!\d)#?\s*bk[\s#:\-_]*\d{5}(?!\d)|(?<![\w\-/.])#?\d{5}(?![\w\-/]|\.\d|\s\d{3})",
                             re.IGNORECASE)
"""Where a mail states an id in the club's form (also run on, as in ``orderBK-46223``), or a bare
five-digit number that does not run on into a phone number's next group (``07700 900 521``)."""
MEMBER_NUMBER_CONTEXT = re.compile(r"(member|mitglied|adh[ée]rent|membre|socio)\w*\W+(?:\w+\W+){0,2}$", re.IGNORECASE)
"""Words right before a number that make it a member number, not a booking id."""
_BOOKING_ID = re.compile(r"^\s*#?\s*bk[\s#:\-_]*(\d{5})\s*$", re.IGNORECASE)
_BARE_FIVE_DIGITS = re.compile(r"^\s*#?\s*(\d{5})\s*$")


def normalize_booking_id(value: str | None) -> str | None:
    """``#BK73911``, ``bk 30917`` and a bare ``48213`` become ``BK-NNNNN``; other ids stay as written."""
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    match = _BOOKING_ID.match(text) or _BARE_FIVE_DIGITS.match(text)
    return f"BK-{match.group(1)}" if match else text


@dataclass
class TriageResult:
    """What AceDesk knows about one email after triage."""

    category: str
    """One of ``CATEGORIES``; guaranteed by constrained decoding."""
    username: str | None = None
    """Only a string the email presents as the username/login, as written."""
    booking_id: str | None = None
    """``BK-NNNNN`` where the digits clearly are one, else the id as written (``COPY_POLICY``)."""
    member_name: str | None = None
    """add_user: the new member's name when stated."""
    member_email: str | None = None
    """add_user: the new member's email address when stated."""
    new_date: str | None = None
    """modify_booking: the requested date, ISO ``YYYY-MM-DD`` when it could be resolved."""
    new_time: str | None = None
    """modify_booking: the requested time, ``HH:MM`` when it could be parsed."""
    new_court: str | None = None
    """modify_booking: the requested court when stated."""
    response: str = ""
    """Proposed reply, written for the action's success case."""
    confidence: float = 0.0
    """Probability of ``category`` among the five allowed values."""
    valid: bool = True
    """False when the model's answer was not schema-valid JSON (fields were nulled)."""
    problems: list[str] = field(default_factory=list)
    """Why the result needs a human look (malformed fields, unresolved dates, ...)."""
    raw_answer: str = ""
    """The model's answer exactly as decoded (the JSON text before parsing): for people
    judging a model, never for actions."""
    category_without_quote: str | None = None
    """The category the model gives the mail without its quoted part, where it has one (None:
    no quoted part, or not checked). model/review.py sends a disagreement to review: a thank-you
    quoting the club's confirmation must not become the quoted request."""
    category_check: float | None = None
    """The probability the category check (model/category_check.py, a TF-IDF reader trained apart
    from the model) gives ``category``; None: not checked. model/review.py sends a low one to review."""

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"category must be one of {CATEGORIES}, got {self.category!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def answer_dict(self) -> dict:
        """The model-facing answer: category, stated fields, response (see ``answer_json``)."""
        data = {"category": self.category}
        data.update({name: getattr(self, name) for name in FIELDS if getattr(self, name)})
        data["response"] = self.response
        return data


def answer_json(answer: dict) -> str:
    """Serialise a training target exactly as the model is taught to write it.

    Compact separators and no null fields: every token the model need not write is
    decode time saved (~60 ms a token on a 2-core CPU).
    """
    unknown = set(answer) - set(MODEL_FIELDS)
    if unknown:
        raise ValueError(f"unknown answer fields: {sorted(unknown)}")
    if answer.get("category") not in CATEGORIES:
        raise ValueError(f"category must be one of {CATEGORIES}, got {answer.get('category')!r}")
    ordered = {name: answer[name] for name in MODEL_FIELDS if answer.get(name)}
    ordered.setdefault("response", "")
    return json.dumps(ordered, ensure_ascii=False, separators=(",", ":"))


def parse_answer(category: str, text: str) -> tuple[dict, list[str]]:
    """Parse the model's answer text (the JSON object) into validated fields.

    Never raises: malformed JSON or fields become nulls plus a problem description,
    so the ticket is flagged for a person instead of crashing the inbox.
    """
    problems: list[str] = []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        return {"category": category}, [f"answer is not valid JSON ({err.msg})"]
    if not isinstance(data, dict):
        return {"category": category}, ["answer is not a JSON object"]
    fields: dict = {"category": category}
    for name in (*FIELDS, "response"):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            problems.append(f"{name} is not a string")
            continue
        fields[name] = value.strip() or None
    unknown = set(data) - set(MODEL_FIELDS)
    if unknown:
        problems.append(f"unknown fields ignored: {', '.join(sorted(unknown))}")
    if fields.get("booking_id"):
        fields["booking_id"] = normalize_booking_id(fields["booking_id"])
    return fields, problems
