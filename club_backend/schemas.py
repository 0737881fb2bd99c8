"""Request and response bodies: what ``openapi.json`` documents and requests are checked against."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,39}$"
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
CLUB_TIME_EXAMPLE = "2026-11-28T10:00"


class _Strict(BaseModel):
    # Unknown fields are refused rather than ignored: a typo must not silently do less.
    model_config = ConfigDict(extra="forbid")


class InvitationRequest(_Strict):
    username: str = Field(pattern=USERNAME_PATTERN, examples=["tk_2009"])
    name: str = Field(min_length=1, max_length=100, examples=["Tim Keller"])
    email: str = Field(pattern=EMAIL_PATTERN, max_length=254, examples=["tim.keller@example.org"])


class MoveRequest(_Strict):
    start: str = Field(description="New start, local club time without timezone; the duration is kept.",
                       examples=[CLUB_TIME_EXAMPLE])
    court: str | None = Field(default=None, description="New court; leave out to keep the court.",
                              examples=["Court 3"])


class Member(BaseModel):
    username: str
    name: str
    email: str
    status: Literal["active", "invited"]


class MemberEnvelope(BaseModel):
    member: Member


class InvitationResult(BaseModel):
    member: Member
    invitation_sent_to: str = Field(description="The address the set-password link was sent to.")


class PasswordResetResult(BaseModel):
    sent_to: str = Field(description="The member's address on file, where the reset link was sent.")


class Booking(BaseModel):
    booking_id: str = Field(examples=["BK-48213"])
    username: str
    court: str = Field(examples=["Court 3"])
    start: str = Field(examples=[CLUB_TIME_EXAMPLE])
    end: str = Field(examples=["2026-11-28T11:00"])
    status: Literal["active", "cancelled"]


class BookingEnvelope(BaseModel):
    booking: Booking


class BookingList(BaseModel):
    bookings: list[Booking]


class Availability(BaseModel):
    court: str
    date: str = Field(examples=["2026-11-28"])
    free: list[str] = Field(description="Starts of the free one-hour slots, local club time.")


class Health(BaseModel):
    status: Literal["ok"]


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable reason, e.g. cancellation_window_closed.")
    message: str = Field(description="Human-readable explanation.")


class ErrorResponse(BaseModel):
    error: ErrorDetail
