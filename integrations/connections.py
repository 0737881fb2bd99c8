"""Whether the outside world answers: the mailbox, the mail server, the club's system.

Each probe tries what the desk will do (connect, log in) and does nothing more: no mail is read
or sent, no booking touched. The text of a result never holds a secret.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, replace

import requests

from core.http import bearer
from core.settings import api_endpoint, public_url
from integrations.club_api import ClubApi
from integrations.imap_mailbox import ImapMailbox, ImapSettings, ImapUnavailable
from integrations.mail_sending import SmtpSender, SmtpSettings

OK, DOWN, UNCHECKED, OFF = "ok", "down", "unchecked", "off"


@dataclass(frozen=True)
class Connection:
    name: str
    state: str
    """``ok``, ``down``, ``unchecked`` (configured, not tried yet) or ``off`` (not configured)."""
    text: str


def probe_imap(settings: ImapSettings) -> Connection:
    """Logs in and selects the folder, nothing more."""
    try:
        with ImapMailbox(replace(settings, timeout=5)):
            pass
    except ImapUnavailable as error:
        return Connection("Mail in", DOWN, str(error))
    return Connection("Mail in", OK, f"IMAP {settings.user}@{settings.host}:{settings.port}: login works")


def probe_smtp(settings: SmtpSettings) -> Connection:
    """Connects the way a reply is sent (and logs in, when configured); sends nothing."""
    sender = SmtpSender(replace(settings, timeout=5))
    where = f"SMTP {settings.host}:{settings.port} ({settings.security})"
    try:
        with sender.connect() as smtp:
            if settings.user:
                smtp.login(settings.user, settings.password or "")
            smtp.noop()
    except (smtplib.SMTPException, OSError) as error:
        return Connection("Mail out", DOWN, sender.describe(error))
    return Connection("Mail out", OK, f"{where}: the server answers" + (" and accepts the login"
                                                                       if settings.user else ""))


def probe_model_server(url: str, api_key: str | None = None, expected: str | None = None) -> Connection:
    """Asks an OpenAI-compatible server for its models, briefly (triage waits for it otherwise);
    with ``expected`` (the name triage asks for, model/served.py ``served_model_name``), a server
    that does not list it is down for the desk: triage refuses it and new mail waits."""
    try:
        answer = requests.get(api_endpoint(url, "models"), auth=bearer(api_key), timeout=(1, 2))
    except requests.RequestException as error:
        return Connection("Model", DOWN, f"the model server {public_url(url)} does not answer ({type(error).__name__}): "
                                         "new mail waits as received until it does")
    if not answer.ok:
        return Connection("Model", DOWN, f"the model server {public_url(url)} answers HTTP {answer.status_code}")
    if expected is not None and expected not in _listed_models(answer):
        return Connection("Model", DOWN, f"the model server {public_url(url)} does not serve {expected} (another "
                                         "adapter or prompt): new mail waits as received until it is started for "
                                         "the inbox's adapter (python -m model.serve --adapter ...)")
    return Connection("Model", OK, f"model server {public_url(url)}")


def _listed_models(answer: requests.Response) -> set[str]:
    try:
        data = answer.json().get("data")
        return {entry.get("id") for entry in data if isinstance(entry, dict)}
    except (ValueError, AttributeError, TypeError):  # not the OpenAI list's shape: it lists nothing
        return set()


def probe_club_api(url: str, token: str) -> Connection:
    """Asks the backend's /health, briefly: a page must not hang on a backend that is away."""
    try:
        api = ClubApi(url, token, timeout=(1, 2), retries=0)
    except ValueError as error:  # a token no header can carry: say so, never show it
        return Connection("Club backend", DOWN, f"{error}: check ACEDESK_CLUB_API_TOKEN")
    with api:
        healthy = api.health()
    if healthy:
        return Connection("Club backend", OK, public_url(url))
    return Connection("Club backend", DOWN, f"{public_url(url)} does not answer: approvals fail until it does "
                                            "(failed tickets are retried)")
