"""Where a mail came from: enough to recognise it on the next fetch, whatever the source."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MailRef:
    mailbox: str
    """``imap:user@host/folder`` or ``eml:/path/to/folder``."""
    uidvalidity: str
    """The folder's UIDVALIDITY: UIDs are only unique within one value of it."""
    uid: str
    message_id: str | None
    """The Message-ID header once the mail is parsed: a second key against duplicates."""
