"""The club backend calls a ticket can lead to: one definition per action kind.

The model only proposes a category; this module maps it to a fixed allow-list of operations
(OWASP LLM01: the mail is data, code decides what can run). Each :class:`ActionKind` says, in
one place, everything about its operation: the category that names it, how its parameters are
built from the (operator-edited) fields, how they are checked against the backend before
approval, the request it sends (the same object the operator is shown), and what its answer
means for the reply and for the operator's one-line outcome. An unknown kind raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import ClassVar, NamedTuple

from core.settings import Settings
from core.text import unseen
from integrations.club_api import (
    Booking,
    ClubApi,
    ClubRequest,
    Member,
    cancel_request,
    invite_request,
    move_request,
    password_reset_request,
    read_answer,
)
from integrations.sender_auth import address_key, looks_alike, same_organisation, sender_address
from model.replies import club_role_words
from model.schema import FIELDS
from support.pseudonymise import PUBLIC_MAIL_DOMAINS, fold, name_lists

SENDER_MISMATCH = "sender does not match account"
"""Prefix of the flag that makes execution need an operator override with a reason."""
NON_MEMBER_INVITE = "invitation requested by a non-member"
"""Prefix of the flag on an add_user ticket whose sender has no account (unless self-service sign-up is on)."""
NEW_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,39}")
"""A new account's username as the club API contract allows it (club_backend/openapi.json; a test
holds the two equal): checked before approval, so a slip is fixed by the operator, never refused
by the club in a mail to the member."""
_USERNAME_SEPARATORS = re.compile(r"[._-]")
LOOKALIKE_USERNAME = "the new username looks like a member's"
"""Prefix of the flag for an invitation whose login differs from a member's only by case or by
``.``/``_``/``-`` (``anna_berg`` beside ``anna.berg``): a new account posing as that member."""
CHECK_THE_CLUB_ASKED = "check that the club itself asked for this account: members would take its mail for the club's"
CLUB_ROLE_NAME = "the new account is named like the club's own staff"
"""Prefix of the flag for an invitation whose login, name or address reads as a role of the club
("office", "Tennis Club Office", "clubsecretary", admin@...): members would take its mail and its
bookings for the club's. The club API has no search by name, so the words decide."""


def lookalike_usernames(username: str) -> list[str]:
    """The logins that read as ``username`` to a person: the same letters with each separator
    written as ``.``, ``_``, ``-`` or left out, in its own case or lower case (at most 8)."""
    variants = {_USERNAME_SEPARATORS.sub(separator, username) for separator in (".", "_", "-", "")}
    variants |= {variant.lower() for variant in variants}
    variants.discard(username)
    return sorted(variant for variant in variants if NEW_USERNAME.fullmatch(variant))


def club_role_findings(params: dict) -> list[str]:
    """The flag for a new account named as a role of the club (``club_role_words``), or []. A name
    with a first name in it is a person's, whatever its surname (Jürgen Kasse, Julien Bureau, Tom
    Manager); a login or an address is what the requester chose, so there a role word counts."""
    read_as = [("login", params["username"], params["username"]), ("name", params["name"], params["name"]),
               ("address", params["email"], params["email"].rpartition("@")[0])]
    found = {what: (value, roles) for what, value, words in read_as if (roles := club_role_words(words))
             and not (what == "name" and _holds_a_first_name(value))}
    if not found:
        return []
    roles = ", ".join(dict.fromkeys(role for _, named in found.values() for role in named))
    names = ", ".join(f"{what} {value!r}" for what, (value, _) in found.items())
    return [f"{CLUB_ROLE_NAME} ({roles}): {names}; {CHECK_THE_CLUB_ASKED}"]


def _holds_a_first_name(name: str) -> bool:
    firsts = name_lists()[0]
    return any(fold(word) in firsts for word in re.findall(r"[^\W\d_]+", name))


