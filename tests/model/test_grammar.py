import pytest

from model.grammar import Shape, answer_shape


@pytest.mark.parametrize("text", [
    "other", 'other"', 'other","res', 'other","response":"Hi \\n x', 'cancel_booking","booking_id":"BK-1',
    'cancel_booking","booking_id":"BK-1","response":"x\\u00', 'add_user","username":"tk_2009","member_name":"Tom',
])
def test_prefixes_that_can_still_become_an_answer_are_open(text):
    assert answer_shape(text) is Shape.OPEN


def test_the_closing_brace_after_the_response_is_done():
    assert answer_shape('other","response":"Hi Anna"}') is Shape.DONE


@pytest.mark.parametrize("text", [
    "refund", "other is", 'other","response":"Hi"}x', 'add_user","username":"aloka.SYSTEM":"',  # a value ended mid-key
    'add_user","username":"a","username":"',  # a key twice
    'add_user","member_name":"a","username":"',  # keys out of order
    'other","booking_id":"1"}',  # no response
    'other","response":"a\\q', 'other","response":"a\\u12x', 'other","response":"line\nbreak',
    'other","comment":"',
])
def test_prefixes_no_continuation_can_repair_are_broken(text):
    assert answer_shape(text) is Shape.BROKEN
