"""When the model's own answer says a person must look: the one rule the worker, the inbox and
``training.evaluate`` share, so "Ready" in the app means what the evaluation measured.

The workflow adds reasons the model cannot know (machine mail, a mail that instructs the system,
what the club backend's records say); these are the model's alone.
"""

from __future__ import annotations

from model.schema import TriageResult

REVIEW_BELOW_CONFIDENCE = 0.6
"""A category less likely than this goes to review."""


def model_review_reasons(result: TriageResult) -> list[str]:
    """Why the answer itself is not good enough to act on; [] when it is."""
    reasons = []
    if not result.valid:
        reasons.append("model answer was malformed")
    if result.confidence < REVIEW_BELOW_CONFIDENCE:
        reasons.append(f"low confidence ({result.confidence:.0%})")
    reasons.extend(result.problems)
    return reasons
