"""Copy the demo mails into the folder the worker reads, dated as if they had just arrived.

    python -m demo.prepare_mailbox                      # into $ACEDESK_DATA_DIR/demo-inbox (data/demo-inbox)
    python -m demo.prepare_mailbox --out /tmp/inbox

The mails say "tomorrow", "later today" and "next Saturday", and the stand-in club backend seeds
its bookings relative to today, so the Date headers are shifted together: the newest mail
becomes a few minutes old and the others keep their order and spacing. Only the Date header
changes; Message-IDs and bodies stay byte for byte. A mail already in the folder is left alone,
so running this twice gives the worker no new mail and no changed dates.
"""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta
from email.parser import BytesHeaderParser
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

from core.files import write_atomically
from core.settings import load_settings

DEMO_MAIL = Path(__file__).parent / "mail"
NEWEST_AGE = timedelta(minutes=3)
# The Date header line and any folded continuation lines, without the line end.
_DATE_HEADER = re.compile(rb"^Date:[^\r\n]*(?:\r?\n[ \t][^\r\n]*)*", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def default_target() -> Path:
    return load_settings().data_dir / "demo-inbox"


def prepare_mailbox(target: Path, source: Path = DEMO_MAIL, now: datetime | None = None) -> list[Path]:
    """Copy every ``*.eml`` of ``source`` missing from ``target``, re-dated; returns the new files."""
    mails = {path: path.read_bytes() for path in sorted(source.glob("*.eml"))}
    if not mails:
        return []
    dates = {path: mail_date(raw, path.name) for path, raw in mails.items()}
    shift = (now or datetime.now(UTC)) - NEWEST_AGE - max(dates.values())
    shift = timedelta(seconds=round(shift.total_seconds()))  # Date headers have whole seconds
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for path, raw in mails.items():
        destination = target / path.name
        if destination.exists():
            continue
        # not *.eml until complete: a worker polling the folder never reads half a mail
        write_atomically(destination, restamp(raw, dates[path] + shift))
        written.append(destination)
    return written


def mail_date(raw: bytes, name: str = "mail") -> datetime:
    value = BytesHeaderParser().parsebytes(raw).get("Date")
    try:
        date = parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError):
        date = None
    if date is None or date.tzinfo is None:
        raise ValueError(f"{name}: needs a Date header with a time zone, got {value!r}")
    return date


def restamp(raw: bytes, when: datetime) -> bytes:
    """``raw`` with its Date header set to ``when`` (in ``when``'s own UTC offset); all else untouched."""
    header_end = _HEADER_END.search(raw)
    split = header_end.start() if header_end else len(raw)
    header, rest = raw[:split], raw[split:]
    new_header, count = _DATE_HEADER.subn(b"Date: " + format_datetime(when).encode("ascii"), header, count=1)
    if not count:
        raise ValueError("mail has no Date header")
    return new_header + rest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="target folder (default $ACEDESK_DATA_DIR/demo-inbox)")
    parser.add_argument("--source", type=Path, default=DEMO_MAIL, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    target = args.out or default_target()
    written = prepare_mailbox(target, args.source)
    total = len(list(args.source.glob("*.eml")))
    print(f"{target}: {len(written)} new demo mails, {total - len(written)} already there")


if __name__ == "__main__":
    main()
