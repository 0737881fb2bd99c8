"""integrations/connections.py: what the connection strip says of the club backend, never a secret."""

from __future__ import annotations

from integrations.club_api import ClubApi
from integrations.connections import DOWN, OK, probe_club_api
from tests.fixtures import free_port

SECRET_URL = "http://desk:Sup3rSecret@127.0.0.1:{port}/api?api_key=K3Y"


def test_a_backend_that_is_away_is_named_without_its_password_or_key():
    port = free_port()
    connection = probe_club_api(SECRET_URL.format(port=port), "tok")
    assert connection.state == DOWN
    assert connection.text.startswith(f"http://127.0.0.1:{port}/api does not answer")
    assert "Sup3rSecret" not in connection.text and "K3Y" not in connection.text


def test_a_backend_that_answers_is_named_without_its_password_or_key(monkeypatch):
    monkeypatch.setattr(ClubApi, "health", lambda api: True)
    connection = probe_club_api(SECRET_URL.format(port=8700), "tok")
    assert (connection.state, connection.text) == (OK, "http://127.0.0.1:8700/api")
