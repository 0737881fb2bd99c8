"""The club API client against the real stand-in server (a subprocess, real HTTP).

Faults are injected by the server itself (``club_backend.inject_fault``), so retries meet
real 500s, real dropped connections and real slow answers.
"""

from __future__ import annotations

import threading
import time
from datetime import date, datetime, timedelta

import pytest
import requests

from integrations.club_api import (
    AuthError,
    Booking,
    ClubApi,
    ClubApiError,
    ClubApiUnavailable,
    Conflict,
    InvalidRequest,
    Invitation,
    Member,
    NotFound,
    ResetResult,
)
from tests.fixtures import free_port

FAST_TIMEOUT = 0.5
SLOW_ANSWER = 1.5  # seconds an injected timeout waits: well past FAST_TIMEOUT


def next_morning_after(booking: Booking, hour: int = 9) -> datetime:
    return datetime.combine(booking.start.date() + timedelta(days=1), datetime.min.time()).replace(hour=hour)


# Operations


def test_health(club_backend):
    assert club_backend.api().health() is True
    assert ClubApi(f"http://127.0.0.1:{free_port()}", "t", retries=0).health() is False


def test_find_member(club_backend):
    api = club_backend.api()
    anna = Member("anna.berg", "Anna Berg", "anna.berg@example.org", "active")
    assert api.find_member(username="anna.berg") == anna
    assert api.find_member(email="ANNA.BERG@example.org") == anna
    assert api.find_member(username="nobody") is None
    assert api.find_member(email="nobody@example.org") is None
    with pytest.raises(ValueError):
        api.find_member()


def test_bookings(club_backend):
    api = club_backend.api()
    [booking] = api.member_bookings("lena.fischer")
    assert (booking.booking_id, booking.court, booking.end - booking.start) == ("BK-90316", "Court 6",
                                                                                timedelta(hours=2))
    assert api.booking("BK-90316") == booking
    assert api.booking("BK-00000") is None
    with pytest.raises(NotFound) as raised:
        api.member_bookings("nobody")
    assert (raised.value.code, raised.value.status) == ("member_not_found", 404)


def test_invite_member(club_backend):
    invitation = club_backend.api().invite_member("tk_2009", "Tim Keller", "tim.keller@example.org",
                                                  idempotency_key="inv-1")
    assert invitation == Invitation(Member("tk_2009", "Tim Keller", "tim.keller@example.org", "invited"),
                                    sent_to="tim.keller@example.org")
    assert club_backend.effects()["notifications"][0]["kind"] == "invitation"


def test_request_password_reset(club_backend):
    result = club_backend.api().request_password_reset("sarah.lee", idempotency_key="reset-1")
    assert result == ResetResult(sent_to="sarah.lee@example.com")
    assert club_backend.effects()["password_reset"] == 1


def test_cancel_booking(club_backend):
    cancelled = club_backend.api().cancel_booking("BK-48213", idempotency_key="cancel-1")
    assert (cancelled.booking_id, cancelled.status) == ("BK-48213", "cancelled")
    assert club_backend.effects()["cancel"] == 1


def test_move_booking(club_backend):
    api = club_backend.api()
    original = api.booking("BK-30917")
    target = next_morning_after(original)
    moved = api.move_booking("BK-30917", target, "Court 3", idempotency_key="move-1")
    assert (moved.start, moved.end, moved.court) == (target, target + timedelta(hours=1), "Court 3")
    kept = api.move_booking("BK-30917", target.replace(hour=10), None, idempotency_key="move-2")
    assert kept.court == "Court 3"
    assert club_backend.effects()["move"] == 2


def test_court_availability(club_backend):
    api = club_backend.api()
    taken = api.booking("BK-41772")
    free = api.court_availability("Court 2", taken.start.date())
    assert taken.start not in free and taken.start + timedelta(hours=1) not in free
    assert taken.start - timedelta(hours=1) in free


def test_writes_need_a_key_and_club_times_are_naive(club_backend):
    api = club_backend.api()
    with pytest.raises(ValueError):
        api.cancel_booking("BK-48213", idempotency_key="")
    with pytest.raises(ValueError):
        api.move_booking("BK-48213", datetime(2030, 1, 1, 10).astimezone(), idempotency_key="k")


# Typed errors


def test_business_refusals_are_conflicts(club_backend):
    api = club_backend.api()
    refusals = {
        "cancellation_window_closed": lambda: api.cancel_booking("BK-61004", idempotency_key="c-1"),
        "slot_taken": lambda: api.move_booking("BK-41772", api.booking("BK-41773").start, "Court 2",
                                               idempotency_key="m-1"),
        "username_taken": lambda: api.invite_member("anna.berg", "A", "a@example.org", idempotency_key="i-1"),
    }
    for code, attempt in refusals.items():
        with pytest.raises(Conflict) as raised:
            attempt()
        assert (raised.value.code, raised.value.status, raised.value.retryable) == (code, 409, False)
    api.cancel_booking("BK-48213", idempotency_key="c-2")
    with pytest.raises(Conflict, match="already cancelled"):
        api.cancel_booking("BK-48213", idempotency_key="c-3")


