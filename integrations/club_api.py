"""Client for the club's booking system REST API (contract: ``club_backend/openapi.json``).

Every write carries an ``Idempotency-Key`` the caller chose and stored beforehand, which
makes writes safe to repeat: urllib3 retries GETs and POSTs alike on connection errors,
timeouts and 5xx, and a caller who got :class:`ClubApiUnavailable` may try again later with
the same key without the effect happening twice.

The errors say what to do next. :class:`NotFound`, :class:`Conflict` (the club refused:
cancellation window closed, slot taken, ...), :class:`InvalidRequest` and
:class:`AuthError` are final answers: repeating the request gives the same answer.
:class:`ClubApiUnavailable` means the outcome is unknown.

Every call has a deadline, as long as a server that says nothing at all would keep it waiting
(each try's connect and read timeouts, the backoff between tries): the read timeout bounds one
wait, so a server that drips its answer a byte at a time would otherwise hold an approval for
hours. An answer is read up to ``MAX_ANSWER_BYTES``, and redirects are never followed: a write
re-sent to where a ``Location`` points is not the request the operator confirmed.

The bearer token lives only in the session's headers: it is kept out of errors, reprs and
log lines, and no requests exception (whose ``.request`` carries the headers) is chained
onto ours.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Self, TypeVar
from urllib.parse import quote

import requests
from urllib3.util.retry import Retry

from core.http import TRANSPORT_ERRORS, BearerToken, WatchedAdapter, bounded_request
from core.settings import public_url
from integrations.mail_parsing import read_address_field

Timeout = float | tuple[float, float]
_T = TypeVar("_T")
RETRY_STATUSES = (500, 502, 503, 504)
UNKNOWN_OUTCOME_STATUSES = (408, 429)
"""Answers that say nothing of whether the club acted (a timeout, rate limiting)."""
_CLUB_TIME = "%Y-%m-%dT%H:%M"
MAX_ANSWER_BYTES = 1 << 20
"""The contract's answers are small objects (a member's bookings: a few KB); a longer one is not its words."""


class ClubApiError(Exception):
    """An answer from (or a failure to reach) the club's system."""

    retryable = False

    def __init__(self, message: str, *, code: str = "error", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status

    def __str__(self) -> str:
        where = f"HTTP {self.status}" if self.status is not None else "no answer"
        return f"{self.message} ({self.code}, {where})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, message={self.message!r})"


class NotFound(ClubApiError):
    """No such member, booking or court."""


class Conflict(ClubApiError):
    """The club refused the action (``code`` says why); retrying will not change that."""


class InvalidRequest(ClubApiError):
    """The request broke the contract or the club's rules (past slot, outside opening hours)."""


class AuthError(ClubApiError):
    """The token was refused: a configuration problem, not a member's."""


class ClubApiUnavailable(ClubApiError):
    """No definite answer (timeout, connection error, 5xx after retries, 408/429, or an answer
    not in the contract's shape): the outcome is unknown. Retry later with the same idempotency key."""

    retryable = True


@dataclass(frozen=True)
class Member:
    username: str
    name: str
    email: str
    status: str


@dataclass(frozen=True)
class Booking:
    booking_id: str
    username: str
    court: str
    start: datetime
    end: datetime
    status: str


@dataclass(frozen=True)
class Invitation:
    member: Member
    sent_to: str


@dataclass(frozen=True)
class ResetResult:
    sent_to: str


@dataclass(frozen=True)
class ClubRequest:
    """One write to the club's system, built once: shown to the operator before approval and
    sent as it is, so what was confirmed is what runs."""

    method: str
    path: str
    body: dict | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}"

    def text(self, base_url: str) -> str:
        """The request as it goes out (the Idempotency-Key is made and stored at approval)."""
        lines = [f"{self.method} {base_url.rstrip('/')}{self.path}", "Idempotency-Key: <new, stored before the call>"]
        if self.body is not None:
            lines += ["", json.dumps(self.body, indent=2, ensure_ascii=False)]
        return "\n".join(lines)


def invite_request(username: str, name: str, email: str) -> ClubRequest:
    return ClubRequest("POST", "/members/invitations", {"username": username, "name": name, "email": email})


def password_reset_request(username: str) -> ClubRequest:
    return ClubRequest("POST", f"/members/{_segment(username)}/password-reset")


def cancel_request(booking_id: str) -> ClubRequest:
    return ClubRequest("POST", f"/bookings/{_segment(booking_id)}/cancel")


def move_request(booking_id: str, start: datetime, court: str | None = None) -> ClubRequest:
    """``start`` is local club time (naive); ``court=None`` keeps the court."""
    if start.tzinfo is not None:
        raise ValueError("club times are local wall-clock times: pass a naive datetime")
    body = {"start": start.strftime(_CLUB_TIME)}
    if court is not None:
        body["court"] = court
    return ClubRequest("POST", f"/bookings/{_segment(booking_id)}/move", body)


