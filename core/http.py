"""A bearer token as what requests sends: the one way AceDesk authenticates to a service it calls
(the club backend, a model server, a teacher model).

Set as a request's or a session's ``auth``, it is the ``Authorization`` header that goes out.
Written into ``headers`` instead, requests replaces it whenever it finds other credentials: a
``~/.netrc`` entry for the host (``trust_env``, on by default) or ``user:password@`` in the URL,
so the token was silently never sent.
"""

from __future__ import annotations

import threading

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from core.deadline import SocketDeadline


class BearerToken(requests.auth.AuthBase):
    """``Authorization: Bearer <token>`` on every request it is the auth of; its repr never shows the token."""

    def __init__(self, token: str):
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __eq__(self, other) -> bool:  # requests compares auths when it merges a request's into its session's
        return isinstance(other, BearerToken) and other._token == self._token

    def __hash__(self) -> int:
        return hash(self._token)

    def __repr__(self) -> str:
        return "BearerToken(...)"


def bearer(token: str | None) -> BearerToken | None:
    """The token as an auth, or None (no auth) when there is none."""
    return BearerToken(token) if token else None


# -- a request bounded in time and size ----------------------------------------------------------

TRANSPORT_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError)
"""What a bounded request can fail with on the way: requests' and urllib3's own errors (the latter
while the body is read), the socket's, and ValueError (requests parses a redirect's Location even
when it follows none: ``http://[x``)."""


def bounded_request(session: requests.Session, method: str, url: str, *, deadline_s: float, max_bytes: int,
                    **options) -> tuple[requests.Response, bytes]:
    """One request to a server that may drip, flood or redirect: no redirect followed (a write re-sent
    to where ``Location`` points is not the request anyone confirmed), the answer read up to one
    byte over ``max_bytes`` (a longer one is cut there: compare its length), and the whole exchange
    within ``deadline_s`` (requests' timeout bounds one wait on the socket, not the answer). The
    session must carry :class:`WatchedAdapter`, which shows the deadline the connection in use.
    Raises TimeoutError past the deadline, one of :data:`TRANSPORT_ERRORS` on the way."""
    watch = _Watch(deadline_s)
    _current.watch = watch
    try:
        with watch.deadline:
            try:
                response = session.request(method, url, stream=True, allow_redirects=False, **options)
                with response:
                    body = response.raw.read(max_bytes + 1, decode_content=True)
            except TRANSPORT_ERRORS:
                if not watch.deadline.passed:
                    raise
    finally:
        _current.watch = None
    if watch.deadline.passed:  # whatever the cut connection raised or returned, the deadline did it
        raise TimeoutError(f"no complete answer within {deadline_s:g} s")
    return response, body


_current = threading.local()
"""The calling thread's _Watch, for the connections urllib3 uses on its behalf."""


class _Watch:
    """One request's deadline over the socket urllib3 has it on now: a reused connection's, or one it
    opens (a retry, also after the deadline passed). The socket, not the connection, is kept: once
    the answer's headers are in, http.client hands a closing connection's socket to the response and
    forgets it (``sock`` None), while the body is still being read from it."""

    def __init__(self, seconds: float):
        self._socket = None
        self.deadline = SocketDeadline(seconds, lambda: self._socket)

    def use(self, connection: urllib3.connection.HTTPConnection) -> None:
        self._socket = connection.sock


class _WatchedConnection:
    """Tells the calling thread's _Watch which connection a request is on (a reused one, at request;
    a new one, once connected)."""

    def connect(self) -> None:
        super().connect()
        self._report()

    def request(self, *args, **kwargs) -> None:
        self._report()
        super().request(*args, **kwargs)

    def _report(self) -> None:
        if (watch := getattr(_current, "watch", None)) is not None:
            watch.use(self)


class _WatchedHTTPConnection(_WatchedConnection, urllib3.connection.HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnection, urllib3.connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connections a :func:`bounded_request` deadline can cut (also through
    an HTTP proxy; a SOCKS proxy's pools are its own, and not cut)."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _WATCHED_POOLS
        return manager
