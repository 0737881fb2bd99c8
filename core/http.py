"""A bearer token as what requests sends: the one way AceDesk authenticates to a service it calls
(the club backend, a model server, a teacher model).

Set as a request's or a session's ``auth``, it is the ``Authorization`` header that goes out.
Written into ``headers`` instead, requests replaces it whenever it finds other credentials: a
``~/.netrc`` entry for the host (``trust_env``, on by default) or ``user:password@`` in the URL,
so the token was silently never sent.
"""

from __future__ import annotations

import requests


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
