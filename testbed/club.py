"""The stand-in club backend as a real server process: ``python -m club_backend --test-mode``.

    backend = start_club_backend(folder)       # a free loopback port, a random token
    backend.api().cancel_booking(...)          # AceDesk's own client
    backend.inject_fault("500", count=2)       # test mode: the next two calls fail
    backend.stop()

Started as a process, never imported: AceDesk (and its tests and benchmarks) reach it over
HTTP only, as they would reach a club's real system.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests

from core.settings import PROJECT_ROOT
from integrations.club_api import ClubApi
from testbed import answers, free_port

TOKEN_VARIABLE = "ACEDESK_CLUB_API_TOKEN"
STARTUP_SECONDS = 15
# Tests wait half a second for an answer (the server answers in milliseconds; a slow one is
# retried, which is safe) and an injected timeout outlasts that threefold.
CLIENT_TIMEOUT = (1.0, 0.5)
FAULT_SECONDS = 1.5


class BackendDidNotStart(RuntimeError):
    """The backend's process ended or did not answer in time; the message holds its output."""


@dataclass
class ClubBackend:
    url: str
    token: str = field(repr=False)
    process: subprocess.Popen | None = field(default=None, repr=False)

    def api(self, **options) -> ClubApi:
        """A ClubApi for this server that waits briefly and backs off little; pass
        ``timeout=``, ``retries=`` or ``backoff=`` to change that."""
        settings = {"timeout": CLIENT_TIMEOUT, "retries": 2, "backoff": 0.01, **options}
        return ClubApi(self.url, self.token, **settings)

    def inject_fault(self, mode: str, count: int = 1, after_effect: bool = False,
                     seconds: float | None = None, rate: float = 0.0, seed: int = 0) -> None:
        """The next ``count`` requests (other than /_test/) fail: mode "500", "timeout" (answer
        after ``seconds``, default 1.5) or "drop"; ``after_effect``: once the write is done.
        ``count=0`` disarms. ``rate``: instead, each request fails with that probability."""
        fault = {"mode": mode, "count": count, "after_effect": after_effect,
                 "seconds": FAULT_SECONDS if seconds is None else seconds, "rate": rate, "seed": seed}
        self._control("POST", "/_test/faults", fault)

    def effects(self) -> dict:
        """``{"cancel": n, "move": n, "invite": n, "password_reset": n, "notifications": [...]}``"""
        return self._control("GET", "/_test/effects")

    def reset(self) -> None:
        self._control("POST", "/_test/reset")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _control(self, method: str, path: str, body: dict | None = None) -> dict:
        response = requests.request(method, self.url + path, json=body, timeout=10,
                                    headers={"Authorization": f"Bearer {self.token}"})
        response.raise_for_status()
        return response.json()


def start_club_backend(folder: Path, *, test_mode: bool = True) -> ClubBackend:
    """The backend with its own SQLite file in ``folder``; returns once /health answers."""
    folder = Path(folder)
    backend = ClubBackend(f"http://127.0.0.1:{free_port()}", secrets.token_urlsafe(24))
    log_path = folder / "club-backend.log"
    command = [sys.executable, "-m", "club_backend", "--host", "127.0.0.1", "--port", backend.url.rsplit(":", 1)[1],
               "--db", str(folder / "club.sqlite3"), "--log-level", "warning"]
    with open(log_path, "wb") as log:
        backend.process = subprocess.Popen(command + (["--test-mode"] if test_mode else []), cwd=PROJECT_ROOT,
                                           env={**os.environ, TOKEN_VARIABLE: backend.token}, stdout=log,
                                           stderr=subprocess.STDOUT)
    if answers(backend.url + "/health", backend.process, STARTUP_SECONDS):
        return backend
    backend.stop()
    raise BackendDidNotStart(f"the club backend did not come up within {STARTUP_SECONDS} s (exit code "
                             f"{backend.process.returncode}); its output:\n{log_path.read_text(errors='replace')}")
