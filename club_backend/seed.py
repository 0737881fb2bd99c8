"""The demo club: ten members, six courts and ten bookings.

Booking times are relative to the moment of seeding, so a freshly seeded club always has
future bookings: most lie two to six days ahead (outside the 24-hour cancellation
window), one (BK-61004) starts three hours from now (inside it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from club_backend import db
from club_backend.db import Database
from club_backend.rules import format_club_time


@dataclass(frozen=True)
class SeedMember:
    username: str
    name: str
    email: str


@dataclass(frozen=True)
class SeedBooking:
    """Starts ``day`` days after the seeding day at ``hour``, or, without a day,
    ``hours_after_now`` hours after the seeding moment rounded up to the hour."""

    booking_id: str
    username: str
    court: str
    day: int | None = None
    hour: int | None = None
    hours: int = 1
    hours_after_now: int | None = None

    def start(self, now: datetime) -> datetime:
        if self.day is None:
            return _ceil_hour(now) + timedelta(hours=self.hours_after_now)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight + timedelta(days=self.day, hours=self.hour)

    def end(self, now: datetime) -> datetime:
        return self.start(now) + timedelta(hours=self.hours)


SEED_MEMBERS = (
    SeedMember("anna.berg", "Anna Berg", "anna.berg@example.org"),
    SeedMember("mhoffmann", "Markus Hoffmann", "markus.hoffmann@example.de"),
    SeedMember("claire_d", "Claire Dubois", "claire.dubois@example.fr"),
    SeedMember("jgarcia", "Javier García", "javier.garcia@example.es"),
    SeedMember("pkowalski", "Piotr Kowalski", "piotr.k@example.com"),
    SeedMember("sarah.lee", "Sarah Lee", "sarah.lee@example.com"),
    SeedMember("tom_baker", "Tom Baker", "tom.baker@example.co.uk"),
    SeedMember("lena.fischer", "Lena Fischer", "lena.fischer@example.de"),
    SeedMember("coach_mike", "Mike Ross", "mike.ross@example.com"),
    SeedMember("evans_r", "Rachel Evans", "rachel.evans@example.com"),
)

SEED_COURTS = tuple(f"Court {number}" for number in range(1, 7))

SEED_BOOKINGS = (
    SeedBooking("BK-48213", "anna.berg", "Court 3", day=3, hour=18),
    SeedBooking("BK-30917", "mhoffmann", "Court 1", day=5, hour=10),
    SeedBooking("BK-73911", "claire_d", "Court 2", day=2, hour=9),
    SeedBooking("BK-22845", "sarah.lee", "Court 1", day=4, hour=17),
    SeedBooking("BK-90316", "lena.fischer", "Court 6", day=6, hour=19, hours=2),
    SeedBooking("BK-41772", "evans_r", "Court 2", day=3, hour=10),
    # Right after BK-41772 on the same court: moving BK-41772 one hour later is slot_taken.
    SeedBooking("BK-41773", "pkowalski", "Court 2", day=3, hour=11),
    SeedBooking("BK-55120", "jgarcia", "Court 5", day=4, hour=8),
    # Inside the 24-hour window: cancelling or moving it is cancellation_window_closed.
    SeedBooking("BK-61004", "tom_baker", "Court 4", hours_after_now=3),
    SeedBooking("BK-33333", "coach_mike", "Court 5", day=2, hour=16),
)


def seed(database: Database, now: datetime) -> None:
    """Replace everything in the database with the demo club, in one transaction."""
    with database.transaction() as connection:
        db.wipe(connection)
        for court in SEED_COURTS:
            db.insert_court(connection, court)
        for member in SEED_MEMBERS:
            db.insert_member(connection, member.username, member.name, member.email, "active")
        for booking in SEED_BOOKINGS:
            db.insert_booking(connection, {
                "booking_id": booking.booking_id, "username": booking.username, "court": booking.court,
                "start": format_club_time(booking.start(now)), "end": format_club_time(booking.end(now)),
                "status": "active"})


def _ceil_hour(moment: datetime) -> datetime:
    hour = moment.replace(minute=0, second=0, microsecond=0)
    return hour if hour == moment else hour + timedelta(hours=1)
