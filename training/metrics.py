"""Evaluation metrics for the triage model: pure functions, no model and no I/O.

Inputs are gold rows (mappings with ``category``, ``username``, ``booking_id``; extra keys
are ignored) and predictions: ``TriageResult`` objects or anything with the same attributes
(or keys). Predictions are read duck-typed on purpose, so a category outside ``CATEGORIES``
(which ``TriageResult`` itself refuses) can still be scored and counted as invented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from model.schema import CATEGORIES

# Problem texts written by ``model.schema.parse_answer`` when the answer did not parse as JSON.
JSON_PROBLEM_MARKERS = ("not valid JSON", "not a JSON object")

# Fields scored by exact match (the ones a ticket action depends on): the account, the booking,
# and the new member's name and address an add_user creates.
EXACT_FIELDS = ("username", "booking_id", "member_name", "member_email")


def _get(prediction: Any, name: str, default: Any = None) -> Any:
    """Read a field from a prediction that is either a mapping or an object."""
    if isinstance(prediction, Mapping):
        return prediction.get(name, default)
    return getattr(prediction, name, default)


def _rate(flags: Sequence[bool]) -> float | None:
    """Share of true flags; None for no rows (a rate of nothing is undefined, not 0)."""
    return float(np.mean(flags)) if len(flags) else None


def normalize_field(value: Any) -> str | None:
    """Exact-match form of a field: stripped string, empty (or missing) becomes None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def is_json_valid(prediction: Any) -> bool:
    """True unless the prediction's problems say the answer did not parse as a JSON object."""
    problems = _get(prediction, "problems") or []
    return not any(marker in str(problem) for problem in problems for marker in JSON_PROBLEM_MARKERS)


def is_schema_valid(prediction: Any) -> bool:
    """Parsed as JSON and accepted by the schema (``TriageResult.valid``)."""
    return is_json_valid(prediction) and bool(_get(prediction, "valid", False))


def category_metrics(gold: Sequence[str], predicted: Sequence[str]) -> dict:
    """Accuracy, macro-F1, per-category precision/recall/F1/support and the confusion matrix.

    Macro-F1 averages over the categories that occur in gold or predictions (sklearn's own
    default), so a small eval set that lacks a category is not charged a 0 F1 for it.
    Invented predictions count as wrong and are left out of the matrix columns; see
    ``invented_categories``.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    gold, predicted = list(gold), list(predicted)
    present = [c for c in CATEGORIES if c in gold or c in predicted]
    result: dict = {
        "category_accuracy": _rate([g == p for g, p in zip(gold, predicted, strict=True)]),
        "macro_f1": None,
        "per_category": _per_category(gold, predicted),
        "confusion_matrix": confusion(gold, predicted),
    }
    if present:
        result["macro_f1"] = float(np.mean([result["per_category"][c]["f1"] for c in present]))
    return result


def _per_category(gold: list[str], predicted: list[str]) -> dict[str, dict]:
    """Precision, recall, F1 and gold support for every category (0 where undefined)."""
    if not gold:
        return {c: {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0} for c in CATEGORIES}
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=list(CATEGORIES), zero_division=0
    )
    return {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(CATEGORIES, precision, recall, f1, support, strict=True)
    }


def confusion(gold: Sequence[str], predicted: Sequence[str]) -> dict:
    """Confusion matrix over ``CATEGORIES``: ``matrix[i][j]`` counts gold ``labels[i]``
    predicted as ``labels[j]`` (rows gold, columns predicted)."""
    labels = list(CATEGORIES)
    if not gold:
        return {"labels": labels, "matrix": [[0] * len(labels) for _ in labels]}
    matrix = confusion_matrix(list(gold), list(predicted), labels=labels)
    return {"labels": labels, "matrix": matrix.astype(int).tolist()}


def field_exact(gold: Sequence[Any], predicted: Sequence[Any]) -> float | None:
    """Share of rows whose field matches exactly after strip; both empty counts as a match."""
    return _rate([normalize_field(g) == normalize_field(p) for g, p in zip(gold, predicted, strict=True)])


def field_exact_when_stated(gold: Sequence[Any], predicted: Sequence[Any]) -> float | None:
    """Exact match over only the rows whose gold value is set.

    Most emails state no username or booking id, so ``field_exact`` is high for a model
    that never extracts anything; this number shows whether it extracts the stated ones.
    """
    pairs = [(g, p) for g, p in zip(gold, predicted, strict=True) if normalize_field(g) is not None]
    return field_exact([g for g, _ in pairs], [p for _, p in pairs])


def field_stated_when_absent(gold: Sequence[Any], predicted: Sequence[Any]) -> float | None:
    """Share of the rows whose gold value is empty where the prediction states one anyway.

    ``field_exact_when_stated`` cannot see a value taken from a mail that states none (a word of
    the text as the username, a member number as the booking id): this rate does."""
    absent = [p for g, p in zip(gold, predicted, strict=True) if normalize_field(g) is None]
    return _rate([normalize_field(p) is not None for p in absent])


def latency_stats(latencies: Sequence[float] | None) -> dict[str, float | None]:
    """Median and 95th percentile (linear interpolation) of per-email latency in seconds."""
    if not latencies:
        return {"latency_median_s": None, "latency_p95_s": None}
    values = np.asarray(latencies, dtype=float)
    return {
        "latency_median_s": float(np.percentile(values, 50)),
        "latency_p95_s": float(np.percentile(values, 95)),
    }


def ready_metrics(gold: Sequence[str], predicted: Sequence[str], needs_review: Sequence[bool]) -> dict:
    """What the inbox's *Ready* view would hold: ``ready_coverage`` is the share of rows the
    model's own review rule lets through, ``ready_accuracy`` the category accuracy among them."""
    ready = [g == p for g, p, review in zip(gold, predicted, needs_review, strict=True) if not review]
    return {"ready_coverage": _rate([not review for review in needs_review]), "ready_accuracy": _rate(ready),
            "ready_errors": len(ready) - sum(ready)}


