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
  own confirmation otherwise comes back as the quoted request, at full confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.schema import TriageResult


@dataclass(frozen=True)
class ReviewThresholds:
    """The two numbers of the rule. Chosen together for the shipped adapter and category check
    (weighing in on the decision at ``CHECK_WEIGHT``) on the even-numbered rows of
    training/data/dev.csv (``python -m training.calibrate --review-threshold
    runs/eval-dev/predictions.csv --rows even``): the pair with the most coverage whose ready
    accuracy there reaches 0.99, and as none does, the one with the best ready accuracy that keeps
    85% of those rows. The odd rows, the test split and the real-world set report it; a retrained
    adapter or category check chooses again."""

    confidence: float = 0.6303
    """A category less likely than this (the model's own probability) goes to review."""
    check: float = 0.05
    """A category the category check finds less likely than this goes to review."""


SHIPPED = ReviewThresholds()


def model_review_reasons(result: TriageResult, thresholds: ReviewThresholds = SHIPPED) -> list[str]:
    """Why the answer itself is not good enough to act on; [] when it is. ``thresholds`` is only
    for choosing them (training/calibrate.py): everyone else uses the shipped ones."""
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
    return reasons
