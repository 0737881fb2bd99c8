"""When the model's own answer says a person must look: the one rule the worker, the inbox and
``training.evaluate`` share, so "Ready" in the app means what the evaluation measured.

The workflow adds reasons the model cannot know (machine mail, a mail that instructs the system,
what the club backend's records say); these are the model's alone:
- the answer was malformed, or decoding flagged a problem (a cut-off answer, an unresolved date,
  a triage abandoned at its time budget);
- the category is less likely than ``ReviewThresholds.confidence``;
- the category check, a second reader trained apart from the model (model/category_check.py),
  gives the category less than ``ReviewThresholds.check``: the model's confidence alone does not
  separate its confident mistakes from its right answers, and the two readers err on different mail;
- the quoted part decides the category: without it the model gives another one
  (``TriageResult.category_without_quote``). A thank-you or an auto-reply that quotes the club's
  own confirmation otherwise comes back as the quoted request, at full confidence;
- a reply-only proposal says the club did what an action's reply says (``reply_claims``: "your
  booking has been cancelled" in an ``other`` proposal, where nothing runs);
- the proposed reply says what the club's own reply does not (``reply_additions``), or still holds
  a placeholder ("[name]", "{booking_id}", "<time>", "XXX", "TODO": ``placeholders``). For ``other``
  the proposal is what the member gets, so it is held to what an operator's edit is held to.

The thresholds, and the category check's weight in the decision, belong to the adapter that
answered: they are chosen for it and saved beside its weights (``review_rule.json``, ``ReviewRule``),
and the triager that loads the adapter carries them (``Triager.review_rule``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.files import write_json_atomically
from model.category_check import CHECK_WEIGHT
from model.replies import placeholders, reply_additions, reply_claims
from model.schema import TriageResult

REVIEW_RULE_FILE = "review_rule.json"


@dataclass(frozen=True)
class ReviewThresholds:
    """The two numbers of the rule. The defaults are the rule chosen for the adapter shipped on
    2026-12-03 (model/adapters/gemma-3-270m-triage/review_rule.json says how); they decide for an
    adapter nobody chose a rule for (``ReviewRule.chosen`` is None, and the Model page says so)."""

    confidence: float = 0.6303
    """A category less likely than this (the model's own probability) goes to review."""
    check: float = 0.05
    """A category the category check finds less likely than this goes to review."""


DEFAULT_THRESHOLDS = ReviewThresholds()


@dataclass(frozen=True)
class ReviewRule:
    """How the desk decides on one adapter's answers, saved beside its weights (``review_rule.json``)
    as its calibration and prompt style are: the category check's weight in the category decision
    and the review thresholds. Both are chosen together for the adapter (``python -m
    training.choose_review_rule``) on the even-numbered rows of training/data/dev.csv, so a retrained
    or promoted adapter is never decided by numbers chosen for another one."""

    thresholds: ReviewThresholds = DEFAULT_THRESHOLDS
    check_weight: float = CHECK_WEIGHT
    """How much the category check counts in the category decision (model/category_check.py)."""
    chosen: dict | None = field(default=None, compare=False)
    """How it was chosen for this adapter (rows, command, what it gave); None: not chosen for it,
    the project's defaults."""

    def to_dict(self) -> dict:
        return {"confidence": self.thresholds.confidence, "check": self.thresholds.check,
                "check_weight": self.check_weight, "chosen": self.chosen}


DEFAULT_RULE = ReviewRule()


def read_review_rule(adapter: str | Path | None) -> ReviewRule:
    """The adapter's rule, or the defaults when it has none (or there is no adapter)."""
    if adapter is None:
        return DEFAULT_RULE
    path = Path(adapter) / REVIEW_RULE_FILE
    if not path.exists():
        return DEFAULT_RULE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rule = ReviewRule(ReviewThresholds(float(data["confidence"]), float(data["check"])),
                          float(data["check_weight"]), data.get("chosen") or None)
    except (KeyError, TypeError, ValueError) as error:  # ValueError: JSONDecodeError too
        raise ValueError(f"{path}: not a review rule ({type(error).__name__}: {error})") from error
    for name, value in (("confidence", rule.thresholds.confidence), ("check", rule.thresholds.check)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{path}: {name} must be a probability, not {value}")
    if not 0.0 <= rule.check_weight <= 10.0:
        raise ValueError(f"{path}: check_weight must be in [0, 10], not {rule.check_weight}")
    return rule


def review_thresholds(triager) -> ReviewThresholds:
    """The thresholds of the adapter a triager runs (``Triager.review_rule``); the defaults for one
    that carries no rule (a test's stand-in)."""
    return getattr(triager, "review_rule", DEFAULT_RULE).thresholds


def write_review_rule(adapter: str | Path, rule: ReviewRule) -> Path:
    """Save ``rule`` beside the adapter, whole or not at all: a half-written file would stop the
    adapter from loading (``read_review_rule`` refuses it)."""
    return write_json_atomically(Path(adapter) / REVIEW_RULE_FILE, rule.to_dict())


def model_review_reasons(result: TriageResult, thresholds: ReviewThresholds) -> list[str]:
    """Why the answer itself is not good enough to act on; [] when it is. ``thresholds``: those of
    the adapter that gave the answer (``Triager.review_rule``)."""
    reasons = []
    if not result.valid:
        reasons.append("model answer was malformed")
    if result.confidence < thresholds.confidence:
        reasons.append(f"low confidence ({result.confidence:.0%})")
    if result.category_check is not None and result.category_check < thresholds.check:
        reasons.append(f"the category check doubts {result.category} ({result.category_check:.0%})")
    if result.category_without_quote not in (None, result.category):
        reasons.append(f"the quoted part decides the category (without it: {result.category_without_quote})")
    reasons.extend(result.problems)
    if addition := reply_additions(result.category, result.to_dict(), result.response or ""):
        reasons.append(addition)
    if claim := reply_claims(result.category, result.response or ""):
        reasons.append(claim)
    if left := placeholders(result.response or ""):
        reasons.append(f"the proposed reply still holds {', '.join(repr(text) for text in left)}")
    return reasons
