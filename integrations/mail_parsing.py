"""From raw RFC 5322 bytes to the :class:`model.prompt.Email` the model reads.

Prefers text/plain; HTML is reduced to text (never rendered); charsets are decoded with
fallbacks; attachments are listed, never loaded.
"""

from __future__ import annotations

import codecs
import email
import re
import unicodedata
from dataclasses import dataclass, field
from email import errors
from email.headerregistry import Address, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import EmailPolicy
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime

from core.mail import Email
from core.text import html_to_text, unseen

MAX_MESSAGE_BYTES = 5_000_000
MAX_HEADER_FIELD_BYTES = 16_384
"""A header field longer than this is cut before parsing: the email package's header parser
takes seconds on a 200 KB field, and no real header needs more (RFC 5322 lines stop at 998)."""
MAX_ENCODED_WORDS_PER_FIELD = 100
"""A header field holding more encoded words (RFC 2047 ``=?``) than this is kept as written, not
decoded nor parsed: the email package's time on a field grows with its length times its encoded
words (16 KB of ``(=?utf-8?q?a?=)`` took 0.1 s, 15 such fields 2 s). A real field holds a few: a
long UTF-8 Subject, ten."""
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
_READ_ADDRESS_FIELDS = frozenset({"from", "sender", "reply-to"})
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
        """The From as written (see ``raw_header_items``); "" when there is none. Several From
        fields (RFC 5322 allows one) are joined with ", ", so that whoever reads the From reads
        every address in them, not only the first field's."""
        return _joined_from(self.raw_header_items)


def parse_eml(raw: bytes) -> ParsedMail:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MailParseError(f"message is {len(raw)} bytes, over the {MAX_MESSAGE_BYTES} byte limit")
    # Python splits header lines at a lone CR too; an MX that splits only at LF reads one field
    # where Python reads two, so a forged field can hide behind it.
    problems = [BARE_CR_PROBLEM] if _BARE_CR.search(_header_block(raw)) else []
    clipped, cut_fields = _clip_header_fields(raw)
    # What a cut address field says past the cut is unread: read as it stands, it may name another
    # mailbox or fewer of them (``a@x.example,<16 KB of spaces>b@y.example`` would read as a@x alone).
    problems += [cut_field_problem(name.title()) for name in cut_fields if name.lower() in _READ_ADDRESS_FIELDS]
    head_bytes = len(_header_block(clipped))
    if head_bytes > MAX_HEADER_BYTES:
        raise MailParseError(f"the header is {head_bytes} bytes (each field cut to {MAX_HEADER_FIELD_BYTES}), "
                             f"over the {MAX_HEADER_BYTES} byte limit")
    try:
        message = email.message_from_bytes(clipped, policy=_POLICY.clone(budget=_MailBudget()))
        raw_header_items = [(name, _raw_text(value)) for name, value in message.raw_items()]
        header_items = _decoded_items(message)
        raw_from = _joined_from(raw_header_items)
        # a cut From is kept as written, as a malformed one is: its reading may name another sender
        sender = raw_from.strip() if "from" in map(str.lower, cut_fields) \
            else read_address_field("From", raw_from).shown
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
        message_id=_first(header_items, "message-id").strip() or None,
        headers=dict(header_items),
        header_items=header_items,
        attachments=attachments,
        raw_header_items=raw_header_items,
        header_problems=problems,
    )


def _joined_from(raw_header_items: list[tuple[str, str]]) -> str:
    return ", ".join(value for name, value in raw_header_items if name.strip().lower() == "from")


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
        if value.count(ENCODED_WORD_START) > MAX_ENCODED_WORDS_PER_FIELD:
            items.append((name, _raw_text(value)))
        elif key in parsed or key in _UNREAD_ADDRESS_FIELDS:
            items.append((name, decoded_text(name, value)))
        else:
            parsed.add(key)
            items.append((name, _typed_text(message, name, value)))
    return items


def _typed_text(message: EmailMessage, name: str, value: str) -> str:
    """A field parsed by its type, as text. The email package's address parser raises on some
    honest display names (``.Anna <anna@example.org>``, a leading dot): such an address field is
    kept as written instead (``raw_header_items``), as :func:`read_address_field` shows a field it
    finds malformed: decoded, ``=?utf-8?q?x=0D=0ABcc:_b=40y.example?= <a@b@c>`` would name an
    address the field does not hold."""
    try:
        return str(message.policy.header_fetch_parse(name, value))
    except Exception:  # the email package raises many types on broken input
        if name.strip().lower() not in _READ_ADDRESS_FIELDS:
            raise
        return _raw_text(value)


