"""From raw RFC 5322 bytes to the :class:`model.prompt.Email` the model reads.

Prefers text/plain; HTML is reduced to text (never rendered); charsets are decoded with
fallbacks; attachments are listed, never loaded.
"""

from __future__ import annotations

import codecs
import email
import re
from dataclasses import dataclass, field
from email.headerregistry import HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.utils import parsedate_to_datetime

from core.mail import Email
from core.text import html_to_text

MAX_MESSAGE_BYTES = 5_000_000
MAX_HEADER_FIELD_BYTES = 16_384
"""A header field longer than this is cut before parsing: the email package's header parser
takes seconds on a 200 KB field, and no real header needs more (RFC 5322 lines stop at 998)."""
MAX_HEADER_BYTES = 262_144
"""A header block larger than this, its fields clipped, is refused (quarantined): clipping bounds
each field, not their number, and 300 clipped address fields took the email package over two minutes. Real header
blocks, long Received chains and DKIM signatures included, stay far below."""
MAX_MIME_PARTS = 1_000
"""A message with more MIME parts than this is refused (quarantined): the email package spends
~70 µs on each, however small, and 200,000 empty parts (2 MB) took 14 s. Real mail has tens."""
MAX_MIME_FIELD_CHARS = 4_096
"""Content-Type, Content-Disposition and Content-Transfer-Encoding, of the message and of each part
(whose headers the top header's limits do not reach), are cut to this before parsing: the email
package's time on one grows with the square of its length (a part's 20 KB Content-Type took 5 s,
440 KB of RFC 2231 continuations 36 s). A long RFC 2231 file name takes ~3 KB."""
MAX_MIME_HEADER_CHARS = 65_536
"""Those fields of one message together: more is refused (quarantined). Each character costs up
to ~15 µs to parse, however the fields are cut. Real mail needs ~200 a part."""
_MIME_FIELDS = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
_NOT_MAIL_CHARSETS = frozenset({"punycode", "idna", "unicode-escape", "raw-unicode-escape", "palmos", "undefined"})
"""Python's own text codecs (named as ``codecs.lookup`` names them), which no mail program writes:
a part claiming one is read as UTF-8. punycode decodes in quadratic time: 200 KB took 5 s."""
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_BARE_CR = re.compile(rb"\r(?!\n)")
_LINE_BREAK_CHARS = re.compile(r"[\r\n]")
# Address lists nobody here reads: kept as text (encoded words decoded), never parsed as addresses,
# which costs the email package ~0.2 s per 16 KB field. From, Sender and Reply-To are parsed.
_UNREAD_ADDRESS_FIELDS = frozenset({"to", "cc", "bcc", "resent-from", "resent-sender", "resent-to", "resent-cc",
                                    "resent-bcc"})
_AS_TEXT = HeaderRegistry(default_class=UnstructuredHeader, use_default_map=False)
BARE_CR_PROBLEM = ("the header holds a bare CR line break: mail servers and this parser may split its fields "
                   "differently, so its Authentication-Results cannot be trusted")


class MailParseError(ValueError):
    """The message cannot be read; the reason is meant for the operator."""


class _MailBudget:
    """What one message has spent so far: its parts, its MIME fields, and those fields parsed
    (the email package parses a part's Content-Type again on every look, a multipart's once more
    for each of its parts: each is parsed once per message instead)."""

    def __init__(self):
        self.parts = 0
        self.mime_chars = 0
        self.parsed: dict[tuple[str, str], object] = {}


def _new_part(policy: _BoundedPolicy) -> EmailMessage:
    policy.budget.parts += 1
    if policy.budget.parts > MAX_MIME_PARTS:
        raise MailParseError(f"the message has more than {MAX_MIME_PARTS} MIME parts")
    return EmailMessage(policy=policy)


