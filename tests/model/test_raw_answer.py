"""The model's answer as decoded travels with the parsed result (the Eval page shows it)."""

from core.mail import Email
from model.inference import build_result
from model.schema import TriageResult

EMAIL = Email("anna@example.org", "Cancel", "Cancel BK-12345")


def test_the_raw_answer_is_the_whole_json_text_even_when_it_does_not_parse():
    answer = 'cancel_booking","booking_id":"bk 12345","response":"Done"}'
    result = build_result(EMAIL, "cancel_booking", 0.9, answer, stopped=True)
    assert result.raw_answer == '{"category":"' + answer
    assert result.booking_id == "BK-12345"  # the parsed fields are still normalised
    broken = build_result(EMAIL, "other", 0.5, 'other","resp', stopped=False)
    assert broken.raw_answer == '{"category":"other","resp' and not broken.valid


def test_results_built_elsewhere_have_an_empty_raw_answer():
    assert TriageResult("other").raw_answer == ""
