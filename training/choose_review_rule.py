"""Choose an adapter's review rule and save it beside the adapter (``review_rule.json``, model/review.py).

    python -m training.choose_review_rule --adapter runs/adapter-build-traps/stage6-stage6/adapter

The rule is how the desk decides on the adapter's answers: how much the category check counts in
the category decision, and the two thresholds below which a mail goes to review. Both are the
adapter's own, chosen on the even-numbered rows of training/data/dev.csv (rows 0, 2, 4, ...); the
odd rows choose nothing and report the rule (``chosen.reported`` in the file):

1. The check's weight: the category accuracy on the choosing rows of the model's calibrated
   category probabilities times the check's raised to WEIGHT (one forward pass a row: the category
   decode decides, model/inference.py ``decision_bias``), for each of ``WEIGHTS``; the best, the
   smaller weight on a tie.
2. The thresholds: the adapter triages every row at that weight as the worker would
   (``training.evaluate``'s predictions file, written to ``--out``), and
   ``training.calibrate.choose_review_thresholds`` picks the pair on the choosing rows.

``training.build_adapter`` runs this on a build before shipping it, so an adapter is never decided
by numbers chosen for another one.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

from core.files import write_json_atomically
from core.settings import PROJECT_ROOT
from model.category_check import load_category_check
from model.review import ReviewRule, ReviewThresholds, write_review_rule
from model.schema import CATEGORIES
from training import layout
from training.evaluate import load_rows, row_email, triage_rows

RULE_DATA = PROJECT_ROOT / "training" / "data" / "dev.csv"
"""The hand-written dev set (issue 14): never trained on; its even rows choose, its odd rows report."""
CHOICE_FILE = "choice.json"
"""The rule and how it was chosen, in the output folder (beside predictions.csv)."""
WEIGHTS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
"""The check weights tried: a coarse grid, so that 125 rows choose one of six values."""


def decided_categories(probabilities: Sequence[dict[str, float]], checks: Sequence[dict[str, float]],
                       weight: float) -> list[str]:
    """Each row's category when the check's log-probabilities count ``weight`` times beside the
    model's: what decoding decides with that weight."""
    return [max(CATEGORIES, key=lambda c, p=p, k=k: math.log(max(p[c], 1e-12)) + weight * k.get(c, 0.0))
            for p, k in zip(probabilities, checks, strict=True)]


def choose_check_weight(probabilities: Sequence[dict[str, float]], checks: Sequence[dict[str, float]],
                        labels: Sequence[str], weights: Sequence[float] = WEIGHTS) -> tuple[float, dict[float, float]]:
    """The weight with the best category accuracy (the smaller on a tie) and every weight's accuracy."""
    table = {}
    for weight in weights:
        decided = decided_categories(probabilities, checks, weight)
        table[weight] = round(sum(d == label for d, label in zip(decided, labels, strict=True)) / max(len(labels), 1), 4)
    best = max(weights, key=lambda weight: (table[weight], -weight))
    return best, table


def setup(adapter: Path, data: Path = RULE_DATA, out_dir: Path | None = None, write: bool = True,
          time_budget_s: float | None = None) -> ReviewRule:
    """Choose ``adapter``'s rule on ``data``'s even rows, report it on the odd rows, and (``write``)
    save it beside the adapter; the triage of every row goes to ``out_dir/predictions.csv``
    (default: runs/review-rules/ADAPTER_PARENT-ADAPTER, beside the app's). ``time_budget_s``: seconds per triage (the
    worker's when None); raise it on a CPU shared with other work, or slow mails go to review."""
    from model.inference import load_triager  # torch: only when a model is needed
    from training.calibrate import choose_review_thresholds

    adapter = Path(adapter)
    out_dir = Path(out_dir) if out_dir else layout.review_rules_root(PROJECT_ROOT / "runs") / (
        f"{adapter.resolve().parent.name}-{adapter.name}")
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = load_rows(data)
    choosing = rows[0::2]
    triager = load_triager(None, str(adapter))
    check = load_category_check()
    probabilities = [triager.category_probabilities(row_email(row)) for row in choosing]
    checks = [check.log_probabilities(row["subject"], row["body"]) for row in choosing]
    weight, accuracies = choose_check_weight(probabilities, checks, [row["category"] for row in choosing])

    triager.check_weight = weight
    predictions = out_dir / "predictions.csv"
    triage_rows(triager, rows, predictions, time_budget_s=time_budget_s)
    choice = choose_review_thresholds(predictions, rows="even")
    chosen = {
        "on": f"{_shown(data)}, even rows (0, 2, 4, ...: {len(choosing)} rows)",
        "command": f"python -m training.choose_review_rule --adapter {_shown(adapter)} --data {_shown(data)}",
        "date": time.strftime("%Y-%m-%d"),
        "check_weight_accuracy": {str(w): a for w, a in accuracies.items()},
        "thresholds": {key: choice[key] for key in ("target", "min_coverage", "reached_target", "chosen")},
        "reported": choice["reported"],
        "predictions": _shown(predictions),
    }
    rule = ReviewRule(ReviewThresholds(choice["chosen"]["confidence"], choice["chosen"]["check"]), weight, chosen)
    write_json_atomically(out_dir / CHOICE_FILE, rule.to_dict())
    if write:
        write_review_rule(adapter, rule)
    return rule


def _shown(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.choose_review_rule", description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, required=True, help="the adapter folder the rule is written into")
    parser.add_argument("--data", type=Path, default=RULE_DATA, help="labelled CSV: its even rows choose, its odd rows report")
    parser.add_argument("--out", type=Path, default=None, help="folder for predictions.csv and choice.json "
                                                               "(default: runs/review-rules/...)")
    parser.add_argument("--time-budget", type=float, default=None,
                        help="seconds per triage (default: the worker's); raise it on a CPU shared with other work")
    parser.add_argument("--dry-run", action="store_true", help="choose and report, but leave the adapter as it is")
    args = parser.parse_args(argv)
    rule = setup(args.adapter, args.data, args.out, write=not args.dry_run, time_budget_s=args.time_budget)
    print(json.dumps(rule.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