class _BoundedPolicy(EmailPolicy):
    """``email.policy.default`` within the limits above; a fresh one reads each message (``budget``)."""

    budget: _MailBudget | None = None
    message_factory = staticmethod(_new_part)

    def header_source_parse(self, sourcelines):
        name, value = super().header_source_parse(sourcelines)
        if name.strip().lower() in _MIME_FIELDS:
            value = value[:MAX_MIME_FIELD_CHARS]
            self.budget.mime_chars += len(value)
            if self.budget.mime_chars > MAX_MIME_HEADER_CHARS:
                raise MailParseError(f"its Content-Type, Content-Disposition and Content-Transfer-Encoding fields "
                                     f"are over {MAX_MIME_HEADER_CHARS} characters together")
        return name, value

    def header_fetch_parse(self, name, value):
        if not isinstance(value, str) or hasattr(value, "name"):  # already a parsed header
            return super().header_fetch_parse(name, value)
        key = (name, value)
        if key not in self.budget.parsed:
            self.budget.parsed[key] = super().header_fetch_parse(name, value)
        return self.budget.parsed[key]


_POLICY = _BoundedPolicy()


@dataclass
class ParsedMail:
    email: Email
    message_id: str | None
    headers: dict[str, str]
    """The header fields by name (the last of repeated ones): for lookups."""
    header_items: list[tuple[str, str]] = field(default_factory=list)
    """Every header field in order, repeated ones kept, encoded words decoded: for reading."""
    attachments: list[str] = field(default_factory=list)
    raw_header_items: list[tuple[str, str]] = field(default_factory=list)
    """Every header field in order as written: unfolded, 8-bit text read as UTF-8, encoded words
    (RFC 2047) left as they are. Sender authentication reads these, as the receiving MX did."""
    header_problems: list[str] = field(default_factory=list)
    """Why the header block cannot be authenticated, in plain words; [] for ordinary mail."""

    @property
    def raw_from(self) -> str:
        """The first From field as written (see ``raw_header_items``); "" when there is none."""
        return next((value for name, value in self.raw_header_items if name.strip().lower() == "from"), "")


def parse_eml(raw: bytes) -> ParsedMail:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MailParseError(f"message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES} byte limit")
    # Python splits header lines at a lone CR too; an MX that splits only at LF reads one field
    # where Python reads two, so a forged field can hide behind it.
    problems = [BARE_CR_PROBLEM] if _BARE_CR.search(_header_block(raw)) else []
    clipped = _clip_header_fields(raw)
    head_bytes = len(_header_block(clipped))
    if head_bytes > MAX_HEADER_BYTES:
        raise MailParseError(f"the header is {head_bytes} bytes (each field cut to {MAX_HEADER_FIELD_BYTES}), "
                             f"over the {MAX_HEADER_BYTES} byte limit")
    try:
        message = email.message_from_bytes(clipped, policy=_POLICY.clone(budget=_MailBudget()))
        raw_header_items = [(name, _raw_text(value)) for name, value in message.raw_items()]
        header_items = _decoded_items(message)
        sender = _first(header_items, "from")
        subject = _first(header_items, "subject")
        body = _body_text(message)
        attachments = [part.get_filename() or part.get_content_type() for part in message.iter_attachments()] \
            if message.is_multipart() else []
    except MailParseError:
        raise
    except RecursionError as error:  # parts in parts, or comments in comments, a thousand deep
        raise MailParseError("unreadable message: its MIME parts or a Content field nest too deeply") from error
    except Exception as error:  # the email package raises many types on broken input
        raise MailParseError(f"unreadable message: {type(error).__name__}: {error}") from error
    if not sender and not body.strip():
        raise MailParseError("message has neither a sender nor any text")
    return ParsedMail(
        email=Email(sender=sender, subject=subject, body=body, date=_date(message)),
        message_id=str(message.get("Message-ID", "") or "").strip() or None,
        headers=dict(header_items),
        header_items=header_items,
        attachments=attachments,
        raw_header_items=raw_header_items,
        header_problems=problems,
    )


def _header_block(raw: bytes) -> bytes:
    end = _HEADER_END.search(raw)
    return raw[: end.start()] if end else raw


