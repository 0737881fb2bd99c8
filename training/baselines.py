"""A classic text-classification baseline for the triage category.

TF-IDF over word 1-2-grams and character 2-5-grams of subject + body, then a logistic
regression. It needs no GPU and trains in seconds, so it is the bar the fine-tuned model
must clearly beat on category accuracy to be worth its latency. It predicts the category
only (no fields, no reply). The same recipe, trained on every training file, is the category
check the review rule consults (``python -m training.category_check``).

    from training.baselines import train_tfidf_baseline, predict_categories
    clf = train_tfidf_baseline("training/data/train.csv")
    predict_categories(clf, [{"subject": "Cancel", "body": "Please cancel BK-12345"}])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from model.category_check import mail_text

# Anchored to this package so the default works from any working directory.
DEFAULT_TRAIN_CSV = Path(__file__).resolve().parent / "data" / "train.csv"
TRAIN_COLUMNS = ("subject", "body", "category")


def build_pipeline() -> Pipeline:
    """Word n-grams catch request phrases; char n-grams survive typos and other languages."""
    features = FeatureUnion(
        [
            ("word", TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            ("char", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1)),
        ]
    )
    # Balanced weights: "other" and "add_user" are rarer than booking mail in a real inbox.
    classifier = LogisticRegression(max_iter=2000, class_weight="balanced", C=10.0)
    return Pipeline([("features", features), ("classifier", classifier)])


def read_training_csv(path: str | Path) -> pd.DataFrame:
    """Training rows with subject, body and category; a clear ValueError otherwise."""
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    missing = [c for c in TRAIN_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    if frame["category"].nunique() < 2:
        raise ValueError(f"{path}: need at least two categories to train a classifier")
    return frame


def train_tfidf_baseline(train_csv: str | Path = DEFAULT_TRAIN_CSV, *more_csvs: str | Path,
                         text_of: Callable[[str, str], str] = mail_text) -> Pipeline:
    """Fit the TF-IDF + logistic regression pipeline on one or more training CSVs, each row read
    as ``text_of(subject, body)`` (the baseline: all of it; the category check: ``check_text``)."""
    frame = pd.concat([read_training_csv(path)[list(TRAIN_COLUMNS)] for path in (train_csv, *more_csvs)],
                      ignore_index=True)
    texts = [text_of(s, b) for s, b in zip(frame["subject"], frame["body"], strict=True)]
    return build_pipeline().fit(texts, frame["category"].str.strip().tolist())


def predict_categories(pipeline: Pipeline, rows: Iterable[Mapping[str, str]]) -> list[str]:
    """Predicted category for each row (a mapping with subject and body)."""
    texts = [mail_text(str(row.get("subject", "")), str(row.get("body", ""))) for row in rows]
    return [str(label) for label in pipeline.predict(texts)] if texts else []
