"""The demo mailbox: every mail readable and labelled, in line with the club backend's seed data,
and prepared into an inbox with fresh dates exactly once."""

import csv
import re
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from itertools import pairwise

import pytest

from club_backend.schemas import USERNAME_PATTERN
from club_backend.seed import SEED_BOOKINGS, SEED_MEMBERS
from demo.prepare_mailbox import DEMO_MAIL, NEWEST_AGE, mail_date, main, prepare_mailbox, restamp
from integrations.mail_parsing import machine_mail_reason, parse_eml
from model.schema import CATEGORIES

MAILS = sorted(DEMO_MAIL.glob("*.eml"))
_EXPECTED_ROWS = csv.DictReader((DEMO_MAIL / "EXPECTED.csv").read_text(encoding="utf-8").splitlines())
EXPECTED = {row["file"]: row for row in _EXPECTED_ROWS}
MACHINE_MAIL = {"02-newsletter-tennis-world.eml", "08-markus-abwesenheitsnotiz.eml",
                "21-bounce-cancellation-notice.eml"}
MEMBER_EMAILS = {member.username: member.email for member in SEED_MEMBERS}
BOOKING_OWNERS = {booking.booking_id: MEMBER_EMAILS[booking.username] for booking in SEED_BOOKINGS}
NOW = datetime(2027, 3, 6, 18, 30, tzinfo=UTC)


def parsed(path):
    return parse_eml(path.read_bytes())


def test_the_mailbox_has_thirty_one_mails_named_in_order():
    assert [path.name[:3] for path in MAILS] == [f"{number:02d}-" for number in range(1, 32)]


@pytest.mark.parametrize("path", MAILS, ids=lambda path: path.name)
def test_every_mail_is_a_complete_message_to_the_support_desk(path):
    mail = parsed(path)
    headers = {key.lower(): value for key, value in mail.headers.items()}
    assert {"from", "to", "subject", "date", "message-id", "mime-version", "content-type"} <= set(headers)
    assert headers["to"] == "support@club.example"
    assert mail.email.body.strip() and mail.email.date.tzinfo is not None
    sender_domain = parseaddr(mail.email.sender)[1].rpartition("@")[2].lower()
    id_domain = mail.message_id.strip("<>").rpartition("@")[2].lower()
    assert id_domain == sender_domain or id_domain.endswith(f".{sender_domain}")


def test_message_ids_are_unique():
    ids = [parsed(path).message_id for path in MAILS]
    assert len(set(ids)) == len(ids) == 31


def test_dates_follow_the_file_order():
    dates = [mail_date(path.read_bytes()) for path in MAILS]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)


@pytest.mark.parametrize("path", MAILS, ids=lambda path: path.name)
def test_machine_mail_is_recognised_and_people_are_not(path):
    mail = parsed(path)
    reason = machine_mail_reason(mail.headers, mail.email.sender)
    assert (reason is not None) == (path.name in MACHINE_MAIL), reason


def test_expected_labels_cover_every_file_with_valid_values():
    assert sorted(EXPECTED) == [path.name for path in MAILS]
    for row in EXPECTED.values():
        assert row["category"] in CATEGORIES, row
        assert not row["booking_id"] or re.fullmatch(r"BK-\d{5}", row["booking_id"]), row
        assert row["note"], row
    counts = {category: sum(row["category"] == category for row in EXPECTED.values())
              for category in CATEGORIES}
    assert min(counts.values()) >= 4, counts


@pytest.mark.parametrize("row", EXPECTED.values(), ids=lambda row: row["file"])
def test_labelled_values_stand_verbatim_in_the_mail(row):
    mail = parsed(DEMO_MAIL / row["file"])
    text = f"{mail.email.subject}\n{mail.email.body}"
    for field in ("username", "booking_id"):
        assert row[field] in text, field


@pytest.mark.parametrize("row", [row for row in EXPECTED.values() if row["category"].endswith("_booking")],
                         ids=lambda row: row["file"])
def test_booking_requests_come_from_the_booking_owner_on_file(row):
    sender = parseaddr(parsed(DEMO_MAIL / row["file"]).email.sender)[1]
    assert BOOKING_OWNERS[row["booking_id"]] == sender


def test_new_logins_are_free_usernames_and_resets_name_existing_members():
    for row in EXPECTED.values():
        if row["category"] == "add_user":
            assert row["username"] not in MEMBER_EMAILS, row
            assert re.fullmatch(USERNAME_PATTERN, row["username"]), row
        if row["category"] == "reset_password":
            assert row["username"] in MEMBER_EMAILS, row


# -- prepare_mailbox ------------------------------------------------------------------------------

def test_prepare_restamps_dates_keeping_order_spacing_and_everything_else(tmp_path):
    written = prepare_mailbox(tmp_path, now=NOW)

    assert [path.name for path in written] == [path.name for path in MAILS]
    originals = [mail_date(path.read_bytes()) for path in MAILS]
    stamped = [mail_date(path.read_bytes()) for path in written]
    assert stamped[-1] == NOW - NEWEST_AGE
    assert [b - a for a, b in pairwise(stamped)] == [b - a for a, b in pairwise(originals)]
    for source, copy, old, new in zip(MAILS, written, originals, stamped):
        assert new.utcoffset() == old.utcoffset()  # each sender keeps their time zone
        assert copy.read_bytes() == restamp(source.read_bytes(), new)
        assert parse_eml(copy.read_bytes()).message_id == parsed(source).message_id
    assert not list(tmp_path.glob(".*"))


def test_prepare_is_idempotent_and_only_fills_in_missing_mails(tmp_path):
    prepare_mailbox(tmp_path, now=NOW)
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}

    assert prepare_mailbox(tmp_path, now=NOW + timedelta(days=3)) == []
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before

    (tmp_path / MAILS[4].name).unlink()
    [refilled] = prepare_mailbox(tmp_path, now=NOW + timedelta(days=3))
    assert refilled.name == MAILS[4].name
    assert mail_date(refilled.read_bytes()) - mail_date(before[MAILS[4].name]) == timedelta(days=3)


def test_restamp_replaces_only_the_header_date():
    raw = (b"From: a@example.org\r\nDate: Mon, 1 Jan 2024\r\n 10:00:00 +0100\r\nSubject: x\r\n\r\n"
           b"Date: in the body stays\r\n")
    stamped = restamp(raw, datetime(2027, 3, 6, 18, 30, tzinfo=UTC))
    assert stamped == (b"From: a@example.org\r\nDate: Sat, 06 Mar 2027 18:30:00 +0000\r\nSubject: x\r\n\r\n"
                       b"Date: in the body stays\r\n")
    with pytest.raises(ValueError, match="no Date"):
        restamp(b"From: a@example.org\n\nDate: body only\n", NOW)


def test_cli_defaults_to_the_data_dir(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    main([])
    assert len(list((tmp_path / "data" / "demo-inbox").glob("*.eml"))) == 31
    main(["--out", str(tmp_path / "data" / "demo-inbox")])
    assert "0 new demo mails, 31 already there" in capsys.readouterr().out