def decoded_text(name: str, value: str) -> str:
    """A header value as a mail reader shows it: unfolded, encoded words (RFC 2047) decoded, and
    nothing parsed by the field's type (no address or date parser runs)."""
    return str(_AS_TEXT(name, _LINE_BREAK_CHARS.sub("", value)))


def _first(items: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in items if key.strip().lower() == name), "")


def cut_field_problem(name: str) -> str:
    """Why a header field cut to ``MAX_HEADER_FIELD_BYTES`` cannot be trusted, in plain words."""
    return (f"the {name} header field is over {MAX_HEADER_FIELD_BYTES} bytes and was cut: what it says "
            "past the cut was not read, so it may name other addresses than it seems to")


def _clip_header_fields(raw: bytes) -> tuple[bytes, list[str]]:
    """``raw`` with every header field (its folded lines together) cut to
    ``MAX_HEADER_FIELD_BYTES``, the body untouched, and the names of the fields cut. Linear in
    the header's size."""
    head = _header_block(raw)
    rest = raw[len(head):]
    if len(head) <= MAX_HEADER_FIELD_BYTES:
        return raw, []
    fields: list[list[bytes]] = []
    for line in head.splitlines(keepends=True):
        if fields and line[:1] in (b" ", b"\t"):
            fields[-1].append(line)  # a folded continuation of the field above
        else:
            fields.append([line])
    whole = [b"".join(field) for field in fields]
    clipped = [field if len(field) <= MAX_HEADER_FIELD_BYTES else
               field[:MAX_HEADER_FIELD_BYTES].rstrip(b"\r\n") + (b"\r\n" if field.endswith(b"\n") else b"")
               for field in whole]
    cut = [field.partition(b":")[0].strip().decode("ascii", "replace") for field in whole
           if len(field) > MAX_HEADER_FIELD_BYTES]
    return b"".join(clipped) + rest, cut


# -- reading From (and other address fields) ----------------------------------------------------

@dataclass(frozen=True)
class Mailbox:
    display_name: str
    address: str
    """As written: not lower-cased, punycode not decoded."""


@dataclass(frozen=True)
class AddressReading:
    """What an address field (From, Reply-To) says, read by :func:`read_address_field`."""

    mailboxes: tuple[Mailbox, ...]
    """Every address it holds (an entry without ``@`` or without a domain is none)."""
    problem: str | None
    """Why the field is not plainly what it seems: malformed to the standard parser, or a group
    (RFC 6854 syntax, whose name a reader may take for the sender); None for a well-formed field."""
    shown: str
    """The field for a person to read and for a reply to answer: a well-formed field as the
    standard parser writes it (``"Berg, Anna" <anna.berg@example.de>``, a decoded display name
    quoted); a malformed one as written, nothing dropped and nothing decoded, so that it never
    names fewer addresses, or another one, than the field: Python's reading of
    ``anna@x.example <b@y.example>`` drops ``b@y.example``, and the decoded text of
    ``=?utf-8?q?Anna_=3Ca=40x.example=3E?=`` (no address) is ``Anna <a@x.example>``."""


_NOT_IN_A_SLOPPY_NAME = frozenset('@<>"()[]\\:;')
_SLOPPY_MAILBOX = re.compile(r"(?P<name>[^<>]*)<(?P<address>[^<>]*)>\s*")
ENCODED_WORD_START = "=?"
"""How an RFC 2047 encoded word begins: text that a reader shows decoded, not as written."""


