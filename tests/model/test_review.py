"""The review rule the worker, the inbox and the evaluation share: each reason on its own, and the
thresholds an adapter carries beside its weights (review_rule.json)."""

import json

import pytest

from model.category_check import CHECK_WEIGHT
from model.metadata import DEFAULT_ADAPTER
from model.replies import render_reply
from model.review import (
    DEFAULT_RULE,
    DEFAULT_THRESHOLDS,
    REVIEW_RULE_FILE,
    ReviewRule,
    ReviewThresholds,
    model_review_reasons,
    read_review_rule,
    review_thresholds,
    write_review_rule,
)
from model.schema import TriageResult
from support.records import Ticket
from support.states import State
from support.triage import review_flags


def reasons(result, thresholds=DEFAULT_THRESHOLDS):
    return model_review_reasons(result, thresholds)


def test_a_sure_answer_that_the_check_agrees_with_is_ready():
    assert reasons(TriageResult("cancel_booking", confidence=0.99, category_check=0.9)) == []


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
        assert reasons(result) == [reason]


def test_a_reply_that_adds_a_link_the_clubs_reply_lacks_goes_to_review_in_the_inbox_and_the_evaluation():
    """model_review_reasons decides both the worker's review flag and training.evaluate's needs_review."""
    clubs = render_reply("cancel_booking", {"booking_id": "BK-48213"}, "Anna Berg <anna.berg@example.org>")
    sure = {"confidence": 0.99, "category_check": 0.9, "booking_id": "BK-48213"}
    assert reasons(TriageResult("cancel_booking", **sure, response=clubs)) == []
    added = clubs.replace("\n\n", " Confirm at http://club-verify.example/login\n\n", 1)
    [reason] = reasons(TriageResult("cancel_booking", **sure, response=added))
    assert reason.startswith("the proposed reply says what the club's cancel booking reply does not")
    assert "'http://club-verify.example/login'" in reason


@pytest.mark.parametrize("left", ["[name]", "{booking_id}", "<time>", "XXX", "TODO"])
def test_a_proposal_still_holding_a_placeholder_goes_to_review_in_the_inbox_and_the_evaluation(left):
    """For ``other`` the proposal is the reply the member gets: held to what an operator's edit is."""
    clubs = render_reply("other", {}, "Anna Berg <anna.berg@example.org>")
    sure = {"confidence": 0.99, "category_check": 0.9}
    assert reasons(TriageResult("other", **sure, response=clubs)) == []
    proposal = clubs.replace("shortly.", f"on {left}.")
    assert reasons(TriageResult("other", **sure, response=proposal)) == [f"the proposed reply still holds {left!r}"]
    ticket = Ticket(1, "eml:/inbox", "1.eml", State.TRIAGED, sender="Anna Berg <anna.berg@example.org>")
    assert review_flags(ticket, TriageResult("other", **sure, response=proposal), DEFAULT_THRESHOLDS) == [
        f"the proposed reply still holds {left!r}"]


def test_an_answer_nobody_checked_is_judged_on_the_rest():
    # results from before the check (stored tickets, old predictions files) carry None
    assert reasons(TriageResult("other", confidence=0.99, category_check=None)) == []


def test_the_thresholds_are_bounds_below_which_review_starts():
    at_bounds = TriageResult("other", confidence=DEFAULT_THRESHOLDS.confidence, category_check=DEFAULT_THRESHOLDS.check)
    assert reasons(at_bounds) == []
    assert len(reasons(at_bounds, ReviewThresholds(confidence=1.0, check=1.0))) == 2


def test_the_shipped_adapter_carries_the_rule_chosen_for_it():
    rule = read_review_rule(DEFAULT_ADAPTER)
    assert rule.chosen and "even rows" in rule.chosen["on"]  # chosen on dev's even half, reported on the odd
    assert rule.chosen["reported"]["rows"] == "odd"


def test_an_adapter_without_a_rule_gets_the_defaults_and_says_so(tmp_path):
    assert read_review_rule(tmp_path) == DEFAULT_RULE and read_review_rule(tmp_path).chosen is None
    assert read_review_rule(None) == DEFAULT_RULE and DEFAULT_RULE.check_weight == CHECK_WEIGHT


def test_a_rule_is_written_and_read_back(tmp_path):
    rule = ReviewRule(ReviewThresholds(0.8, 0.1), check_weight=2.0, chosen={"on": "some rows"})
    write_review_rule(tmp_path, rule)
    back = read_review_rule(tmp_path)
    assert back == rule and back.chosen == {"on": "some rows"}
    assert sorted(path.name for path in tmp_path.iterdir()) == [REVIEW_RULE_FILE]  # no partial file left


@pytest.mark.parametrize("field, value", [("confidence", 1.5), ("check", -0.1), ("check_weight", -1.0),
                                          ("check_weight", float("nan"))])
def test_a_rule_out_of_range_is_refused(tmp_path, field, value):
    data = {**DEFAULT_RULE.to_dict(), field: value}
    (tmp_path / REVIEW_RULE_FILE).write_text(json.dumps(data))
    with pytest.raises(ValueError, match=field):
        read_review_rule(tmp_path)


def test_a_triager_is_judged_by_the_rule_it_carries():
    class Carrying:
        review_rule = ReviewRule(ReviewThresholds(0.9, 0.0))

    assert review_thresholds(Carrying()) == ReviewThresholds(0.9, 0.0)
    assert review_thresholds(object()) == DEFAULT_THRESHOLDS  # a stand-in without one: the defaults


@pytest.mark.parametrize("text", ["{", "[]", '{"confidence": 0.5}', '{"confidence": "x", "check": 0, "check_weight": 1}'])
def test_a_file_that_is_not_a_rule_is_refused_by_name(tmp_path, text):
    (tmp_path / REVIEW_RULE_FILE).write_text(text)
    with pytest.raises(ValueError, match="not a review rule"):
        read_review_rule(tmp_path)
