"""Injected faults (test mode): the next N requests fail as a flaky network or server would.

With ``rate`` (0..1) instead of a count, each request fails with that probability (seeded, so
a run repeats), as a flaky service does, until disarmed. Modes: ``"500"`` answers a 500 error; ``"timeout"`` waits ``seconds`` (longer than clients
wait) before answering; ``"drop"`` closes the TCP connection without any answer. With
``after_effect`` the request is handled first (its write committed) and only then the
answer is lost or delayed: the client sees a failure although the effect happened, the
case idempotency keys exist for. Without it the request is never handled; a ``timeout``
then answers 503 after the wait.

The layer sits outside FastAPI (see ``app.ClubApp``) so it receives the server's own
``send``, whose owner holds the connection's transport: the only way for an ASGI app to
close a connection without uvicorn answering 500 for it.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from club_backend.errors import error_body

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]
TEST_PREFIX = "/_test/"
DEFAULT_TIMEOUT_SECONDS = 5.0


class ConnectionDropped(ConnectionError):
    """Raised where there is no socket to close (an in-process test client)."""


@dataclass(frozen=True)
class Fault:
    mode: str
    count: int
    after_effect: bool = False
    seconds: float = DEFAULT_TIMEOUT_SECONDS
    rate: float = 0.0
    """With rate > 0: each request fails with this probability (``count`` is ignored)."""
    seed: int = 0


class FaultInjector:
    """Holds the armed fault. Used from the event loop only, so no lock is needed."""

    def __init__(self) -> None:
        self._fault: Fault | None = None
        self._left = 0
        self._random = random.Random(0)

    def arm(self, fault: Fault) -> None:
        self._fault, self._left = fault, fault.count
        self._random = random.Random(fault.seed)

    def clear(self) -> None:
        self._fault, self._left = None, 0

    def _take(self, scope: dict) -> Fault | None:
        if self._fault is None or scope["path"].startswith(TEST_PREFIX):
            return None
        if self._fault.rate > 0:
            return self._fault if self._random.random() < self._fault.rate else None
        if self._left <= 0:
            return None
        self._left -= 1
        return self._fault

    async def handle(self, app: ASGIApp, scope: dict, receive: Callable, send: Callable) -> None:
        fault = self._take(scope)
        if fault is None:
            await app(scope, receive, send)
        elif fault.after_effect:
            held: list[dict] = []

            async def hold(message: dict) -> None:
                held.append(message)

            await app(scope, receive, hold)
            await _fail(fault, send, held)
        else:
            await _fail(fault, send, None)


async def _fail(fault: Fault, send: Callable, held: list[dict] | None) -> None:
    if fault.mode == "500":
        await _send_json(send, 500, error_body("injected_fault", "injected server error (test mode)"))
    elif fault.mode == "timeout":
        await asyncio.sleep(fault.seconds)
        if held is None:
            await _send_json(send, 503, error_body("injected_timeout", "injected slow answer (test mode)"))
        else:
            for message in held:
                await send(message)
    else:
        await _drop(send)


async def _send_json(send: Callable, status: int, body: dict) -> None:
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


async def _drop(send: Callable) -> None:
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise ConnectionDropped("injected dropped connection (test mode)")
    transport.close()
    # Let connection_lost run, so uvicorn sees the client gone and does not try a 500.
    await asyncio.sleep(0)