def read_address_field(name: str, value: str) -> AddressReading:
    """An address field as written (unfolded, encoded words not decoded: ``raw_header_items``).

    The standard RFC 5322 parser (``email.policy.default``) reads a well-formed field. A field it
    finds malformed is read leniently in one case only, a sloppy display name before a single
    angle-addr: ``NAME <addr-spec>`` and nothing after the ``>``, where the addr-spec alone is
    well-formed and NAME, as written and NFKC-normalised (``＠`` becomes ``@``), holds none of
    ``@ < > " ( ) [ ] \\ : ;``, no encoded word (``=?``), and no control or invisible formatting
    character. Such a NAME names no address (no ``@``), hides no second mailbox (no ``<``), no
    comment, no group and nothing decoded later; what was wrong is a special such as the unquoted
    comma of ``Berg, Anna <anna.berg@example.de>``, which some clients write: that is one mailbox,
    display name ``Berg, Anna``. Any other malformed field is read by the older ``getaddresses``,
    which finds every address in it (``anna@x.example <b@y.example>``, which the standard parser
    reads as ``anna@x.example`` alone, is two), and keeps its ``problem``; so is a field of more
    than ``MAX_ENCODED_WORDS_PER_FIELD`` encoded words, never given to the standard parser.
    """
    text = _LINE_BREAK_CHARS.sub(" ", str(value)).strip()
    if not text:
        return AddressReading((), None, "")
    too_many_words = text.count(ENCODED_WORD_START) > MAX_ENCODED_WORDS_PER_FIELD
    if too_many_words:
        header, invalid = None, f"over {MAX_ENCODED_WORDS_PER_FIELD} encoded words, not parsed"
    else:
        try:
            header = default_policy.header_factory(name, text)
            invalid = next((defect for defect in header.defects if isinstance(defect, errors.InvalidHeaderDefect)),
                           None)
        except Exception as error:  # noqa: BLE001 - the email package raises many types on broken input
            header, invalid = None, type(error).__name__
    if header is not None and invalid is None:
        mailboxes = tuple(Mailbox(address.display_name, address.addr_spec) for address in header.addresses)
        group = next((group.display_name for group in header.groups if group.display_name is not None), None)
        problem = None if group is None else f"the {name} header is a group ({group}: ...;), not a mailbox"
        shown = str(header)
    elif not too_many_words and (sloppy := _sloppy_mailbox(name, text)) is not None:
        return AddressReading((Mailbox(sloppy.display_name, sloppy.addr_spec),), None, str(sloppy))
    else:
        mailboxes = tuple(Mailbox(*pair) for pair in getaddresses([text]))
        problem, shown = f"the {name} header is malformed ({invalid})", text
    mailboxes = tuple(mailbox for mailbox in mailboxes if _is_address(mailbox.address))
    if problem and len(mailboxes) == 1:
        problem += f"; read as {mailboxes[0].address}"
    return AddressReading(mailboxes, problem, shown)


def _sloppy_mailbox(name: str, text: str) -> Address | None:
    """The one mailbox of ``NAME <addr-spec>`` under :func:`read_address_field`'s rule, or None."""
    match = _SLOPPY_MAILBOX.fullmatch(text)
    if match is None:
        return None
    display_name, address = match["name"].strip(), match["address"].strip()
    if ENCODED_WORD_START in display_name or any(
            char in _NOT_IN_A_SLOPPY_NAME or unseen(char)
            or (char.isspace() and unicodedata.category(char) != "Zs")
            for char in display_name + unicodedata.normalize("NFKC", display_name)):
        return None
    try:
        alone = default_policy.header_factory(name, f"<{address}>")
    except Exception:  # noqa: BLE001 - the email package raises many types on broken input
        return None
    if any(isinstance(defect, errors.InvalidHeaderDefect) for defect in alone.defects) \
            or [found.addr_spec for found in alone.addresses] != [address] or not _is_address(address):
        return None
    found = alone.addresses[0]
    return Address(display_name, found.username, found.domain)


def _is_address(address: str) -> bool:
    local, at, domain = address.rpartition("@")
    return bool(at and local.strip() and domain.strip())


_MACHINE_SENDERS = ("mailer-daemon@", "postmaster@", "noreply@", "no-reply@", "donotreply@", "do-not-reply@")


def machine_mail_reason(headers: dict[str, str], sender: str) -> str | None:
    """Why a mail is from a machine (auto-reply, bulk, bounce), or None for a person's mail.

    Such mail is kept as a ticket but never auto-answered: answering it starts mail loops.
    """
    lowered = {key.lower(): value.strip().lower() for key, value in headers.items()}
    if lowered.get("auto-submitted", "no") != "no":
        return f"Auto-Submitted: {lowered['auto-submitted']}"
    if lowered.get("precedence") in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {lowered['precedence']}"
    if "".join(lowered.get("return-path", "x").split()) == "<>":  # the null sender: RFC 3834 says never answer
        return "Return-Path: <> (a bounce or an automatic reply)"
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