CLUB_DOMAIN_ADDRESS = "the new account's address reads as the club's"
"""Prefix of the flag for an invitation to an address on the club's own domain, or on one made to
look like it (``c1ub.example``): its invitation, and every mail from it later, would read as the
club's."""


def club_domain_findings(new_address: str, club_address: str) -> list[str]:
    """The flag for a new account whose address is on the domain of ``club_address`` (the desk's
    From), or on a domain like it; [] otherwise, and where the desk writes from a public mail
    provider (tcnord@gmail.com: every member at gmail.com would be flagged)."""
    domain, club_domain = new_address.rpartition("@")[2], club_address.rpartition("@")[2]
    if club_domain.casefold() in PUBLIC_MAIL_DOMAINS:
        return []
    if same_organisation(domain, club_domain):
        reads_as = "is on"
    elif looks_alike(domain, club_domain):
        reads_as = "looks like"
    else:
        return []
    return [f"{CLUB_DOMAIN_ADDRESS}: {new_address} {reads_as} the club's domain {club_domain}; {CHECK_THE_CLUB_ASKED}"]


MOVE_HORIZON_DAYS: int = Settings.model_fields["move_horizon_days"].default
MOVE_FAR_AHEAD = "the new start is far ahead"
"""Prefix of the flag for a move beyond ``move_horizon_days`` from now: the club would book it."""
MOVE_CHANGES_NOTHING = "the move changes nothing"
"""Prefix of the flag for a move to the start (and court) the booking already has: the club would
"move" it in place and the member be told it was moved, where a date or time was misread."""

ONE_ADDRESS = re.compile(r"[^@\s,;<>()\"]+@[^@\s,;<>()\"]+\.[^@\s,;<>()\"]+")
"""A bare address (name@domain): no second address, display name or list that would reach someone else."""


class ActionProblem(ValueError):
    """The action cannot run as the ticket stands: the operator must edit the fields or reject."""


@dataclass(frozen=True)
class Action:
    """A planned call: its kind's name and JSON-able parameters (stored with the idempotency key)."""

    kind: str
    params: dict

    @property
    def definition(self) -> ActionKind:
        return action_kind(self.kind)

    @property
    def request(self) -> ClubRequest:
        """The exact request this action sends."""
        return self.definition.request(self.params)


class Checked(NamedTuple):
    """What checking an action against the backend found."""

    params: dict
    """The parameters as completed (the account found from the sender, the move's new start)."""
    flags: list[str]
    member: Member | None
    """The account the action concerns (or the requester of an invitation), when known."""


class ActionKind:
    """One operation of the club backend that a triage category names."""

    name: str
    """Stored in the actions table."""
    category: str
    """The triage category that asks for it."""
    changes_an_account: bool = True
    """It acts on an existing member's account: the sender must be that member, authenticated, and
    the reply goes to the address on file."""
    verbs: ClassVar[dict[str, str]] = {}
    """What the member asked us to do, per language, for a refusal ("we could not cancel ...")."""

    def build(self, fields: dict) -> dict:
        """The parameters from the ticket's fields; raises ActionProblem when one is missing."""
        raise NotImplementedError

    def check(self, params: dict, fields: dict, sender_address: str, api: ClubApi, *,
              self_service_signup: bool = False, earlier: dict | None = None,
              move_horizon_days: int = MOVE_HORIZON_DAYS) -> Checked:
        """Completed parameters (e.g. the account found from the sender), the flags a person must
        see and the account concerned, from the backend's records. ``earlier``: the parameters
        of this kind's call the ticket already made (or may have made), whose own effect must
        not be held against approving it again. ``move_horizon_days``: the setting of that name.
        Raises ActionProblem."""
        raise NotImplementedError

    def request(self, params: dict) -> ClubRequest:
        raise NotImplementedError

    def result(self, answer: dict, params: dict) -> dict:
        """What to store of the backend's answer; raises KeyError, TypeError or ValueError when
        it lacks what the contract promises (the reply is built from it)."""
        raise NotImplementedError

    def expected(self, params: dict) -> dict:
        """The stored result if the backend does exactly as asked: for previewing the reply."""
        return dict(params)

    def confirmed_fields(self, result: dict) -> dict:
        """The reply template's fields from what the backend confirmed, never from the request."""
        raise NotImplementedError

    def success_text(self, result: dict) -> str:
        """What happened, in a few words for the operator."""
        raise NotImplementedError


