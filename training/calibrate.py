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
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from model.calibration import CALIBRATION_FILE
from model.schema import CATEGORIES
from training.evaluate import load_rows, row_email

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
        path.write_text(json.dumps(report, indent=2) + "\n")
    else:  # no gain where it was fitted: an uncalibrated adapter is the simpler, honest choice
        path.unlink(missing_ok=True)
    return report


def _effect(scores: list[dict[str, float]], labels: list[str], bias: dict[str, float]) -> dict:
    return {"rows": len(labels), "accuracy_before": round(accuracy(scores, labels, {}), 4),
            "accuracy_after": round(accuracy(scores, labels, bias), 4)}


def _scores(triager, path: str, limit: int | None) -> tuple[list[dict[str, float]], list[str]]:
    rows = load_rows(path, limit)
    return [triager.category_scores(row_email(row)) for row in rows], [row["category"] for row in rows]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", required=True, help="adapter folder; calibration.json is written there")
    parser.add_argument("--data", default="training/data/val.csv", help="labelled validation CSV")
    parser.add_argument("--base-model", default=None, help="default: the adapter's own base")
    parser.add_argument("--limit", type=int, default=None, help="only the first N rows")
    parser.add_argument("--check", action="append", default=[], help="labelled CSV to report, not fit on")
    parser.add_argument("--report-only", action="store_true",
                        help="measure the accuracies before and after, but write or remove no calibration.json")
    args = parser.parse_args(argv)
    report = calibrate(args.adapter, args.data, args.base_model, args.limit, args.check, write=not args.report_only)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
