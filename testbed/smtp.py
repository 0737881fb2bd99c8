"""A real SMTP server for the tests: aiosmtpd on a free loopback port, keeping what it receives.

    def test_reply_arrives(smtp_server):
        SmtpSender(smtp_server.settings()).send(message)
        assert smtp_server.messages[0].message["In-Reply-To"] == "<a1@example.org>"

Each server starts once per session; the function-scoped fixtures hand it over emptied and
running, so a test may ``stop()`` it to play "SMTP down" and ``start()`` it again.
Variants: ``smtp_server`` (plain, no login), ``smtp_server_with_auth`` (plain + AUTH),
``smtp_server_tls`` (implicit TLS + AUTH) and ``smtp_server_starttls`` (STARTTLS required + AUTH);
the TLS ones use a self-signed certificate made with the openssl command and carry the
client ``ssl_context`` that trusts it.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
from dataclasses import dataclass, replace
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from integrations.mail_sending import SmtpSettings
from testbed import free_port

HOST = "127.0.0.1"
USER = "desk@club.example"
PASSWORD = "s3cret-Pa55word!"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage


class _Recorder:
    """aiosmtpd handler: accepts every mail (after login, where required) and keeps it."""

    def __init__(self, messages: list[ReceivedMail], require_login: bool, stall_s: float = 0.0,
                 confirm_after_s: float = 0.0):
        self.messages = messages
        self.require_login = require_login
        self.stall_s = stall_s
        self.confirm_after_s = confirm_after_s

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # Checked here rather than with aiosmtpd's auth_required, which warns on every
        # connection when AUTH is allowed without TLS.
        if self.require_login and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.stall_s:  # a slow or overloaded mail server: the sender waits before it knows
            await asyncio.sleep(self.stall_s)
        raw = envelope.original_content or envelope.content
        self.messages.append(ReceivedMail(
            mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos), raw=raw,
            message=email.message_from_bytes(raw, policy=email.policy.default)))
        if self.confirm_after_s:  # queued (as an MTA commits before it answers), confirmed late
            await asyncio.sleep(self.confirm_after_s)
        return "250 2.0.0 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword) and auth_data == (USER.encode(), PASSWORD.encode()):
        return AuthResult(success=True)
    # handled=False lets aiosmtpd answer 535; handled=True would leave the client waiting.
    return AuthResult(success=False, handled=False)


class SmtpTestServer:
    """One aiosmtpd instance; ``stop()``/``start()`` keep the port, ``messages`` the mail."""

    def __init__(self, security: str = "plain", *, auth: bool = False, tls: ssl.SSLContext | None = None,
                 client_context: ssl.SSLContext | None = None, stall_s: float = 0.0, confirm_after_s: float = 0.0):
        self.host = HOST
        self.port = free_port()
        self.security = security
        self.auth = auth
        self.messages: list[ReceivedMail] = []
        self.ssl_context = client_context
        """The client-side context that trusts this server's certificate (TLS variants)."""
        self._server_tls = tls
        self._controller: Controller | None = None
        self.stall_s = stall_s
        """Seconds the server waits before it takes a message (a slow or overloaded server)."""
        self.confirm_after_s = confirm_after_s
        """Seconds between taking a message and saying so (RFC 1047's duplicate-message case)."""

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> None:
        if self._controller is None:
            controller = Controller(_Recorder(self.messages, self.auth, self.stall_s, self.confirm_after_s), hostname=self.host, port=self.port,
                                    server_hostname="smtp.test", **self._smtp_options())
            controller.start()
            self._controller = controller

    def stop(self) -> None:
        # A stopped Controller cannot be restarted (its loop is closed): start() makes a new one.
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def clear(self) -> None:
        self.messages.clear()

    def settings(self, from_address: str = "Club Support <support@club.example>",
                 **overrides) -> SmtpSettings:
        settings = SmtpSettings(host=self.host, port=self.port, security=self.security,
                                user=USER if self.auth else None, password=PASSWORD if self.auth else None,
                                from_address=from_address, timeout=5)
        return replace(settings, **overrides)

    def _smtp_options(self) -> dict:
        options = {}
        if self.auth:
            # aiosmtpd counts only STARTTLS as TLS for AUTH; an implicit-TLS connection is encrypted too.
            options.update(authenticator=_authenticator, auth_require_tls=self.security == "starttls")
        if self.security == "tls":
            options["ssl_context"] = self._server_tls
        elif self.security == "starttls":
            options.update(tls_context=self._server_tls, require_starttls=True)
        return options
