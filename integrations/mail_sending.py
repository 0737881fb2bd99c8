"""Sending AceDesk's replies: building a correctly threaded reply and handing it to a sender.

Two senders share one small protocol (``send(message) -> Message-ID``): :class:`SmtpSender`
for a real mail server (smtplib; implicit TLS, STARTTLS or plain) and :class:`OutboxSender`,
the embedded default for the demo, which writes each reply as an ``.eml`` file.

Messages are always serialised with :data:`MAIL_POLICY` (use :func:`message_bytes`): the
stdlib's default policy folds In-Reply-To/References as free text and turns message ids
longer than a line (Outlook's are ~90 characters) into RFC 2047 encoded words, which mail
clients do not decode there, so the reply drops out of its thread.
"""

from __future__ import annotations

import copy
import re
import smtplib
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Literal, Protocol

import idna

from core.deadline import SocketDeadline
from core.files import write_atomically
from core.mail import MESSAGE_ID, REPLY_PREFIXES, subject_prefix
from core.settings import Settings
from core.text import unseen

SECURITY_MODES = ("tls", "starttls", "plain")
DEFAULT_PORTS = {"tls": 465, "starttls": 587, "plain": 25}

# smtplib's timeout bounds each read, not a conversation: a server that drips a byte per read
# would hold the worker (and its ticket's lease) forever. A connection is ended after this many of
# its timeouts plus its message at this rate (the same bound as fetching mail over IMAP).
DEADLINE_TIMEOUTS = 4
DEADLINE_BYTES_PER_S = 64 * 1024
# An SMTP reply is a few hundred bytes (EHLO's list of extensions the longest); smtplib keeps
# every line of a multi-line one, so an endless "250-..." reply filled memory at ~270 MB/s.
MAX_REPLY_BYTES = 64 * 1024

# A header line may hold 998 characters (RFC 5322 §2.1.1) and an id is never split: a longer id
# copied into In-Reply-To or References makes a reply many servers refuse, every time it is tried.
MAX_THREAD_ID_CHARS = 900
# A thread's References grows by one id per message; a reply keeps its first id (the thread's
# start) and the latest ones, as mail clients do, so a mail claiming 10,000 ancestors stays small.
MAX_REFERENCES = 20

# "Re:" in the languages the club's members write in; a subject starting with one is a reply already.
_REPLY_PREFIX = subject_prefix(REPLY_PREFIXES)


class MailSendError(RuntimeError):
    """The reply was not handed over; the text is for the operator and never holds a password."""


class MailDeliveryUnknown(MailSendError):
    """The message went out to the server, and no answer said it was refused: the server may
    hold it (RFC 1047), so sending it again could give the member two. A person decides."""


class _MessageIdListHeader(UnstructuredHeader):
    """In-Reply-To and References, folded only between ids, one id per line (see module doc)."""

    @classmethod
    def parse(cls, value, kwds):
        # Kept as written: an encoded word in a msg-id is not one (RFC 2047 §5), and decoding
        # "<a=?utf-8?q?=C3=A9?=@b>" made a non-ASCII header no reply could be written with.
        super().parse(value, kwds)
        kwds["decoded"] = " ".join(value.split())

    def fold(self, *, policy):
        return f"{self.name}: " + f"{policy.linesep} ".join(str(self).split()) + policy.linesep


def _mail_policy():
    registry = HeaderRegistry()
    registry.map_to_type("in-reply-to", _MessageIdListHeader)
    registry.map_to_type("references", _MessageIdListHeader)
    return default_policy.clone(header_factory=registry)


MAIL_POLICY = _mail_policy()


def message_bytes(message: EmailMessage) -> bytes:
    """The message as sent on the wire (CRLF line ends), threading headers intact."""
    return message.as_bytes(policy=MAIL_POLICY.clone(linesep="\r\n"))


# -- building a reply ----------------------------------------------------------------------------

