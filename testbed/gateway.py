"""A reverse proxy in front of the stand-in club backend that can answer writes in ways the
contract does not, as a load balancer, WAF or API gateway in front of a club's system can.

    gateway = Gateway(club_backend.url)
    gateway.answer_writes(200, b"<html>OK</html>", forward=True)   # the club acts, the client reads HTML
    api = ClubApi(gateway.url, club_backend.token)
    ...
    gateway.stop()

Reads always pass through. ``forward=False``: the write never reaches the club (rate limiting).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from testbed import free_port


class Gateway:
    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self._answer: tuple[int, bytes, bool] | None = None
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: the tests read the outcome, not the log
                pass

            def _relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                mangled = gateway._answer if self.command == "POST" else None
                status, content_type, out = 0, "text/html", b""
                if mangled is None or mangled[2]:
                    answer = requests.request(self.command, gateway.upstream + self.path, data=body,
                                              headers=headers, timeout=10)
                    status, content_type, out = (answer.status_code, answer.headers.get("content-type", ""),
                                                 answer.content)
                if mangled is not None:
                    status, out = mangled[0], mangled[1]
                    content_type = "text/html"
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = _relay

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def answer_writes(self, status: int, body: bytes, *, forward: bool) -> None:
        """Every POST from now on gets this answer (after the club handled it, when ``forward``)."""
        self._answer = (status, body, forward)

    def pass_through(self) -> None:
        self._answer = None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