def test_invalid_requests_and_not_found(club_backend):
    api = club_backend.api()
    booking = api.booking("BK-48213")
    with pytest.raises(InvalidRequest) as raised:
        api.move_booking("BK-48213", booking.start.replace(hour=6), idempotency_key="m-1")
    assert raised.value.code == "outside_opening_hours"
    with pytest.raises(InvalidRequest, match="past"):
        api.move_booking("BK-48213", datetime(2020, 1, 1, 10), idempotency_key="m-2")
    with pytest.raises(NotFound):
        api.cancel_booking("BK-00000", idempotency_key="c-1")
    with pytest.raises(NotFound):
        api.request_password_reset("nobody", idempotency_key="r-1")


def test_a_wrong_token_is_an_auth_error(club_backend):
    with pytest.raises(AuthError) as raised:
        ClubApi(club_backend.url, "wrong-token").find_member(username="anna.berg")
    assert (raised.value.code, raised.value.status) == ("unauthorized", 401)


def test_nothing_listening_is_unavailable():
    with pytest.raises(ClubApiUnavailable) as raised:
        ClubApi(f"http://127.0.0.1:{free_port()}", "t", retries=1, backoff=0).booking("BK-48213")
    assert raised.value.retryable and raised.value.status is None


# Retries


def test_a_drop_closes_the_connection_without_an_answer(club_backend):
    club_backend.inject_fault("drop", 1)
    with pytest.raises(requests.ConnectionError):
        requests.get(club_backend.url + "/health", timeout=2)
    assert requests.get(club_backend.url + "/health", timeout=2).json() == {"status": "ok"}


@pytest.mark.parametrize("mode", ["500", "drop"])
def test_retries_recover_from_a_failed_read(club_backend, mode):
    club_backend.inject_fault(mode, 1)
    assert club_backend.api().find_member(username="anna.berg").name == "Anna Berg"


@pytest.mark.parametrize("mode", ["500", "drop"])
def test_retries_recover_from_a_failed_write(club_backend, mode):
    club_backend.inject_fault(mode, 2)
    assert club_backend.api().cancel_booking("BK-48213", idempotency_key="c-1").status == "cancelled"
    assert club_backend.effects()["cancel"] == 1


def test_retries_recover_from_one_slow_answer(club_backend):
    club_backend.inject_fault("timeout", 1, seconds=SLOW_ANSWER)
    api = club_backend.api(timeout=FAST_TIMEOUT)
    assert api.booking("BK-48213").status == "active"


def test_slow_answers_past_the_retries_are_unavailable(club_backend):
    club_backend.inject_fault("timeout", 3, seconds=SLOW_ANSWER)
    api = club_backend.api(timeout=FAST_TIMEOUT, retries=2)
    started = time.monotonic()
    with pytest.raises(ClubApiUnavailable) as raised:
        api.booking("BK-48213")
    assert time.monotonic() - started < 3 * SLOW_ANSWER  # gave up on each try, did not wait them out
    assert "timed out" in str(raised.value).lower()


def test_persistent_500s_are_unavailable(club_backend):
    club_backend.inject_fault("500", 3)
    with pytest.raises(ClubApiUnavailable) as raised:
        club_backend.api(retries=2).cancel_booking("BK-48213", idempotency_key="c-1")
    assert (raised.value.status, raised.value.code) == (500, "injected_fault")
    assert club_backend.effects()["cancel"] == 0


@pytest.mark.parametrize("mode", ["500", "drop", "timeout"])
def test_a_write_lost_after_its_effect_is_retried_later_with_the_same_key(club_backend, mode):
    club_backend.inject_fault(mode, 1, after_effect=True, seconds=SLOW_ANSWER)
    api = club_backend.api(timeout=FAST_TIMEOUT, retries=0)
    with pytest.raises(ClubApiUnavailable):
        api.cancel_booking("BK-48213", idempotency_key="cancel-BK-48213")
    assert club_backend.effects()["cancel"] == 1  # it happened although the client saw a failure
    assert api.cancel_booking("BK-48213", idempotency_key="cancel-BK-48213").status == "cancelled"
    assert club_backend.effects()["cancel"] == 1


@pytest.mark.parametrize("mode", ["500", "drop", "timeout"])
def test_the_client_retries_a_write_lost_after_its_effect_once(club_backend, mode):
    club_backend.inject_fault(mode, 1, after_effect=True, seconds=SLOW_ANSWER)
    api = club_backend.api(timeout=FAST_TIMEOUT)
    target = next_morning_after(api.booking("BK-30917"))
    assert api.move_booking("BK-30917", target, idempotency_key="move-1").start == target
    assert club_backend.effects()["move"] == 1


