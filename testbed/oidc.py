"""A real OpenID Connect provider for the login tests: ``oidc-provider-mock`` (PyPI, MIT; an authlib
authorization server in Flask), served by werkzeug on a free loopback port in a thread of the calling
process. The app reaches it over HTTP as it would reach Google or Microsoft: discovery, the
authorization redirect, the code exchange and the signed ID token (RS256, checked against its JWKS).

    provider = start_provider({"coach@club.example": {"email": "coach@club.example", "email_verified": True}})
    (folder / "secrets.toml").write_text(provider.secrets_toml())
    ...                                   # the browser meets its login form: see ``log_in``
    provider.stop()

Its login form asks for a subject: ``log_in`` types one and presses Authorize; the ID token then carries
the claims given for that subject here (an unknown subject gets ``{"email": subject}``). Any client id and
secret are accepted, and a nonce is required (Streamlit's authlib client sends one).
"""

from __future__ import annotations

import secrets
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import werkzeug.serving
from authlib.deprecate import AuthlibDeprecationWarning  # (its import installs an "always" filter for it)

with warnings.catch_warnings():  # the mock imports authlib.jose, which authlib deprecates in favour of joserfc
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from oidc_provider_mock import User, app

APP_CALLBACK = "http://127.0.0.1:{port}/oauth2callback"
"""The app's redirect URI; Streamlit fills in ``{port}`` with its own ``server.port``."""


@dataclass
class OidcProvider:
    url: str
    server: werkzeug.serving.BaseWSGIServer = field(repr=False)
    thread: threading.Thread = field(repr=False)
    client_id: str = "acedesk-test"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16), repr=False)

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    def secrets_toml(self) -> str:
        """An ``[auth]`` section for an app on 127.0.0.1 (any port) that logs in here."""
        return "\n".join([
            "[auth]",
            f'redirect_uri = "{APP_CALLBACK}"',
            f'cookie_secret = "{secrets.token_urlsafe(32)}"',
            f'client_id = "{self.client_id}"',
            f'client_secret = "{self.client_secret}"',
            f'server_metadata_url = "{self.metadata_url}"',
            "",
        ])

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()


def start_provider(users: Mapping[str, Mapping[str, object]]) -> OidcProvider:
    """The provider on 127.0.0.1 and a free port, with ``users`` (subject -> ID token claims)."""
    wsgi = app(require_nonce=True, user_claims=[User(sub=sub, claims=dict(claims)) for sub, claims in users.items()])
    server = werkzeug.serving.make_server("127.0.0.1", 0, wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="oidc-provider",
                              daemon=True)
    thread.start()
    return OidcProvider(f"http://127.0.0.1:{server.server_port}", server, thread)


def log_in(page, subject: str) -> None:
    """On the provider's login form (a Playwright page): log in as ``subject``."""
    page.get_by_placeholder("sub").fill(subject)
    page.get_by_role("button", name="Authorize").click()
