from datetime import UTC, datetime

import pytest

from model.dates import resolve_date, resolve_time

WEDNESDAY = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("next Saturday", "2026-11-28"),
    ("Saturday", "2026-11-28"),
    ("nächsten Samstag", "2026-11-28"),
    ("samedi prochain", "2026-11-28"),
    ("el próximo sábado", "2026-11-28"),
    ("tomorrow", "2026-11-26"),
    ("14.06.", "2027-06-14"),
    ("3 December", "2026-12-03"),
    ("whenever suits", None),
    (None, None),
])
def test_dates_resolve_against_the_emails_date(text, expected):
    assert resolve_date(text, WEDNESDAY) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("10am", "10:00"), ("6:30pm", "18:30"), ("18:30", "18:30"), ("18 Uhr", "18:00"), ("18h30", "18:30"),
    ("soon", None),
])
def test_times_become_hh_mm(text, expected):
    assert resolve_time(text) == expected


def test_a_bare_hour_is_that_hour_not_midnight():
    assert [resolve_time(text) for text in ("11", "8", "12", "25")] == ["11:00", "08:00", "12:00", None]


@pytest.mark.parametrize("text", ["14.06.", "next Saturday", "tomorrow", "the weekend"])
def test_a_date_header_at_the_end_of_the_calendar_resolves_to_nothing_instead_of_raising(text):
    year_9999 = datetime.fromisoformat("9999-12-31T23:59:59-12:00")
    assert resolve_date(text, year_9999) is None