def test_concurrent_identical_writes_have_one_effect(club_backend):
    api = club_backend.api()
    barrier, answers = threading.Barrier(3), []

    def cancel():
        barrier.wait()
        answers.append(api.cancel_booking("BK-22845", idempotency_key="same-key"))

    threads = [threading.Thread(target=cancel) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 3 and len(set(answers)) == 1 and answers[0].status == "cancelled"
    assert club_backend.effects()["cancel"] == 1


def test_reusing_a_key_for_another_write_is_a_conflict(club_backend):
    api = club_backend.api()
    api.cancel_booking("BK-48213", idempotency_key="k")
    with pytest.raises(Conflict) as raised:
        api.cancel_booking("BK-30917", idempotency_key="k")
    assert raised.value.code == "idempotency_key_reused"


# The token stays secret


def _failures(club_backend) -> list[ClubApiError]:
    api = club_backend.api(timeout=FAST_TIMEOUT, retries=0)
    attempts = [
        lambda: api.cancel_booking("BK-61004", idempotency_key="t-1"),
        lambda: api.member_bookings("nobody"),
        lambda: api.move_booking("BK-48213", datetime(2020, 1, 1, 10), idempotency_key="t-2"),
        lambda: ClubApi(club_backend.url, club_backend.token + "x").booking("BK-48213"),
        lambda: ClubApi(f"http://127.0.0.1:{free_port()}", club_backend.token, retries=0).booking("BK-1"),
        lambda: (club_backend.inject_fault("500", 1), api.booking("BK-48213")),
        lambda: (club_backend.inject_fault("drop", 1), api.booking("BK-48213")),
        lambda: (club_backend.inject_fault("timeout", 1, seconds=SLOW_ANSWER), api.booking("BK-48213")),
    ]
    failures = []
    for attempt in attempts:
        with pytest.raises(ClubApiError) as raised:
            attempt()
        failures.append(raised.value)
    return failures


def test_the_token_never_appears_in_errors_or_reprs(club_backend):
    failures = _failures(club_backend)
    assert {type(failure) for failure in failures} == {Conflict, NotFound, InvalidRequest, AuthError,
                                                      ClubApiUnavailable}
    for failure in failures:
        for text in (str(failure), repr(failure), repr(failure.args)):
            assert club_backend.token not in text
        assert failure.__cause__ is None and failure.__context__ is None  # no requests exception attached
    assert club_backend.token not in repr(club_backend.api()) + repr(club_backend)


def test_booking_dates_are_club_times(club_backend):
    booking = club_backend.api().booking("BK-48213")
    assert booking.start.tzinfo is None and booking.start.date() > date.today()


MANGLED = {  # what a gateway in front of the club may answer instead of the contract's words
    "200 cut off": (200, b'{"booking": {"booking_id": "BK-', True),
    "200 html": (200, b"<html><body>OK</body></html>", True),
    "200 not an object": (200, b'["ok"]', True),
    "429 html": (429, b"<html>Too Many Requests</html>", False),
    "408 html": (408, b"<html>Request Timeout</html>", False),
    "404 html": (404, b"<html>Not Found</html>", False),
    "409 error body": (409, b'{"error": {"code": "x", "message": "y"}}', False),
}


@pytest.mark.parametrize("case", MANGLED)
def test_an_answer_not_in_the_contracts_words_is_an_unknown_outcome(club_backend, case):
    from testbed.gateway import Gateway

    status, body, forward = MANGLED[case]
    gateway = Gateway(club_backend.url)
    try:
        api = ClubApi(gateway.url, club_backend.token, timeout=2, retries=0)
        gateway.answer_writes(status, body, forward=forward)
        with pytest.raises(ClubApiError) as raised:
            api.cancel_booking("BK-48213", idempotency_key="k-mangled")
        if case == "409 error body":  # the contract's refusal stays a refusal
            assert type(raised.value) is Conflict
            return
        assert isinstance(raised.value, ClubApiUnavailable) and raised.value.retryable
        gateway.pass_through()  # the retry with the same key tells what happened, once
        assert api.cancel_booking("BK-48213", idempotency_key="k-mangled").status == "cancelled"
        assert club_backend.effects()["cancel"] == 1
    finally:
        gateway.stop()


def test_a_token_with_whitespace_inside_is_refused_without_showing_it():
    with pytest.raises(ValueError, match="whitespace") as raised:
        ClubApi("http://127.0.0.1:9", "tok-en\nsecret")
    assert "secret" not in str(raised.value)


def test_a_read_whose_answer_lacks_the_promised_object_is_unavailable_not_a_crash(club_backend):
    from testbed.gateway import Gateway

    gateway = Gateway(club_backend.url)
    try:
        api = ClubApi(gateway.url, club_backend.token, timeout=2, retries=0)
        gateway.answer_writes(200, b'{"booking": {"booking_id": "BK-48213"}}', forward=True)
        with pytest.raises(ClubApiUnavailable, match="lacks what the contract promises"):
            api.cancel_booking("BK-48213", idempotency_key="k-short")
    finally:
        gateway.stop()
