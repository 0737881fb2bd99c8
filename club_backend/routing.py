"""What every route shares: the database, the clock, the Idempotency-Key and the error docs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from club_backend import idempotency
from club_backend.db import Database
from club_backend.schemas import ErrorResponse


def _database(request: Request) -> Database:
    return request.app.state.database


def _now(request: Request) -> datetime:
    return request.app.state.clock()


DatabaseDep = Annotated[Database, Depends(_database)]
NowDep = Annotated[datetime, Depends(_now)]
IdempotencyKey = Annotated[str, Header(
    alias="Idempotency-Key", min_length=1, max_length=255,
    description="Required on every POST. The same key with the same request replays the first answer "
                "and the effect happens once; the same key with another request is refused (409).")]


def write(request: Request, database: Database, now: datetime, key: str, payload: dict | None,
          action: idempotency.Action) -> JSONResponse:
    """Run ``action`` once per key and answer with its (possibly replayed) status and body."""
    request_fingerprint = idempotency.fingerprint(request.method, request.url.path, payload)
    outcome = idempotency.run_once(database, key, request_fingerprint, action, now)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


def refusals(codes: dict[int, str]) -> dict:
    """OpenAPI docs of a route's error answers; every route can also answer 401 and 422."""
    documented = {401: "unauthorized", 422: "invalid_request", **codes}
    return {status: {"model": ErrorResponse, "description": f"error.code: {names}"}
            for status, names in sorted(documented.items())}


WRITE_REFUSAL = "idempotency_key_reused"
