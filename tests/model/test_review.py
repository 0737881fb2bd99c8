"""The review rule the worker, the inbox and the evaluation share: each reason on its own."""

from model.review import SHIPPED, ReviewThresholds, model_review_reasons
from model.schema import TriageResult


def test_a_sure_answer_that_the_check_agrees_with_is_ready():
    assert model_review_reasons(TriageResult("cancel_booking", confidence=0.99, category_check=0.9)) == []


def test_each_reason_alone_sends_the_answer_to_review():
    sure = {"confidence": 0.99, "category_check": 0.9}
    cases = {
        "model answer was malformed": TriageResult("other", **sure, valid=False),
        "low confidence (50%)": TriageResult("other", **{**sure, "confidence": 0.5}),
        "the category check doubts add_user (3%)": TriageResult("add_user", **{**sure, "category_check": 0.03}),
        "the quoted part decides the category (without it: other)":
            TriageResult("cancel_booking", **sure, category_without_quote="other"),
        "answer was cut off": TriageResult("other", **sure, problems=["answer was cut off"]),
    }
    for reason, result in cases.items():
        assert model_review_reasons(result) == [reason]


def test_an_answer_nobody_checked_is_judged_on_the_rest():
    # results from before the check (stored tickets, old predictions files) carry None
    assert model_review_reasons(TriageResult("other", confidence=0.99, category_check=None)) == []


def test_the_thresholds_are_bounds_below_which_review_starts():
    at_bounds = TriageResult("other", confidence=SHIPPED.confidence, category_check=SHIPPED.check)
    assert model_review_reasons(at_bounds) == []
    assert len(model_review_reasons(at_bounds, ReviewThresholds(confidence=1.0, check=1.0))) == 2
