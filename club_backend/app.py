"""The FastAPI app: bearer-token auth, routes, error shape and (in test mode) faults."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from club_backend import bookings, db, members, testing
from club_backend.db import Database
from club_backend.errors import ApiError, install_error_handlers
from club_backend.faults import FaultInjector
from club_backend.schemas import Health
from club_backend.seed import seed

API_VERSION = "1.0.0"
DESCRIPTION = """\
The club's booking system as AceDesk sees it (a stand-in run by `python -m club_backend`).

* Every endpoint but `GET /health` needs `Authorization: Bearer <token>`.
* Times are local club time without timezone, e.g. `2026-11-28T10:00`.
* Every POST needs an `Idempotency-Key` header. The same key with the same request replays
  the first answer (with `Idempotent-Replayed: true`) and the effect happens once; the same
  key with a different request is refused with 409 `idempotency_key_reused`.
* Every error is `{"error": {"code": "<machine_code>", "message": "<human text>"}}`.
"""

_bearer = HTTPBearer(auto_error=False, description="The API token shared with AceDesk.")


class ClubApp(FastAPI):
    """FastAPI with the fault layer outside everything else (test mode only)."""

    faults: FaultInjector | None = None

    async def __call__(self, scope, receive, send) -> None:
        if self.faults is not None and scope["type"] == "http":
            await self.faults.handle(super().__call__, scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def require_token(request: Request,
                  credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    expected = request.app.state.token.encode()
    # compare_digest: the time taken must not tell how much of a guessed token was right.
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), expected):
        raise ApiError(401, "unauthorized", "a valid bearer token is required",
                       headers={"WWW-Authenticate": "Bearer"})


health_router = APIRouter(tags=["health"])


@health_router.get("/health", response_model=Health, summary="Liveness; needs no token")
def health() -> dict:
    return {"status": "ok"}


def create_app(db_path: str | Path, token: str, test_mode: bool = False, *,
               clock: Callable[[], datetime] = datetime.now) -> ClubApp:
    """The app on the SQLite file ``db_path`` (created and seeded when empty).

    ``clock`` gives the club's local time; tests may pass a fixed one.
    """
    if not token:
        raise ValueError("the club backend needs a bearer token")
    database = _open(db_path, clock)
    # No /docs or /openapi.json: they would be endpoints without auth. The contract is
    # the committed openapi.json (python -m club_backend.openapi).
    app = ClubApp(title="Club booking system (AceDesk stand-in)", version=API_VERSION, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.database = database
    app.state.token = token
    app.state.clock = clock
    install_error_handlers(app)
    authenticated = [Depends(require_token)]
    app.include_router(health_router)
    app.include_router(members.router, dependencies=authenticated)
    app.include_router(bookings.router, dependencies=authenticated)
    if test_mode:
        app.faults = FaultInjector()
        app.include_router(testing.router, dependencies=authenticated)
    return app


def _open(db_path: str | Path, clock: Callable[[], datetime]) -> Database:
    database = Database(db_path)
    database.initialise()
    with database.reading() as connection:
        empty = db.is_empty(connection)
    if empty:
        seed(database, clock())
    return database
