"""Members: look up, invite (the club emails a set-password link), request a password reset.

AceDesk never sets or sends passwords: the club's system mails its own links, recorded
here in ``notifications``.
"""

from __future__ import annotations

import sqlite3

from fastapi import APIRouter, Request

from club_backend import db
from club_backend.errors import ApiError, invalid_request
from club_backend.routing import WRITE_REFUSAL, DatabaseDep, IdempotencyKey, NowDep, refusals, write
from club_backend.rules import format_club_time
from club_backend.schemas import InvitationRequest, InvitationResult, MemberEnvelope, PasswordResetResult

router = APIRouter(tags=["members"])


def member_not_found(username: str) -> ApiError:
    return ApiError(404, "member_not_found", f"no member with username {username!r}")


def existing_member(connection: sqlite3.Connection, username: str) -> dict:
    member = db.find_member(connection, username=username)
    if member is None:
        raise member_not_found(username)
    return member


@router.get("/members", response_model=MemberEnvelope, responses=refusals({404: "member_not_found"}),
            summary="Find a member by username or by email (case-insensitive)")
def find_member(database: DatabaseDep, username: str | None = None, email: str | None = None) -> dict:
    if (username is None) == (email is None):
        raise invalid_request("give exactly one of the query parameters username and email")
    with database.reading() as connection:
        member = db.find_member(connection, username=username, email=email)
    if member is None:
        raise ApiError(404, "member_not_found", "no member with that username" if username is not None
                       else "no member with that email address")
    return {"member": member}


@router.post("/members/invitations", status_code=201, response_model=InvitationResult,
             responses=refusals({409: f"username_taken, email_taken, {WRITE_REFUSAL}"}),
             summary="Add a member as invited and email them a set-password link")
def invite_member(request: Request, invitation: InvitationRequest, database: DatabaseDep, now: NowDep,
                  idempotency_key: IdempotencyKey):
    def invite(connection: sqlite3.Connection) -> tuple[int, dict]:
        if db.find_member(connection, username=invitation.username):
            raise ApiError(409, "username_taken", f"the username {invitation.username!r} is taken")
        if db.find_member(connection, email=invitation.email):
            raise ApiError(409, "email_taken", "a member with that email address exists")
        at = format_club_time(now)
        db.insert_member(connection, invitation.username, invitation.name.strip(), invitation.email, "invited")
        db.add_notification(connection, "invitation", invitation.email, invitation.username, at)
        db.record_effect(connection, "invite", invitation.username, at)
        member = db.find_member(connection, username=invitation.username)
        return 201, {"member": member, "invitation_sent_to": invitation.email}

    return write(request, database, now, idempotency_key, invitation.model_dump(), invite)


@router.post("/members/{username}/password-reset", status_code=202, response_model=PasswordResetResult,
             responses=refusals({404: "member_not_found", 409: WRITE_REFUSAL}),
             summary="Email the member a password-reset link at the address on file")
def request_password_reset(request: Request, username: str, database: DatabaseDep, now: NowDep,
                           idempotency_key: IdempotencyKey):
    def send_reset_link(connection: sqlite3.Connection) -> tuple[int, dict]:
        member = existing_member(connection, username)
        at = format_club_time(now)
        db.add_notification(connection, "password_reset", member["email"], member["username"], at)
        db.record_effect(connection, "password_reset", member["username"], at)
        return 202, {"sent_to": member["email"]}

    return write(request, database, now, idempotency_key, None, send_reset_link)
