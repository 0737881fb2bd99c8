import json

import pytest

from model.schema import CATEGORIES, TriageResult, answer_json, normalize_booking_id, parse_answer


@pytest.mark.parametrize(("raw", "expected"), [
    ("#BK73911", "BK-73911"),
    ("bk 30917", "BK-30917"),
    ("BK-48213", "BK-48213"),
    ("48213", "BK-48213"),
    ("R-2291", "R-2291"),
    ("", None),
    (None, None),
])
def test_booking_ids_are_normalised_only_when_they_clearly_are_club_ids(raw, expected):
    assert normalize_booking_id(raw) == expected


def test_answer_json_orders_keys_and_omits_unstated_fields():
    text = answer_json({"response": "Hi", "booking_id": "BK-12345", "username": "", "category": "cancel_booking"})
    assert text == '{"category":"cancel_booking","booking_id":"BK-12345","response":"Hi"}'


def test_answer_json_rejects_invented_categories_and_unknown_fields():
    with pytest.raises(ValueError):
        answer_json({"category": "create_account", "response": ""})
    with pytest.raises(ValueError):
        answer_json({"category": "other", "password": "x", "response": ""})


def test_result_rejects_a_category_outside_the_five():
    with pytest.raises(ValueError):
        TriageResult(category="delete_account")
    assert set(CATEGORIES) == {"add_user", "reset_password", "cancel_booking", "modify_booking", "other"}


def test_parse_answer_keeps_valid_fields_and_normalises_booking_id():
    fields, problems = parse_answer("cancel_booking", json.dumps(
        {"category": "cancel_booking", "booking_id": "bk 12345", "response": "Done"}))
    assert problems == []
    assert fields == {"category": "cancel_booking", "booking_id": "BK-12345", "response": "Done"}


@pytest.mark.parametrize("text", ['{"category":"other","response":"unterminated', "[1, 2]", ""])
def test_parse_answer_never_raises_on_malformed_output(text):
    fields, problems = parse_answer("other", text)
    assert fields == {"category": "other"}
    assert problems


def test_parse_answer_drops_non_string_fields_with_a_problem():
    fields, problems = parse_answer("add_user", '{"category":"add_user","username":42,"response":"ok"}')
    assert "username" not in fields
    assert any("username" in p for p in problems)