@dataclass(frozen=True)
class OriginalMail:
    """What a reply needs to know about the mail it answers."""

    message_id: str | None
    references: str | None
    subject: str
    reply_to_address: str
    """The address to answer (Reply-To if the mail had one, else From): bare or ``Name <addr>``."""
    sender_display: str
    """The original From as written; its display name addresses the reply when it fits."""
    in_reply_to: str | None = None
    """The original's own In-Reply-To: threads a reply to a mail that has no References."""


HeaderFields = Mapping[str, str] | Iterable[tuple[str, str]]
"""A mail's header fields: in order, repeated ones kept (``ParsedMail.header_items``), or by name."""


def original_from_headers(headers: HeaderFields, sender: str, subject: str) -> OriginalMail:
    """The :class:`OriginalMail` of a parsed mail (``ParsedMail.header_items``, sender and subject).
    Of a field written twice the first counts, as mail clients read it."""
    lowered = _first_fields(headers)
    _, from_address = _first_name_and_address(sender)
    return OriginalMail(
        message_id=_first_message_id(lowered.get("message-id")),
        references=_message_ids(lowered.get("references")) or None,
        subject=subject,
        reply_to_address=reply_to_recipient(headers) or from_address or sender,
        sender_display=sender,
        in_reply_to=_message_ids(lowered.get("in-reply-to")) or None,
    )


def reply_to_recipient(headers: HeaderFields) -> str | None:
    """The address the mail's Reply-To asks replies to go to: the first address a reply can be
    written to in its first Reply-To field, which is the one mail clients answer (a second field
    after it changes nothing). None when it has none, or none such (``Reply-To: nobody``, an empty
    group, ``anna@[10.0.0.1]``): never the From's address in its place."""
    _, address = _first_name_and_address(_first_fields(headers).get("reply-to", ""))
    return address or None


def _first_fields(headers: HeaderFields) -> dict[str, str]:
    """Each field name, lower-cased, with the value of its first field."""
    first: dict[str, str] = {}
    for name, value in headers.items() if isinstance(headers, Mapping) else headers:
        first.setdefault(str(name).strip().lower(), str(value))
    return first


def build_reply(original: OriginalMail, *, from_address: str, body: str, domain: str) -> EmailMessage:
    """A UTF-8 text/plain reply threaded under ``original`` (RFC 5322 §3.6.4), marked per RFC 3834.

    Raises ValueError when the original has no usable address to answer.
    """
    message = EmailMessage(policy=MAIL_POLICY)
    message["From"] = from_address
    message["To"] = _recipient(original)
    message["Subject"] = reply_subject(original.subject)
    message["Date"] = format_datetime(datetime.now().astimezone())
    message["Message-ID"] = make_msgid(domain=domain)
    parent_id = _first_message_id(original.message_id)
    if parent_id:
        message["In-Reply-To"] = parent_id
    references = reply_references(original)
    if references:
        message["References"] = references
    # Tells other systems (vacation responders, list servers) not to answer: no mail loops.
    message["Auto-Submitted"] = "auto-replied"
    # Exchange/Outlook ignore Auto-Submitted but honour this for their out-of-office replies.
    message["X-Auto-Response-Suppress"] = "All"
    # Quoted-printable keeps non-ASCII bodies 7-bit clean for relays without 8BITMIME.
    message.set_content(body, charset="utf-8", cte=None if body.isascii() else "quoted-printable")
    return message


def reply_subject(subject: str) -> str:
    """``Re: <subject>``, unless the subject already starts with a reply prefix (Re:, AW:, SV: ...)."""
    subject = _header_text(subject)
    if _REPLY_PREFIX.match(subject):
        return subject
    return f"Re: {subject}" if subject else "Re: (no subject)"


def reply_references(original: OriginalMail) -> str:
    """The parent's References (or its single In-Reply-To id) followed by the parent's Message-ID."""
    ids = _message_ids(original.references).split()
    if not ids:
        parent_of_parent = _message_ids(original.in_reply_to).split()
        ids = parent_of_parent if len(parent_of_parent) == 1 else []
    parent_id = _first_message_id(original.message_id)
    if parent_id and (not ids or ids[-1] != parent_id):
        ids.append(parent_id)
    if len(ids) > MAX_REFERENCES:
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1):]]
    return " ".join(ids)


