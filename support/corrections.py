"""The operator's decisions as labelled examples, and how often they agree with the model.

When a ticket is decided (approved, approved over a flag with an override reason, or rejected)
the store keeps one example in the same transaction as the decision (``TicketStore`` calls
:func:`correction_of`), so no path that decides (the inbox, the CLI, a script) can skip it: the
model's answer as it was, the final category, fields and reply, what changed, who decided when,
and whether the ticket sat in the Ready view. The mail itself stays in its ticket: raw text is
kept in the ticket store only. Whatever leaves the store (the training export, the Training
page, the Active model page's frequent corrections) is pseudonymised first (support/pseudonymise.py).

Labels follow the training data's policy (model/schema.py, model/replies.py):
- a rejection saying the mail asks nothing of the club (not a request, machine mail, spam) labels
  it ``other``, as does any machine mail; other rejections (a duplicate, answered elsewhere) keep
  the category as it stood;
- ``new_date``/``new_time`` as the model wrote them ("next Saturday") where the operator kept
  the resolved value, the operator's value where they changed it;
- the reply: the operator's edit; else the model's when the operator approved it with its category
  and fields and the mail does not try to instruct the system (support/safety.py); else the club's
  template for the final category and fields, in the language the model wrote in (a rejected
  ticket's proposal was turned down, and an injection's may be what the mail told the model to
  write, even where the operator let it through with an override).

The export is training data from mail anyone can send: it holds at most MAX_PER_SENDER examples of
one address (the newest), and no example of a ticket split off another's mail (support/triage.py): a mail's label is its first request's (model/schema.py), so
one mail never gives two contradictory examples. training/corrections.py keeps one example of
each mail.

The export is a CSV people open in spreadsheets: a cell that would start a formula is written
after an apostrophe (core/csv_cells.py), which training/corrections.py takes off again.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

from core.csv_cells import spreadsheet_cell
from core.files import write_atomically
from core.mail import Email
from model.replies import render_reply, reply_language
from model.schema import FIELDS
from support.pseudonymise import Pseudonymiser, pseudonymise_rows
from support.records import Ticket
from support.safety import mail_injection_reason

if TYPE_CHECKING:
    from support.store import TicketStore

log = logging.getLogger(__name__)

APPROVED, OVERRIDDEN, REJECTED = "approved", "overridden", "rejected"
NOT_A_REQUEST = ("not a request", "machine mail", "auto-reply", "bounce", "newsletter", "spam", "phishing")
"""Words of a rejection reason that say the mail asks nothing of the club: its label is ``other``
(ui/inbox_plans.py's first three REJECT_REASONS say so)."""
TRAINING_COLUMNS = ("sender", "subject", "body", "date", "category", "username", "booking_id", "member_name",
                    "member_email", "new_date", "new_time", "new_court", "response", "lang", "family")
"""The columns of training/data/train.csv (training/generate_data.py)."""
EXPORT_COLUMNS = (*TRAINING_COLUMNS, "changed", "decided_at", "decision")
FAMILY = "operator-correction"
LABELLED = ("category", *FIELDS)
"""What agreement compares: the category and the fields, not the reply's wording."""
AGREEMENT_DAYS = 7
MAX_PER_SENDER = 10
"""The export's examples from one address at most (the newest): anyone can mail the club, and 500
decided spams of one sender would outweigh the base data's rows for that kind of mail. Not per
domain: a club whose members share their employer's domain would lose most of its examples."""


@dataclass(frozen=True)
class Change:
    """One thing the operator changed: a field (category included), or the reply."""

    field: str
    model: str | None
    final: str | None

    def describe(self, show: Callable[[str, str], str] = lambda field, value: value) -> str:
        """``other → cancel_booking``, ``username tom → tom.w``, ``reply rewritten``; ``show``
        writes a value (the Active model page pseudonymises it)."""
        if self.field == "reply":
            return "reply rewritten"
        before, after = (show(self.field, value) if value else "(none)" for value in (self.model, self.final))
        return f"{before} → {after}" if self.field == "category" else f"{self.field} {before} → {after}"


@dataclass(frozen=True)
class Correction:
    """One decided ticket as a labelled example."""

    ticket_id: int
    decided_at: str
    """ISO 8601, UTC."""
    actor: str
    decision: str
    """approved, overridden (approved over a flag, with a reason) or rejected."""
    reason: str | None
    """The rejection's or the override's reason."""
    was_ready: bool
    """The ticket was in the Ready view (triaged, nothing flagged) when it was decided."""
    model: dict
    """The model's answer as it was (the ticket's triage)."""
    final: dict
    """The decided category and fields, and ``reply``: the operator's edited text or None."""
    changes: tuple[Change, ...]
    email: Email | None = None
    """The mail as the model read it, when read together with its ticket."""

    @property
    def agreed(self) -> bool:
        """The operator accepted the model's category and fields unchanged (the reply may differ)."""
        return not any(change.field in LABELLED for change in self.changes)

    @property
    def model_category(self) -> str:
        return self.model.get("category") or "other"

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Correction:
        keys = row.keys()
        email = None
        if "body" in keys:
            email = Email(row["sender"], row["subject"], row["body"], _mail_date(row))
        return cls(row["ticket_id"], row["decided_at"], row["actor"], row["decision"], row["reason"],
                   bool(row["was_ready"]), json.loads(row["model"]), json.loads(row["final"]),
                   tuple(Change(**change) for change in json.loads(row["changes"])), email)

    def columns(self) -> dict:
        """The store's columns for this example (JSON where structured)."""
        return {"ticket_id": self.ticket_id, "decided_at": self.decided_at, "actor": self.actor,
                "decision": self.decision, "reason": self.reason, "was_ready": int(self.was_ready),
                "agreed": int(self.agreed), "model": json.dumps(self.model, ensure_ascii=False),
                "final": json.dumps(self.final, ensure_ascii=False),
                "changes": json.dumps([change.__dict__ for change in self.changes], ensure_ascii=False)}


def correction_of(ticket: Ticket, decision: str, actor: str, reason: str | None, was_ready: bool,
                  decided_at: str) -> Correction | None:
    """The example a decision on ``ticket`` (as it stands, edits applied) makes; None when the
    model never answered (nothing to learn from)."""
    if not ticket.triage:
        return None
    final = {name: _value(ticket.fields.get(name)) for name in LABELLED}
    final["reply"] = (ticket.edits or {}).get("reply") if decision != REJECTED else None
    if decision == REJECTED and (ticket.machine_mail or _not_a_request(reason)):
        final["category"] = "other"
    changes = [Change(name, _value(ticket.triage.get(name)), final[name]) for name in LABELLED
               if _value(ticket.triage.get(name)) != final[name]]
    if final["reply"]:
        changes.append(Change("reply", ticket.triage.get("response"), final["reply"]))
    return Correction(ticket.id, decided_at, actor, decision, reason, was_ready, ticket.triage, final, tuple(changes))


def _mail_date(row: sqlite3.Row) -> datetime | None:
    """The mail's date; None (logged) for one this version cannot read, so one odd row never stops
    the export."""
    try:
        return datetime.fromisoformat(row["mail_date"]) if row["mail_date"] else None
    except (TypeError, ValueError):
        log.warning("ticket %s: its mail date %.40r cannot be read; exported without it", row["ticket_id"],
                    row["mail_date"])
        return None


def _value(value) -> str | None:
    text = "" if value is None else str(value).strip()
    return text or None


def _not_a_request(reason: str | None) -> bool:
    return any(words in (reason or "").lower() for words in NOT_A_REQUEST)


# -- the training export ------------------------------------------------------------------------

def training_row(correction: Correction) -> dict:
    """The example as a row of the training CSV (not yet pseudonymised), with what changed, when
    and how it was decided."""
    email = correction.email or Email("", "", "")
    fields = _label_fields(correction)
    response = correction.final.get("reply")
    if not response:
        model_reply = correction.model.get("response") or ""
        approved = correction.decision != REJECTED and not mail_injection_reason(email.subject, email.body)
        response = model_reply if approved and correction.agreed and model_reply else render_reply(
            correction.final["category"], fields, email.sender, reply_language(model_reply))
    return {"sender": email.sender, "subject": email.subject, "body": email.body,
            "date": format_datetime(email.date) if email.date else "", "category": correction.final["category"],
            **fields, "response": response, "lang": reply_language(response), "family": FAMILY,
            "changed": "; ".join(change.describe() for change in correction.changes),
            "decided_at": correction.decided_at, "decision": correction.decision}


def _label_fields(correction: Correction) -> dict[str, str]:
    """The final fields as training labels: a kept date or time as the model wrote it."""
    written = _as_written(correction.model)
    labels = {}
    for name in FIELDS:
        value = correction.final.get(name)
        if name in ("new_date", "new_time") and value and value == _value(correction.model.get(name)):
            value = written.get(name) or value
        labels[name] = value or ""
    return labels


def _as_written(model: dict) -> dict:
    """The model's answer before code resolved its dates (``raw_answer``), or {}."""
    try:
        answer = json.loads(model.get("raw_answer") or "{}")
    except json.JSONDecodeError:
        return {}
    return answer if isinstance(answer, dict) else {}


def export_rows(store: TicketStore, *, seed: int | None = None) -> list[dict]:
    """The stored examples, oldest decision first, pseudonymised with one mapping: none of a split
    ticket, and at most MAX_PER_SENDER of one sender."""
    stored, split = store.corrections(), store.split_tickets()
    corrections = _within_caps([c for c in stored if c.ticket_id not in split])
    if len(corrections) < len(stored):
        log.info("corrections export: %d of %d examples left out (split tickets, a sender's beyond the cap)",
                 len(stored) - len(corrections), len(stored))
    usernames = [value for c in corrections for value in (c.model.get("username"), c.final.get("username")) if value]
    names = [value for c in corrections for value in (c.model.get("member_name"), c.final.get("member_name")) if value]
    return pseudonymise_rows([training_row(c) for c in corrections], usernames=usernames, names=names, seed=seed)


def _within_caps(corrections: Sequence[Correction]) -> list[Correction]:
    """The newest MAX_PER_SENDER examples of each sender, oldest first."""
    per_sender: Counter = Counter()
    kept = []
    for correction in reversed(corrections):
        address = parseaddr(correction.email.sender if correction.email else "")[1].casefold()
        if per_sender[address] < MAX_PER_SENDER:
            per_sender[address] += 1
            kept.append(correction)
    return kept[::-1]


def export_corrections(store: TicketStore, out: str | Path, *, seed: int | None = None) -> int:
    """Write the pseudonymised examples as a training CSV (EXPORT_COLUMNS), whole or not at all
    (core/files.py), no cell a spreadsheet formula; returns the row count."""
    rows = export_rows(store, seed=seed)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    writer.writerows({column: spreadsheet_cell(value) for column, value in row.items()} for row in rows)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(out, text.getvalue())
    return len(rows)


# -- agreement: the production metric ------------------------------------------------------------

@dataclass(frozen=True)
class Agreement:
    """How many decisions accepted the model's category and fields unchanged."""

    decisions: int
    agreed: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.decisions if self.decisions else None


def weekly_agreement(corrections: Iterable[Correction]) -> dict[tuple[date, str], Agreement]:
    """Agreement per week (its Monday) and the model's category."""
    counts: Counter = Counter()
    for correction in corrections:
        key = (_monday(correction.decided_at), correction.model_category)
        counts[key, "decisions"] += 1
        counts[key, "agreed"] += correction.agreed
    keys = sorted({key for key, _ in counts})
    return {key: Agreement(counts[key, "decisions"], counts[key, "agreed"]) for key in keys}


def ready_view_errors(corrections: Iterable[Correction]) -> Agreement:
    """The Ready view as the operator saw it: of the tickets the model marked ready, how many
    were accepted unchanged (``decisions - agreed`` is what the operator had to correct)."""
    ready = [correction for correction in corrections if correction.was_ready]
    return Agreement(len(ready), sum(correction.agreed for correction in ready))


def frequent_corrections(corrections: Sequence[Correction], limit: int = 10,
                         seed: int | None = None) -> list[tuple[str, int]]:
    """The most frequent changes (``other → cancel_booking``, ``username tom → tom.w``) with their
    counts; values are pseudonymised with one mapping (the page is not the ticket store)."""
    counts = Counter((change.field, change.model, change.final) for correction in corrections
                     for change in correction.changes)
    mapper = Pseudonymiser(seed)
    for field, *values in counts:
        for value in filter(None, values):
            mapper.learn({}, usernames=[value] if field == "username" else [],
                         names=[value] if field == "member_name" else [])
    return [(Change(*key).describe(mapper.value), count) for key, count in counts.most_common(limit)]


def recent_agreement(store: TicketStore, days: int = AGREEMENT_DAYS, now: datetime | None = None) -> Agreement:
    since = ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat(timespec="seconds")
    return store.agreement_since(since)


def agreement_warning(store: TicketStore, threshold: float, min_decisions: int,
                      now: datetime | None = None) -> str | None:
    """The inbox's warning when the last days' agreement is below ``threshold`` (None: no warning,
    too few decisions to say, or the alert is off)."""
    recent = recent_agreement(store, now=now)
    if not threshold or recent.decisions < min_decisions or recent.rate >= threshold:
        return None
    return (f"The operator accepted the model's category and fields in {recent.rate:.0%} of the last "
            f"{AGREEMENT_DAYS} days' {recent.decisions} decisions, below {threshold:.0%}: the Active model page "
            "shows which corrections are frequent.")


def _monday(decided_at: str) -> date:
    day = datetime.fromisoformat(decided_at).date()
    return day - timedelta(days=day.weekday())
