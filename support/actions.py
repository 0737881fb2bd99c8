"""From a triaged ticket to the one backend call its category names, with checked parameters.

The model only proposes; this module maps a category to a fixed allow-list of operations,
fills their parameters from the (operator-edited) fields, and checks them against the club
backend before anything is executed: the member exists, the booking is theirs, and the
sender writes from the address the club has on file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time
from email.utils import parseaddr

from integrations.club_api import ClubApi, Member

SENDER_MISMATCH = "sender does not match account"
"""Prefix of the flag that makes execution need an operator override with a reason."""


class ActionProblem(ValueError):
    """The action cannot run as the ticket stands: the operator must edit the fields or reject."""


@dataclass(frozen=True)
class Action:
    kind: str
    """One of ``invite_member``, ``password_reset``, ``cancel_booking``, ``move_booking``."""
    params: dict
    """JSON-able parameters; stored with the idempotency key before the call."""


def ticket_fields(ticket: dict) -> dict:
    """The triage fields with the operator's edits applied."""
    fields = dict(ticket["triage"] or {})
    fields.update((ticket["edits"] or {}).get("fields", {}))
    return fields


def plan_action(fields: dict) -> Action | None:
    """The call a category names; None for ``other`` (a reply, no backend change)."""
    category = fields["category"]
    if category == "other":
        return None
    if category == "add_user":
        missing = [name for name in ("username", "member_email") if not fields.get(name)]
        if missing:
            raise ActionProblem(f"the new account needs {' and '.join(missing)}")
        name = fields.get("member_name") or fields["username"]
        return Action("invite_member", {"username": fields["username"], "name": name,
                                        "email": fields["member_email"]})
    if category == "reset_password":
        return Action("password_reset", {"username": fields.get("username")})
    if not fields.get("booking_id"):
        raise ActionProblem("no booking id: add it to the fields")
    if category == "cancel_booking":
        return Action("cancel_booking", {"booking_id": fields["booking_id"]})
    if not (fields.get("new_date") or fields.get("new_time")):
        raise ActionProblem("no new date or time for the booking")
    return Action("move_booking", {"booking_id": fields["booking_id"], "new_date": fields.get("new_date"),
                                   "new_time": fields.get("new_time"), "court": fields.get("new_court")})


def check_action(action: Action, fields: dict, sender: str, api: ClubApi) -> tuple[Action, list[str]]:
    """Validate ``action`` against the backend; returns it completed (e.g. the account found
    from the sender's address) plus flags a person must see. Raises ActionProblem."""
    address = parseaddr(sender)[1].lower()
    if action.kind == "invite_member":
        if api.find_member(username=action.params["username"]):
            raise ActionProblem(f"username {action.params['username']} is already taken")
        return action, []
    if action.kind == "password_reset":
        username = action.params["username"]
        member = api.find_member(username=username) if username else api.find_member(email=address)
        if member is None:
            raise ActionProblem(f"no account {username}" if username else f"no account with the address {address}")
        return Action("password_reset", {"username": member.username}), sender_flags(member, address)
    booking = api.booking(action.params["booking_id"])
    if booking is None:
        raise ActionProblem(f"booking {action.params['booking_id']} does not exist")
    if fields.get("username") and fields["username"].lower() != booking.username.lower():
        raise ActionProblem(f"booking {booking.booking_id} belongs to another member, not {fields['username']}")
    member = api.find_member(username=booking.username)
    flags = sender_flags(member, address) if member else [f"{SENDER_MISMATCH}: the booking's member is unknown"]
    if action.kind == "move_booking":
        start = new_start(_as_datetime(booking.start), action.params["new_date"], action.params["new_time"])
        params = {**action.params, "start": start.isoformat(timespec="minutes")}
        return Action("move_booking", params), flags
    return action, flags


def sender_flags(member: Member, address: str) -> list[str]:
    if member.email.lower() == address:
        return []
    return [f"{SENDER_MISMATCH}: {member.username}'s address on file is not the sender's"]


def new_start(current: datetime, new_date: str | None, new_time: str | None) -> datetime:
    """The requested start: a stated date and/or time, the booking's own for what is not stated."""
    day = date.fromisoformat(new_date) if new_date else current.date()
    try:
        hour = time.fromisoformat(new_time) if new_time else current.time()
    except ValueError as error:
        raise ActionProblem(f"cannot read the new time {new_time!r}") from error
    return datetime.combine(day, hour)


def run_action(action: Action, api: ClubApi, idempotency_key: str) -> dict:
    """Execute the checked action; returns what the backend confirmed. Club API errors propagate."""
    params = action.params
    if action.kind == "invite_member":
        invitation = api.invite_member(params["username"], params["name"], params["email"],
                                       idempotency_key=idempotency_key)
        return _plain(invitation)
    if action.kind == "password_reset":
        reset = api.request_password_reset(params["username"], idempotency_key=idempotency_key)
        return {**_plain(reset), "username": params["username"]}
    if action.kind == "cancel_booking":
        return _plain(api.cancel_booking(params["booking_id"], idempotency_key=idempotency_key))
    start = datetime.fromisoformat(params["start"])
    return _plain(api.move_booking(params["booking_id"], start, params.get("court"),
                                   idempotency_key=idempotency_key))


def _as_datetime(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _plain(result) -> dict:
    """A dataclass result as JSON-able values (datetimes as ISO text)."""
    data = asdict(result)
    return {key: value.isoformat(timespec="minutes") if isinstance(value, datetime) else value
            for key, value in data.items()}
