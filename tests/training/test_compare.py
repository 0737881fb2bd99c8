"""Tables over evaluation results: one run's scores, its mistakes, two runs side by side."""

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.schema import CATEGORIES
from training.compare import (
    compare_metrics,
    comparison_warnings,
    confusion_frame,
    metrics_table,
    per_category_table,
    risk_coverage_frame,
    wrong_predictions,
)


def metrics(accuracy, latency=1.0, data="test.csv", n=4, baseline=None):
    matrix = [[0] * 5 for _ in CATEGORIES]
    matrix[0][0], matrix[4][2] = 3, 1
    return {
        "n": n, "category_accuracy": accuracy, "macro_f1": accuracy / 2, "latency_median_s": latency,
        "invented_categories": 0, "config": {"data": data},
        "per_category": {name: {"precision": 1.0, "recall": 0.5, "f1": 0.5 + i / 10, "support": i}
                         for i, name in enumerate(CATEGORIES)},
        "confusion_matrix": {"labels": list(CATEGORIES), "matrix": matrix},
        "baselines": {"base_model": None, "tfidf_logreg": baseline},
    }


def test_metrics_table_keeps_counts_whole_and_adds_the_baseline_where_scored():
    table = metrics_table(metrics(0.75, baseline={"category_accuracy": 0.9, "macro_f1": 0.8}))
    assert list(table.columns) == ["metric", "model", "TF-IDF baseline"]
    rows = table.set_index("metric")
    assert rows.loc["Category accuracy"].tolist() == [0.75, 0.9]
    assert rows.loc["Rows", "model"] == 4 and isinstance(rows.loc["Rows", "model"], int)
    assert rows.loc["Username exact", "model"] is None
    assert "TF-IDF baseline" not in metrics_table(metrics(0.75)).columns


def test_per_category_table_and_confusion_in_long_form():
    assert per_category_table(metrics(0.5))["category"].tolist() == list(CATEGORIES)
    cells = confusion_frame(metrics(0.5))
    assert len(cells) == 25 and cells["count"].sum() == 4
    assert cells[(cells.gold == "other") & (cells.predicted == "cancel_booking")]["count"].item() == 1
    assert confusion_frame({}).empty


def test_wrong_predictions_name_what_was_wrong():
    predictions = pd.DataFrame([
        {"category": "cancel_booking", "pred_category": "cancel_booking", "username": "", "pred_username": "",
         "booking_id": "BK-1", "pred_booking_id": " BK-1 ", "subject": "right", "body": "", "confidence": "0.9"},
        {"category": "other", "pred_category": "add_user", "username": "", "pred_username": "anna",
         "booking_id": "", "pred_booking_id": "", "subject": "two mistakes", "body": "", "confidence": "0.4"},
        {"category": "reset_password", "pred_category": "reset_password", "username": "tk", "pred_username": "",
         "booking_id": "", "pred_booking_id": "", "subject": "missed field", "body": "", "confidence": "0.8"},
    ])
    wrong = wrong_predictions(predictions)
    assert wrong["subject"].tolist() == ["two mistakes", "missed field"]
    assert wrong["wrong"].tolist() == ["category, username", "username"]
    assert list(wrong.columns[:3]) == ["wrong", "category", "pred_category"]
    assert wrong_predictions(pd.DataFrame()).empty


def test_compare_says_which_run_is_better_for_each_metric():
    table = compare_metrics(metrics(0.5, latency=2.0), metrics(0.75, latency=1.0)).set_index("metric")
    assert table.loc["Category accuracy"].tolist() == [0.5, 0.75, 0.25, "second"]
    assert table.loc["Latency median (s)", "better"] == "second"  # lower is better
    assert table.loc["Rows", "better"] == "" and table.loc["Rows", "change"] == 0
    assert table.loc["Username exact"].tolist() == [None, None, None, ""]
    assert table.loc["F1 other", "first"] == pytest.approx(0.9)
    worse = compare_metrics(metrics(0.75), metrics(0.5)).set_index("metric")
    assert worse.loc["Category accuracy", "better"] == "first"


def test_comparison_warns_about_different_data():
    assert comparison_warnings(metrics(0.5), metrics(0.6)) == []
    warnings = comparison_warnings(metrics(0.5), metrics(0.6, data="other.csv", n=9))
    assert warnings == ["different data: test.csv and other.csv", "different numbers of rows: 4 and 9"]


def test_risk_coverage_frame_has_the_curve_and_the_review_rules_point():
    from training.compare import risk_coverage_frame

    frame = risk_coverage_frame({"risk_coverage": [{"coverage": 0.5, "accuracy": 1.0, "threshold": 0.9}],
                                 "ready_coverage": 0.4, "ready_accuracy": 1.0})
    assert list(frame["kind"]) == ["by confidence", "review rule"]
    assert risk_coverage_frame({}).empty


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20)
METRIC_KEYS = ["n", "category_accuracy", "macro_f1", "latency_median_s", "config", "per_category", "confusion_matrix",
               "baselines", "risk_coverage", "ready_coverage", "ready_accuracy"]


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(METRIC_KEYS), JSON, max_size=len(METRIC_KEYS)), st.data())
def test_any_metrics_file_shows_as_tables_never_a_traceback(damaged, data):
    """metrics.json as whatever a hand, another version or a crash left: every table is built."""
    # each part also as the right shape around wrong values, which random JSON rarely reaches
    damaged.update(data.draw(st.fixed_dictionaries({}, optional={
        "per_category": st.dictionaries(st.sampled_from(CATEGORIES), JSON),
        "confusion_matrix": st.fixed_dictionaries({"labels": JSON, "matrix": st.lists(st.lists(JSON))}),
        "baselines": st.fixed_dictionaries({"tfidf_logreg": JSON}),
        "risk_coverage": st.lists(st.dictionaries(st.sampled_from(["coverage", "accuracy", "threshold"]), JSON)),
    })))
    for table in (metrics_table(damaged), per_category_table(damaged), confusion_frame(damaged),
                  risk_coverage_frame(damaged), compare_metrics(metrics(0.5), damaged)):
        assert isinstance(table, pd.DataFrame)
    comparison_warnings(damaged, metrics(0.5))


def test_scores_that_are_no_finite_number_show_as_none():
    # n beyond every float: subtracting a float from it overflows
    damaged = {**metrics(0.5), "macro_f1": "0.9", "n": 10**400, "latency_median_s": math.nan,
               "category_accuracy": 1e308}
    rows = compare_metrics(metrics(-1e308), damaged).set_index("metric")
    assert rows.loc["Macro-F1", "second"] is None and rows.loc["Macro-F1", "better"] == ""
    assert rows.loc["Latency median (s)", "second"] is None and rows.loc["Rows", "second"] is None
    assert rows.loc["Category accuracy", "change"] is None  # 1e308 - -1e308 is no finite number
    assert metrics_table(damaged).set_index("metric").loc["Macro-F1", "model"] is None


def test_a_confusion_matrix_that_is_not_a_square_of_counts_is_left_out():
    for matrix in ({"labels": ["other", "add_user"], "matrix": [[1]]}, {"labels": ["other"], "matrix": [["a"]]},
                   {"labels": ["other"], "matrix": [[-1]]}, [1], {"labels": [["x"]], "matrix": [[1]]}):
        assert confusion_frame({"confusion_matrix": matrix}).empty
