"""Evaluate the triage model on a labelled CSV and compare it with two baselines.

    .venv/bin/python -m training.evaluate --data training/data/test.csv --out runs/eval

The CSV needs the columns sender, subject, body, category, username, booking_id (others
are kept in the predictions but not scored; an RFC 2822 or ISO ``date`` column feeds the
email's Date). Every row is triaged one call at a time so that per-email latency is
measured. Writes ``OUT/metrics.json`` (model metrics, ``baselines``, ``config``),
``OUT/predictions.csv`` (one row per email, written as it is triaged) and, unless
``--skip-base-baseline``, ``OUT/base_predictions.csv`` for the base model without adapter.

``--adapter`` defaults to the shipped adapter; ``--adapter ""`` (or ``none``) evaluates
the plain base model. ``--base-model`` defaults to the runtime's default base model.

Each prediction row has ``needs_review``: model/review.py's rule on the model's output alone,
as the worker decides it; the metrics add ``ready_accuracy`` (category accuracy among the rows
not sent to review), ``ready_coverage`` and a risk-coverage curve (``risk_coverage``).
``--model-url`` evaluates a model server instead of loading the model here (model/served.py;
the key, if any, from ``ACEDESK_MODEL_API_KEY``); ``--adapter`` then names the adapter the
server was started with (its prompt style and calibration), and the base-model baseline is
skipped (the server serves one model):

    .venv/bin/python -m training.evaluate --data training/data/test.csv --out runs/eval-served \
        --model-url http://127.0.0.1:8600/v1

``--second-requests`` also runs model/second_request.py on every row (``pred_second_category``,
``pred_second_booking_id``, ``pred_second_username``: a second new account's login) and, where the CSV has ``second_category``, scores it:

    .venv/bin/python -m training.evaluate --data training/data/dev.csv --out runs/eval-dev \
        --skip-base-baseline --second-requests
"""

from __future__ import annotations

import argparse
import csv
import importlib
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from core.files import write_json_atomically
from core.mail import Email
from core.settings import public_url
from model.calibration import CALIBRATION_FILE
from model.review import DEFAULT_RULE, ReviewThresholds, model_review_reasons, review_thresholds
from model.schema import CATEGORIES, FIELDS
from model.served import ModelServerError
from training import baselines
from training.data_checks import column_problems, distinct_mails, read_problem
from training.metrics import EXACT_FIELDS, compute_metrics, is_json_valid, second_request_metrics

REQUIRED_COLUMNS = ("sender", "subject", "body", "category", "username", "booking_id")
NO_ADAPTER = ("", "none")  # --adapter values that mean "plain base model"
DATA_ROLE = "labelled"
"""What the data checks call an evaluation's CSV in their sentences ("a labelled CSV needs ...")."""


class DataError(Exception):
    """The evaluation data cannot be used; the message says why."""


# --- data ---------------------------------------------------------------------------------


def load_rows(path: str | Path, limit: int | None = None) -> list[dict[str, str]]:
    """Rows of the eval CSV as string dicts (missing values are empty strings). Read and checked as the
    Training page reads a CSV (training/data_checks.py): at most its ``MAX_ROWS`` rows, whatever
    ``limit``, and a file that is no usable CSV is a DataError in the same sentences."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    frame, problem = read_problem(path, DATA_ROLE)
    problems = [problem] if problem else column_problems(frame, path, DATA_ROLE, REQUIRED_COLUMNS, "the evaluation")
    if problems:
        raise DataError(" ".join(problems))
    if limit is not None:
        frame = frame.head(limit)
    unknown = sorted(set(frame["category"].str.strip()) - set(CATEGORIES))
    if unknown:
        raise DataError(f"{path}: unknown categories {unknown}; expected one of {list(CATEGORIES)}")
    return frame.to_dict(orient="records")


def parse_date(text: str) -> datetime | None:
    """An ISO or RFC 2822 date; None when empty or unparseable (the model then has no Date)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def row_email(row: dict[str, str]) -> Email:
    """The Email the model reads for one CSV row."""
    return Email(row["sender"], row["subject"], row["body"], parse_date(row.get("date", "")))


# --- running the model --------------------------------------------------------------------