class InviteMember(ActionKind):
    """A new account: the requester is whoever wrote (a parent, a coach, the new member)."""

    name, category, changes_an_account = "invite_member", "add_user", False

    def build(self, fields: dict) -> dict:
        missing = [name for name in ("username", "member_email") if not fields.get(name)]
        if missing:
            raise ActionProblem(f"the new account needs {' and '.join(missing)}")
        if not NEW_USERNAME.fullmatch(fields["username"]):
            raise ActionProblem(f"the username {fields['username']!r} is not one the club accepts: 2 to 40 letters, "
                                "digits, '.', '_' or '-', starting with a letter or digit")
        if not ONE_ADDRESS.fullmatch(fields["member_email"]):
            raise ActionProblem(f"the new member's email {fields['member_email']!r} is not one address "
                                "(name@domain)")
        return {"username": fields["username"], "name": fields.get("member_name") or fields["username"],
                "email": fields["member_email"]}

    def check(self, params, fields, sender_address, api, *, self_service_signup=False, earlier=None,
              move_horizon_days=MOVE_HORIZON_DAYS):
        made_earlier = earlier is not None and earlier.get("username") == params["username"]
        if not made_earlier and api.find_member(username=params["username"]):  # ours: replayed by its key
            raise ActionProblem(f"username {params['username']} is already taken")
        # one request per reading (at most 8): the contract has no search by name or likeness
        lookalikes = [f"{LOOKALIKE_USERNAME}: {params['username']} reads as the member {member.username} "
                      f"({member.name})" for variant in lookalike_usernames(params["username"])
                      if (member := api.find_member(username=variant)) is not None]
        lookalikes += club_role_findings(params)
        requester = api.find_member(email=sender_address) if sender_address else None
        if requester is not None:  # recorded with the action (not sent: the invitation is the new member's)
            return Checked({**params, "requested_by": requester.username}, lookalikes, requester)
        if self_service_signup:
            return Checked(params, lookalikes, None)
        flag = f"{NON_MEMBER_INVITE} ({sender_address or 'no address'}), and self-service sign-up is off"
        return Checked(params, [flag, *lookalikes], None)

    def request(self, params):
        return invite_request(params["username"], params["name"], params["email"])

    def result(self, answer, params):
        return {"member": _object(answer["member"], "username", "name"),
                "sent_to": _text(answer["invitation_sent_to"])}

    def expected(self, params):
        return {"member": {"username": params["username"], "name": params["name"]}, "sent_to": params["email"]}

    def confirmed_fields(self, result):
        member = result.get("member", {})
        return {"username": member.get("username"), "member_name": member.get("name"),
                "member_email": result.get("sent_to")}

    def success_text(self, result):
        return f"invitation for {result.get('member', {}).get('username')} sent to {result.get('sent_to')}"


class PasswordReset(ActionKind):
    name, category = "password_reset", "reset_password"

    def build(self, fields):
        return {"username": fields.get("username")}

    def check(self, params, fields, sender_address, api, *, self_service_signup=False, earlier=None,
              move_horizon_days=MOVE_HORIZON_DAYS):
        username = params["username"]
        if not username and not sender_address:
            raise ActionProblem("no username, and the From holds no single address to find the account by: "
                                "add the username to the fields")
        member = api.find_member(username=username) if username else api.find_member(email=sender_address)
        if member is None:
            raise ActionProblem(f"no account {username}" if username else
                                f"no account with the address {sender_address}")
        return Checked({"username": member.username}, sender_flags(member, sender_address), member)

    def request(self, params):
        return password_reset_request(params["username"])

    def result(self, answer, params):
        return {**answer, "sent_to": _text(answer["sent_to"]), "username": params["username"]}

    def confirmed_fields(self, result):
        return {"username": result.get("username")}

    def success_text(self, result):
        return f"reset link sent to {result.get('sent_to')}"