def risk_coverage(gold: Sequence[str], predicted: Sequence[str], confidence: Sequence[float],
                  points: int = 50) -> list[dict]:
    """Accuracy among the most confident rows as the share kept grows (a risk-coverage curve):
    rows sorted by confidence, ties kept together, at most ``points`` points."""
    order = sorted(range(len(gold)), key=lambda i: -confidence[i])
    curve, correct = [], 0
    for rank, index in enumerate(order, 1):
        correct += gold[index] == predicted[index]
        if rank < len(order) and confidence[order[rank]] == confidence[index]:
            continue  # a threshold cannot split equal confidences
        curve.append({"coverage": rank / len(order), "accuracy": correct / rank,
                      "threshold": float(confidence[index])})
    step = max(1, len(curve) // points)
    return [point for i, point in enumerate(curve) if i % step == 0 or i == len(curve) - 1]


def second_request_metrics(gold_rows: Sequence[Mapping[str, Any]], predicted: Sequence[tuple[str, str]],
                           seconds: Sequence[float], first_categories: Sequence[str] | None = None) -> dict:
    """Detection of a mail's second request against the ``second_category`` /
    ``second_booking_id`` columns: a detection is right when its category is the gold one;
    booking ids are scored on the right detections whose gold id is stated.

    With ``first_categories`` (the triage's categories) also the *pair* scores: a detection is
    right when the ticket's category and it are the mail's two requests, whichever the triage
    took first. The label's first request is its writer's reading; a triage that took the other
    one and found the labelled first as its second request leaves the operator both, which the
    strict score counts wrong."""
    gold = [(str(row.get("second_category") or "").strip(), str(row.get("second_booking_id") or "").strip())
            for row in gold_rows]
    found = [(category, booking_id) for category, booking_id in predicted]
    right = [g[0] == p[0] for g, p in zip(gold, found, strict=True) if g[0] and p[0]]
    stated = [g[1] == p[1] for g, p in zip(gold, found, strict=True) if g[0] and g[0] == p[0] and g[1]]
    detected, actual = sum(bool(p[0]) for p in found), sum(bool(g[0]) for g in gold)
    pairs = {}
    if first_categories is not None:
        both = sum(bool(g[0]) and sorted([str(row.get("category") or "").strip(), g[0]]) == sorted([first, p[0]])
                   for row, g, p, first in zip(gold_rows, gold, found, first_categories, strict=True) if p[0])
        pairs = {"second_request_pair_precision": both / detected if detected else None,
                 "second_request_pair_recall": both / actual if actual else None}
    return {**pairs, "second_request_precision": sum(right) / detected if detected else None,
            "second_request_recall": sum(right) / actual if actual else None,
            "second_request_detected": detected, "second_request_gold": actual,
            "second_request_booking_id_exact_when_stated": _rate(stated),
            "second_request_ms_median": float(np.median(seconds)) * 1000 if len(seconds) else None}


def compute_metrics(
    gold_rows: Sequence[Mapping[str, Any]],
    predictions: Sequence[Any],
    latencies: Sequence[float] | None = None,
    needs_review: Sequence[bool] | None = None,
) -> dict:
    """All model metrics for one evaluation run, as a JSON-serialisable dict. ``needs_review``
    (model/review.py's rule per row) adds the ready metrics; confidences add the risk-coverage curve."""
    if len(gold_rows) != len(predictions):
        raise ValueError(f"{len(gold_rows)} gold rows but {len(predictions)} predictions")
    if latencies is not None and len(latencies) != len(predictions):
        raise ValueError(f"{len(latencies)} latencies but {len(predictions)} predictions")
    gold_categories = [str(row.get("category", "")).strip() for row in gold_rows]
    predicted_categories = [str(_get(p, "category", "")) for p in predictions]
    metrics: dict = {
        "n": len(predictions),
        "json_valid_rate": _rate([is_json_valid(p) for p in predictions]),
        "schema_valid_rate": _rate([is_schema_valid(p) for p in predictions]),
        "invented_categories": sum(c not in CATEGORIES for c in predicted_categories),
    }
    metrics.update(category_metrics(gold_categories, predicted_categories))
    for name in EXACT_FIELDS:
        labelled = any(name in row for row in gold_rows)  # the real-world set labels no member fields
        gold = [row.get(name) for row in gold_rows]
        predicted = [_get(p, name) for p in predictions]
        metrics[f"{name}_exact"] = field_exact(gold, predicted) if labelled else None
        metrics[f"{name}_exact_when_stated"] = field_exact_when_stated(gold, predicted) if labelled else None
        metrics[f"{name}_stated_when_absent"] = field_stated_when_absent(gold, predicted) if labelled else None
    metrics.update(latency_stats(latencies))
    if needs_review is not None:
        metrics.update(ready_metrics(gold_categories, predicted_categories, needs_review))
    confidences = [_get(p, "confidence") for p in predictions]
    if predictions and all(isinstance(c, int | float) for c in confidences):
        metrics["risk_coverage"] = risk_coverage(gold_categories, predicted_categories, confidences)
    return metrics
