"""Category calibration: the fit, the CLI on the tiny model, and inference applying it."""

import json
import math

import pandas as pd
import pytest

from model.calibration import CALIBRATION_FILE, read_category_bias
from model.inference import load_triager
from model.schema import CATEGORIES
from training import calibrate
from training.evaluate import load_rows, row_email


def leaning_to_other(label: str) -> dict[str, float]:
    """A model that knows the answer but puts 'other' 1.5 nats ahead of it."""
    scores = {category: -4.0 for category in CATEGORIES}
    scores[label] = -1.0
    scores["other"] = max(scores["other"], -1.0) + 1.5
    return scores


def test_the_fit_removes_a_lean_towards_other():
    labels = [category for category in CATEGORIES for _ in range(20)]
    scores = [leaning_to_other(label) for label in labels]
    assert calibrate.accuracy(scores, labels, {}) == pytest.approx(0.2)
    bias = calibrate.fit_category_bias(scores, labels)
    assert bias["other"] == 0.0
    assert all(bias[c] > 1.5 for c in CATEGORIES if c != "other")
    assert calibrate.accuracy(scores, labels, bias) == 1.0


def all_modify_booking(rows, folder):
    """The rows relabelled modify_booking: labels a bias can fit, as the untrained model does not
    lean that way."""
    skewed = folder / "all-modify.csv"
    text = rows.read_text()
    for category in CATEGORIES:
        text = text.replace(f",{category},", ",modify_booking,")
    skewed.write_text(text)
    assert {row["category"] for row in load_rows(skewed)} == {"modify_booking"}
    return skewed


def test_the_cli_writes_a_calibration_that_helps_beside_the_adapter(tiny_adapter, tmp_path):
    adapter, rows = tiny_adapter
    triager = load_triager(adapter=adapter)
    before = [triager.category_scores(row_email(row)) for row in load_rows(rows)]
    assert all(math.isclose(sum(math.exp(v) for v in s.values()), 1.0, rel_tol=1e-4) for s in before)
    skewed = all_modify_booking(rows, tmp_path)

    assert calibrate.main(["--adapter", str(adapter), "--data", str(skewed), "--check", str(skewed)]) == 0
    saved = json.loads((adapter / CALIBRATION_FILE).read_text())
    assert saved["rows"] == 10 and saved["fitted_on"] == str(skewed) and saved["kept"]
    assert saved["accuracy_after"] == 1.0 > saved["accuracy_before"]
    check = saved["checks"][str(skewed)]  # the same rows again: the same effect
    assert (check["accuracy_before"], check["accuracy_after"]) == (saved["accuracy_before"], saved["accuracy_after"])
    assert read_category_bias(adapter) == saved["category_bias"]


def test_report_only_measures_and_leaves_the_adapter_as_it_is(tiny_adapter, tmp_path, capsys):
    adapter, rows = tiny_adapter
    earlier = json.dumps({"category_bias": {"other": 0.0}})
    (adapter / CALIBRATION_FILE).write_text(earlier)
    skewed = all_modify_booking(rows, tmp_path)
    assert calibrate.main(["--adapter", str(adapter), "--data", str(skewed), "--report-only"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy_after"] == 1.0 > report["accuracy_before"] and report["kept"]
    assert (adapter / CALIBRATION_FILE).read_text() == earlier  # neither replaced nor removed


def test_inference_follows_the_calibration(tiny_adapter):
    adapter, rows = tiny_adapter
    email = row_email(load_rows(rows)[0])
    (adapter / CALIBRATION_FILE).write_text(json.dumps({"category_bias": {"modify_booking": 50.0}}))
    triager = load_triager(adapter=adapter)
    for result in (triager.triage(email), triager.triage_many([email], batched=True)[0]):
        assert result.category == "modify_booking" and result.confidence > 0.99
    triager.use_adapter(None)  # the plain base has no calibration
    assert triager.first_token_bias == {}
    (adapter / CALIBRATION_FILE).write_text(json.dumps({"category_bias": {"refund": 1.0}}))
    with pytest.raises(ValueError, match="refund"):
        read_category_bias(adapter)


def test_the_review_thresholds_are_chosen_on_one_half_of_the_rows_only(tmp_path):
    from training.calibrate import choose_review_thresholds

    rows = []  # even rows: wrong below 0.8; odd rows (never read): wrong everywhere
    for index, confidence in enumerate([0.99, 0.1, 0.95, 0.1, 0.7, 0.1, 0.9, 0.1, 0.5, 0.1]):
        wrong = index % 2 == 1 or confidence < 0.8
        rows.append({"category": "other", "pred_category": "add_user" if wrong else "other",
                     "confidence": confidence, "valid": "True", "problems": "", "category_without_quote": ""})
    path = tmp_path / "predictions.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    report = choose_review_thresholds(path, rows="even", target=0.99, min_coverage=0.5)
    assert report["n"] == 5 and report["reached_target"]
    assert report["chosen"]["confidence"] == 0.9 and report["chosen"]["ready_coverage"] == 0.6
    assert report["chosen"]["check"] == 0.0  # a file from before the check: nothing for it to decide
    assert report["reported"]["rows"] == "odd" and report["reported"]["ready_coverage"] == 0.0
    fallback = choose_review_thresholds(path, rows="even", target=1.01, min_coverage=0.5)
    assert not fallback["reached_target"] and fallback["chosen"]["ready_coverage"] >= 0.5


def test_the_check_threshold_is_chosen_where_confidence_alone_cannot_separate(tmp_path):
    from training.calibrate import choose_review_thresholds

    rows = []  # every answer sure of itself; the wrong ones are those the check gives little
    for index in range(20):
        wrong = index % 4 == 0
        rows.append({"category": "other", "pred_category": "add_user" if wrong else "other",
                     "confidence": 0.99, "valid": "True", "problems": "", "category_without_quote": "",
                     "category_check": 0.03 if wrong else 0.6})
    path = tmp_path / "predictions.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    report = choose_review_thresholds(path, rows="all", target=0.99, min_coverage=0.5)
    assert report["reached_target"] and report["chosen"]["ready_coverage"] == 0.75
    assert 0.03 < report["chosen"]["check"] <= 0.6 and report["chosen"]["confidence"] == 0.0


def test_a_pair_that_reaches_the_target_only_by_reviewing_almost_everything_does_not_count(tmp_path):
    from training.calibrate import choose_review_thresholds

    rows = []  # only the single surest answer is right: 1.000 ready accuracy at 10% coverage
    for index in range(10):
        rows.append({"category": "other", "pred_category": "other" if index == 0 or index > 5 else "add_user",
                     "confidence": 1.0 if index == 0 else 0.9 - index / 100, "valid": "True", "problems": "",
                     "category_without_quote": "", "category_check": 0.5})
    path = tmp_path / "predictions.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    report = choose_review_thresholds(path, rows="all", target=0.99, min_coverage=0.85)
    assert not report["reached_target"]
    assert report["chosen"]["ready_coverage"] >= 0.85