class _BookingAction(ActionKind):
    """Cancel and move: the booking must exist, belong to the named member, and the sender must
    write from that member's address on file."""

    def build(self, fields):
        if not fields.get("booking_id"):
            raise ActionProblem("no booking id: add it to the fields")
        return {"booking_id": fields["booking_id"]}

    status_after: ClassVar[str]
    """The booking's status in the club's answer once this action is done (the contract's enum)."""

    def result(self, answer, params):
        booking = _object(answer["booking"], "booking_id", "start", "court", "status")
        if booking["status"] != self.status_after:
            # a 2xx whose booking says otherwise (a cancellation answered "active") is no outcome to
            # tell the member: read as an unreadable answer, retried with its key, parked after three
            raise ValueError(f"the booking's status is {str(booking['status'])[:40]!r} after the {self.name}, "
                             f"not {self.status_after!r}")
        return booking

    def check(self, params, fields, sender_address, api, *, self_service_signup=False, earlier=None,
              move_horizon_days=MOVE_HORIZON_DAYS):
        booking = api.booking(params["booking_id"])
        if booking is None:
            raise ActionProblem(f"booking {params['booking_id']} does not exist")
        if booking.booking_id.casefold() != params["booking_id"].casefold():
            # the owner checked below would be another booking's, while the call names this one
            raise ActionProblem(f"asked for booking {params['booking_id']}, the club answered with "
                                f"{booking.booking_id}: check the booking id, or ask the club's system administrator")
        if fields.get("username") and fields["username"].lower() != booking.username.lower():
            raise ActionProblem(f"booking {booking.booking_id} belongs to another member, not {fields['username']}")
        member = api.find_member(username=booking.username)
        flags = sender_flags(member, sender_address) if member else [
            f"{SENDER_MISMATCH}: the booking's member is unknown"]
        completed = self.complete(params, booking.start)
        return Checked(completed, flags + self.findings(completed, booking, move_horizon_days), member)

    def complete(self, params: dict, current_start: datetime) -> dict:
        return params

    def findings(self, params: dict, booking: Booking, move_horizon_days: int) -> list[str]:
        """What a person must see about a call the club would carry out as asked."""
        return []


class CancelBooking(_BookingAction):
    name, category = "cancel_booking", "cancel_booking"
    status_after = "cancelled"
    verbs: ClassVar[dict[str, str]] = {"en": "cancel", "de": "stornieren", "fr": "annuler", "es": "cancelar"}

    def request(self, params):
        return cancel_request(params["booking_id"])

    def confirmed_fields(self, result):
        return {"booking_id": result.get("booking_id")}

    def success_text(self, result):
        return f"{result.get('booking_id')} cancelled"


