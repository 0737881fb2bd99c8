"""The club's rules: club time, opening hours, the cancellation window, free slots.

Club time is local wall-clock time without a timezone ("2026-11-28T10:00"): the club
lives in one place, and its members write times the way the clock on the wall shows them.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from club_backend.errors import ApiError, invalid_request

TIME_FORMAT = "%Y-%m-%dT%H:%M"
OPENS = time(7, 0)
CLOSES = time(22, 0)
CANCELLATION_WINDOW = timedelta(hours=24)


def format_club_time(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


def parse_club_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_request(f"start {text!r} is not an ISO 8601 time like 2026-11-28T10:00") from None
    if moment.tzinfo is not None:
        raise invalid_request("club times are local wall-clock times: leave out the timezone")
    # Bookings are kept to the minute; seconds would only make overlaps confusing.
    return moment.replace(second=0, microsecond=0)


def ensure_changeable(booking: dict, now: datetime, action: str) -> None:
    """Cancelling and moving are refused for cancelled bookings and inside the window."""
    if booking["status"] == "cancelled":
        raise ApiError(409, "already_cancelled", f"booking {booking['booking_id']} is already cancelled")
    start = datetime.fromisoformat(booking["start"])
    if start - now < CANCELLATION_WINDOW:
        hours = CANCELLATION_WINDOW.total_seconds() / 3600
        raise ApiError(409, "cancellation_window_closed",
                       f"bookings can only be {action} up to {hours:g} hours before they start; "
                       f"{booking['booking_id']} starts at {booking['start']}")


def ensure_bookable(start: datetime, end: datetime, now: datetime) -> None:
    if start < now:
        raise ApiError(422, "slot_in_past", f"{format_club_time(start)} is in the past")
    if start.time() < OPENS or end.date() != start.date() or end.time() > CLOSES:
        raise ApiError(422, "outside_opening_hours",
                       f"the club is open {OPENS:%H:%M}-{CLOSES:%H:%M}; "
                       f"{format_club_time(start)}-{end:%H:%M} is outside that")


def hourly_slots(day: date) -> list[tuple[datetime, datetime]]:
    opening = datetime.combine(day, OPENS)
    hours = CLOSES.hour - OPENS.hour
    return [(opening + timedelta(hours=h), opening + timedelta(hours=h + 1)) for h in range(hours)]