def _raw_text(value: str) -> str:
    """A raw header value unfolded, its 8-bit bytes (surrogate-escaped by the parser) read as UTF-8."""
    text = _LINE_BREAK_CHARS.sub("", value)
    return text.encode("ascii", "surrogateescape").decode("utf-8", "replace")


def _decoded_items(message: EmailMessage) -> list[tuple[str, str]]:
    """Every field decoded once. Only the first field of each name is parsed by its type (an
    address, a date); repeats and the address lists nobody reads are decoded as plain text, so
    the cost stays linear in the header's size however many fields it has."""
    items, parsed = [], set()
    for name, value in message.raw_items():
        key = name.strip().lower()
        if key in parsed or key in _UNREAD_ADDRESS_FIELDS:
            items.append((name, decoded_text(name, value)))
        else:
            parsed.add(key)
            items.append((name, str(message.policy.header_fetch_parse(name, value))))
    return items


def decoded_text(name: str, value: str) -> str:
    """A header value as a mail reader shows it: unfolded, encoded words (RFC 2047) decoded, and
    nothing parsed by the field's type (no address or date parser runs)."""
    return str(_AS_TEXT(name, _LINE_BREAK_CHARS.sub("", value)))


def _first(items: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in items if key.strip().lower() == name), "")


def _clip_header_fields(raw: bytes) -> bytes:
    """``raw`` with every header field (its folded lines together) cut to
    ``MAX_HEADER_FIELD_BYTES``; the body untouched. Linear in the header's size."""
    head = _header_block(raw)
    rest = raw[len(head):]
    if len(head) <= MAX_HEADER_FIELD_BYTES:
        return raw
    fields: list[list[bytes]] = []
    for line in head.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1].append(line)  # a folded continuation of the field above
        else:
            fields.append([line])
    clipped = [b"".join(field) for field in fields]
    clipped = [field if len(field) <= MAX_HEADER_FIELD_BYTES else
               field[:MAX_HEADER_FIELD_BYTES].rstrip(b"\r\n") + (b"\r\n" if field.endswith(b"\n") else b"")
               for field in clipped]
    return b"".join(clipped) + rest


_MACHINE_SENDERS = ("mailer-daemon@", "postmaster@", "noreply@", "no-reply@", "donotreply@", "do-not-reply@")


def machine_mail_reason(headers: dict[str, str], sender: str) -> str | None:
    """Why a mail is from a machine (auto-reply, bulk, bounce), or None for a person's mail.

    Such mail is kept as a ticket but never auto-answered: answering it starts mail loops.
    """
    lowered = {key.lower(): value.strip().lower() for key, value in headers.items()}
    if lowered.get("auto-submitted", "no") != "no":
        return f"Auto-Submitted: {lowered['auto-submitted']}"
    if lowered.get("precedence") in ("bulk", "junk", "list"):
        return f"Precedence: {lowered['precedence']}"
    for header in ("x-autoreply", "x-autorespond", "x-auto-response-suppress", "list-id", "list-unsubscribe"):
        if header in lowered:
            return f"{header} header"
    if "multipart/report" in lowered.get("content-type", ""):
        return "delivery report (bounce)"
    address = sender.lower()
    if any(marker in address for marker in _MACHINE_SENDERS):
        return f"machine sender {sender}"
    return None


def _body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = _decode(part)
    return html_to_text(text) if part.get_content_type() == "text/html" else text


def _decode(part: EmailMessage) -> str:
    try:
        if _codec_name(part.get_content_charset()) not in _NOT_MAIL_CHARSETS:
            return part.get_content()
    except (LookupError, UnicodeError, AssertionError, ValueError):  # ValueError: a NUL in the charset's name
        pass
    payload = part.get_payload(decode=True) or b""
    return payload.decode("utf-8", errors="replace")


def _codec_name(charset: str | None) -> str | None:
    try:
        return codecs.lookup(charset).name if charset else None
    except LookupError:
        return None  # unknown: get_content reads it as UTF-8


def _date(message: EmailMessage):
    try:
        return parsedate_to_datetime(str(message.get("Date"))) if message.get("Date") else None
    except (TypeError, ValueError):
        return None