class MoveBooking(_BookingAction):
    name, category = "move_booking", "modify_booking"
    status_after = "active"
    verbs: ClassVar[dict[str, str]] = {"en": "move", "de": "verlegen", "fr": "déplacer", "es": "cambiar"}

    def build(self, fields):
        params = super().build(fields)
        if not (fields.get("new_date") or fields.get("new_time")):
            raise ActionProblem("no new date or time for the booking")
        return {**params, "new_date": fields.get("new_date"), "new_time": fields.get("new_time"),
                "court": fields.get("new_court")}

    def complete(self, params, current_start):
        start = new_start(current_start, params["new_date"], params["new_time"])
        return {**params, "start": start.isoformat(timespec="minutes")}

    def findings(self, params, booking, move_horizon_days):
        # a start in the past, or a booking that has started, the club refuses by itself
        start, booking_id = datetime.fromisoformat(params["start"]), booking.booking_id
        findings = []
        if start - datetime.now() > timedelta(days=move_horizon_days):
            findings.append(f"{MOVE_FAR_AHEAD}: {booking_id} would move to {start:%Y-%m-%d %H:%M}, "
                            f"{(start.date() - date.today()).days} days from now, beyond the {move_horizon_days} days "
                            "any booking is taken for: check the date the mail asks for (a year written wrong, or a "
                            "mail dated wrong)")
        same_court = not params.get("court") or params["court"].casefold() == booking.court.casefold()
        if start == booking.start and same_court:
            findings.append(f"{MOVE_CHANGES_NOTHING}: {booking_id} already starts at {start:%Y-%m-%d %H:%M} on "
                            f"{booking.court}: check the date and time the mail asks for")
        return findings

    def request(self, params):
        return move_request(params["booking_id"], datetime.fromisoformat(params["start"]), params.get("court"))

    def result(self, answer, params):
        # what was asked, beside what the club booked: the reply states the booking, the operator
        # sees where it differs from the request
        return {**super().result(answer, params), "asked_start": params.get("start"),
                "asked_court": params.get("court")}

    def confirmed_fields(self, result):
        start = club_start(result.get("start"))
        if start is None:
            # the club's value as it came, under both names: no date or time is cut out of it, the
            # reply's shape check refuses it (the general sentence) and names it for the operator
            unread = result.get("start")
            return {"booking_id": result.get("booking_id"), "new_date": unread, "new_time": unread,
                    "new_court": result.get("court")}
        return {"booking_id": result.get("booking_id"), "new_date": start.date().isoformat(),
                "new_time": start.strftime("%H:%M"), "new_court": result.get("court")}

    def success_text(self, result):
        start = club_start(result.get("start"))
        booked = (start.strftime("%Y-%m-%d %H:%M") if start else
                  f"a start that is no date and time ({str(result.get('start'))[:40]!r}: check the booking)")
        text = f"{result.get('booking_id')} moved to {booked}, court {result.get('court')}"
        return f"{text} ({'; '.join(differences)})" if (differences := move_differences(result)) else text


def club_start(value: object) -> datetime | None:
    """A booking's start as the club's contract gives it (local club time to the minute, e.g.
    "2026-11-28T10:00"), read whole; None for anything else: text around it, a day without a time,
    seconds, or an offset (the reply states club time, and an offset's time is another one)."""
    if not isinstance(value, str):
        return None
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        return None
    if start.tzinfo is not None or start.second or start.microsecond or _reads_as_day(value):
        return None
    return start


