"""Routes that exist only in test mode: arm faults, count effects, reset the club.

They sit under ``/_test/``, need the bearer token like the API, are left out of the
contract, take no Idempotency-Key and are never hit by injected faults.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from club_backend import db
from club_backend.faults import DEFAULT_TIMEOUT_SECONDS, Fault
from club_backend.routing import DatabaseDep, NowDep
from club_backend.seed import seed

router = APIRouter(prefix="/_test", include_in_schema=False)


class FaultRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["500", "timeout", "drop"]
    count: int = Field(default=1, ge=0, le=1000)
    after_effect: bool = False
    seconds: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0, le=60)
    rate: float = Field(default=0.0, ge=0, le=1)
    seed: int = 0


@router.post("/faults")
async def arm_faults(request: Request, fault: FaultRequest) -> dict:
    # async: runs on the event loop, where the fault layer reads the same state.
    request.app.faults.arm(Fault(**fault.model_dump()))
    return {"armed": fault.model_dump()}


@router.get("/effects")
def effects(database: DatabaseDep) -> dict:
    with database.reading() as connection:
        return {**db.effect_counts(connection), "notifications": db.notifications(connection)}


@router.post("/reset")
async def reset(request: Request, database: DatabaseDep, now: NowDep) -> dict:
    # async for the fault state, as above; reseeding a few rows is quick enough for the loop.
    request.app.faults.clear()
    seed(database, now)
    return {"status": "reset"}
