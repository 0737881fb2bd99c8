"""AceDesk's settings: one typed object, every default defined here once.

Each setting is an ``ACEDESK_*`` environment variable or the same name in
``.streamlit/secrets.toml`` (see .streamlit/secrets.toml.example); the file wins over the
environment, for the app, the worker and the command line alike. An edge (a CLI's ``main``,
the app's ``ui/resources.py``) reads them once with :func:`load_settings` and passes the values
on; nothing below an edge reads the environment.

    settings = load_settings()
    settings.data_dir, settings.imap_host, settings.club_api_token.get_secret_value()

Secrets are ``SecretStr``: their repr is ``**********`` and they leave this object only as a
connection argument.
"""

from __future__ import annotations

import tomllib
from functools import lru_cache
from pathlib import Path
from string import ascii_lowercase, ascii_uppercase
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import idna
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SECRETS_FILE = Path(".streamlit/secrets.toml")
PREFIX = "ACEDESK_"
NO_ADAPTER = ("", "none")
"""Values of ``ACEDESK_ADAPTER`` that mean the plain base model."""
MxResultsPlacement = Literal["above", "either"]
"""Where the club's MX writes its Authentication-Results relative to its own Received field."""


class Settings(BaseSettings):
    """Every ``ACEDESK_*`` setting. Unset optional connections (IMAP, SMTP, the club backend, a
    model server) mean the embedded defaults: the .eml folder, the outbox, no approvals, the
    model in-process."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True)

    # -- where things are ------------------------------------------------------------------------
    data_dir: Path = Path("data")
    """SQLite ticket store, the outbox, the promoted model's choice (``active_model.json``)."""
    runs_dir: Path = PROJECT_ROOT / "runs"
    """Training runs, their checkpoints and evaluations."""
    cache_dir: Path = Path.home() / ".cache" / "acedesk"
    """The converted base model and other once-per-machine builds (outside the clone)."""
    eml_dir: Path | None = None
    """A folder of .eml files read as the mailbox when no IMAP is configured (the demo)."""

    # -- the model -------------------------------------------------------------------------------
    adapter: str | None = None
    """The inbox's adapter until one is promoted: None = the shipped one; "" or "none" = the plain base."""
    base_model: str | None = None
    """None = the adapter's own base (its acedesk.json), else a Hugging Face id or local folder."""
    threads: int = 0
    """torch's CPU threads for inference (0 = torch's default)."""
    model_url: str | None = None
    """An OpenAI-compatible model server to triage with instead of the in-process model."""
    model_api_key: SecretStr | None = None

    # -- the club backend ------------------------------------------------------------------------
    club_api_url: str | None = None
    club_api_token: SecretStr | None = None

    # -- mail in (IMAP) --------------------------------------------------------------------------
    imap_host: str | None = None
    imap_port: int | None = None
    """None = 993 for tls, 143 otherwise."""
    imap_security: Literal["tls", "starttls", "plain"] = "tls"
    """tls (implicit, port 993), starttls or plain (local tests only)."""
    imap_user: str = ""
    imap_password: SecretStr = SecretStr("")
    imap_folder: str = "INBOX"
    imap_processed_folder: str | None = None
    """Stored mail is moved here (None: left where it is)."""
    imap_mark_seen: bool = False
    """Stored mail gets \\Seen."""
    imap_sent_folder: str | None = None
    """Sent replies are filed here (None: not filed)."""

    # -- mail out (SMTP) -------------------------------------------------------------------------
    smtp_host: str | None = None
    """None: replies are written to ``data_dir/outbox`` as .eml files."""
    smtp_port: int | None = None
    """None = 465 for tls, 587 for starttls, 25 for plain."""
    smtp_security: Literal["tls", "starttls", "plain"] | None = None
    """tls, starttls or plain; None = tls on port 465, else starttls."""
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    """The From: of replies over SMTP (required with smtp_host)."""
    support_address: str = "support@club.example"
    """The From: of replies written to the outbox."""

    # -- trust -----------------------------------------------------------------------------------
    trusted_authserv_id: str | None = None
    """The club's own MX: only its Authentication-Results headers count (None: sender authentication off)."""
    mx_results_placement: MxResultsPlacement = "either"
    """Where that MX writes its Authentication-Results: "above" its own Received field, as RFC 8601
    section 4 asks (rspamd, which inserts at the top; OpenDKIM and OpenDMARC behind Postfix since they
    insert at index 0, OpenDKIM PR 346 and OpenDMARC PR 349 of May 2026), or on "either" side of it
    (also right below it, index 1: OpenDKIM and OpenDMARC before those, smf-spf). With "above", a field
    under its id below the topmost Received field came with the mail and the mail is not verified:
    that catches a sender who connects straight to the MX and writes one in its own header block,
    which lands right below the MX's Received field, where "either" must accept an index-1 milter's.
    The price: with "above", genuine fields at index 1 are not verified, nor any when a later hop
    adds a Received field above the MX's (Dovecot's LMTP does, unless ``lmtp_add_received_header =
    no``): such a deployment keeps "either"."""
    self_service_signup: bool = False
    """Whether a non-member may ask for an invitation for themselves without review."""
    operators: Annotated[tuple[str, ...], NoDecode] = ()
    """E-mail addresses allowed to use the app when login ([auth] in secrets.toml) is configured."""
    app_address: str = "127.0.0.1"
    """Where the app listens; another address exposes it to the network."""

    # -- what a move may do unseen (support/actions.py) ------------------------------------------
    move_horizon_days: int = Field(default=366, ge=1)
    """A booking move to a start more days than this from now goes to review, naming the date: no
    club takes bookings years ahead, so such a date is a year typed wrong (by the member or the
    model) or a forged Date header. A year and a day by default: a date written without a year
    resolves to its next occurrence, at most a year ahead, so no date a member writes that way is
    flagged (none of the 294 resolved moves of training/data/); only a stated year lands beyond."""

    # -- learning from the operator (support/corrections.py) ----------------------------------------
    collect_corrections: bool = True
    """Keep each decided ticket as a labelled example in the ticket store (the model's answer, the
    operator's final one, what changed): the data of the agreement view and of a candidate trained
    on corrections. Off: decisions are audited as always, but no example is kept."""
    agreement_alert: float = Field(default=0.8, ge=0, le=1)
    """The inbox warns when the share of the last 7 days' decisions that accepted the model's
    category and fields unchanged falls below this (0 = never warn)."""
    agreement_min_decisions: int = Field(default=20, ge=1)
    """Decisions the last 7 days need before their agreement can raise the warning: a handful of
    tickets says nothing about the model."""

    # -- distillation (training/distill.py) -----------------------------------------------------
    teacher_url: str | None = None
    teacher_key: SecretStr | None = None
    teacher_model: str | None = None
    teacher_min_interval_s: float = Field(default=1.0, ge=0)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_unset(cls, values: Any) -> Any:
        """``ACEDESK_SMTP_HOST=`` is unset, as in a shell; only the adapter gives "" a meaning."""
        if isinstance(values, dict):
            return {key: value for key, value in values.items() if value != "" or key == "adapter"}
        return values

    @model_validator(mode="after")
    def _smtp_needs_a_from_address(self) -> Settings:
        if self.smtp_host and not self.smtp_from:
            raise ValueError("ACEDESK_SMTP_FROM (the club's support address) is required with ACEDESK_SMTP_HOST")
        return self

    @field_validator("operators", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [address.strip() for address in value.split(",") if address.strip()]
        if isinstance(value, list | tuple):
            # an entry that is no bare address ("Anna <a@x>", "*") would match nobody, without a word
            odd = [entry for entry in value if not isinstance(entry, str) or entry.count("@") != 1
                   or any(char.isspace() or char in "<>;\"" for char in entry)]
            if odd:
                raise ValueError(f"{len(odd)} of its entries is not one bare address (name@domain): "
                                 "list the operators' addresses, comma-separated")
            return tuple(operator_address(entry) for entry in value)
        return value

    @field_validator("club_api_token", "model_api_key", "teacher_key", mode="before")
    @classmethod
    def _bearer_token_trimmed(cls, value: Any) -> Any:
        """A token read from a file keeps its newline, and requests rejects the header with the
        token quoted in its error; no bearer token has surrounding whitespace."""
        return value.strip() if isinstance(value, str) else value

    @field_validator("imap_security", "smtp_security", "mx_results_placement", mode="before")
    @classmethod
    def _lowercase(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource):
        # first wins: explicit values, then the secrets file, then the environment
        return init_settings, SecretsFileSource(settings_cls), env_settings

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def store_path(self) -> Path:
        return self.data_dir / "acedesk.sqlite3"

    def secret(self, name: str) -> str | None:
        """A secret's text, or None when unset (for a connection argument, never for display)."""
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else None


class SecretsFileSource(PydanticBaseSettingsSource):
    """The ``ACEDESK_*`` entries of .streamlit/secrets.toml (other sections, e.g. [auth], are
    Streamlit's own)."""

    path: Path = SECRETS_FILE

    def get_field_value(self, field, field_name: str):  # required by the base class; __call__ does the work
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        entries = read_secrets_file(self.path)
        return {key[len(PREFIX):].lower(): value for key, value in entries.items()
                if key.startswith(PREFIX) and not isinstance(value, dict)}


_ASCII_LOWER = str.maketrans(ascii_uppercase, ascii_lowercase)


def operator_address(address: str) -> str:
    """An operator's address as the allow-list and the audit log compare it: ASCII letters lower-cased
    (a domain is case-insensitive, and mail servers treat local parts so), every other character as
    written, but for a domain with non-ASCII letters: that is written in its IDNA form (punycode,
    ``xn--``), as DNS knows it and as an identity provider may send it, so that ``tennisclub-müller.de``
    on the list and ``xn--tennisclub-mller-uzb.de`` in the login are one domain. Unicode's ``lower``
    would make two logins one operator: the Kelvin sign (U+212A) lower-cases to an ASCII "k"; so would
    IDNA 2003 and UTS 46, which map it (and full-width letters) to ASCII. IDNA 2008 maps nothing: a
    domain that is not valid under it (those characters, upper-case or decomposed umlauts) stays as
    written, and matches only itself."""
    lowered = address.translate(_ASCII_LOWER)
    local, at, domain = lowered.rpartition("@")
    if not at or domain.isascii():  # an ASCII domain is its own IDNA form, or no valid one
        return lowered
    if any(dot in domain for dot in "\u3002\uff0e\uff61"):  # idna.encode splits labels at these dots too
        return lowered
    try:
        return f"{local}@{idna.encode(domain).decode('ascii')}"
    except idna.IDNAError:
        return lowered


def read_secrets_file(path: Path = SECRETS_FILE) -> dict:
    """The secrets file's entries, or {} when there is none."""
    if not path.is_file():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """The settings of this process, read once (``load_settings.cache_clear()`` re-reads)."""
    return Settings()


def api_endpoint(url: str, name: str) -> str:
    """``name`` under the API root ``url``, keeping a query the URL has (a gateway's key or
    version): ``http://h/v1?k=x`` and ``models`` give ``http://h/v1/models?k=x``."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"{parts.path.rstrip('/')}/{name}", parts.query, ""))


def public_url(url: str) -> str:
    """A URL setting as messages, reprs and job records may show it: without user:password@,
    query or fragment (where a key could hide)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