def _reads_as_day(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def move_differences(result: dict) -> list[str]:
    """Where the club's move differs from the one asked for, in words for the operator; [] when it
    booked what was asked (or the result predates storing the request)."""
    differences = []
    booked, asked = club_start(result.get("start")), club_start(result.get("asked_start"))
    if booked and asked and booked != asked:
        differences.append(f"not the {asked:%Y-%m-%d %H:%M} asked for")
    asked_court = result.get("asked_court")
    if asked_court and str(result.get("court")).casefold() != str(asked_court).casefold():
        differences.append(f"not the court {str(asked_court)[:40]!r} asked for")
    return differences


ACTION_KINDS: dict[str, ActionKind] = {kind.name: kind for kind in
                                       (InviteMember(), PasswordReset(), CancelBooking(), MoveBooking())}
_BY_CATEGORY = {kind.category: kind for kind in ACTION_KINDS.values()}
ACCOUNT_CATEGORIES = frozenset(kind.category for kind in ACTION_KINDS.values() if kind.changes_an_account)
"""Categories whose action changes an existing member's account (reset, cancel, move)."""


def action_kind(name: str) -> ActionKind:
    """The definition of a stored kind; an unknown one is an error, never a fallback."""
    try:
        return ACTION_KINDS[name]
    except KeyError:
        raise ValueError(f"unknown action kind {name!r}") from None


def plan_action(fields: dict) -> Action | None:
    """The call the category names; None for ``other`` (a reply, no backend change)."""
    category = fields["category"]
    if category == "other":
        return None
    kind = _BY_CATEGORY.get(category)
    if kind is None:
        raise ActionProblem(f"unknown category {category!r}")
    return Action(kind.name, kind.build(call_fields(fields)))


def call_fields(fields: dict) -> dict:
    """The fields as a call's parameters come from them: surrounding whitespace dropped (nothing
    left: no value). A value holding a line break, a control or an invisible character, or
    whitespace other than a plain space, is refused, naming it: the confirmation would show a
    call that looks like another (``BK-48213`` and ``BK-48213`` + U+200B; an address split by a
    line break), and the club would act on, or refuse in a mail to the member, what nobody saw."""
    cleaned = dict(fields)
    for name in FIELDS:
        value = fields.get(name)
        if not isinstance(value, str):
            continue
        value = value.strip()
        if any(unseen(char) or (char.isspace() and char != " ") for char in value):
            raise ActionProblem(f"the {name.replace('_', ' ')} {value!r} holds a line break or a character "
                                "the confirmation cannot show: type it again")
        cleaned[name] = value or None
    return cleaned


def check_action(action: Action, fields: dict, sender: str, api: ClubApi, *,
                 self_service_signup: bool = False, earlier: dict | None = None,
                 move_horizon_days: int = MOVE_HORIZON_DAYS) -> tuple[Action, Checked]:
    """Validate ``action`` against the backend; returns it completed, and what the check found.
    ``earlier``, ``move_horizon_days``: see ActionKind.check."""
    # never the first of several addresses (parseaddr's reading): a From without exactly one matches no account
    checked = action.definition.check(action.params, call_fields(fields), sender_address(sender) or "", api,
                                      self_service_signup=self_service_signup, earlier=earlier,
                                      move_horizon_days=move_horizon_days)
    return Action(action.kind, checked.params), checked


def run_action(action: Action, api: ClubApi, idempotency_key: str) -> dict:
    """Send the checked action's request; returns what to store of the backend's answer. An
    answer that lacks what the contract promises is no answer: ClubApiUnavailable, retried with
    the same key (the reply must not describe an outcome nobody could read)."""
    request = action.request
    answer = api.send(request, idempotency_key=idempotency_key)
    return read_answer(answer, lambda data: action.definition.result(data, action.params),
                       f"{request}: the club's answer")


def _object(value: object, *keys: str) -> dict:
    """``value`` as an answer's object, with a value for each of ``keys``."""
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    if missing := [key for key in keys if value.get(key) in (None, "")]:
        raise KeyError(", ".join(missing))
    return value


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def sender_flags(member: Member, address: str) -> list[str]:
    """The mismatch flag unless ``address`` is the member's on file, however either spells its case
    or its domain (punycode or not, a final dot)."""
    if address and address_key(member.email) == address_key(address):
        return []
    return [f"{SENDER_MISMATCH}: {member.username}'s address on file is not the sender's"]


def new_start(current: datetime, new_date: str | None, new_time: str | None) -> datetime:
    """The requested start: a stated date and/or time, the booking's own for what is not stated."""
    try:
        day = date.fromisoformat(new_date) if new_date else current.date()
    except ValueError as error:
        raise ActionProblem(f"cannot read the new date {new_date!r}: write it as YYYY-MM-DD") from error
    try:
        hour = time.fromisoformat(new_time) if new_time else current.time()
    except ValueError as error:
        raise ActionProblem(f"cannot read the new time {new_time!r}: write it as HH:MM") from error
    return datetime.combine(day, hour)
