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
