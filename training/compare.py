"""Tables for reading evaluation results (``training.evaluate``'s metrics.json and
predictions.csv): one run's scores, the rows it got wrong, and two runs side by side.

Pure functions over the metrics dicts and prediction frames, so the Eval page only shows them.
A metrics.json is whatever is on disk (hand-edited, another version's, damaged): a score that is no
finite number shows as none, a part that is not what evaluate.py writes as empty, never a traceback.
"""

from __future__ import annotations

import pandas as pd

from model.schema import CATEGORIES
from training import layout
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


def score(metrics, *keys: str) -> int | float | None:
    """The number at ``keys`` in a metrics dict (``score(m, "per_category", "other", "f1")``), or None
    where any step is missing or not what evaluate.py writes."""
    for key in keys:
        metrics = metrics.get(key) if isinstance(metrics, dict) else None
    return layout.finite_number(metrics)


def tfidf_baseline(metrics: dict) -> dict:
    """The TF-IDF baseline's scores, {} where the run has none."""
    return _object(_object(metrics.get("baselines")).get(TFIDF_BASELINE))


def metrics_table(metrics: dict) -> pd.DataFrame:
    """One row per headline metric; a TF-IDF baseline column where the run scored one."""
    baseline = tfidf_baseline(metrics)
    rows = []
    for key, title, _ in HEADLINE_METRICS:
        row = {"metric": title, "model": score(metrics, key)}
        if baseline:
            row["TF-IDF baseline"] = score(baseline, key)
        rows.append(row)
    return pd.DataFrame(rows, dtype=object)  # object: counts stay whole numbers


def per_category_table(metrics: dict) -> pd.DataFrame:
    """Precision, recall, F1 and support of each category."""
    per_category = _object(metrics.get("per_category"))
    return pd.DataFrame([{"category": name, **{column: score(per_category, name, column) for column in scores}}
                         for name in CATEGORIES if isinstance(scores := per_category.get(name), dict)])


def confusion_frame(metrics: dict) -> pd.DataFrame:
    """The confusion matrix in long form (gold, predicted, count): one row per cell, for a heatmap;
    empty unless it is a square of counts with a text label for each row."""
    matrix = _object(metrics.get("confusion_matrix"))
    labels, counts = matrix.get("labels"), matrix.get("matrix")
    square = (isinstance(labels, list) and all(isinstance(label, str) for label in labels)
              and isinstance(counts, list) and len(counts) == len(labels)
              and all(isinstance(row, list) and len(row) == len(labels) and all(layout.whole_count(count) is not None for count in row)
                      for row in counts))
    return pd.DataFrame([
        {"gold": gold, "predicted": predicted, "count": count}
        for gold, row in zip(labels, counts, strict=True)
        for predicted, count in zip(labels, row, strict=True)
    ] if square else [], columns=["gold", "predicted", "count"])


def risk_coverage_frame(metrics: dict) -> pd.DataFrame:
    """The risk-coverage curve (training.metrics.risk_coverage) as rows (coverage, accuracy,
    threshold), plus the review rule's operating point as ``kind`` = "review rule"."""
    points = metrics.get("risk_coverage")
    columns = ["coverage", "accuracy", "threshold"]
    curve = pd.DataFrame([{column: score(point, column) for column in columns}
                          for point in (points if isinstance(points, list) else [])
                          if None not in (score(point, "coverage"), score(point, "accuracy"))], columns=columns)
    curve["kind"] = "by confidence"
    coverage, accuracy = score(metrics, "ready_coverage"), score(metrics, "ready_accuracy")
    if coverage is not None and accuracy is not None:
        point = {"coverage": coverage, "accuracy": accuracy, "threshold": None, "kind": "review rule"}
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
    rows = [_comparison_row(title, score(first, key), score(second, key), higher_is_better)
            for key, title, higher_is_better in HEADLINE_METRICS]
    for name in CATEGORIES:
        rows.append(_comparison_row(f"F1 {name}", score(first, "per_category", name, "f1"),
                                    score(second, "per_category", name, "f1"), True))
    return pd.DataFrame(rows, columns=["metric", "first", "second", "change", "better"], dtype=object)


def comparison_warnings(first: dict, second: dict) -> list[str]:
    """Why a side-by-side comparison may mislead (different data, row limits or sizes)."""
    first_config, second_config = _object(first.get("config")), _object(second.get("config"))
    warnings = []
    if first_config.get("data") != second_config.get("data"):
        warnings.append(f"different data: {first_config.get('data')} and {second_config.get('data')}")
    if first.get("n") != second.get("n"):
        warnings.append(f"different numbers of rows: {first.get('n')} and {second.get('n')}")
    return warnings


def _object(value) -> dict:
    """``value`` where it is a JSON object, else {}."""
    return value if isinstance(value, dict) else {}


def _comparison_row(title: str, first, second, higher_is_better: bool | None) -> dict:
    change = layout.finite_number(second - first) if None not in (first, second) else None
    better = ""
    if change and higher_is_better is not None:
        better = "second" if (change > 0) == higher_is_better else "first"
    return {"metric": title, "first": first, "second": second, "change": change, "better": better}
