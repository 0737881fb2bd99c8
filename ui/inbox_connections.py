"""The inbox's connection strip, without streamlit: where mail comes from and goes, and whether
the club backend answers, in words (never a secret). The probes themselves are
integrations/connections.py."""

from __future__ import annotations

from core.settings import Settings
from integrations.connections import DOWN, OFF, OK, UNCHECKED, Connection, probe_club_api, probe_model_server
from integrations.imap_mailbox import ImapSettings
from integrations.mail_sending import SmtpSettings
from support.health import worker_health
from support.store import TicketStore


def backend_connection(settings: Settings) -> Connection:
    token = settings.secret("club_api_token")
    if not (settings.club_api_url and token):
        return Connection("Club backend", OFF, "not configured: set ACEDESK_CLUB_API_URL and "
                                               "ACEDESK_CLUB_API_TOKEN. Approving is off until then")
    return probe_club_api(settings.club_api_url, token)


def mail_in_connection(settings: Settings) -> Connection:
    trust = (f"; senders verified by {settings.trusted_authserv_id}" if settings.trusted_authserv_id else
             "; sender authentication is off (set ACEDESK_TRUSTED_AUTHSERV_ID to the club's MX)")
    imap = ImapSettings.from_settings(settings)
    if imap is not None:
        return Connection("Mail in", UNCHECKED, f"IMAP {imap.user}@{imap.host}:{imap.port} ({imap.security}), "
                                                f"folder {imap.folder}{trust}")
    if settings.eml_dir is not None:
        state = OK if settings.eml_dir.is_dir() else DOWN
        return Connection("Mail in", state, f"folder {settings.eml_dir}" + ("" if state == OK else " is missing")
                          + trust)
    return Connection("Mail in", OFF, "no mail source: set ACEDESK_IMAP_* or ACEDESK_EML_DIR")


def mail_out_connection(settings: Settings) -> Connection:
    smtp = SmtpSettings.from_settings(settings)
    if smtp is None:
        return Connection("Mail out", OK, f"no SMTP configured: replies are saved in {settings.outbox}")
    login = f" as {smtp.user}" if smtp.user else ""
    return Connection("Mail out", UNCHECKED, f"SMTP {smtp.host}:{smtp.port} ({smtp.security}){login}")


def model_connection(settings: Settings, expected: str | None = None) -> Connection:
    """Where triage runs: a model server (probed; ``expected``: the model name triage asks it for)
    or this process."""
    if settings.model_url:
        return probe_model_server(settings.model_url, settings.secret("model_api_key"), expected)
    return Connection("Model", OK, "in-process (set ACEDESK_MODEL_URL to triage through a model server)")


def worker_connection(store: TicketStore) -> Connection:
    """Whether the worker (fetch, triage, finishing approvals) runs, from its heartbeat; one that
    runs while its mailbox cannot be used is no "ok": no mail arrives."""
    health = worker_health(store)
    return Connection("Worker", OK if health.running and not health.problem else DOWN, health.text)
