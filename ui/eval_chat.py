"""The Eval page's chat, as plain values: what a pasted text becomes, and one timed triage.
No streamlit here, so it is unit-tested directly."""

from __future__ import annotations

import re
import time
from datetime import datetime

from core.mail import Email
from integrations.mail_parsing import MailParseError, parse_eml
from model.schema import FIELDS, TriageResult

DEFAULT_SENDER = "member@example.org"
CHAT_TURNS_KEPT = 20
"""Turns a session keeps: each is redrawn and sent to the browser on every rerun of the page."""
SHOWN_TEXT_CHARS = 20_000
"""A pasted text is shown and kept up to this; the model reads far less of a body (model/prompt.py)."""

_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*:[ \t]")
_MAIL_HEADERS = ("from:", "subject:")


def email_from_text(text: str, sender: str = DEFAULT_SENDER, now: datetime | None = None) -> Email:
    """A pasted whole mail (headers, a blank line, the body) keeps its From, Subject and Date;
    any other text is the body of a mail from ``sender``. Without a Date the mail is dated
    ``now``, so "next Saturday" resolves against today."""
    now = now or datetime.now().astimezone()
    if looks_like_a_whole_mail(text):
        try:
            email = parse_eml(text.encode("utf-8")).email
        except MailParseError:
            email = None
        if email is not None:
            return Email(email.sender or sender, email.subject, email.body.strip(), email.date or now)
    return Email(sender, "", text.strip(), now)


def looks_like_a_whole_mail(text: str) -> bool:
    """Header lines (``Name: value``, folded lines allowed) up to a blank line, with From or Subject."""
    header_block = text.lstrip().split("\n\n", 1)[0].splitlines()
    if not header_block or not all(_HEADER_LINE.match(line) or line[:1] in " \t" for line in header_block):
        return False
    return any(line.lower().startswith(_MAIL_HEADERS) for line in header_block)


def timed_triage(triager, email: Email) -> tuple[TriageResult, float]:
    """The result and the seconds the model took for it."""
    start = time.perf_counter()
    result = triager.triage(email)
    return result, time.perf_counter() - start


def stated_fields(result: TriageResult) -> dict[str, str]:
    """The fields the model found (empty ones left out), in the schema's order."""
    return {name: getattr(result, name) for name in FIELDS if getattr(result, name)}


def shown_text(text: str) -> str:
    """The pasted text as the chat shows and keeps it: a 1 MB paste would cost a MB of session
    memory and of every rerun's page for as long as the chat lasts."""
    if len(text) <= SHOWN_TEXT_CHARS:
        return text
    return f"{text[:SHOWN_TEXT_CHARS]}\n… ({len(text) - SHOWN_TEXT_CHARS:,} more characters not shown)"


def keep_recent(turns: list) -> None:
    """Drops all but the newest CHAT_TURNS_KEPT turns, in place (the list is the session's)."""
    del turns[:-CHAT_TURNS_KEPT]
