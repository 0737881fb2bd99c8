"""Tables for reading evaluation results (``training.evaluate``'s metrics.json and
predictions.csv): one run's scores, the rows it got wrong, and two runs side by side.

Pure functions over the metrics dicts and prediction frames, so the Eval page only shows them.
"""

from __future__ import annotations

import pandas as pd

from model.schema import CATEGORIES
from training.metrics import EXACT_FIELDS, normalize_field

# (key in metrics.json, what people call it, higher is better)
HEADLINE_METRICS = (
    ("category_accuracy", "Category accuracy", True),
    ("macro_f1", "Macro-F1", True),
    ("username_exact", "Username exact", True),
    ("username_exact_when_stated", "Username exact (where stated)", True),
    ("username_stated_when_absent", "Username given where none is stated", False),
    ("booking_id_exact", "Booking id exact", True),
    ("booking_id_exact_when_stated", "Booking id exact (where stated)", True),
    ("booking_id_stated_when_absent", "Booking id given where none is stated", False),
    ("member_name_exact_when_stated", "Member name exact (where stated)", True),
    ("member_name_stated_when_absent", "Member name given where none is stated", False),
    ("member_email_exact_when_stated", "Member email exact (where stated)", True),
    ("ready_accuracy", "Ready accuracy (not sent to review)", True),
    ("ready_coverage", "Ready coverage", True),
    ("json_valid_rate", "JSON valid", True),
    ("schema_valid_rate", "Schema valid", True),
    ("invented_categories", "Invented categories", False),
    ("latency_median_s", "Latency median (s)", False),
    ("latency_p95_s", "Latency p95 (s)", False),
    ("n", "Rows", None),
)
TFIDF_BASELINE = "tfidf_logreg"


def metrics_table(metrics: dict) -> pd.DataFrame:
    """One row per headline metric; a TF-IDF baseline column where the run scored one."""
    baseline = (metrics.get("baselines") or {}).get(TFIDF_BASELINE) or {}
    rows = []
    for key, title, _ in HEADLINE_METRICS:
        row = {"metric": title, "model": metrics.get(key)}
        if baseline:
            row["TF-IDF baseline"] = baseline.get(key)
        rows.append(row)
    return pd.DataFrame(rows, dtype=object)  # object: counts stay whole numbers


def per_category_table(metrics: dict) -> pd.DataFrame:
    """Precision, recall, F1 and support of each category."""
    per_category = metrics.get("per_category") or {}
    return pd.DataFrame([{"category": name, **per_category[name]} for name in CATEGORIES if name in per_category])


def confusion_frame(metrics: dict) -> pd.DataFrame:
    """The confusion matrix in long form (gold, predicted, count): one row per cell, for a heatmap."""
    matrix = metrics.get("confusion_matrix") or {}
    labels = matrix.get("labels", [])
    return pd.DataFrame([
        {"gold": gold, "predicted": predicted, "count": int(count)}
        for gold, row in zip(labels, matrix.get("matrix", []), strict=True)
        for predicted, count in zip(labels, row, strict=True)
    ], columns=["gold", "predicted", "count"])


def risk_coverage_frame(metrics: dict) -> pd.DataFrame:
    """The risk-coverage curve (training.metrics.risk_coverage) as rows (coverage, accuracy,
    threshold), plus the review rule's operating point as ``kind`` = "review rule"."""
    curve = pd.DataFrame(metrics.get("risk_coverage") or [], columns=["coverage", "accuracy", "threshold"])
    curve["kind"] = "by confidence"
    if metrics.get("ready_coverage") is not None and metrics.get("ready_accuracy") is not None:
        point = {"coverage": metrics["ready_coverage"], "accuracy": metrics["ready_accuracy"], "threshold": None,
                 "kind": "review rule"}
        curve = pd.concat([curve, pd.DataFrame([point])], ignore_index=True) if len(curve) else pd.DataFrame([point])
    return curve


def wrong_predictions(predictions: pd.DataFrame) -> pd.DataFrame:
    """The rows with a wrong category or a wrong username / booking id, with what was wrong
    first. Field comparison as in training.metrics: stripped, empty equals missing."""
    if predictions.empty:
        return predictions
    mistakes = predictions.apply(_mistakes, axis=1)
    wrong = predictions[mistakes != ""].copy()
    wrong.insert(0, "wrong", mistakes[mistakes != ""])
    shown = ["wrong", "category", "pred_category", "confidence", "needs_review", "subject", "body",
             *[column for name in EXACT_FIELDS for column in (name, f"pred_{name}")], "problems", "response"]
    return wrong[[column for column in shown if column in wrong.columns]]


def _mistakes(row: pd.Series) -> str:
    wrong = ["category"] if str(row.get("category", "")).strip() != str(row.get("pred_category", "")) else []
    wrong += [name for name in EXACT_FIELDS  # a field the data does not label is no mistake
              if name in row.index and normalize_field(row.get(name)) != normalize_field(row.get(f"pred_{name}"))]
    return ", ".join(wrong)


def compare_metrics(first: dict, second: dict) -> pd.DataFrame:
    """Two runs side by side: headline metrics, then each category's F1; ``change`` is
    second minus first, ``better`` names the better run where it is clear which is better."""
    rows = [_comparison_row(title, first.get(key), second.get(key), higher_is_better)
            for key, title, higher_is_better in HEADLINE_METRICS]
    for name in CATEGORIES:
        rows.append(_comparison_row(f"F1 {name}", _f1(first, name), _f1(second, name), True))
    return pd.DataFrame(rows, columns=["metric", "first", "second", "change", "better"], dtype=object)


def comparison_warnings(first: dict, second: dict) -> list[str]:
    """Why a side-by-side comparison may mislead (different data, row limits or sizes)."""
    first_config, second_config = first.get("config") or {}, second.get("config") or {}
    warnings = []
    if first_config.get("data") != second_config.get("data"):
        warnings.append(f"different data: {first_config.get('data')} and {second_config.get('data')}")
    if first.get("n") != second.get("n"):
        warnings.append(f"different numbers of rows: {first.get('n')} and {second.get('n')}")
    return warnings


def _f1(metrics: dict, category: str) -> float | None:
    return ((metrics.get("per_category") or {}).get(category) or {}).get("f1")


def _comparison_row(title: str, first, second, higher_is_better: bool | None) -> dict:
    change = second - first if isinstance(first, int | float) and isinstance(second, int | float) else None
    better = ""
    if change and higher_is_better is not None:
        better = "second" if (change > 0) == higher_is_better else "first"
    return {"metric": title, "first": first, "second": second, "change": change, "better": better}
