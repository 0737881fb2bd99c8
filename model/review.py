"""When the model's own answer says a person must look: the one rule the worker, the inbox and
``training.evaluate`` share, so "Ready" in the app means what the evaluation measured.

The workflow adds reasons the model cannot know (machine mail, a mail that instructs the system,
what the club backend's records say); these are the model's alone:
- the answer was malformed, or decoding flagged a problem (a cut-off answer, an unresolved date,
  a triage abandoned at its time budget);
- the category is less likely than ``REVIEW_BELOW_CONFIDENCE``;
- the quoted part decides the category: without it the model gives another one
  (``TriageResult.category_without_quote``). A thank-you or an auto-reply that quotes the club's
  own confirmation otherwise comes back as the quoted request, at full confidence.
"""

from __future__ import annotations

from model.schema import TriageResult

REVIEW_BELOW_CONFIDENCE = 0.8998
"""A category less likely than this goes to review. Chosen for the shipped adapter on the
even-numbered rows of training/data/dev.csv (``python -m training.calibrate --review-threshold
runs/eval-dev/predictions.csv --rows even``): the lowest threshold whose ready accuracy there
reaches 0.99, and as none does, the one with the best ready accuracy that keeps 85% of those
rows. The odd rows, the test split and the real-world set report it; a retrained adapter
chooses again."""


def model_review_reasons(result: TriageResult, below_confidence: float = REVIEW_BELOW_CONFIDENCE) -> list[str]:
    """Why the answer itself is not good enough to act on; [] when it is. ``below_confidence``
    is only for choosing the threshold (training/calibrate.py): everyone else uses the default."""
    reasons = []
    if not result.valid:
        reasons.append("model answer was malformed")
    if result.confidence < below_confidence:
        reasons.append(f"low confidence ({result.confidence:.0%})")
    if result.category_without_quote not in (None, result.category):
        reasons.append(f"the quoted part decides the category (without it: {result.category_without_quote})")
    reasons.extend(result.problems)
    return reasons