def _header_text(text: str) -> str:
    """A mail's text as a header of the reply may hold it: one line of visible characters, and no
    RFC 2047 encoded word. The email package decodes one in any text set into a header and writes
    a line break it decodes to as it is (until CPython 3.11.10/3.12.5), so a subject or name the
    mail encoded twice ("=?utf-8?q?A=0D=0ABcc:_x@evil.example?=" once read) became a Bcc field."""
    visible = "".join(char for char in text if not unseen(char))
    return " ".join(visible.split()).replace("=?", "= ?")


def _recipient(original: OriginalMail) -> Address:
    name, address = _first_name_and_address(original.reply_to_address)
    if not address:
        raise ValueError(f"no address to reply to in {original.reply_to_address!r}")
    if not name:
        name = _display_name_for(address, original.sender_display)
    named = Address(display_name=_header_text(name), addr_spec=address)
    return named if _reads_back_as(named) else Address(addr_spec=address)


def _reads_back_as(recipient: Address) -> bool:
    """Whether a To of this one recipient, as written and read back, names its address alone. The
    email package (CPython 3.11) folds a display name over a line long without its quotes, so
    ``"Berg, Anna (...)" <anna@x>`` went to "Berg" too, and ``"Bcc: v@x ..." <anna@x>`` to v@x only."""
    probe = EmailMessage(policy=MAIL_POLICY)
    probe["To"] = recipient
    written = BytesHeaderParser(policy=MAIL_POLICY).parsebytes(message_bytes(probe))
    try:
        return _envelope_recipients(written) == [recipient.addr_spec]
    except (AttributeError, IndexError, ValueError):  # the email package's errors on what it cannot read
        return False


def _display_name_for(address: str, sender_display: str) -> str:
    """The From's name, when the From is that address (a Reply-To elsewhere is someone else)."""
    if "@" not in sender_display:
        return sender_display.strip()
    name, from_address = _first_name_and_address(sender_display)
    return name if from_address.lower() == address.lower() else ""


def can_reply_to(value: str) -> bool:
    """Whether a reply can be written to the address ``value`` names: one whose local part needs
    SMTPUTF8 (``jörg@example.org``) cannot, nor an address the email package refuses, nor one at a
    host rather than a domain (``anna@[10.0.0.1]``, ``anna@127.0.0.1``: see :func:`_names_a_host`)."""
    return bool(_first_name_and_address(value)[1])


def _first_name_and_address(value: str) -> tuple[str, str]:
    # Only an address a message can be sent to: ``=?utf-8?q?a=0D=0A_e@vil.net?= <anna@x>`` reads
    # as two, the encoded word first, and the reply built on it would fail at every try.
    # A line break in a quoted name ends the quote for getaddresses: '"Anna\r\nBcc: v@x" <anna@x>'
    # (a club's member record, formatted) read as v@x alone.
    for name, address in getaddresses([re.sub(r"[\r\n]", " ", value or "")]):
        address = _with_ascii_domain(address)
        if "@" in address and _sendable(address):
            return name, address
    return "", ""


def _with_ascii_domain(address: str) -> str:
    """The address with its domain as DNS and SMTP know it ("anna@xn--bcher-kva.de" for
    "anna@bücher.de"): a non-ASCII domain made a reply that could not be written at all. IDNA 2008
    (the idna package), which maps nothing: Python's codec (IDNA 2003) writes "faß.de" as
    "fass.de", another domain with another owner, and would send the reply there; a domain that is
    not valid IDNA 2008 is no address to send to."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii():
        return address
    try:
        return f"{local}@{idna.encode(domain).decode('ascii')}"
    except (idna.IDNAError, UnicodeError):
        return ""


def _sendable(address: str) -> bool:
    try:
        parsed = Address(addr_spec=address)
    # the email package's defects are ValueErrors; its parser's own errors are not ("anna@x.example.")
    except (ValueError, IndexError, HeaderParseError):
        return False
    return not _names_a_host(parsed.domain)


def _names_a_host(domain: str) -> bool:
    """Whether a domain names a host by its IP address: a domain literal (``[127.0.0.1]``,
    ``[IPv6:::1]``, RFC 5321 §4.1.3) or a name ending in a number (``127.0.0.1``; no top-level
    domain is all digits). The club's relay would deliver a reply there, to a host the mail's
    sender chose, inside the club's network as easily as outside it; a member has a domain."""
    return domain.startswith("[") or domain.rpartition(".")[2].isdigit()


