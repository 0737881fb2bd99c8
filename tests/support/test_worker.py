import json
import shutil

import pytest

from model.inference import load_triager
from model.schema import CATEGORIES
from support import tickets
from support.states import State
from support.store import TicketStore
from support.worker import eml_dir_mails, ingest, run_once
from tests.integrations.test_mail_parsing import MIME_CORPUS

PERSON = (b"From: Anna Berg <anna@example.org>\r\nSubject: Cancel\r\nMessage-ID: <p1@example.org>\r\n"
          b"Date: Wed, 25 Nov 2026 09:00:00 +0000\r\n\r\nPlease cancel BK-12345.\r\n")
AUTO_REPLY = (b"From: Tom <tom@example.org>\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n"
              b"Message-ID: <o1@example.org>\r\n\r\nI am away until Monday.\r\n")


@pytest.fixture
def mailbox(tmp_path):
    folder = tmp_path / "mail"
    folder.mkdir()
    (folder / "01-person.eml").write_bytes(PERSON)
    (folder / "02-auto.eml").write_bytes(AUTO_REPLY)
    (folder / "03-empty.eml").write_bytes(b"\r\n\r\n")
    return folder


def test_fetch_stores_triages_flags_and_a_second_fetch_adds_nothing(mailbox, tmp_path, tiny_base_dir):
    store = TicketStore(tmp_path / "t.sqlite3")
    triager = load_triager(str(tiny_base_dir), adapter=None)
    assert run_once(store, mailbox, triager) == (3, 2)
    assert run_once(store, mailbox, triager) == (0, 0)

    by_uid = {t["uid"]: t for t in store.tickets()}
    assert by_uid["03-empty.eml"]["state"] == State.QUARANTINED
    assert "neither a sender nor any text" in by_uid["03-empty.eml"]["quarantine_reason"]
    auto = by_uid["02-auto.eml"]
    assert auto["state"] == State.NEEDS_REVIEW and "never auto-answered" in auto["flags"][0]
    assert by_uid["01-person.eml"]["triage"]["category"] in CATEGORIES


def test_every_mime_corpus_message_is_ingested_or_quarantined(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for path in MIME_CORPUS:
        shutil.copy(path, folder / f"{path.name}.eml")
    store = TicketStore(tmp_path / "t.sqlite3")
    ids = ingest(store, eml_dir_mails(folder))
    stored = store.tickets()
    assert len(stored) == len(MIME_CORPUS) == len(ids) + 0  # nothing lost, nothing doubled
    for ticket in stored:
        assert ticket["state"] in (State.RECEIVED, State.QUARANTINED)
        if ticket["state"] == State.QUARANTINED:
            assert ticket["quarantine_reason"]


def test_export_prints_one_json_line_per_ticket(mailbox, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACEDESK_DATA_DIR", str(tmp_path / "data"))
    ingest(TicketStore(), eml_dir_mails(mailbox))
    assert tickets.main(["export"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["state"] for line in lines] == ["received", "received", "quarantined"]
    assert lines[0]["message_id"] == "<p1@example.org>" and lines[2]["quarantine_reason"]
