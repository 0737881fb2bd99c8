"""Bookings and courts: list, look up, cancel, move, free slots."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from club_backend import db
from club_backend.errors import ApiError, invalid_request
from club_backend.members import existing_member
from club_backend.routing import WRITE_REFUSAL, DatabaseDep, IdempotencyKey, NowDep, refusals, write
from club_backend.rules import (
    ensure_bookable,
    ensure_changeable,
    format_club_time,
    hourly_slots,
    parse_club_time,
)
from club_backend.schemas import Availability, BookingEnvelope, BookingList, MoveRequest

router = APIRouter(tags=["bookings"])


def existing_booking(connection: sqlite3.Connection, booking_id: str) -> dict:
    booking = db.find_booking(connection, booking_id)
    if booking is None:
        raise ApiError(404, "booking_not_found", f"no booking with id {booking_id!r}")
    return booking


@router.get("/members/{username}/bookings", response_model=BookingList,
            responses=refusals({404: "member_not_found"}), summary="A member's active bookings, by start")
def member_bookings(username: str, database: DatabaseDep) -> dict:
    with database.reading() as connection:
        member = existing_member(connection, username)
        return {"bookings": db.active_bookings_of(connection, member["username"])}


@router.get("/bookings/{booking_id}", response_model=BookingEnvelope,
            responses=refusals({404: "booking_not_found"}), summary="One booking, active or cancelled")
def get_booking(booking_id: str, database: DatabaseDep) -> dict:
    with database.reading() as connection:
        return {"booking": existing_booking(connection, booking_id)}


@router.post("/bookings/{booking_id}/cancel", response_model=BookingEnvelope,
             responses=refusals({404: "booking_not_found",
                                 409: f"cancellation_window_closed, already_cancelled, {WRITE_REFUSAL}"}),
             summary="Cancel a booking (up to 24 hours before its start)")
def cancel_booking(request: Request, booking_id: str, database: DatabaseDep, now: NowDep,
                   idempotency_key: IdempotencyKey):
    def cancel(connection: sqlite3.Connection) -> tuple[int, dict]:
        booking = existing_booking(connection, booking_id)
        ensure_changeable(booking, now, "cancelled")
        db.set_booking_status(connection, booking["booking_id"], "cancelled")
        db.record_effect(connection, "cancel", booking["booking_id"], format_club_time(now))
        return 200, {"booking": db.find_booking(connection, booking["booking_id"])}

    return write(request, database, now, idempotency_key, None, cancel)


@router.post("/bookings/{booking_id}/move", response_model=BookingEnvelope,
             responses=refusals({404: "booking_not_found",
                                 409: f"cancellation_window_closed, already_cancelled, slot_taken, {WRITE_REFUSAL}",
                                 422: "invalid_request, slot_in_past, outside_opening_hours"}),
             summary="Move a booking to another start (and court), keeping its duration")
def move_booking(request: Request, booking_id: str, move: MoveRequest, database: DatabaseDep, now: NowDep,
                 idempotency_key: IdempotencyKey):
    def reschedule(connection: sqlite3.Connection) -> tuple[int, dict]:
        start = parse_club_time(move.start)
        booking = existing_booking(connection, booking_id)
        # Moving gives up the old slot, so it follows the same window as cancelling.
        ensure_changeable(booking, now, "moved")
        court = _court_named(connection, move.court) if move.court is not None else booking["court"]
        end = start + (datetime.fromisoformat(booking["end"]) - datetime.fromisoformat(booking["start"]))
        ensure_bookable(start, end, now)
        _ensure_free(connection, court, start, end, except_booking=booking["booking_id"])
        db.reschedule_booking(connection, booking["booking_id"], court, format_club_time(start),
                              format_club_time(end))
        db.record_effect(connection, "move", booking["booking_id"], format_club_time(now))
        return 200, {"booking": db.find_booking(connection, booking["booking_id"])}

    return write(request, database, now, idempotency_key, move.model_dump(), reschedule)


@router.get("/courts/{court}/availability", response_model=Availability,
            responses=refusals({404: "court_not_found"}), summary="Free one-hour slots of a court on a day")
def court_availability(court: str, day: Annotated[date, Query(alias="date", examples=["2026-11-28"])],
                       database: DatabaseDep, now: NowDep) -> dict:
    with database.reading() as connection:
        name = db.find_court(connection, court)
        if name is None:
            raise ApiError(404, "court_not_found", f"there is no court named {court!r}")
        slots = hourly_slots(day)
        taken = db.active_bookings_on(connection, name, format_club_time(slots[0][0]),
                                      format_club_time(slots[-1][1]))
    free = [start for start, end in slots if start >= now and not _overlaps(start, end, taken)]
    return {"court": name, "date": day.isoformat(), "free": [format_club_time(start) for start in free]}


def _court_named(connection: sqlite3.Connection, court: str) -> str:
    name = db.find_court(connection, court)
    if name is None:
        raise invalid_request(f"there is no court named {court!r}")
    return name


def _ensure_free(connection: sqlite3.Connection, court: str, start: datetime, end: datetime,
                 except_booking: str) -> None:
    clashes = [other for other in db.active_bookings_on(connection, court, format_club_time(start),
                                                        format_club_time(end))
               if other["booking_id"] != except_booking]
    if clashes:
        # The other booking's member and id are not ours to reveal.
        raise ApiError(409, "slot_taken", f"{court} is already booked from {clashes[0]['start']} "
                                          f"to {clashes[0]['end']}")


def _overlaps(start: datetime, end: datetime, bookings: list[dict]) -> bool:
    return any(format_club_time(start) < other["end"] and other["start"] < format_club_time(end)
               for other in bookings)