class ClubApi:
    def __init__(self, base_url: str, token: str, timeout: Timeout = (3.05, 10), retries: int = 2,
                 backoff: float = 0.2):
        if not token:
            raise ValueError("ClubApi needs the club's API token")
        if any(char.isspace() or not char.isprintable() for char in token):
            # requests would refuse the header and quote it, token and all, in its error
            raise ValueError("the club's API token contains whitespace or control characters")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._session = _session(token, retries, backoff)
        self.deadline_s = _deadline_s(timeout, retries, backoff)

    def __repr__(self) -> str:
        return f"ClubApi(base_url={self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # Reads

    def health(self) -> bool:
        """True when the club's system answers; never raises."""
        try:
            return self._call("GET", "/health").get("status") == "ok"
        except ClubApiError:
            return False

    def find_member(self, username: str | None = None, email: str | None = None) -> Member | None:
        if (username is None) == (email is None):
            raise ValueError("give exactly one of username and email")
        params = {"username": username} if username is not None else {"email": email}
        try:
            return read_answer(self._call("GET", "/members", params=params), lambda a: _member(a["member"]))
        except NotFound:
            return None

    def member_bookings(self, username: str) -> list[Booking]:
        """Active bookings by start; raises NotFound for an unknown member."""
        answer = self._call("GET", f"/members/{_segment(username)}/bookings")
        return read_answer(answer, lambda a: [_booking(item) for item in a["bookings"]])

    def booking(self, booking_id: str) -> Booking | None:
        try:
            return read_answer(self._call("GET", f"/bookings/{_segment(booking_id)}"), lambda a: _booking(a["booking"]))
        except NotFound:
            return None

    def court_availability(self, court: str, day: date) -> list[datetime]:
        """Starts of the free one-hour slots of ``court`` on ``day``."""
        answer = self._call("GET", f"/courts/{_segment(court)}/availability", params={"date": day.isoformat()})
        return read_answer(answer, lambda a: [datetime.fromisoformat(start) for start in a["free"]])

    # Writes: each sends a ClubRequest (built by the functions below) with the caller's key.

    def send(self, request: ClubRequest, *, idempotency_key: str) -> dict:
        """Sends ``request`` exactly as built (the same object an operator was shown); returns the
        backend's answer. Raises the ClubApiError that says what to do next."""
        return self._call(request.method, request.path, body=request.body, key=idempotency_key)

    def invite_member(self, username: str, name: str, email: str, *, idempotency_key: str) -> Invitation:
        """Adds the member as invited; the club emails them a set-password link."""
        answer = self.send(invite_request(username, name, email), idempotency_key=idempotency_key)
        return read_answer(answer, lambda a: Invitation(member=_member(a["member"]), sent_to=a["invitation_sent_to"]))

    def request_password_reset(self, username: str, *, idempotency_key: str) -> ResetResult:
        """The club emails a reset link to the address on file."""
        answer = self.send(password_reset_request(username), idempotency_key=idempotency_key)
        return read_answer(answer, lambda a: ResetResult(sent_to=a["sent_to"]))

    def cancel_booking(self, booking_id: str, *, idempotency_key: str) -> Booking:
        answer = self.send(cancel_request(booking_id), idempotency_key=idempotency_key)
        return read_answer(answer, lambda a: _booking(a["booking"]))

    def move_booking(self, booking_id: str, start: datetime, court: str | None = None, *,
                     idempotency_key: str) -> Booking:
        """Moves to ``start`` (local club time, naive), keeping the duration; ``court=None`` keeps it."""
        answer = self.send(move_request(booking_id, start, court), idempotency_key=idempotency_key)
        return read_answer(answer, lambda a: _booking(a["booking"]))

    # Transport

    def _call(self, method: str, path: str, *, params: dict | None = None, body: dict | None = None,
              key: str | None = None) -> dict:
        if method == "POST" and not key:
            raise ValueError("every write needs an idempotency key")
        headers = {"Idempotency-Key": key} if key else None
        response, content = self._send(method, path, params=params, json=body, headers=headers)
        try:
            answer = json.loads(content)
        except (ValueError, RecursionError):  # RecursionError: arrays nested a hundred thousand deep
            answer = None
        if response.ok and isinstance(answer, dict):
            return answer
        raise self._error(response, answer)

    def _send(self, method: str, path: str, **options) -> tuple[requests.Response, bytes]:
        """The response and its body, read whole within the call's deadline (core/http.py)."""
        try:
            response, body = bounded_request(self._session, method, self.base_url + path, deadline_s=self.deadline_s,
                                             max_bytes=MAX_ANSWER_BYTES, timeout=self.timeout, **options)
        except TimeoutError as failure:
            reason = str(failure)
        except TRANSPORT_ERRORS as failure:
            reason = self._redact(_reason(failure))
        else:
            if len(body) <= MAX_ANSWER_BYTES:
                return response, body
            raise ClubApiUnavailable(f"{method} {path}: an answer longer than {MAX_ANSWER_BYTES} bytes "
                                     f"(HTTP {response.status_code}) is not the contract's",
                                     code="unexpected_answer", status=response.status_code)
        # Raised outside the except block: the requests exception must not become our
        # __context__, as its .request holds the Authorization header.
        raise ClubApiUnavailable(f"{method} {path}: no answer from the club's system ({reason})",
                                 code="unavailable")

    def _error(self, response: requests.Response, answer: object) -> ClubApiError:
        status = response.status_code
        detail = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(detail, dict) and not response.ok and status not in UNKNOWN_OUTCOME_STATUSES:
            code, message = str(detail.get("code", "error")), str(detail.get("message", ""))
            return _error_class(status)(self._redact(message), code=code, status=status)
        message = f"unexpected answer: HTTP {status} {response.reason}"
        if response.is_redirect:
            message += f" to {_redirect_target(response.headers['Location'])}, not followed: check ACEDESK_CLUB_API_URL"
        if status in (401, 403):
            return AuthError(message, code="unauthorized", status=status)
        # Not the contract's words (a proxy's HTML page, a cut-off body, a 2xx that is no object,
        # 408/429): the club may or may not have acted, and a retry with the same key tells.
        return ClubApiUnavailable(message, code="unexpected_answer", status=status)

    def _redact(self, text: str) -> str:
        # also as a repr quotes it (requests' header errors do)
        return text.replace(self._token, "***").replace(repr(self._token)[1:-1], "***")


