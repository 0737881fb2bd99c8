"""The stand-in club backend in-process (FastAPI's TestClient) with a fixed clock.

The clock stands at 2026-11-25 14:20, so the seed's times are known: D+3 is 2026-11-28
and BK-61004 starts at 18:00 today, inside the 24-hour window.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from club_backend.__main__ import main
from club_backend.app import create_app
from club_backend.faults import ConnectionDropped
from club_backend.openapi import CONTRACT_PATH, render_contract
from club_backend.rules import CANCELLATION_WINDOW
from club_backend.seed import SEED_BOOKINGS, SEED_MEMBERS

NOW = datetime(2026, 11, 25, 14, 20)
TOKEN = "unit-test-token-5f2c"


@pytest.fixture
def app(tmp_path):
    return create_app(tmp_path / "club.sqlite3", TOKEN, test_mode=True, clock=lambda: NOW)


@pytest.fixture
def client(app):
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client


def post(client, path, json=None, key="key-1"):
    return client.post(path, json=json, headers={"Idempotency-Key": key})


def error_code(response) -> str:
    assert set(response.json()) == {"error"} and set(response.json()["error"]) == {"code", "message"}
    return response.json()["error"]["code"]


def effects(client) -> dict:
    return client.get("/_test/effects").json()


# Auth and the error shape


def test_health_needs_no_token(app):
    with TestClient(app) as anonymous:
        assert anonymous.get("/health").json() == {"status": "ok"}


@pytest.mark.parametrize("method, path", [
    ("GET", "/members?username=anna.berg"), ("GET", "/members/anna.berg/bookings"),
    ("GET", "/bookings/BK-48213"), ("POST", "/bookings/BK-48213/cancel"), ("POST", "/members/invitations"),
    ("GET", "/courts/Court%201/availability?date=2026-11-28"), ("GET", "/_test/effects"),
])
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN])
def test_every_endpoint_but_health_needs_the_bearer_token(app, method, path, authorization):
    headers = {"Idempotency-Key": "k"} | ({"Authorization": authorization} if authorization else {})
    with TestClient(app) as anonymous:
        response = anonymous.request(method, path, headers=headers)
    assert response.status_code == 401
    assert error_code(response) == "unauthorized"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert TOKEN not in response.text


def test_unknown_routes_answer_the_json_error_shape(client):
    assert client.get("/nowhere").status_code == 404
    assert error_code(client.get("/nowhere")) == "not_found"
    assert error_code(client.delete("/bookings/BK-48213")) == "method_not_allowed"


# Members


def test_find_member_by_username_or_case_insensitive_email(client):
    anna = {"username": "anna.berg", "name": "Anna Berg", "email": "anna.berg@example.org", "status": "active"}
    assert client.get("/members", params={"username": "anna.berg"}).json() == {"member": anna}
    assert client.get("/members", params={"email": "Anna.Berg@EXAMPLE.org"}).json() == {"member": anna}
    assert client.get("/members", params={"username": "javier"}).status_code == 404
    assert error_code(client.get("/members", params={"email": "nobody@example.org"})) == "member_not_found"


@pytest.mark.parametrize("params", [{}, {"username": "anna.berg", "email": "anna.berg@example.org"}])
def test_find_member_needs_exactly_one_of_username_and_email(client, params):
    response = client.get("/members", params=params)
    assert (response.status_code, error_code(response)) == (422, "invalid_request")


def test_all_seed_members_are_there(client):
    for member in SEED_MEMBERS:
        found = client.get("/members", params={"username": member.username}).json()["member"]
        assert (found["name"], found["email"]) == (member.name, member.email)


def test_invitation_adds_an_invited_member_and_sends_the_link(client):
    body = {"username": "tk_2009", "name": "Tim Keller", "email": "tim.keller@example.org"}
    response = post(client, "/members/invitations", body)
    assert response.status_code == 201
    assert response.json() == {"member": {**body, "status": "invited"}, "invitation_sent_to": body["email"]}
    assert client.get("/members", params={"username": "tk_2009"}).json()["member"]["status"] == "invited"
    sent = effects(client)
    assert sent["invite"] == 1
    assert [(n["kind"], n["to"], n["username"]) for n in sent["notifications"]] == [
        ("invitation", "tim.keller@example.org", "tk_2009")]


@pytest.mark.parametrize("body, code", [
    ({"username": "Anna.Berg", "name": "Another Anna", "email": "new@example.org"}, "username_taken"),
    ({"username": "anna2", "name": "Anna Berg", "email": "ANNA.BERG@example.org"}, "email_taken"),
])
def test_invitation_refuses_taken_usernames_and_emails(client, body, code):
    response = post(client, "/members/invitations", body)
    assert (response.status_code, error_code(response)) == (409, code)
    assert effects(client)["invite"] == 0


@pytest.mark.parametrize("body", [
    {"username": "tk_2009", "name": "Tim", "email": "not-an-email"},
    {"username": "tk 2009", "name": "Tim", "email": "tim@example.org"},
    {"username": "tk_2009", "name": "", "email": "tim@example.org"},
    {"username": "tk_2009", "name": "Tim", "email": "tim@example.org", "password": "hunter2"},
    {"username": "tk_2009"},
])
def test_invitation_checks_its_body(client, body):
    response = post(client, "/members/invitations", body)
    assert (response.status_code, error_code(response)) == (422, "invalid_request")


def test_password_reset_mails_the_address_on_file(client):
    response = post(client, "/members/mhoffmann/password-reset")
    assert (response.status_code, response.json()) == (202, {"sent_to": "markus.hoffmann@example.de"})
    sent = effects(client)
    assert sent["password_reset"] == 1
    assert sent["notifications"][0]["kind"] == "password_reset"
    missing = post(client, "/members/nobody/password-reset", key="key-2")
    assert (missing.status_code, error_code(missing)) == (404, "member_not_found")


# Bookings


def test_member_bookings_are_the_active_ones_by_start(client):
    assert client.get("/members/evans_r/bookings").json() == {"bookings": [{
        "booking_id": "BK-41772", "username": "evans_r", "court": "Court 2",
        "start": "2026-11-28T10:00", "end": "2026-11-28T11:00", "status": "active"}]}
    post(client, "/bookings/BK-41772/cancel")
    assert client.get("/members/evans_r/bookings").json() == {"bookings": []}
    assert error_code(client.get("/members/nobody/bookings")) == "member_not_found"


def test_get_booking(client):
    booking = client.get("/bookings/BK-90316").json()["booking"]
    assert booking == {"booking_id": "BK-90316", "username": "lena.fischer", "court": "Court 6",
                       "start": "2026-12-01T19:00", "end": "2026-12-01T21:00", "status": "active"}
    assert client.get("/bookings/bk-90316").json()["booking"]["booking_id"] == "BK-90316"
    assert (client.get("/bookings/BK-00000").status_code, error_code(client.get("/bookings/BK-00000"))) == (
        404, "booking_not_found")


def test_cancel_booking(client):
    response = post(client, "/bookings/BK-48213/cancel")
    assert response.status_code == 200
    assert response.json()["booking"]["status"] == "cancelled"
    assert client.get("/bookings/BK-48213").json()["booking"]["status"] == "cancelled"
    again = post(client, "/bookings/BK-48213/cancel", key="key-2")
    assert (again.status_code, error_code(again)) == (409, "already_cancelled")
    assert effects(client)["cancel"] == 1


def test_cancelling_inside_the_24_hour_window_is_refused(client):
    response = post(client, "/bookings/BK-61004/cancel")
    assert (response.status_code, error_code(response)) == (409, "cancellation_window_closed")
    assert "24 hours" in response.json()["error"]["message"]
    assert client.get("/bookings/BK-61004").json()["booking"]["status"] == "active"
    assert error_code(post(client, "/bookings/BK-00000/cancel", key="key-2")) == "booking_not_found"


def test_move_keeps_the_duration_and_optionally_the_court(client):
    moved = post(client, "/bookings/BK-90316/move", {"start": "2026-12-02T09:00"}).json()["booking"]
    assert (moved["court"], moved["start"], moved["end"]) == ("Court 6", "2026-12-02T09:00", "2026-12-02T11:00")
    moved = post(client, "/bookings/BK-48213/move", {"start": "2026-11-28T10:00", "court": "court 4"},
                 key="key-2").json()["booking"]
    assert (moved["court"], moved["start"], moved["end"]) == ("Court 4", "2026-11-28T10:00", "2026-11-28T11:00")
    assert effects(client)["move"] == 2


def test_a_booking_may_move_over_its_own_slot(client):
    response = post(client, "/bookings/BK-41772/move", {"start": "2026-11-28T09:30"})
    assert response.json()["booking"]["end"] == "2026-11-28T10:30"


@pytest.mark.parametrize("booking_id, body, status, code", [
    ("BK-41772", {"start": "2026-11-28T11:00"}, 409, "slot_taken"),
    ("BK-41772", {"start": "2026-11-28T10:30"}, 409, "slot_taken"),
    ("BK-48213", {"start": "2026-11-28T11:00", "court": "Court 2"}, 409, "slot_taken"),
    ("BK-48213", {"start": "2026-11-25T10:00"}, 422, "slot_in_past"),
    ("BK-48213", {"start": "2026-11-28T06:00"}, 422, "outside_opening_hours"),
    ("BK-48213", {"start": "2026-11-28T21:30"}, 422, "outside_opening_hours"),
    ("BK-90316", {"start": "2026-12-02T21:00"}, 422, "outside_opening_hours"),
    ("BK-61004", {"start": "2026-11-28T10:00"}, 409, "cancellation_window_closed"),
    ("BK-00000", {"start": "2026-11-28T10:00"}, 404, "booking_not_found"),
    ("BK-48213", {"start": "2026-11-28T10:00", "court": "Court 9"}, 422, "invalid_request"),
    ("BK-48213", {"start": "Saturday 10am"}, 422, "invalid_request"),
    ("BK-48213", {"start": "2026-11-28T10:00+01:00"}, 422, "invalid_request"),
    ("BK-48213", {"start": "2026-11-28T10:00", "duration": 2}, 422, "invalid_request"),
    ("BK-48213", {}, 422, "invalid_request"),
])
def test_move_refusals(client, booking_id, body, status, code):
    before = client.get(f"/bookings/{booking_id}").json()
    response = post(client, f"/bookings/{booking_id}/move", body)
    assert (response.status_code, error_code(response)) == (status, code)
    assert client.get(f"/bookings/{booking_id}").json() == before
    assert effects(client)["move"] == 0


def test_a_cancelled_booking_cannot_be_moved(client):
    post(client, "/bookings/BK-48213/cancel")
    response = post(client, "/bookings/BK-48213/move", {"start": "2026-11-29T10:00"}, key="key-2")
    assert (response.status_code, error_code(response)) == (409, "already_cancelled")


def test_availability_lists_free_hourly_slots(client):
    response = client.get("/courts/court 2/availability", params={"date": "2026-11-28"}).json()
    assert (response["court"], response["date"]) == ("Court 2", "2026-11-28")
    assert "2026-11-28T10:00" not in response["free"] and "2026-11-28T11:00" not in response["free"]
    assert response["free"][0] == "2026-11-28T07:00" and response["free"][-1] == "2026-11-28T21:00"
    assert len(response["free"]) == 15 - 2
    today = client.get("/courts/Court 4/availability", params={"date": "2026-11-25"}).json()["free"]
    assert today == ["2026-11-25T15:00", "2026-11-25T16:00", "2026-11-25T17:00",
                     "2026-11-25T19:00", "2026-11-25T20:00", "2026-11-25T21:00"]  # BK-61004 at 18:00


def test_availability_refusals(client):
    assert error_code(client.get("/courts/Court 9/availability", params={"date": "2026-11-28"})) == (
        "court_not_found")
    assert error_code(client.get("/courts/Court 1/availability", params={"date": "Saturday"})) == (
        "invalid_request")


# Idempotency


@pytest.mark.parametrize("path", ["/members/invitations", "/members/anna.berg/password-reset",
                                  "/bookings/BK-48213/cancel", "/bookings/BK-48213/move"])
def test_every_post_needs_an_idempotency_key(client, path):
    response = client.post(path, json={"start": "2026-11-28T10:00"})
    assert (response.status_code, error_code(response)) == (422, "invalid_request")
    assert "Idempotency-Key" in response.json()["error"]["message"]


def test_the_same_key_replays_the_answer_and_the_effect_happens_once(client):
    first = post(client, "/bookings/BK-48213/move", {"start": "2026-11-29T10:00", "court": "Court 1"})
    second = post(client, "/bookings/BK-48213/move", {"court": "Court 1", "start": "2026-11-29T10:00"})
    assert (second.status_code, second.json()) == (first.status_code, first.json())
    assert "Idempotent-Replayed" not in first.headers and second.headers["Idempotent-Replayed"] == "true"
    assert effects(client)["move"] == 1


def test_refusals_are_replayed_too(client):
    first = post(client, "/bookings/BK-61004/cancel")
    second = post(client, "/bookings/BK-61004/cancel")
    assert (second.status_code, second.json()) == (first.status_code, first.json()) == (409, first.json())


def test_password_resets_with_the_same_key_send_one_mail(client):
    answers = [post(client, "/members/anna.berg/password-reset").json() for _ in range(3)]
    assert answers == [{"sent_to": "anna.berg@example.org"}] * 3
    assert effects(client)["password_reset"] == 1
    post(client, "/members/anna.berg/password-reset", key="key-2")
    assert effects(client)["password_reset"] == 2


@pytest.mark.parametrize("path, body", [
    ("/bookings/BK-48213/move", {"start": "2026-11-29T11:00"}),
    ("/bookings/BK-30917/move", {"start": "2026-11-29T10:00"}),
    ("/bookings/BK-48213/cancel", None),
])
def test_a_key_reused_for_another_request_is_refused(client, path, body):
    post(client, "/bookings/BK-48213/move", {"start": "2026-11-29T10:00"})
    response = post(client, path, body)
    assert (response.status_code, error_code(response)) == (409, "idempotency_key_reused")
    assert effects(client)["move"] == 1 and effects(client)["cancel"] == 0


def _in_parallel(client, requests_to_send):
    barrier = threading.Barrier(len(requests_to_send))
    answers = [None] * len(requests_to_send)

    def send(index, path, key):
        barrier.wait()
        answers[index] = post(client, path, key=key)

    threads = [threading.Thread(target=send, args=(index, *request))
               for index, request in enumerate(requests_to_send)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_concurrent_identical_requests_have_one_effect(client):
    answers = _in_parallel(client, [("/bookings/BK-48213/cancel", "same")] * 4)
    assert {(a.status_code, a.json()["booking"]["status"]) for a in answers} == {(200, "cancelled")}
    assert sum("Idempotent-Replayed" in a.headers for a in answers) == 3
    assert effects(client)["cancel"] == 1


def test_concurrent_cancels_with_different_keys_cancel_once(client):
    answers = _in_parallel(client, [("/bookings/BK-48213/cancel", f"key-{n}") for n in range(4)])
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409]
    assert effects(client)["cancel"] == 1


# Test mode


def test_test_routes_exist_only_in_test_mode(tmp_path):
    app = create_app(tmp_path / "club.sqlite3", TOKEN, clock=lambda: NOW)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        for method, path in [("GET", "/_test/effects"), ("POST", "/_test/reset"), ("POST", "/_test/faults")]:
            response = client.request(method, path, json={"mode": "500"})
            assert (response.status_code, error_code(response)) == (404, "not_found")


def test_reset_restores_the_seed(client):
    post(client, "/bookings/BK-48213/cancel")
    post(client, "/members/invitations", {"username": "tk_2009", "name": "Tim", "email": "t@example.org"},
         key="key-2")
    assert client.post("/_test/reset").json() == {"status": "reset"}
    assert client.get("/bookings/BK-48213").json()["booking"]["status"] == "active"
    assert client.get("/members", params={"username": "tk_2009"}).status_code == 404
    assert effects(client) == {"cancel": 0, "move": 0, "invite": 0, "password_reset": 0, "notifications": []}
    assert post(client, "/bookings/BK-48213/cancel").status_code == 200  # the key was forgotten too


def test_a_500_fault_before_the_effect_leaves_nothing_done(client):
    client.post("/_test/faults", json={"mode": "500", "count": 2})
    first = post(client, "/bookings/BK-48213/cancel")
    assert (first.status_code, error_code(first)) == (500, "injected_fault")
    assert post(client, "/bookings/BK-48213/cancel").status_code == 500
    assert effects(client)["cancel"] == 0  # the test routes are never faulted
    assert post(client, "/bookings/BK-48213/cancel").status_code == 200


def test_a_500_fault_after_the_effect_hides_a_done_write(client):
    client.post("/_test/faults", json={"mode": "500", "count": 1, "after_effect": True})
    assert post(client, "/bookings/BK-48213/cancel").status_code == 500
    assert effects(client)["cancel"] == 1
    replay = post(client, "/bookings/BK-48213/cancel")
    assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (200, "true")


def test_a_drop_fault_in_process_raises_instead(client):
    # No socket to close under TestClient; the real server closes it (tests/integrations).
    client.post("/_test/faults", json={"mode": "drop", "count": 1})
    with pytest.raises(ConnectionDropped):
        client.get("/bookings/BK-48213")
    assert client.get("/bookings/BK-48213").status_code == 200


def test_fault_requests_are_checked(client):
    assert client.post("/_test/faults", json={"mode": "fire"}).status_code == 422
    assert client.post("/_test/faults", json={"mode": "timeout", "seconds": 0}).status_code == 422


# Contract, seed and command line


def test_the_committed_contract_is_what_the_app_generates():
    assert CONTRACT_PATH.read_text(encoding="utf-8") == render_contract(), (
        "club_backend/openapi.json is out of date: run python -m club_backend.openapi")


def test_the_contract_documents_the_api_but_not_the_test_routes():
    contract = json.loads(CONTRACT_PATH.read_text(encoding="utf-8"))
    assert not [path for path in contract["paths"] if path.startswith("/_test")]
    assert contract["paths"]["/health"]["get"].get("security") is None
    cancel = contract["paths"]["/bookings/{booking_id}/cancel"]["post"]
    assert cancel["security"] == [{"HTTPBearer": []}]
    assert "cancellation_window_closed" in cancel["responses"]["409"]["description"]


@pytest.mark.parametrize("now", [datetime(2026, 11, 25, 0, 0), datetime(2026, 11, 25, 14, 20),
                                 datetime(2026, 11, 25, 23, 59, 59), datetime(2026, 2, 28, 21, 0)])
def test_seed_times_keep_the_demo_working_whenever_it_is_seeded(now):
    for booking in SEED_BOOKINGS:
        inside_window = booking.start(now) - now < CANCELLATION_WINDOW
        assert inside_window == (booking.booking_id == "BK-61004"), booking
        assert booking.start(now) > now
    late = next(b for b in SEED_BOOKINGS if b.booking_id == "BK-61004")
    assert timedelta(hours=3) <= late.start(now) - now < timedelta(hours=4)


def test_the_server_refuses_to_start_without_a_token(monkeypatch, tmp_path, capsys):
    monkeypatch.delenv("ACEDESK_CLUB_API_TOKEN", raising=False)
    assert main(["--db", str(tmp_path / "club.sqlite3")]) == 2
    assert "ACEDESK_CLUB_API_TOKEN" in capsys.readouterr().err
    assert not (tmp_path / "club.sqlite3").exists()
