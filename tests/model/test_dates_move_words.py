"""A day the mail names must resolve to a day it can mean: never one already gone, never one whose
weekday the mail contradicts, never one counted from a Date header later than the mail's arrival."""

from datetime import UTC, datetime, timedelta

import pytest

from model.dates import resolve_date

THURSDAY_30_JANUARY = datetime(2025, 1, 30, 14, 24, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("the 15th", "2025-02-15"),   # handwritten.csv: "something came up on the 14th ... move my court to the 15th"
    ("15th", "2025-02-15"),
    ("the 30th", "2025-01-30"),   # today is no day gone
    ("the 31st", "2025-01-31"),
    ("Saturday the 15th", "2025-02-15"),
])
def test_a_day_of_the_month_alone_is_the_next_one_not_one_gone(text, expected):
    assert resolve_date(text, THURSDAY_30_JANUARY) == expected


@pytest.mark.parametrize(("text", "reference"), [
    ("Sunday the 15th", THURSDAY_30_JANUARY),                   # the next 15th is a Saturday
    ("Friday 14 June", datetime(2024, 8, 9, tzinfo=UTC)),      # handwritten.csv: 14 June 2025 is a Saturday
    ("Tue 9 Jul", datetime(2024, 8, 17, tzinfo=UTC)),          # 9 July 2025 is a Wednesday
    ("dimanche 14 juin", datetime(2024, 8, 9, tzinfo=UTC)),
])
def test_a_weekday_that_contradicts_the_date_resolves_to_nothing(text, reference):
    """Which of the two the member meant, only they know: the ticket goes to review ("could not
    resolve new_date ..."), and the operator types the date."""
    assert resolve_date(text, reference) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("Saturday 14 June", "2025-06-14"), ("Sat 14 Jun", "2025-06-14"), ("samedi 14 juin", "2025-06-14"),
    ("Samstag, 14.06.", "2025-06-14"), ("sábado 14 de junio", "2025-06-14"),
])
def test_a_weekday_that_agrees_with_the_date_resolves(text, expected):
    """Guard."""
    assert resolve_date(text, datetime(2024, 8, 9, tzinfo=UTC)) == expected


@pytest.mark.parametrize("text", ["tomorrow", "next Saturday", "14.06.", "the 15th"])
def test_a_date_header_half_a_year_ahead_resolves_nothing(text):
    """It put "tomorrow" half a year ahead, and the move ran unseen; now the ticket goes to review."""
    assert resolve_date(text, datetime.now(UTC) + timedelta(days=180)) is None


def test_a_date_header_a_few_hours_ahead_counts_as_now():
    """Guard: a sender's clock running fast; "tomorrow" is the day after today, counted from now."""
    fast = datetime.now(UTC) + timedelta(hours=3)
    assert resolve_date("tomorrow", fast) == (datetime.now(UTC) + timedelta(days=1)).date().isoformat()


@pytest.mark.parametrize(("text", "expected"), [
    ("den 17.10.", "2025-10-17"), ("den 8. Juni", "2025-06-08"), ("am 15.", "2025-02-15"),
    ("Montag, den 27. Oktober", "2025-10-27"),
])
def test_a_german_date_after_den_or_am_resolves(text, expected):
    """train.csv's "den 17.10." and "den 8. Juni" resolved to nothing."""
    assert resolve_date(text, THURSDAY_30_JANUARY) == expected
