"""The mail as AceDesk passes it between rooms: where it came from, and what the model reads.

``integrations`` produces both (IMAP, the .eml folder, the parser), ``support`` stores them
and ``model`` reads an :class:`Email`; defined here so that neither of those imports the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

MESSAGE_ID = re.compile(r"<[!-;=?-~]+>")
"""A msg-id: printable ASCII without angle brackets or spaces between "<" and ">". Threading
reads ids with it, and IMAP searches only for an id it matches whole."""

REPLY_PREFIXES = ("re", "aw", "sv", "vs", "antw", "antwort", "odp", "rif", "ref", "réf", "res")
"""A reply's subject prefix in the languages mail clients write it (Re:, AW:, SV:, Antw:, Réf: ...)."""
FORWARD_PREFIXES = ("fw", "fwd", "wg", "tr", "rv", "enc", "reenv", "doorst")
"""A forward's (Fwd:, WG:, TR:, RV:, ENC: ...)."""


def subject_prefix(words: tuple[str, ...]) -> re.Pattern:
    """A subject starting with one of ``words`` and a colon, after a list tag ("[club] Re:") and
    with a count ("RE[2]:", "Re(3):", "Re^2:"), whatever the case."""
    return re.compile(rf"^\W*(?:\[[^\]]*\]\s*)?(?:{'|'.join(words)})\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*:",
                      re.IGNORECASE)


@dataclass(frozen=True)
class MailRef:
    """Where a mail came from: enough to recognise it on the next fetch, whatever the source."""

    mailbox: str
    """``imap:user@host/folder`` or ``eml:/path/to/folder``."""
    uidvalidity: str
    """The folder's UIDVALIDITY: UIDs are only unique within one value of it."""
    uid: str
    message_id: str | None
    """The Message-ID header once the mail is parsed: a second key against duplicates."""


@dataclass(frozen=True)
class Email:
    """The part of a mail the model reads."""

    sender: str
    subject: str
    body: str
    date: datetime | None = None
