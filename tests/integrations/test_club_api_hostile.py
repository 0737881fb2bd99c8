"""The club API client against a backend (or a gateway in front of it) that lies, drips or
misbehaves: a real loopback HTTP server answers what each test scripts, and where an effect
matters it relays to the real stand-in backend.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.club_api import (
    MAX_ANSWER_BYTES,
    ClubApi,
    ClubApiUnavailable,
    NotFound,
    cancel_request,
    password_reset_request,
)
from integrations.connections import DOWN, probe_club_api
from support.actions import ActionProblem, check_action, plan_action
from tests.fixtures.scripted_http import Scripted

BOOKING = {"booking": {"booking_id": "BK-48213", "username": "anna.berg", "court": "Court 1",
                       "start": "2030-01-01T10:00", "end": "2030-01-01T11:00", "status": "active"}}
BOOKING_BYTES = json.dumps(BOOKING).encode()


def answer(handler, status: int, body: bytes = b"{}", **headers: str) -> None:
    handler.send_response(status)
    for name, value in {"Content-Type": "application/json", "Content-Length": str(len(body)), **headers}.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


# A backend that drips: the read timeout bounds one wait, the deadline the whole call


def dripped(body: bytes):
    """A backend that sends its headers, then ``body`` a byte every 0.2 s (each within the read timeout)."""
    def behave(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for byte in body:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.2)
    return behave


drip_body = dripped(BOOKING_BYTES)


def drip_headers(handler):
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for _ in range(200):
        handler.wfile.write(b"X")
        handler.wfile.flush()
        time.sleep(0.2)


@pytest.mark.parametrize("behave", [drip_body, drip_headers], ids=["body", "headers"])
def test_an_answer_dripped_a_byte_at_a_time_ends_at_the_calls_deadline(scripted, behave):
    server = scripted(behave)
    api = ClubApi(server.url, "tok", timeout=(0.5, 0.5), retries=1, backoff=0)
    assert api.deadline_s == 2.0  # what a server that says nothing would cost: 2 tries of 0.5 + 0.5 s
    started = time.monotonic()
    with pytest.raises(ClubApiUnavailable, match="no complete answer within 2 s") as raised:
        api.booking("BK-48213")
    assert time.monotonic() - started < 3.5  # the old client read the 160 bytes for 32 s, the headers for 80
    assert raised.value.retryable


def test_a_slow_but_steady_answer_within_the_deadline_is_read(scripted):
    def slow(handler):
        time.sleep(0.3)
        answer(handler, 200, BOOKING_BYTES)

    api = ClubApi(scripted(slow).url, "tok", timeout=(0.5, 0.5), retries=0, backoff=0)
    assert api.booking("BK-48213").booking_id == "BK-48213"


def test_the_connection_strip_gives_up_on_a_dripping_backend_briefly(scripted):
    started = time.monotonic()
    assert probe_club_api(scripted(dripped(b'{"status": "ok"}' + b" " * 100)).url, "tok").state == DOWN
    assert time.monotonic() - started < 5  # the old probe waited out the 23 s of drip, then said "ok"


# A backend that answers without end


def test_an_endless_answer_is_not_read_into_memory(scripted):
    sent = []

    def endless(handler):
        # a valid booking followed by padding, 64 MiB (a stand-in for "never ends" that the old
        # client, which read it whole, could still finish)
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        head, pad = BOOKING_BYTES[:-1] + b', "pad": "', b"x" * (1 << 20)
        for chunk in [head] + [pad] * 64 + [b'"}']:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent.append(len(chunk))
        handler.wfile.write(b"0\r\n\r\n")

    api = ClubApi(scripted(endless).url, "tok", timeout=2, retries=0)
    with pytest.raises(ClubApiUnavailable, match=f"longer than {MAX_ANSWER_BYTES} bytes") as raised:
        api.booking("BK-48213")
    assert (raised.value.code, raised.value.status) == ("unexpected_answer", 200)
    time.sleep(0.2)
    assert sum(sent) < 16 * (1 << 20)  # the client hung up after its first MiB (and the socket buffers)


def test_json_nested_past_pythons_recursion_limit_is_an_unknown_outcome_not_a_crash(scripted):
    api = ClubApi(scripted(lambda handler: answer(handler, 200, b"[" * 100_000)).url, "tok", timeout=2, retries=0)
    with pytest.raises(ClubApiUnavailable):  # the old client raised RecursionError
        api.cancel_booking("BK-48213", idempotency_key="k")


# Redirects are answers, never followed


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["same host", "other host"])
def test_a_redirect_is_never_followed(scripted, status, where):
    elsewhere = scripted(lambda handler: answer(handler, 200, json.dumps(BOOKING).encode()))
    target = "/members/anna.berg/password-reset" if where == "same host" else elsewhere.url + "/bookings/BK-1/cancel"
    server = scripted(lambda handler: answer(handler, status, Location=target))
    api = ClubApi(server.url, "tok", timeout=2, retries=0)
    with pytest.raises(ClubApiUnavailable, match="not followed") as raised:
        api.cancel_booking("BK-48213", idempotency_key="k")
    assert (raised.value.code, raised.value.status) == ("unexpected_answer", status)
    assert [(method, path) for method, path, *_ in server.requests] == [("POST", "/bookings/BK-48213/cancel")]
    assert elsewhere.requests == []


@pytest.mark.parametrize("location", ["http://[bad/x", "http://club.example:99999/", "http://u:pw@h/x?key=K3Y"])
def test_a_redirect_to_a_broken_or_secret_bearing_address_is_named_safely(scripted, location):
    server = scripted(lambda handler: answer(handler, 302, Location=location))
    with pytest.raises(ClubApiUnavailable) as raised:  # the old client raised ValueError for the first two
        ClubApi(server.url, "tok", timeout=2, retries=0).booking("BK-48213")
    assert "pw" not in str(raised.value) and "K3Y" not in str(raised.value)
    assert len(server.requests) == 1


def test_a_redirect_loop_is_one_answer(scripted):
    server = scripted(lambda handler: answer(handler, 302, Location=handler.path))
    with pytest.raises(ClubApiUnavailable, match="not followed"):
        ClubApi(server.url, "tok", timeout=2, retries=2, backoff=0).booking("BK-48213")
    assert len(server.requests) == 1


def test_a_gateway_redirecting_a_cancellation_never_triggers_a_password_reset(scripted, club_backend):
    """The operator confirmed "POST /bookings/BK-48213/cancel"; a gateway answers 307 to another
    of the club's write paths on the same host (the token and the key would travel along)."""

    def gateway(handler):
        if handler.path == "/bookings/BK-48213/cancel":
            answer(handler, 307, Location="/members/sarah.lee/password-reset")
            return
        relayed = requests.request(handler.command, club_backend.url + handler.path, data=handler.body or None,
                                   headers={k: v for k, v in handler.headers.items() if k.lower() != "host"},
                                   timeout=5)
        answer(handler, relayed.status_code, relayed.content)

    api = ClubApi(scripted(gateway).url, club_backend.token, timeout=2, retries=0)
    with pytest.raises(ClubApiUnavailable):
        api.cancel_booking("BK-48213", idempotency_key="cancel-1")
    effects = club_backend.effects()
    assert (effects["password_reset"], effects["cancel"]) == (0, 0)  # the old client reset sarah.lee's password


