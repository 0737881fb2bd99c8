"""End-to-end run of training.evaluate on the tiny random model (fast, CPU only)."""

import csv
import json
import sys
from types import ModuleType

import pandas as pd
import pytest

from model.category_check import CHECK_WEIGHT
from model.review import DEFAULT_RULE, ReviewRule, ReviewThresholds
from model.schema import CATEGORIES, TriageResult
from training import evaluate
from training.evaluate import main

ROWS = [
    ("anna@example.com", "New member", "Please add Tom Berg, tom@example.com", "add_user", "", ""),
    (
        "ben@example.com",
        "Password",
        "I forgot my password. My username is bennyb",
        "reset_password",
        "bennyb",
        "",
    ),
    ("cara@example.com", "Cancel", "Please cancel booking BK-12345", "cancel_booking", "", "BK-12345"),
    ("dan@example.com", "Move", "Move BK-54321 to next Saturday 10am", "modify_booking", "", "BK-54321"),
    ("eve@example.com", "Hello", "When does the summer party start?", "other", "", ""),
    ("finn@example.com", "Cancel please", "Cancel my booking 11111", "cancel_booking", "", "11111"),
]
COLUMNS = ["sender", "subject", "body", "category", "username", "booking_id"]


def write_csv(path, rows, columns=COLUMNS, dates=True):
    frame = pd.DataFrame(rows, columns=columns)
    if dates:  # one RFC 2822, one ISO and empty dates: all must be accepted
        frame["date"] = ["Sat, 01 Mar 2025 10:00:00 +0100", "2025-03-02T09:00:00"] + [""] * (len(rows) - 2)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def eval_csv(tmp_path):
    return write_csv(tmp_path / "eval.csv", ROWS)


@pytest.fixture
def train_csv(tmp_path):
    return write_csv(tmp_path / "train.csv", ROWS * 2, dates=False)


def test_end_to_end_on_tiny_model(tiny_base_dir, eval_csv, train_csv, tmp_path):
    out = tmp_path / "out"
    argv = ["--data", str(eval_csv), "--out", str(out), "--base-model", str(tiny_base_dir)]
    assert main([*argv, "--adapter", "", "--train", str(train_csv)]) == 0

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 6
    assert metrics["distinct_rows"] == 6  # six different mails: the Eval page names no repeats
    assert 0.0 <= metrics["category_accuracy"] <= 1.0
    assert 0.0 <= metrics["macro_f1"] <= 1.0
    assert 0.0 <= metrics["schema_valid_rate"] <= metrics["json_valid_rate"] <= 1.0
    assert metrics["invented_categories"] == 0
    assert sum(map(sum, metrics["confusion_matrix"]["matrix"])) == 6
    assert set(metrics["per_category"]) == set(CATEGORIES)
    assert metrics["latency_median_s"] <= metrics["latency_p95_s"]
    assert metrics["config"] == {
        "data": str(eval_csv),
        "adapter": None,
        "base_model": str(tiny_base_dir),
        "limit": None,
        "base_limit": None,
        "train": str(train_csv),
        "time_budget_s": None,
        "second_requests": False,
        "check_weight": CHECK_WEIGHT,
        "model_url": None,
    }
    base = metrics["baselines"]["base_model"]
    assert base["n"] == 6 and sum(map(sum, base["confusion_matrix"]["matrix"])) == 6
    tfidf = metrics["baselines"]["tfidf_logreg"]
    assert 0.0 <= tfidf["category_accuracy"] <= 1.0 and "macro_f1" in tfidf

    with (out / "predictions.csv").open(newline="", encoding="utf-8") as handle:
        predictions = list(csv.DictReader(handle))
    assert len(predictions) == 6
    assert {row["needs_review"] for row in predictions} <= {"True", "False"}
    ready = [row for row in predictions if row["needs_review"] == "False"]
    assert metrics["ready_coverage"] == pytest.approx(len(ready) / 6)
    assert metrics["risk_coverage"][-1]["coverage"] == 1.0
    assert {p["pred_category"] for p in predictions} <= set(CATEGORIES)
    assert [p["sender"] for p in predictions] == [row[0] for row in ROWS]


class KeywordTriager:
    """Stand-in for the real triager: deterministic answers, so metrics can be checked exactly."""

    def __init__(self, adapter):
        self.adapter = adapter
        # what model.inference makes of an adapter's calibration.json: token id -> bias
        self.first_token_bias = {236770: 0.8} if adapter == "adapters/calibrated" else {}

    @property
    def review_rule(self):
        # what model.inference makes of an adapter's review_rule.json: this one doubts every answer below 0.85
        if self.adapter == "adapters/strict":
            return ReviewRule(ReviewThresholds(confidence=0.85, check=0.0), check_weight=0.0)
        return DEFAULT_RULE

    def triage(self, email):
        if self.adapter is None:  # the "base model": always answers other, with broken JSON
            return TriageResult("other", valid=False, problems=["answer is not valid JSON (x)"])
        if "password" in email.body:
            return TriageResult("reset_password", username="bennyb", confidence=0.9)
        if "cancel" in email.body.lower():
            return TriageResult("cancel_booking", booking_id="BK-12345", confidence=0.8)
        return TriageResult("other", confidence=0.5)


@pytest.fixture
def fake_inference(monkeypatch):
    """A fake ``model.inference`` that records how load_triager was called."""
    module = ModuleType("model.inference")
    module.DEFAULT_ADAPTER = "adapters/shipped"
    module.calls = []

    def load_triager(base_model=None, adapter=None):
        module.calls.append((base_model, adapter))
        return KeywordTriager(adapter)

    module.load_triager = load_triager
    monkeypatch.setitem(sys.modules, "model.inference", module)
    return module