def _message_ids(value: str | None) -> str:
    return " ".join(found for found in MESSAGE_ID.findall(value or "") if len(found) <= MAX_THREAD_ID_CHARS)


def _first_message_id(value: str | None) -> str | None:
    if not value or not value.strip():
        return None
    found = MESSAGE_ID.search(value)
    bare = value.strip()
    # Some mailers omit the brackets; a bare id is still worth threading on.
    found_id = found.group(0) if found else f"<{bare}>" if MESSAGE_ID.fullmatch(f"<{bare}>") else None
    return found_id if found_id and len(found_id) <= MAX_THREAD_ID_CHARS else None


# -- senders -------------------------------------------------------------------------------------

class MailSender(Protocol):
    def send(self, message: EmailMessage) -> str:
        """Hand the message over; returns its Message-ID. Raises MailSendError."""

    def holds(self, message_id: str) -> bool:
        """Whether a message with this Message-ID is known to have been handed over (a send whose
        process died before it was recorded); False where that cannot be known."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: Literal["tls", "starttls", "plain"]
    user: str | None
    password: str | None = field(repr=False)
    from_address: str
    timeout: float = 30

    def __post_init__(self):
        if self.security not in SECURITY_MODES:
            raise ValueError(f"SMTP security must be one of {SECURITY_MODES}, got {self.security!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP port must be 1-65535, got {self.port}")
        if self.user and self.password is None:
            raise ValueError("an SMTP user needs a password (ACEDESK_SMTP_PASSWORD)")

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpSettings | None:
        """The server the settings name; None when no SMTP host is set (replies go to the outbox)."""
        if not settings.smtp_host:
            return None
        security = settings.smtp_security or ("tls" if settings.smtp_port == 465 else "starttls")
        return cls(host=settings.smtp_host, port=settings.smtp_port or DEFAULT_PORTS.get(security, 0),
                   security=security, user=settings.smtp_user, password=settings.secret("smtp_password"),
                   from_address=settings.smtp_from)


class SmtpSender:
    """Sends through an SMTP server with smtplib: one connection per message."""

    def __init__(self, settings: SmtpSettings, ssl_context: ssl.SSLContext | None = None):
        self.settings = settings
        self.ssl_context = ssl_context

    def holds(self, message_id: str) -> bool:
        """Never known: an SMTP server cannot be asked what it accepted, so a send a dead process
        left unrecorded stays *delivery unknown* for a person (never sent twice by itself)."""
        return False

    def send(self, message: EmailMessage) -> str:
        message_id = _ensure_message_id(message, self.settings.from_address)
        recipients = _envelope_recipients(message)
        if not recipients:
            raise MailSendError(f"{message_id} has no recipient")
        payload = message_bytes(_without_bcc(message))
        smtp = None
        try:
            smtp = self.connect(len(payload))
            if self.settings.user:
                smtp.login(self.settings.user, self.settings.password or "")
            refused = self._hand_over(smtp, recipients, payload)
        except (smtplib.SMTPException, OSError) as error:  # not MailDeliveryUnknown: that one goes up as it is
            # from None: the cause's traceback adds nothing the text lacks and may hold the login.
            raise MailSendError(self.describe(error, smtp)) from None
        finally:
            if smtp is not None:
                _quit_quietly(smtp)
        if refused:  # the others have it: sending again would give them a second copy
            accepted = sorted(set(recipients) - set(refused))
            raise MailDeliveryUnknown(self._scrub(f"recipients refused: {refused}; accepted: {accepted}"))
        return message_id

    def _hand_over(self, smtp: smtplib.SMTP, recipients: list[str], payload: bytes) -> dict:
        """smtplib's ``sendmail``, step by step, so that a failure once the message is out (no
        final answer to DATA) is told apart from one before it (safe to send again)."""
        envelope = _envelope_sender(self.settings.from_address)
        smtp.ehlo_or_helo_if_needed()
        code, answer = smtp.mail(envelope)
        if code != 250:
            raise smtplib.SMTPSenderRefused(code, answer, envelope)
        refused = {}
        for recipient in recipients:
            code, answer = smtp.rcpt(recipient)
            if code not in (250, 251):
                refused[recipient] = (code, answer)
        if len(refused) == len(recipients):
            raise smtplib.SMTPRecipientsRefused(refused)
        code, answer = smtp.docmd("DATA")
        if code != 354:
            raise smtplib.SMTPDataError(code, answer)
        # The server can take the message only once it has its closing ".": a failure while
        # sending leaves it without one, so the message is not there and may be sent again.
        smtp.send(_data_block(payload))
        try:
            code, answer = smtp.getreply()
        except (smtplib.SMTPException, OSError) as error:  # smtplib's own "Line too long." included
            raise MailDeliveryUnknown(f"{self.describe(error, smtp)}, after the message was sent: the server "
                                      "may have taken it") from None
        if 400 <= code < 600:  # the server said no: it does not hold the message
            raise smtplib.SMTPDataError(code, answer)
        if not 200 <= code < 300:  # not an answer at all: the message may be held
            raise MailDeliveryUnknown(self._scrub(
                f"SMTP {self.settings.host}:{self.settings.port}: the message was sent and the server answered "
                f"{_answer_text(code, answer)!r}, neither yes nor no: the server may have taken it"))
        return refused

    def connect(self, payload_bytes: int = 0) -> smtplib.SMTP:
        """An open connection, TLS as configured (not logged in yet); the caller closes it. It is
        cut once the deadline for ``payload_bytes`` passes (:data:`DEADLINE_TIMEOUTS`)."""
        settings = self.settings
        context = self.ssl_context or ssl.create_default_context()
        deadline_s = DEADLINE_TIMEOUTS * settings.timeout + payload_bytes / DEADLINE_BYTES_PER_S
        if settings.security == "tls":
            return _BoundedSMTPSSL(settings.host, settings.port, timeout=settings.timeout, context=context,
                                   deadline_s=deadline_s)
        smtp = _BoundedSMTP(settings.host, settings.port, timeout=settings.timeout, deadline_s=deadline_s)
        if settings.security == "starttls":
            try:
                smtp.starttls(context=context)
            except BaseException:
                smtp.close()
                raise
        return smtp

    def describe(self, error: Exception, smtp: smtplib.SMTP | None = None) -> str:
        """A failure in words for the operator: where, what, never the password. With the
        connection it happened on, a connection cut at its deadline says so."""
        where = f"SMTP {self.settings.host}:{self.settings.port} ({self.settings.security})"
        deadline = getattr(smtp, "deadline", None)
        if isinstance(error, smtplib.SMTPAuthenticationError):
            reply = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) \
                else str(error.smtp_error)
            what = f"login as {self.settings.user!r} refused: {error.smtp_code} {reply}"
        elif deadline is not None and deadline.passed:
            what = f"the server did not finish within {deadline.seconds:.3g} s ({type(error).__name__}: {error})"
        elif isinstance(error, TimeoutError):
            what = f"no answer within {self.settings.timeout:g} s"
        else:
            what = f"{type(error).__name__}: {error}"
        return self._scrub(f"{where}: {what}")

    def _scrub(self, text: str) -> str:
        password = self.settings.password
        return text.replace(password, "***") if password else text


class _LimitedReplies:
    """A reader of SMTP replies that fails a reply longer than :data:`MAX_REPLY_BYTES`, as a
    dropped connection does (smtplib's ``getreply`` turns the OSError into a disconnect)."""

    def __init__(self, file):
        self._file = file
        self.left = MAX_REPLY_BYTES

    def readline(self, size: int = -1) -> bytes:
        line = self._file.readline(size)
        self.left -= len(line)
        if self.left < 0:
            raise OSError(f"the server's answer is over {MAX_REPLY_BYTES} bytes")
        return line

    def close(self) -> None:
        self._file.close()


class _Bounded:
    """smtplib's connection with a wall-clock deadline and a cap on each reply's size."""

    sock: socket.socket | None
    file: object

    def __init__(self, *args, deadline_s: float, **kwargs):
        # Watched before connecting: the greeting is the first thing a server can drip.
        self.deadline = SocketDeadline(deadline_s, lambda: self.sock).start()
        try:
            super().__init__(*args, **kwargs)
        except BaseException:
            self.deadline.stop()
            raise

    def getreply(self):
        if self.sock is not None:
            if not isinstance(self.file, _LimitedReplies):  # new, or reset by STARTTLS
                self.file = _LimitedReplies(self.sock.makefile("rb"))
            self.file.left = MAX_REPLY_BYTES
        return super().getreply()

    def close(self):
        self.deadline.stop()
        super().close()


class _BoundedSMTP(_Bounded, smtplib.SMTP):
    pass


class _BoundedSMTPSSL(_Bounded, smtplib.SMTP_SSL):
    pass


class OutboxSender:
    """The embedded default: each message becomes ``<timestamp>-<message id>.eml`` in a folder."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def send(self, message: EmailMessage) -> str:
        message_id = _ensure_message_id(message, str(message.get("From", "")))
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.folder / f"{stamp}-{_file_safe(message_id)}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # readers of the folder list *.eml: they never see a half-written message
            write_atomically(target, message_bytes(message), durable=True)
        except OSError as error:
            raise MailSendError(f"outbox {self.folder}: {type(error).__name__}: {error}") from error
        return message_id

    def holds(self, message_id: str) -> bool:
        """Whether the outbox has the message with this Message-ID. Each is written whole or not at
        all, so after a crash while sending this is certain where an SMTP server cannot be asked. The
        file name is only a hint (cut to 120 characters): its Message-ID header decides."""
        pattern = f"*-{_file_safe(message_id)}.eml"
        for path in self.folder.glob(pattern) if self.folder.is_dir() else ():
            try:
                with path.open("rb") as handle:
                    headers = BytesHeaderParser(policy=MAIL_POLICY).parse(handle)
            except OSError:  # taken away meanwhile by whatever relays the outbox
                continue
            if str(headers.get("Message-ID", "")).strip() == message_id.strip():
                return True
        return False


def _envelope_recipients(message) -> list[str]:
    """Whom a message goes to: every address of its To, Cc and Bcc fields."""
    return [address for _, address in getaddresses(
        [str(value) for name in ("To", "Cc", "Bcc") for value in message.get_all(name, [])]) if address]


def _ensure_message_id(message: EmailMessage, sender: str) -> str:
    if not message.get("Message-ID"):
        _, address = parseaddr(sender)
        message["Message-ID"] = make_msgid(domain=address.rpartition("@")[2] or "localhost")
    return str(message["Message-ID"]).strip()


def _quit_quietly(smtp: smtplib.SMTP) -> None:
    # After the message is handed over, a QUIT that fails changes nothing about its delivery.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _data_block(payload: bytes) -> bytes:
    """The message as DATA carries it: lines starting with "." doubled, then the closing "."."""
    stuffed = re.sub(rb"(?m)^\.", b"..", payload)
    return stuffed + (b"" if stuffed.endswith(b"\r\n") else b"\r\n") + b".\r\n"


def _answer_text(code: int, answer: bytes) -> str:
    return f"{code} {answer.decode('utf-8', 'replace')}"[:200]


def _envelope_sender(from_address: str) -> str:
    # Bounces of a reply go to the support address, where they are recognised as machine mail.
    return parseaddr(from_address)[1] or from_address


def _without_bcc(message: EmailMessage) -> EmailMessage:
    if "Bcc" not in message:
        return message
    visible = copy.copy(message)
    del visible["Bcc"]
    return visible


def _file_safe(message_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]", "_", message_id.strip("<> "))[:120] or "message"
