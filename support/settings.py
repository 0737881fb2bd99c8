"""AceDesk's connections, read once at the edge (environment or Streamlit secrets) and passed on.

    ACEDESK_CLUB_API_URL, ACEDESK_CLUB_API_TOKEN   the club backend (token: a secret)
    ACEDESK_SUPPORT_ADDRESS                        From: of replies (default support@club.example)
    ACEDESK_IMAP_*                                 the mailbox (integrations/imap_mailbox.py)
    ACEDESK_EML_DIR                                a folder of .eml files to read instead (the demo)
    ACEDESK_SMTP_*                                 outgoing mail; unset = the outbox folder
    ACEDESK_DATA_DIR                               SQLite and outbox (default ./data)

The same names may stand in ``.streamlit/secrets.toml`` (see .streamlit/secrets.toml.example);
its entries win over the environment, for the app (st.secrets), the worker and the CLI alike.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from integrations.club_api import ClubApi
from integrations.imap_mailbox import ImapReplyFiling, ImapSettings
from integrations.mail_sending import OutboxSender, SmtpSender, SmtpSettings
from support.store import TicketStore
from support.workflow import Workflow

DEFAULT_SUPPORT_ADDRESS = "support@club.example"
SECRETS_FILE = Path(".streamlit/secrets.toml")


def read_secrets_file(path: Path = SECRETS_FILE) -> dict:
    """The secrets file's entries, or {} when there is none."""
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


def setting_values(env: Mapping[str, str] | None = None, secrets: Mapping | None = None) -> dict[str, str]:
    """The environment with the ``ACEDESK_*`` entries of ``secrets`` (default: the secrets
    file; the app passes ``st.secrets``) on top."""
    values = dict(os.environ if env is None else env)
    secrets = read_secrets_file() if secrets is None else secrets
    values.update({key: str(value) for key, value in secrets.items() if key.startswith("ACEDESK_")})
    return values


@dataclass(frozen=True)
class DeskSettings:
    data_dir: Path
    club_api_url: str | None = None
    club_api_token: str | None = field(default=None, repr=False)
    support_address: str = DEFAULT_SUPPORT_ADDRESS
    imap: ImapSettings | None = None
    smtp: SmtpSettings | None = None
    eml_dir: Path | None = None
    """The inbox page's mail source when no IMAP is configured."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeskSettings:
        """From the environment and the secrets file, or any mapping with the same names."""
        env = setting_values() if env is None else env
        return cls(
            data_dir=Path(env.get("ACEDESK_DATA_DIR", "data")),
            club_api_url=env.get("ACEDESK_CLUB_API_URL") or None,
            club_api_token=env.get("ACEDESK_CLUB_API_TOKEN") or None,
            support_address=env.get("ACEDESK_SUPPORT_ADDRESS") or DEFAULT_SUPPORT_ADDRESS,
            imap=ImapSettings.from_env(dict(env)),
            smtp=SmtpSettings.from_env(env),
            eml_dir=Path(env["ACEDESK_EML_DIR"]) if env.get("ACEDESK_EML_DIR") else None,
        )

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    def store(self) -> TicketStore:
        return TicketStore(self.data_dir / "acedesk.sqlite3")


def build_workflow(store: TicketStore, settings: DeskSettings) -> Workflow | None:
    """The approval-to-reply workflow, or None when no club backend is configured."""
    if not (settings.club_api_url and settings.club_api_token):
        return None
    api = ClubApi(settings.club_api_url, settings.club_api_token)
    sender = SmtpSender(settings.smtp) if settings.smtp else OutboxSender(settings.outbox)
    mailbox = ImapReplyFiling(settings.imap) if settings.imap else None
    from_address = settings.smtp.from_address if settings.smtp else settings.support_address
    return Workflow(store, api, sender, from_address=from_address, mailbox=mailbox)
