"""The bearer token reaches the service whatever else the machine or the URL holds
(core/http.py): a ~/.netrc entry for the host, or ``user:password@`` in the URL, made requests
send Basic auth in place of a token written into the headers. Checked with each client that
calls a service with a token, against a stdlib server that records what it got."""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from core.http import BearerToken, WatchedAdapter, bounded_request
from integrations.club_api import ClubApi
from integrations.connections import OK, probe_model_server

TOKEN = "s3cret-token"


@contextmanager
def recording_server():
    """A server answering every GET with 200 ``{"status": "ok", "data": []}``; yields (url, the
    Authorization headers it got)."""
    got: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            got.append(self.headers.get("Authorization"))
            data = json.dumps({"status": "ok", "object": "list", "data": []}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", got
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["netrc", "url-credentials"])
def other_credentials(request, tmp_path, monkeypatch):
    """How the URL is written, with other credentials for the host beside the token."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-secret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    return "http://{}" if request.param == "netrc" else "http://proxy-user:url-secret@{}"


def test_the_club_backend_gets_the_token(other_credentials):
    with recording_server() as (where, got), ClubApi(other_credentials.format(where), TOKEN, retries=0) as api:
        assert api.health()
    assert got == [f"Bearer {TOKEN}"]


def test_the_connection_strips_probe_sends_the_model_servers_key(other_credentials):
    with recording_server() as (where, got):
        assert probe_model_server(other_credentials.format(where) + "/v1", TOKEN).state == OK
    assert got == [f"Bearer {TOKEN}"]


def test_the_token_never_shows_in_a_repr():
    assert TOKEN not in repr(BearerToken(TOKEN))


@pytest.mark.parametrize("protocol", ["HTTP/1.0", "HTTP/1.1"])
def test_a_bounded_request_ends_a_dripped_answer_at_its_deadline_whoever_holds_the_socket(protocol):
    """Under HTTP/1.0 (or Connection: close) http.client hands the socket to the response and the
    connection forgets it: the deadline must still reach the body being read."""

    class Dripping(BaseHTTPRequestHandler):
        protocol_version = protocol

        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:  # cut off: what the test expects
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Dripping)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    session = requests.Session()
    session.mount("http://", WatchedAdapter())
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError, match="no complete answer within 1 s"):
            bounded_request(session, "GET", f"http://127.0.0.1:{server.server_port}/", deadline_s=1,
                            max_bytes=1000, timeout=(1, 1))
        assert time.monotonic() - started < 3  # the whole answer would take 10 s
    finally:
        server.shutdown()
        server.server_close()
