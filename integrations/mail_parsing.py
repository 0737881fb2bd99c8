"""From raw RFC 5322 bytes to the :class:`model.prompt.Email` the model reads.

Prefers text/plain; HTML is reduced to text (never rendered); charsets are decoded with
fallbacks; attachments are listed, never loaded.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

from core.mail import Email
from core.text import html_to_text

MAX_MESSAGE_BYTES = 5_000_000
MAX_HEADER_FIELD_BYTES = 16_384
"""A header field longer than this is cut before parsing: the email package's header parser
takes seconds on a 200 KB field, and no real header needs more (RFC 5322 lines stop at 998)."""
_HEADER_END = re.compile(rb"\r?\n\r?\n")


class MailParseError(ValueError):
    """The message cannot be read; the reason is meant for the operator."""


@dataclass
class ParsedMail:
    email: Email
    message_id: str | None
    headers: dict[str, str]
    """The header fields by name (the last of repeated ones): for lookups."""
    header_items: list[tuple[str, str]] = field(default_factory=list)
    """Every header field in order, repeated ones kept (Authentication-Results are several)."""
    attachments: list[str] = field(default_factory=list)


def parse_eml(raw: bytes) -> ParsedMail:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MailParseError(f"message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES} byte limit")
    try:
        message = email.message_from_bytes(_clip_header_fields(raw), policy=email.policy.default)
        header_items = [(key, str(value)) for key, value in message.items()]  # each parsed once
        sender = str(message.get("From", "") or "")
        subject = str(message.get("Subject", "") or "")
        body = _body_text(message)
    except Exception as error:  # the email package raises many types on broken input
        raise MailParseError(f"unreadable message: {type(error).__name__}: {error}") from error
    if not sender and not body.strip():
        raise MailParseError("message has neither a sender nor any text")
    return ParsedMail(
        email=Email(sender=sender, subject=subject, body=body, date=_date(message)),
        message_id=str(message.get("Message-ID", "") or "").strip() or None,
        headers=dict(header_items),
        header_items=header_items,
        attachments=[part.get_filename() or part.get_content_type() for part in message.iter_attachments()]
        if message.is_multipart() else [],
    )


def _clip_header_fields(raw: bytes) -> bytes:
    """``raw`` with every header field (its folded lines together) cut to
    ``MAX_HEADER_FIELD_BYTES``; the body untouched. Linear in the header's size."""
    end = _HEADER_END.search(raw)
    head, rest = (raw[: end.start()], raw[end.start():]) if end else (raw, b"")
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
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError):
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def _date(message: EmailMessage):
    try:
        return parsedate_to_datetime(str(message.get("Date"))) if message.get("Date") else None
    except (TypeError, ValueError):
        return None
