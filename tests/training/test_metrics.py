"""Hand-computed cases for training/metrics.py."""

from types import SimpleNamespace

import pytest

from model.schema import CATEGORIES, TriageResult
from training.metrics import (
    category_metrics,
    compute_metrics,
    field_exact,
    field_exact_when_stated,
    field_stated_when_absent,
    is_json_valid,
    is_schema_valid,
    latency_stats,
)


def gold(category: str, username: str = "", booking_id: str = "") -> dict:
    return {"category": category, "username": username, "booking_id": booking_id}


def test_accuracy_and_macro_f1_by_hand():
    truth = ["add_user", "add_user", "reset_password", "other"]
    predicted = ["add_user", "reset_password", "reset_password", "other"]
    metrics = category_metrics(truth, predicted)
    assert metrics["category_accuracy"] == pytest.approx(3 / 4)
    # add_user: P=1, R=1/2, F1=2/3; reset_password: P=1/2, R=1, F1=2/3; other: F1=1.
    per = metrics["per_category"]
    assert per["add_user"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert per["reset_password"]["precision"] == pytest.approx(0.5)
    assert per["reset_password"]["recall"] == pytest.approx(1.0)
    assert per["other"]["f1"] == pytest.approx(1.0)
    # Categories absent from both gold and predictions are not averaged in.
    assert per["cancel_booking"]["support"] == 0
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_confusion_matrix_rows_are_gold_columns_predicted():
    metrics = category_metrics(["add_user", "add_user", "other"], ["other", "other", "other"])
    matrix = metrics["confusion_matrix"]
    assert matrix["labels"] == list(CATEGORIES)
    add_user, other = CATEGORIES.index("add_user"), CATEGORIES.index("other")
    assert matrix["matrix"][add_user][other] == 2  # gold add_user, predicted other
    assert matrix["matrix"][other][add_user] == 0
    assert matrix["matrix"][other][other] == 1
    assert sum(map(sum, matrix["matrix"])) == 3


def test_field_exact_strips_and_treats_empty_as_null():
    truth = ["bob", "", "  alice ", None, "carol"]
    predicted = [" bob", None, "alice", "", "Carol"]
    assert field_exact(truth, predicted) == pytest.approx(4 / 5)  # only the case differs in the last
    # Only rows where gold states a value: bob, alice, carol.
    assert field_exact_when_stated(truth, predicted) == pytest.approx(2 / 3)
    assert field_exact_when_stated(["", None], ["x", None]) is None


def test_a_field_stated_where_the_mail_states_none_is_counted_over_those_rows_only():
    truth = ["bob", "", None, "  ", "carol"]
    predicted = ["x", "for", None, " ", None]
    assert field_stated_when_absent(truth, predicted) == pytest.approx(1 / 3)  # "for"; not bob's or carol's rows
    assert field_stated_when_absent(["bob"], ["bob"]) is None


def test_member_fields_are_scored_where_the_data_labels_them_and_left_out_where_it_does_not():
    rows = [{**gold("add_user"), "member_name": "Alfie Burton", "member_email": ""}, {**gold("other"), "member_name": ""}]
    predictions = [TriageResult("add_user", member_name="Alfie"), TriageResult("other", member_name="add_user")]
    metrics = compute_metrics(rows, predictions)
    assert metrics["member_name_exact_when_stated"] == 0.0 and metrics["member_name_stated_when_absent"] == 1.0
    assert metrics["member_email_exact"] == 1.0  # one row labels none, the other lacks the column: neither is stated
    unlabelled = compute_metrics([gold("add_user")], [TriageResult("add_user", member_name="Alfie")])
    assert unlabelled["member_name_exact"] is None and unlabelled["member_name_stated_when_absent"] is None


def test_booking_id_compared_as_written():
    rows = [gold("cancel_booking", booking_id="BK-12345"), gold("cancel_booking", booking_id="12345")]
    predictions = [
        TriageResult("cancel_booking", booking_id="BK-12345"),
        TriageResult("cancel_booking", booking_id="BK-12345"),
    ]
    # No normalisation of gold: "12345" does not match "BK-12345".
    assert compute_metrics(rows, predictions)["booking_id_exact"] == pytest.approx(0.5)


def test_invented_categories_are_counted_and_wrong():
    rows = [gold("add_user"), gold("other"), gold("other")]
    predictions = [
        SimpleNamespace(category="add_user", valid=True, problems=[], username=None, booking_id=None),
        SimpleNamespace(category="refund", valid=True, problems=[], username=None, booking_id=None),
        {"category": "spam", "valid": True, "problems": []},
    ]
    metrics = compute_metrics(rows, predictions)
    assert metrics["invented_categories"] == 2
    assert metrics["category_accuracy"] == pytest.approx(1 / 3)
    assert metrics["per_category"]["other"]["recall"] == 0.0


def test_invented_categories_zero_for_valid_predictions():
    rows = [gold(c) for c in CATEGORIES]
    metrics = compute_metrics(rows, [TriageResult(c) for c in CATEGORIES])
    assert metrics["invented_categories"] == 0
    assert metrics["category_accuracy"] == 1.0
    assert metrics["macro_f1"] == 1.0


def test_json_and_schema_validity():
    parsed_ok = TriageResult("other")
    bad_json = TriageResult("other", valid=False, problems=["answer is not valid JSON (Expecting value)"])
    not_object = TriageResult("other", valid=False, problems=["answer is not a JSON object"])
    bad_field = TriageResult("other", valid=False, problems=["username is not a string"])
    flagged_but_valid = TriageResult("other", problems=["new_date could not be resolved"])
    predictions = [parsed_ok, bad_json, not_object, bad_field, flagged_but_valid]
    assert [is_json_valid(p) for p in predictions] == [True, False, False, True, True]
    assert [is_schema_valid(p) for p in predictions] == [True, False, False, False, True]
    metrics = compute_metrics([gold("other")] * 5, predictions)
    assert metrics["json_valid_rate"] == pytest.approx(3 / 5)
    assert metrics["schema_valid_rate"] == pytest.approx(2 / 5)


def test_latency_percentiles():
    # numpy's linear interpolation: p95 of 1..10 is 1 + 0.95 * 9 = 9.55.
    stats = latency_stats([float(x) for x in range(10, 0, -1)])
    assert stats["latency_median_s"] == pytest.approx(5.5)
    assert stats["latency_p95_s"] == pytest.approx(9.55)
    assert latency_stats([]) == {"latency_median_s": None, "latency_p95_s": None}
    assert latency_stats([0.2]) == {"latency_median_s": 0.2, "latency_p95_s": 0.2}


def test_compute_metrics_shape_and_length_checks():
    metrics = compute_metrics([gold("other")], [TriageResult("other")], [0.1])
    assert metrics["n"] == 1
    assert metrics["latency_median_s"] == pytest.approx(0.1)
    with pytest.raises(ValueError):
        compute_metrics([gold("other")], [])
    with pytest.raises(ValueError):
        compute_metrics([gold("other")], [TriageResult("other")], [0.1, 0.2])


def test_empty_input_gives_undefined_rates():
    metrics = compute_metrics([], [], [])
    assert metrics["n"] == 0
    assert metrics["category_accuracy"] is None
    assert metrics["macro_f1"] is None
    assert metrics["json_valid_rate"] is None


def test_ready_metrics_count_only_the_rows_not_sent_to_review():
    from training.metrics import ready_metrics

    gold_ = ["other", "other", "add_user", "add_user"]
    predicted = ["other", "add_user", "add_user", "other"]
    metrics = ready_metrics(gold_, predicted, [False, True, False, False])
    assert metrics == {"ready_coverage": 0.75, "ready_accuracy": pytest.approx(2 / 3), "ready_errors": 1}
    assert ready_metrics(gold_, predicted, [True] * 4)["ready_accuracy"] is None


def test_risk_coverage_keeps_the_most_confident_first_and_never_splits_ties():
    from training.metrics import risk_coverage

    curve = risk_coverage(["a", "a", "a", "a"], ["a", "b", "a", "a"], [0.9, 0.5, 0.9, 0.7])
    assert [(p["coverage"], p["accuracy"], p["threshold"]) for p in curve] == [
        (0.5, 1.0, 0.9), (0.75, 1.0, 0.7), (1.0, 0.75, 0.5)]


def test_compute_metrics_adds_ready_metrics_and_the_curve():
    predictions = [TriageResult("other", confidence=0.9), TriageResult("add_user", confidence=0.4)]
    metrics = compute_metrics([gold("other"), gold("other")], predictions, needs_review=[False, True])
    assert (metrics["ready_accuracy"], metrics["ready_coverage"]) == (1.0, 0.5)
    assert metrics["risk_coverage"][-1] == {"coverage": 1.0, "accuracy": 0.5, "threshold": 0.4}


def test_second_requests_are_scored_by_category_and_their_stated_ids():
    from training.metrics import second_request_metrics

    rows = [{"second_category": "cancel_booking", "second_booking_id": "BK-12345"},
            {"second_category": "", "second_booking_id": ""},
            {"second_category": "reset_password", "second_booking_id": ""}]
    metrics = second_request_metrics(rows, [("cancel_booking", "BK-12345"), ("modify_booking", ""), ("", "")],
                                     [0.1, 0.2, 0.3])
    assert metrics["second_request_precision"] == 0.5 and metrics["second_request_recall"] == 0.5
    assert metrics["second_request_booking_id_exact_when_stated"] == 1.0
    assert metrics["second_request_ms_median"] == pytest.approx(200.0)


def test_a_second_request_is_also_scored_as_the_mails_pair_whichever_request_the_triage_took_first():
    from training.metrics import second_request_metrics

    rows = [{"category": "reset_password", "second_category": "cancel_booking", "second_booking_id": ""},
            {"category": "modify_booking", "second_category": "reset_password", "second_booking_id": ""},
            {"category": "cancel_booking", "second_category": "add_user", "second_booking_id": ""},
            {"category": "other", "second_category": "", "second_booking_id": ""}]
    found = [("reset_password", ""),    # the triage took the cancellation: the labelled first is the second
             ("reset_password", ""),    # as labelled
             ("modify_booking", ""),    # neither the mail's other request
             ("cancel_booking", "")]    # a request the mail does not make
    firsts = ["cancel_booking", "modify_booking", "cancel_booking", "other"]
    metrics = second_request_metrics(rows, found, [0.1] * 4, firsts)
    assert (metrics["second_request_precision"], metrics["second_request_recall"]) == (0.25, 1 / 3)
    assert (metrics["second_request_pair_precision"], metrics["second_request_pair_recall"]) == (0.5, 2 / 3)
    assert "second_request_pair_precision" not in second_request_metrics(rows, found, [0.1] * 4)