def resolve_adapter(value: str | None) -> str | None:
    """None means the shipped adapter; "" or "none" means no adapter at all."""
    if value is not None:
        return None if value.strip().lower() in NO_ADAPTER else value
    # Deferred: importing torch is slow and not needed for --help or a data error.
    inference = importlib.import_module("model.inference")
    default = getattr(inference, "DEFAULT_ADAPTER", None)
    return str(default) if default is not None else None


def prediction_record(row: dict[str, str], result: Any, latency_s: float,
                      thresholds: ReviewThresholds = DEFAULT_RULE.thresholds) -> dict[str, Any]:
    """One predictions.csv row: the input columns, then everything the model produced, and the
    review decision by ``thresholds`` (the triager's review rule, as the worker decides)."""
    record: dict[str, Any] = dict(row)
    record["pred_category"] = result.category
    record["confidence"] = round(float(result.confidence), 4)
    record["valid"] = bool(result.valid)
    record["json_valid"] = is_json_valid(result)
    for name in FIELDS:
        record[f"pred_{name}"] = getattr(result, name) or ""
    record["category_without_quote"] = result.category_without_quote or ""
    record["category_check"] = "" if result.category_check is None else result.category_check
    record["response"] = result.response
    record["latency_s"] = round(latency_s, 4)
    record["problems"] = "; ".join(result.problems)
    reasons = model_review_reasons(result, thresholds)
    record["needs_review"] = bool(reasons)
    record["review_reasons"] = "; ".join(reasons)
    return record


