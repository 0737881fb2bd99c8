"""Fit an adapter's category calibration on the validation split.

    python -m training.calibrate --adapter model/adapters/gemma-3-270m-triage --data training/data/val.csv

Scores the five categories of every row (one forward pass per email), fits one additive bias
per category (``other`` is the reference, fixed at 0) by minimising the negative
log-likelihood of the labels. Only if the biases raise the accuracy on those rows is
ADAPTER/calibration.json written (with the accuracy before and after); otherwise the adapter
stays uncalibrated and an earlier calibration.json is removed. Inference adds the biases
(model/calibration.py). Fit on validation data only: never on the test split or the
real-world benchmark, which measure it. ``--report-only`` measures without touching the
adapter (e.g. to compare stages by their validation accuracy, ``accuracy_before``).
``--check FILE`` (repeatable) reports the category accuracy before and after on other
labelled files, without fitting on them:

    python -m training.calibrate --adapter runs/stage3/adapter --check training/data/test.csv \
        --check ../shared/benchmarks/realworld/realworld_eval.csv

``--review-threshold PREDICTIONS`` chooses model/review.py's two thresholds (``ReviewThresholds``:
the model's confidence and the category check's probability) from a ``training.evaluate``
predictions.csv, on one half of its rows only (``--rows even``: rows 0, 2, 4, ...; the other half
reports them): the pair with the most coverage whose ready accuracy reaches ``--target`` (0.99),
else the one with the best ready accuracy that keeps ``--min-coverage`` (0.85) of the rows. The
rest of the review rule (malformed answers, problems, a quote that decides the category) is
applied as it stands. ``--shipped`` (the shipped adapter's review_rule.json) or ``--at CONFIDENCE
CHECK`` reports every row instead:

    python -m training.calibrate --review-threshold runs/eval-dev/predictions.csv --rows even
    python -m training.calibrate --review-threshold runs/eval-realworld/predictions.csv --shipped

``python -m training.choose_review_rule`` chooses an adapter's whole rule (the check's weight too)
with this and saves it beside the adapter (model/review.py).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from core.files import write_json_atomically
from model.calibration import CALIBRATION_FILE
from model.metadata import DEFAULT_ADAPTER
from model.review import ReviewThresholds, model_review_reasons, read_review_rule
from model.schema import CATEGORIES, TriageResult
from training.evaluate import load_rows, row_email
from training.metrics import ready_metrics

REFERENCE = "other"


def fit_category_bias(scores: Sequence[dict[str, float]], labels: Sequence[str], steps: int = 300,
                      l2: float = 1e-3) -> dict[str, float]:
    """Biases that make softmax(scores + bias) most likely to give ``labels``; ``l2`` keeps them
    small where the data says little."""
    logits = torch.tensor([[row[c] for c in CATEGORIES] for row in scores])
    targets = torch.tensor([CATEGORIES.index(label) for label in labels])
    free = torch.zeros(len(CATEGORIES) - 1, requires_grad=True)
    reference = CATEGORIES.index(REFERENCE)
    optimizer = torch.optim.Adam([free], lr=0.05)
    for _ in range(steps):
        bias = torch.cat([free[:reference], torch.zeros(1), free[reference:]])
        loss = torch.nn.functional.cross_entropy(logits + bias, targets) + l2 * free.pow(2).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    bias = torch.cat([free[:reference], torch.zeros(1), free[reference:]]).detach()
    return {category: round(float(value), 4) for category, value in zip(CATEGORIES, bias, strict=True)}


def accuracy(scores: Sequence[dict[str, float]], labels: Sequence[str], bias: dict[str, float]) -> float:
    predicted = [max(CATEGORIES, key=lambda c, row=row: row[c] + bias.get(c, 0.0)) for row in scores]
    return sum(p == label for p, label in zip(predicted, labels, strict=True)) / max(len(labels), 1)


def calibrate(adapter: str, data: str, base_model: str | None = None, limit: int | None = None,
              checks: Sequence[str] = (), write: bool = True) -> dict:
    """Fit and report; ``write=False`` only measures (the adapter folder stays as it is)."""
    from model.inference import load_triager  # torch and transformers only when a model is needed

    triager = load_triager(base_model, adapter)
    scores, labels = _scores(triager, data, limit)
    bias = fit_category_bias(scores, labels)
    report = {"category_bias": bias, "reference": REFERENCE, "fitted_on": str(data), **_effect(scores, labels, bias),
              "checks": {str(path): _effect(*_scores(triager, path, None), bias) for path in checks}}
    report["kept"] = report["accuracy_after"] > report["accuracy_before"]
    if not write:
        return report
    path = Path(adapter) / CALIBRATION_FILE
    if report["kept"]:
        write_json_atomically(path, report)  # a triager loading the adapter never reads half of it
    else:  # no gain where it was fitted: an uncalibrated adapter is the simpler, honest choice
        path.unlink(missing_ok=True)
    return report


def _effect(scores: list[dict[str, float]], labels: list[str], bias: dict[str, float]) -> dict:
    return {"rows": len(labels), "accuracy_before": round(accuracy(scores, labels, {}), 4),
            "accuracy_after": round(accuracy(scores, labels, bias), 4)}


def _scores(triager, path: str, limit: int | None) -> tuple[list[dict[str, float]], list[str]]:
    rows = load_rows(path, limit)
    return [triager.category_scores(row_email(row)) for row in rows], [row["category"] for row in rows]


def prediction_result(row: dict) -> TriageResult:
    """What the review rule reads of a predictions.csv row (a file without ``category_check``, from
    before the check, reads as not checked)."""
    check = row.get("category_check") or None
    return TriageResult(row["pred_category"], confidence=float(row["confidence"]), valid=row["valid"] == "True",
                        problems=[p for p in row["problems"].split("; ") if p],
                        category_without_quote=row.get("category_without_quote") or None,
                        category_check=float(check) if check is not None else None)


CHECK_GRID = (0.0, 0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3)
"""The category-check thresholds tried: a coarse grid, so that 125 rows choose one of ten values
for it, not one of a hundred."""


def choose_review_thresholds(predictions: str | Path, rows: str = "even", target: float = 0.99,
                             min_coverage: float = 0.85) -> dict:
    """The review rule's two thresholds (model/review.py), chosen together on one half of a
    predictions file (``rows``), and what they give on the other half (``reported``), which chose
    nothing: the pair with the most coverage whose ready accuracy reaches ``target``, else the one
    with the best ready accuracy that keeps ``min_coverage`` of the rows. A pair that reaches
    ``target`` only by sending nearly every mail to review (coverage below ``min_coverage``) does
    not count as reaching it: a rule that passes one mail in fifty is no rule."""
    frame = pd.read_csv(predictions, keep_default_na=False, dtype=str)
    halves = {"even": frame.iloc[0::2], "odd": frame.iloc[1::2], "all": frame}
    chosen_rows = halves[rows]
    results = _results(chosen_rows)
    table = [{"confidence": confidence, "check": check, **_ready_at(chosen_rows, ReviewThresholds(confidence, check),
                                                                    results)}
             for confidence in sorted({float(c) for c in chosen_rows["confidence"]} | {0.0}) for check in CHECK_GRID]
    reaching = [point for point in table
                if (point["ready_accuracy"] or 0) >= target and point["ready_coverage"] >= min_coverage]
    if reaching:
        chosen = max(reaching, key=lambda point: (point["ready_coverage"], -point["confidence"], -point["check"]))
    else:
        covered = [point for point in table if point["ready_coverage"] >= min_coverage] or table[:1]
        chosen = max(covered, key=lambda point: (point["ready_accuracy"] or 0, point["ready_coverage"]))
    other = {"even": "odd", "odd": "even"}.get(rows)
    thresholds = ReviewThresholds(chosen["confidence"], chosen["check"])
    return {"predictions": str(predictions), "rows": rows, "n": len(chosen_rows), "target": target,
            "min_coverage": min_coverage, "reached_target": bool(reaching), "chosen": chosen,
            "reported": {"rows": other, **_ready_at(halves[other], thresholds)} if other else None}


def review_thresholds_report(predictions: str | Path, thresholds: ReviewThresholds) -> dict:
    """The ready metrics of every row of a predictions file at given thresholds (choosing nothing)."""
    frame = pd.read_csv(predictions, keep_default_na=False, dtype=str)
    return {"predictions": str(predictions), "n": len(frame), "confidence": thresholds.confidence,
            "check": thresholds.check, **_ready_at(frame, thresholds)}


def _results(frame: pd.DataFrame) -> list[TriageResult]:
    return [prediction_result(row) for row in frame.to_dict(orient="records")]


def _ready_at(frame: pd.DataFrame, thresholds: ReviewThresholds, results: list[TriageResult] | None = None) -> dict:
    results = _results(frame) if results is None else results
    review = [bool(model_review_reasons(result, thresholds)) for result in results]
    return ready_metrics(list(frame["category"]), [result.category for result in results], review)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--review-threshold", type=Path, default=None, metavar="PREDICTIONS",
                        help="choose the review rule's confidence threshold from a predictions.csv")
    parser.add_argument("--rows", choices=("even", "odd", "all"), default="even",
                        help="--review-threshold: which half of the rows chooses")
    parser.add_argument("--target", type=float, default=0.99, help="--review-threshold: ready accuracy wanted")
    parser.add_argument("--min-coverage", type=float, default=0.85, help="--review-threshold: coverage kept")
    parser.add_argument("--at", type=float, nargs=2, default=None, metavar=("CONFIDENCE", "CHECK"),
                        help="--review-threshold: report every row at these thresholds instead of choosing them")
    parser.add_argument("--shipped", action="store_true",
                        help="--review-threshold: report every row at the shipped adapter's review rule")
    parser.add_argument("--adapter", help="adapter folder; calibration.json is written there")
    parser.add_argument("--data", default="training/data/val.csv", help="labelled validation CSV")
    parser.add_argument("--base-model", default=None, help="default: the adapter's own base")
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows")
    parser.add_argument("--check", action="append", default=[], help="labelled CSV to report, not fit on")
    parser.add_argument("--report-only", action="store_true",
                        help="measure the accuracies before and after, but write or remove no calibration.json")
    args = parser.parse_args(argv)
    if args.review_threshold:
        if args.at is not None or args.shipped:
            thresholds = (ReviewThresholds(*args.at) if args.at is not None
                          else read_review_rule(DEFAULT_ADAPTER).thresholds)
            report = review_thresholds_report(args.review_threshold, thresholds)
        else:
            report = choose_review_thresholds(args.review_threshold, args.rows, args.target, args.min_coverage)
        print(json.dumps(report, indent=2))
        return 0
    if not args.adapter:
        parser.error("--adapter is required unless --review-threshold is given")
    report = calibrate(args.adapter, args.data, args.base_model, args.limit, args.check, write=not args.report_only)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