def test_metrics_with_fake_triager(fake_inference, eval_csv, train_csv, tmp_path):
    out = tmp_path / "out"
    assert main(["--data", str(eval_csv), "--out", str(out), "--train", str(train_csv)]) == 0
    # Default adapter resolved from DEFAULT_ADAPTER; the base baseline loads without one.
    assert fake_inference.calls == [(None, "adapters/shipped"), (None, None)]
    metrics = json.loads((out / "metrics.json").read_text())
    # Right: reset_password, cancel BK-12345, other, cancel 11111 -> 4 of 6.
    assert metrics["category_accuracy"] == pytest.approx(4 / 6)
    assert metrics["username_exact"] == pytest.approx(1.0)
    # Wrong booking ids: modify row (BK-54321 -> none) and "11111" (gold not normalised).
    assert metrics["booking_id_exact"] == pytest.approx(4 / 6)
    assert metrics["config"]["adapter"] == "adapters/shipped"
    assert metrics["calibrated"] is False
    base = metrics["baselines"]["base_model"]
    assert base["json_valid_rate"] == 0.0 and base["schema_valid_rate"] == 0.0
    assert base["category_accuracy"] == pytest.approx(1 / 6)
    with (out / "base_predictions.csv").open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 6


def test_a_calibrated_adapter_is_reported(fake_inference, eval_csv, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--data", str(eval_csv), "--out", str(out), "--adapter", "adapters/calibrated", "--skip-base-baseline"]
    assert main(argv) == 0
    assert json.loads((out / "metrics.json").read_text())["calibrated"] is True
    assert "adapters/calibrated/calibration.json shifts the category scores" in capsys.readouterr().err


def test_rows_go_to_review_by_the_adapters_own_rule(fake_inference, eval_csv, tmp_path):
    out = tmp_path / "out"
    argv = ["--data", str(eval_csv), "--out", str(out), "--skip-base-baseline", "--train", str(tmp_path / "none.csv")]
    assert main([*argv, "--adapter", "adapters/strict"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["review_rule"]["confidence"] == 0.85 and metrics["config"]["check_weight"] == 0.0
    with (out / "predictions.csv").open(newline="", encoding="utf-8") as handle:
        review = {row["body"]: row["needs_review"] == "True" for row in csv.DictReader(handle)}
    # 0.9 (the password row) passes the strict rule, 0.8 (cancel) and 0.5 (the rest) do not
    assert [body for body, flagged in review.items() if not flagged] == [ROWS[1][2]]
    assert main([*argv, "--adapter", "adapters/shipped"]) == 0  # the default rule passes 0.8 and flags 0.5
    with (out / "predictions.csv").open(newline="", encoding="utf-8") as handle:
        assert sum(row["needs_review"] == "False" for row in csv.DictReader(handle)) == 3


def test_limit_and_skip_base_baseline(fake_inference, eval_csv, tmp_path):
    out = tmp_path / "out"
    argv = ["--data", str(eval_csv), "--out", str(out), "--adapter", "none", "--base-model", "some/model"]
    missing_train = tmp_path / "no-train.csv"
    assert main([*argv, "--limit", "2", "--skip-base-baseline", "--train", str(missing_train)]) == 0
    assert fake_inference.calls == [("some/model", None)]  # one load: the base baseline is skipped
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n"] == 2
    assert metrics["baselines"] == {"base_model": None, "tfidf_logreg": None}
    assert metrics["config"]["limit"] == 2
    assert not (out / "base_predictions.csv").exists()


def test_missing_column_is_a_clear_error(tmp_path, capsys):
    path = write_csv(tmp_path / "bad.csv", [row[:4] for row in ROWS], columns=COLUMNS[:4], dates=False)
    assert main(["--data", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "bad.csv lacks the column(s) username, booking_id. A labelled CSV needs sender, subject, body" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_missing_file_is_a_clear_error(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "out")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_unknown_gold_category_is_a_clear_error(tmp_path, capsys):
    rows = [(*ROWS[0][:3], "refund", "", "")]
    path = write_csv(tmp_path / "bad.csv", rows, dates=False)
    assert main(["--data", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "unknown categories ['refund']" in capsys.readouterr().err


def test_date_parsing():
    assert evaluate.parse_date("Sat, 01 Mar 2025 10:00:00 +0100").day == 1
    assert evaluate.parse_date("2025-03-02").month == 3
    assert evaluate.parse_date("") is None
    assert evaluate.parse_date("someday") is None


def test_empty_adapter_means_none():
    assert evaluate.resolve_adapter("") is None
    assert evaluate.resolve_adapter("none") is None
    assert evaluate.resolve_adapter("runs/adapter") == "runs/adapter"


def test_second_requests_record_a_second_accounts_login(eval_csv, tmp_path, monkeypatch):
    """``--second-requests`` writes what model/second_request.py found, a second new account's
    login included (it is what the split ticket would create)."""
    from model import second_request as module

    def found(triager, email, result):
        if "Tom Berg" in email.body:
            return module.SecondRequest("add_user", None, "and my son, username tk_2009", 0.93, username="tk_2009")
        return None

    monkeypatch.setattr(module, "second_request", found)
    rows = evaluate.load_rows(eval_csv)
    _, _, seconds, _ = evaluate.triage_rows(KeywordTriager("adapters/shipped"), rows, tmp_path / "p.csv",
                                            second_requests=True)
    with (tmp_path / "p.csv").open(newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert [(r["pred_second_category"], r["pred_second_username"]) for r in written] == \
        [("add_user", "tk_2009")] + [("", "")] * 5
    assert seconds[0] == ("add_user", "")