def triage_rows(triager: Any, rows: list[dict[str, str]], out_csv: Path, second_requests: bool = False,
                time_budget_s: float | None = None) -> tuple[list, list[float], list[tuple[str, str]], list[float]]:
    """Triage each row, timing each call; write predictions as they come so a crash keeps them.
    With ``second_requests`` also each row's second request, timed apart from the triage;
    ``time_budget_s`` is the worker's budget per triage (None: the runtime's default)."""
    results, latencies, seconds, second_latencies = [], [], [], []
    with out_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = None
        for index, row in enumerate(rows, 1):
            email = row_email(row)
            start = time.perf_counter()
            result = triager.triage(email) if time_budget_s is None else triager.triage(email,
                                                                                         time_budget_s=time_budget_s)
            latencies.append(time.perf_counter() - start)
            results.append(result)
            record = prediction_record(row, result, latencies[-1], review_thresholds(triager))
            if second_requests:
                from model.second_request import second_request  # deferred: see resolve_adapter

                start = time.perf_counter()
                extra = second_request(triager, email, result)
                second_latencies.append(time.perf_counter() - start)
                seconds.append((extra.category, extra.booking_id or "") if extra else ("", ""))
                record["pred_second_category"], record["pred_second_booking_id"] = seconds[-1]
                record["pred_second_username"] = (extra.username or "") if extra else ""
            if writer is None:
                writer = csv.DictWriter(handle, fieldnames=list(record))
                writer.writeheader()
            writer.writerow(record)
            handle.flush()
            print(f"\r  {index}/{len(rows)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return results, latencies, seconds, second_latencies


def evaluate_model(base_model: str | None, adapter: str | None, rows: list, out_csv: Path,
                   second_requests: bool = False, time_budget_s: float | None = None,
                   model_url: str | None = None, server: str = "llama.cpp", check_weight: float | None = None) -> dict:
    """Load one triager (or reach the model server at ``model_url``), run it over the rows and score it.
    ``check_weight``: how much the category check counts in the category decision (None: the
    adapter's review rule, model/review.py; 0: the model alone). Rows go to review by the adapter's
    review rule, as the worker sends them."""
    if model_url:
        from model.served import ServedTriager  # deferred: see resolve_adapter

        try:
            triager = ServedTriager(model_url, os.environ.get("ACEDESK_MODEL_API_KEY") or None, adapter=adapter,
                                    server=server)
        except (ValueError, FileNotFoundError) as problem:  # a URL it refuses, no tokenizer: said, not a traceback
            raise ModelServerError(str(problem)) from None
        print(f"Triaging through {triager!r} (adapter {adapter or '(none)'})", file=sys.stderr)
        time_budget_s = None  # the server's own timeouts bound each call
    else:
        from model.inference import load_triager  # deferred: see resolve_adapter

        print(f"Loading base model {base_model or '(default)'} with adapter {adapter or '(none)'}", file=sys.stderr)
        triager = load_triager(base_model=base_model, adapter=adapter)
    if check_weight is not None:
        triager.check_weight = check_weight
    if getattr(triager, "first_token_bias", None):  # easy to forget: training.calibrate writes it into the adapter
        print(f"Calibrated: {Path(adapter) / CALIBRATION_FILE} shifts the category scores", file=sys.stderr)
    results, latencies, seconds, second_latencies = triage_rows(triager, rows, out_csv, second_requests,
                                                                time_budget_s)
    needs_review = [bool(model_review_reasons(result, review_thresholds(triager))) for result in results]
    calibrated = bool(getattr(triager, "first_token_bias", None) or getattr(triager, "category_bias", None))
    metrics = {**compute_metrics(rows, results, latencies, needs_review), "calibrated": calibrated,
               "review_rule": getattr(triager, "review_rule", DEFAULT_RULE).to_dict()}
    if second_requests and rows and "second_category" in rows[0]:
        metrics.update(second_request_metrics(rows, seconds, second_latencies,
                                              [str(getattr(result, "category", "")) for result in results]))
    return metrics


def tfidf_baseline(train_csv: Path, rows: list[dict[str, str]]) -> dict | None:
    """Category metrics of the TF-IDF + logistic regression baseline; None without train data."""
    if not train_csv.is_file():
        print(f"warning: {train_csv} not found, skipping the TF-IDF baseline", file=sys.stderr)
        return None
    pipeline = baselines.train_tfidf_baseline(train_csv)
    predicted = baselines.predict_categories(pipeline, rows)
    scored = compute_metrics(rows, [{"category": c} for c in predicted])
    keys = ("category_accuracy", "macro_f1", "per_category", "confusion_matrix")
    return {key: scored[key] for key in keys}


# --- reporting ----------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def category_lines(metrics: dict) -> list[str]:
    """Accuracy, macro-F1 and per-category F1 of one system."""
    per_category = "  ".join(
        f"{name} {_fmt(scores['f1'], 2)} (n={scores['support']})"
        for name, scores in metrics["per_category"].items()
    )
    return [
        f"  category accuracy {_fmt(metrics['category_accuracy'])}   macro-F1 {_fmt(metrics['macro_f1'])}",
        f"  per-category F1   {per_category}",
    ]


def model_lines(title: str, metrics: dict) -> list[str]:
    """The full summary block of a model run (the fine-tuned model or the base model)."""
    lines = [f"{title} (n={metrics['n']})", *category_lines(metrics)]
    for name in EXACT_FIELDS:
        lines.append(
            f"  {name + ' exact':<19} {_fmt(metrics[f'{name}_exact'])}"
            f"   (where stated: {_fmt(metrics[f'{name}_exact_when_stated'])};"
            f" given where none is: {_fmt(metrics[f'{name}_stated_when_absent'])})"
        )
    lines.append(
        f"  JSON valid {_fmt(metrics['json_valid_rate'])}   schema valid {_fmt(metrics['schema_valid_rate'])}"
        f"   invented categories {metrics['invented_categories']}"
    )
    lines.append(
        f"  latency median {_fmt(metrics['latency_median_s'])} s   p95 {_fmt(metrics['latency_p95_s'])} s"
    )
    if metrics.get("second_request_gold"):
        lines.append(f"  second request precision {_fmt(metrics['second_request_precision'])}   recall "
                     f"{_fmt(metrics['second_request_recall'])} ({metrics['second_request_detected']} found, "
                     f"{metrics['second_request_gold']} in the data; "
                     f"{_fmt(metrics['second_request_ms_median'], 0)} ms median)")
        if metrics.get("second_request_pair_precision") is not None:
            lines.append(f"  both requests, either first: precision {_fmt(metrics['second_request_pair_precision'])}   "
                         f"recall {_fmt(metrics['second_request_pair_recall'])} (the ticket and its second request "
                         "are the mail's two)")
    if "ready_accuracy" in metrics:
        lines.append(f"  ready accuracy {_fmt(metrics['ready_accuracy'])} at coverage {_fmt(metrics['ready_coverage'])}"
                     f" ({metrics['ready_errors']} wrong among the rows not sent to review)")
    return lines


def summary(report: dict) -> str:
    """The human-readable summary printed at the end of a run."""
    config = report["config"]
    lines = [f"Evaluation of {config['data']}: adapter {config['adapter'] or '(none)'}"]
    lines += model_lines("Model", report)
    base, tfidf = report["baselines"]["base_model"], report["baselines"]["tfidf_logreg"]
    lines += (
        model_lines("Baseline: base model, no adapter", base) if base else ["Baseline: base model skipped"]
    )
    lines += ["Baseline: TF-IDF + logistic regression", *category_lines(tfidf)] if tfidf else []
    return "\n".join(lines)


# --- command line -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="labelled CSV to evaluate on")
    parser.add_argument("--out", type=Path, required=True, help="directory for metrics.json and predictions")
    parser.add_argument("--adapter", default=None, help='LoRA adapter dir; default: shipped one; "" = none')
    parser.add_argument("--base-model", default=None, help="base model id or dir; default: runtime default")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N rows")
    parser.add_argument(
        "--train", type=Path, default=baselines.DEFAULT_TRAIN_CSV, help="CSV for TF-IDF baseline"
    )
    parser.add_argument("--skip-base-baseline", action="store_true", help="do not score the plain base model")
    parser.add_argument("--time-budget", type=float, default=None,
                        help="seconds per triage before it is abandoned (default: the worker's, "
                             "model.inference.TRIAGE_TIME_BUDGET_S); raise it on a CPU shared with other work")
    parser.add_argument("--second-requests", action="store_true",
                        help="also detect each row's second request (model/second_request.py) and score it")
    parser.add_argument("--model-url", default=None,
                        help="an OpenAI-compatible model server to evaluate instead of loading the model "
                             "(e.g. http://127.0.0.1:8600/v1 from make model-server); --adapter names what it serves")
    parser.add_argument("--model-url-from-env", action="store_true",
                        help="as --model-url, the URL read from ACEDESK_MODEL_URL: a URL holding credentials "
                             "stays off the command line, where ps and job.json would show it")
    parser.add_argument("--server", default="llama.cpp", choices=("llama.cpp", "vllm"),
                        help="the kind of server at --model-url (its grammar field differs)")
    parser.add_argument("--check-weight", type=float, default=None,
                        help="weight of the category check in the category decision (default: the adapter's "
                             "review_rule.json, else model.category_check.CHECK_WEIGHT; 0 = the model alone)")
    parser.add_argument("--base-limit", type=int, default=None,
                        help="score the base model on only the first N rows (it writes until cut off: slow)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the evaluation; returns the exit status (2 for unusable data)."""
    args = parse_args(argv)
    if args.model_url_from_env:
        args.model_url = os.environ.get("ACEDESK_MODEL_URL") or None
        if not args.model_url:
            print("error: --model-url-from-env, but ACEDESK_MODEL_URL is not set", file=sys.stderr)
            return 2
    try:
        rows = load_rows(args.data, args.limit)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.model_url and args.second_requests:
        print("error: --second-requests needs the model in this process; drop --model-url", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    adapter = resolve_adapter(args.adapter)
    try:
        report = evaluate_model(args.base_model, adapter, rows, args.out / "predictions.csv", args.second_requests,
                                args.time_budget, args.model_url, args.server, args.check_weight)
    except ModelServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    base = None
    if not args.skip_base_baseline and not args.model_url:
        base_rows = rows[: args.base_limit] if args.base_limit else rows
        base = evaluate_model(args.base_model, None, base_rows, args.out / "base_predictions.csv", check_weight=0.0)
    report["baselines"] = {"base_model": base, "tfidf_logreg": tfidf_baseline(args.train, rows)}
    report["config"] = {
        "data": str(args.data),
        "adapter": adapter,
        "base_model": args.base_model,
        "limit": args.limit,
        "base_limit": args.base_limit,
        "train": str(args.train),
        "time_budget_s": args.time_budget,
        "second_requests": args.second_requests,
        "check_weight": report["review_rule"]["check_weight"] if args.check_weight is None else args.check_weight,
        "model_url": public_url(args.model_url) if args.model_url else None,
    }
    report["distinct_rows"] = distinct_mails(rows)  # the Eval page says "N rows are M distinct mails"
    write_json_atomically(args.out / "metrics.json", report)  # the Eval page reads it as it appears
    print(summary(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
