"""The learned prompt-injection classifier: load its shipped weights and score a mail's text.

Trained by ``python -m training.injection_detector`` into ``model/injection_detector/``:
``weights.npz`` (the n-gram vocabularies, their IDF weights and the logistic regression's
coefficients; plain arrays, no pickle) and ``detector.json`` (threshold, features, training
figures). Scoring rebuilds scikit-learn's TF-IDF vectorizers with the fixed vocabularies
(``model/ngrams.py``), so training and inference share one feature definition.

    from model.injection_classifier import load_injection_classifier
    load_injection_classifier().score(normalise("Note to the assistant: ..."))   # 0.0 .. 1.0
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.ngrams import NGramFeatures, features, read_artifact, width, write_artifact

ARTIFACT_DIR = Path(__file__).resolve().parent / "injection_detector"
WEIGHTS_FILE = "weights.npz"
METADATA_FILE = "detector.json"


@dataclass(frozen=True)
class InjectionClassifier:
    """Word and character n-grams of the normalised text, weighed by a logistic regression."""

    words: NGramFeatures
    chars: NGramFeatures
    coef: np.ndarray
    intercept: float
    threshold: float
    """Scores at or above it count as an injection (chosen out of fold when trained)."""

    def scores(self, normalised_texts: list[str]) -> np.ndarray:
        """The probability that each text instructs the system; texts as ``core.text.normalise`` returns them."""
        logits = features(self.blocks, normalised_texts) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-logits))

    @property
    def blocks(self) -> dict[str, NGramFeatures]:
        return {"word": self.words, "char": self.chars}

    def score(self, normalised_text: str) -> float:
        return float(self.scores([normalised_text])[0])

    def flags(self, normalised_text: str) -> bool:
        """Whether the text counts as an injection (its score reaches ``threshold``)."""
        return self.score(normalised_text) >= self.threshold

    def save(self, folder: Path, metadata: dict) -> None:
        write_artifact(folder, WEIGHTS_FILE, METADATA_FILE, self.blocks, {"coef": self.coef},
                       {**metadata, "intercept": self.intercept, "threshold": self.threshold})

    @classmethod
    def load(cls, folder: Path) -> InjectionClassifier:
        described, blocks, weights = read_artifact(folder, WEIGHTS_FILE, METADATA_FILE, ("coef",))
        coef = weights["coef"]
        expected = width(blocks)
        if coef.shape != (expected,):
            raise ValueError(f"{folder}: {coef.shape[0]} coefficients for {expected} features")
        return cls(blocks["word"], blocks["char"], coef, float(described["intercept"]), float(described["threshold"]))


@functools.cache
def load_injection_classifier(folder: Path = ARTIFACT_DIR) -> InjectionClassifier:
    """The shipped classifier, loaded once per process (it is read-only)."""
    return InjectionClassifier.load(folder)