def _session(token: str, retries: int, backoff: float) -> requests.Session:
    # Retrying POSTs is safe only because every POST carries an Idempotency-Key.
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, other=0,
                  allowed_methods=frozenset({"GET", "POST"}), status_forcelist=RETRY_STATUSES,
                  backoff_factor=backoff, raise_on_status=False)
    session = requests.Session()
    adapter = WatchedAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.auth = BearerToken(token)  # an auth, not a header: a ~/.netrc entry for the host cannot replace it
    session.headers["Accept"] = "application/json"
    return session


def _redirect_target(location: str) -> str:
    try:
        return public_url(location)  # a key in its query stays out of the message
    except ValueError:  # "http://[x", a port past 65535
        return "an address that is no URL"


def _deadline_s(timeout: Timeout, retries: int, backoff: float) -> float:
    # as long as a server that never answers keeps a call: a drip of bytes gets no longer
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return (retries + 1) * (connect + read) + backoff * 2 ** retries


def _reason(failure: Exception) -> str:
    # requests wraps urllib3's MaxRetryError, whose .reason is the last try's real failure; a
    # failure while reading the body comes from urllib3 (or the socket) itself.
    cause = failure.args[0] if isinstance(failure, requests.RequestException) and failure.args else failure
    cause = getattr(cause, "reason", None) or cause
    return f"{type(cause).__name__}: {cause}"


def _error_class(status: int) -> type[ClubApiError]:
    if status >= 500:
        return ClubApiUnavailable
    return {401: AuthError, 403: AuthError, 404: NotFound, 409: Conflict, 400: InvalidRequest,
            422: InvalidRequest}.get(status, ClubApiError)


def _segment(value: str) -> str:
    # A username or court name is one path segment, whatever it contains ("Court 3", "a/b").
    if value in ("", ".", ".."):
        # a URL drops these as dot segments ("/bookings/../cancel" goes out as "/cancel"), and
        # requests decodes "%2E" back to "." before urllib3 does: no record can be named so
        raise NotFound(f"{value!r} cannot name a record in a URL", code="unaddressable")
    return quote(value, safe="")


def read_answer(answer: dict, parse: Callable[[dict], _T], what: str = "the club's answer") -> _T:
    """``parse(answer)``; an answer without what the contract promises (``parse`` raises KeyError,
    TypeError or ValueError) is no answer: ClubApiUnavailable, as the outcome of a write is then
    unknown, and a retry with the same key tells."""
    try:
        return parse(answer)
    except (KeyError, TypeError, ValueError) as error:
        raise ClubApiUnavailable(f"{what} lacks what the contract promises ({type(error).__name__}: {error})",
                                 code="unexpected_answer") from None


def _member(data: dict) -> Member:
    return Member(username=data["username"], name=data["name"], email=_one_address(data["email"]), status=data["status"])


def _one_address(value: str) -> str:
    """A member's address on file as the contract promises it: one bare address. A confirmation
    goes there, so an empty one, a list (``a@x, b@y``) or one with a line break in it is no answer."""
    address = value.strip()
    reading = read_address_field("To", address)
    if reading.problem or [(mailbox.display_name, mailbox.address) for mailbox in reading.mailboxes] != [("", address)]:
        raise ValueError(f"the member's email {value!r} is not one address")
    return address


def _booking(data: dict) -> Booking:
    return Booking(booking_id=data["booking_id"], username=data["username"], court=data["court"],
                   start=datetime.fromisoformat(data["start"]), end=datetime.fromisoformat(data["end"]),
                   status=data["status"])
