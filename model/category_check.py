"""The category check: a second reader of the mail, independent of the language model.

TF-IDF word and character n-grams of the subject and the mail's new text (``check_text``: the
quoted history below it is left out), weighed by a multinomial logistic
regression, trained by ``python -m training.category_check`` into ``model/category_check/``
(``weights.npz``: vocabularies, IDF weights, coefficients, plain arrays; ``check.json``: the
classes, the training files and their hashes). It reads the mail differently from the model (bag
of n-grams against a decoder's prompt), so the two are wrong on different mails. Its
log-probabilities are added to the model's category scores before the category is decided
(``CHECK_WEIGHT``), and when it gives the decided category little probability, ``model/review.py``
sends the mail to review.

    from model.category_check import load_category_check
    load_category_check().probability("Cancel", "Please cancel BK-12345", "cancel_booking")  # 0.0 .. 1.0
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.mail import Email
from model.ngrams import NGramFeatures, features, read_artifact, width, write_artifact
from model.prompt import mail_parts

ARTIFACT_DIR = Path(__file__).resolve().parent / "category_check"
CHECK_WEIGHT = 1.5
"""How much the check's log-probabilities count beside the model's when the category is decided
(model/inference.py, model/served.py); 0 gives the model alone, 1 the plain product of the two
readers' probabilities. The default, for an adapter without a rule of its own: each adapter's
weight is chosen for it with its review thresholds (``model.review.ReviewRule``,
``training.choose_review_rule``). This one was chosen for the adapter shipped on 2026-12-03, on
the dev set's even rows by category accuracy, from 0.5, 1, 1.5, 2, 3 (1.5: 0.896 there, 1: 0.880);
the odd rows, the test split and the real-world set chose nothing (README, "Measured")."""
LOG_FLOOR = 1e-6
"""The smallest probability the check's log-probabilities are taken of: a category the check has
never seen in such a mail lowers the model's score by ~14 nats at most, never to minus infinity."""
WEIGHTS_FILE = "weights.npz"
METADATA_FILE = "check.json"


def mail_text(subject: str, body: str) -> str:
    """What the TF-IDF baseline in ``training.evaluate`` reads: subject and body, the quoted part
    included, no sender or headers."""
    return f"{subject}\n{body}"


def check_text(subject: str, body: str) -> str:
    """What the check reads: the subject and the mail's new text, split from the quoted history as
    the prompt splits it (``model.prompt.mail_parts``). A member's request is in what they wrote; a
    quote is mostly the club's own earlier answer ("your booking has been moved"), which made the
    check read a thank-you as the quoted request (measured in training/category_check.py)."""
    parts = mail_parts(Email("", subject, body))
    return mail_text(parts.subject, parts.text)


@dataclass(frozen=True)
class CategoryCheck:
    """A multinomial logistic regression over the n-gram blocks."""

    blocks: dict[str, NGramFeatures]
    classes: tuple[str, ...]
    coef: np.ndarray
    """(features, classes)"""
    intercept: np.ndarray
    """(classes,)"""

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(texts, classes): each text's (``check_text``'s) probability of each class, rows summing to 1."""
        logits = np.asarray(features(self.blocks, texts) @ self.coef) + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def probability(self, subject: str, body: str, category: str) -> float:
        """How likely the check finds ``category`` for this mail; 0.0 for a category it never learned."""
        if category not in self.classes:
            return 0.0
        return float(self.probabilities([check_text(subject, body)])[0, self.classes.index(category)])

    def reading(self, clause: str) -> tuple[str, float]:
        """The category the check finds most likely for one clause read alone, as a mail of its
        own, and its probability ("Could you cancel BK-41268 this Saturday?": ``cancel_booking``, 0.996)."""
        row = self.probabilities([check_text("", clause)])[0]
        best = int(row.argmax())
        return self.classes[best], float(row[best])

    def log_probabilities(self, subject: str, body: str) -> dict[str, float]:
        """Each class's log-probability for this mail (floored at ``LOG_FLOOR``)."""
        row = self.probabilities([check_text(subject, body)])[0]
        return {category: float(np.log(max(p, LOG_FLOOR))) for category, p in zip(self.classes, row, strict=True)}

    def save(self, folder: Path, metadata: dict) -> None:
        write_artifact(folder, WEIGHTS_FILE, METADATA_FILE, self.blocks,
                       {"coef": self.coef, "intercept": self.intercept}, {**metadata, "classes": list(self.classes)})

    @classmethod
    def load(cls, folder: Path) -> CategoryCheck:
        described, blocks, weights = read_artifact(folder, WEIGHTS_FILE, METADATA_FILE, ("coef", "intercept"))
        coef, intercept = weights["coef"], weights["intercept"]
        classes = tuple(described["classes"])
        if coef.shape != (width(blocks), len(classes)) or intercept.shape != (len(classes),):
            raise ValueError(f"{folder}: coefficients {coef.shape} do not fit {width(blocks)} features "
                             f"and {len(classes)} classes")
        return cls(blocks, classes, coef, intercept)


@functools.cache
def load_category_check(folder: Path = ARTIFACT_DIR) -> CategoryCheck:
    """The shipped check, loaded once per process (it is read-only)."""
    return CategoryCheck.load(folder)