# Ids that a URL would not carry as written


@pytest.mark.parametrize("record_id", ["", ".", ".."])
def test_an_id_a_url_would_drop_names_no_record(scripted, record_id):
    server = scripted(lambda handler: answer(handler, 200, BOOKING_BYTES))
    api = ClubApi(server.url, "tok", timeout=2, retries=0)
    assert api.booking(record_id) is None  # the old client asked GET / (for "..") and read its answer
    with pytest.raises(NotFound):
        api.member_bookings(record_id)
    for build in (cancel_request, password_reset_request):
        with pytest.raises(NotFound):  # the old "POST /bookings/../cancel" went out as "POST /cancel"
            build(record_id)
    assert server.requests == []


_ID_CHARACTERS = st.sampled_from("./%2eE?#&=;:@+ \\\t\u2024\uff0e\u00e9aB-0")


@pytest.fixture(scope="module")
def not_found_server():
    server = Scripted(lambda handler: answer(handler, 404))
    yield server
    server.stop()


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(_ID_CHARACTERS, max_size=8))
def test_the_request_that_goes_out_is_the_one_shown(not_found_server, record_id):
    try:
        shown = cancel_request(record_id)
    except NotFound:
        return
    not_found_server.requests.clear()
    with pytest.raises(ClubApiUnavailable):  # a 404 without the contract's words; only the path matters here
        ClubApi(not_found_server.url, "tok", timeout=2, retries=0).send(shown, idempotency_key="k")
    assert [(method, path) for method, path, *_ in not_found_server.requests] == [(shown.method, shown.path)]


# Answers in the contract's shape whose values would mislead the desk

def member_answer(email: str):
    body = json.dumps({"member": {"username": "anna.berg", "name": "Anna Berg", "email": email,
                                  "status": "active"}}).encode()
    return lambda handler: answer(handler, 200, body)


@pytest.mark.parametrize("email", ["", "anna.berg@example.org, mallory@evil.example", "Anna <anna.berg@example.org>",
                                   "anna.berg@example.org\r\nBcc: mallory@evil.example", "anna.berg"])
def test_a_member_address_on_file_that_is_not_one_address_is_no_answer(scripted, email):
    """A confirmation goes to the address on file: a list, a name or a line break would send it elsewhere."""
    server = scripted(member_answer(email))
    with ClubApi(server.url, "token", retries=0) as api, pytest.raises(ClubApiUnavailable, match="not one address"):
        api.find_member(username="anna.berg")


def test_an_address_on_file_with_spaces_around_it_is_that_address(scripted):
    server = scripted(member_answer(" anna.berg@example.org\n"))
    with ClubApi(server.url, "token", retries=0) as api:
        assert api.find_member(username="anna.berg").email == "anna.berg@example.org"


def test_a_booking_answered_for_another_id_is_never_checked_as_the_one_asked_for(scripted):
    """The club answers BK-48213 (Anna's) when asked for BK-1: the owner check would be BK-48213's,
    the cancellation BK-1's."""
    members = json.dumps({"member": {"username": "anna.berg", "name": "Anna Berg", "email": "anna.berg@example.org",
                                     "status": "active"}}).encode()
    server = scripted(lambda handler: answer(handler, 200, BOOKING_BYTES if "/bookings/" in handler.path else members))
    with ClubApi(server.url, "token", retries=0) as api:
        with pytest.raises(ActionProblem, match="the club answered with BK-48213"):
            check_action(plan_action({"category": "cancel_booking", "booking_id": "BK-1"}), {"booking_id": "BK-1"},
                         "anna.berg@example.org", api)
        action, checked = check_action(plan_action({"category": "cancel_booking", "booking_id": "bk-48213"}),
                                       {"booking_id": "bk-48213"}, "anna.berg@example.org", api)
        assert checked.flags == [] and action.params["booking_id"] == "bk-48213"
