"""IMAP ingestion speed: AceDesk's bulk fetch vs one FETCH per message, in the same run.

    python -m benchmarks.ingestion_speed [--mails 1000]      # as root, with Dovecot installed

A private Dovecot (tests/fixtures/dovecot.py) gets ``--mails`` varied, realistic member mails
by APPEND (not timed). Each path then ingests the whole folder into a fresh TicketStore
(parse, store, no triage):

- AceDesk: ``ImapMailbox.new_mails_since``, as the worker fetches (a first round lists the whole
  folder in one UID FETCH of all sizes, then ``BODY.PEEK[]`` in chunks of 100) + ``ingest``;
- naive: imap-tools' ``fetch(mark_seen=False)`` as its docs show it, one FETCH per message,
  bytes re-serialised from the parsed message, + the same ``ingest``.

Also timed: fetching alone (no store), and a second round with one new mail, as the worker makes it
(listing only the UIDs above the highest one stored) against the same round listing the whole
folder (``new_mails`` with the store's known UIDs, every round before). The target is under 60 s
for 1,000 mails.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from imap_tools import MailBoxUnencrypted

from benchmarks.common import report
from core.mail import MailRef
from integrations.imap_mailbox import ImapMailbox, ImapSettings
from support.intake import ingest
from support.store import TicketStore
from testbed.dovecot import DovecotServer, dovecot_available

TARGET_S = 60.0
NAMES = ["Anna Berg", "Tom Keller", "Lea Fischer", "Jonas Weber", "Mia Schulz", "Paul Wagner", "Sofia Rossi",
         "Lukas Braun", "Emma Martin", "Noah Dubois", "Clara Hoffmann", "Ben Richter"]
REQUESTS = [
    ("Cancel my booking", "Hi,\n\nplease cancel BK-{n:05d}, I'm injured.\n\nThanks,\n{name}"),
    ("Password", "Hello, I forgot my password. My username is {user}. Can you reset it?\n{name}"),
    ("New member", "Please add my son, username {user}_junior, to the club account.\n\nBest,\n{name}"),
    ("Move Saturday", "Could you move my Saturday booking BK-{n:05d} to 10am on court 3?\n{name}"),
    ("Frage zur Buchung", "Hallo, können Sie meine Buchung BK-{n:05d} stornieren? Grüße, {name}"),
    ("Question", "Do you have floodlights in winter? And what does a guest fee cost?\n{name}"),
]


def realistic_mail(rng: random.Random, number: int) -> bytes:
    """A member's mail: plain or plain+HTML, some with quoted history or a small attachment."""
    name = rng.choice(NAMES)
    user = name.split()[0].lower() + f"_{rng.randint(1, 99)}"
    subject, body = rng.choice(REQUESTS)
    text = body.format(n=rng.randint(10000, 99999), name=name, user=user)
    if rng.random() < 0.3:
        text += "\n\n> On Monday the club wrote:\n" + "> Dear member, thank you for your mail.\n" * rng.randint(2, 30)
    message = EmailMessage()
    message["From"] = f"{name} <{user}@example.org>"
    message["To"] = "desk@club.example"
    message["Subject"] = f"{subject} #{number}"
    message["Date"] = format_datetime(datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=7 * number))
    message["Message-ID"] = make_msgid(f"m{number}", "example.org")
    message.set_content(text)
    if rng.random() < 0.4:
        message.add_alternative(f"<html><body><p>{text.replace(chr(10), '<br>')}</p></body></html>", subtype="html")
    if rng.random() < 0.1:
        message.add_attachment(rng.randbytes(rng.randint(2_000, 40_000)), maintype="application",
                               subtype="pdf", filename="medical-certificate.pdf")
    return message.as_bytes()


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def acedesk_ingest(settings: ImapSettings, store: TicketStore) -> int:
    with ImapMailbox(settings) as mailbox:
        return len(ingest(store, mailbox.new_mails_since(store)))


def whole_listing_ingest(settings: ImapSettings, store: TicketStore) -> int:
    """A round as every round was before: the whole folder listed, and every UID ever seen loaded."""
    with ImapMailbox(settings) as mailbox:
        return len(ingest(store, mailbox.new_mails(store.known_uids)))


def acedesk_fetch_only(settings: ImapSettings) -> int:
    with ImapMailbox(settings) as mailbox:
        return sum(1 for _ in mailbox.new_mails(lambda _mailbox, _uidvalidity: set()))


def naive_mails(box: MailBoxUnencrypted, settings: ImapSettings):
    """imap-tools' plain fetch: a SEARCH, then one FETCH round trip per message."""
    for message in box.fetch(mark_seen=False):
        yield MailRef(settings.mailbox_name, "0", message.uid, None), message.obj.as_bytes()


def naive_ingest(settings: ImapSettings, store: TicketStore) -> int:
    with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password) as box:
        return len(ingest(store, naive_mails(box, settings)))


def naive_fetch_only(settings: ImapSettings) -> int:
    with MailBoxUnencrypted(settings.host, settings.port).login(settings.user, settings.password) as box:
        return sum(1 for _ in naive_mails(box, settings))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not dovecot_available():
        sys.exit("needs Dovecot 2.3 (scripts/install-system-packages.sh) and root")

    rng = random.Random(args.seed)
    mails = [realistic_mail(rng, number) for number in range(args.mails)]
    with DovecotServer() as server, tempfile.TemporaryDirectory() as folder:
        settings = server.settings(server.add_user())
        _, append_s = timed(lambda: server.append_many(settings.user, mails))
        ours_store, naive_store = TicketStore(Path(folder) / "ours.db"), TicketStore(Path(folder) / "naive.db")
        ours_n, ours_s = timed(lambda: acedesk_ingest(settings, ours_store))
        server.append_many(settings.user, [realistic_mail(rng, args.mails)])
        again_n, again_s = timed(lambda: acedesk_ingest(settings, ours_store))
        server.append_many(settings.user, [realistic_mail(rng, args.mails + 1)])
        whole_n, whole_s = timed(lambda: whole_listing_ingest(settings, ours_store))
        naive_n, naive_s = timed(lambda: naive_ingest(settings, naive_store))
        _, ours_fetch_s = timed(lambda: acedesk_fetch_only(settings))
        _, naive_fetch_s = timed(lambda: naive_fetch_only(settings))
        unique = len({t.message_id for t in ours_store.tickets()})

    results = {
        "mails": args.mails,
        "megabytes": round(sum(map(len, mails)) / 1e6, 2),
        "append_setup_s": round(append_s, 2),
        "ingest_s": round(ours_s, 2),
        "ingest_mails_per_s": round(ours_n / ours_s, 1),
        "naive_ingest_s": round(naive_s, 2),
        "naive_ingest_mails_per_s": round(naive_n / naive_s, 1),
        "speedup_vs_naive": round(naive_s / ours_s, 2),
        "fetch_only_s": round(ours_fetch_s, 2),
        "naive_fetch_only_s": round(naive_fetch_s, 2),
        "fetch_only_speedup": round(naive_fetch_s / ours_fetch_s, 2),
        "second_fetch_new": again_n,
        "second_fetch_s": round(again_s, 3),
        "second_fetch_whole_listing_new": whole_n,
        "second_fetch_whole_listing_s": round(whole_s, 3),
        "second_fetch_speedup": round(whole_s / again_s, 2),
        "tickets_unique": unique,
        "under_target": ours_s < TARGET_S * args.mails / 1000,
    }
    report("ingestion_speed", results)
    return results


if __name__ == "__main__":
    main()
