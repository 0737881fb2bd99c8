"""Hostile mail as a test category of its own (issue 12): generated malformed and hostile mails
(testbed/hostile_mail.py) through intake -> triage (the tiny model) -> the backend check (the
real stand-in) -> the inbox page (AppTest). Whatever arrives: the worker never raises, every mail
is one ticket or one quarantined ticket with a reason, a second pass adds nothing, every page
renders. 5 batches of 400 = 2,000 mails per run (derandomized: the same mails every run, so a
failure reproduces); ``ACEDESK_FUZZ_BATCHES`` runs more.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

import model.inference
from core.mail import MailRef
from integrations.mail_sending import OutboxSender
from model.inference import load_triager
from support.intake import fetch_eml_dir
from support.states import State
from support.store import TicketStore
from support.triage import email_of
from support.worker import poll
from support.workflow import Workflow
from testbed.hostile_mail import hostile_mail
from tests.conftest import MIME_CORPUS, REPO_ROOT

BATCH = 400
BATCHES = int(os.environ.get("ACEDESK_FUZZ_BATCHES", "5"))
FAST_ANSWER_TOKENS = 8  # the tiny model answers at random: a few tokens exercise the same paths
MAX_PROMPT_TOKENS = 2_048
"""No mail may make a prompt longer than this (model/prompt.py budgets each part)."""


@pytest.fixture(scope="module")
def tiny_triager(tiny_base_dir):
    return load_triager(str(tiny_base_dir), adapter=None)


def write_mails(folder, mails: list[bytes]) -> None:
    folder.mkdir(parents=True)
    for number, raw in enumerate(mails):
        (folder / f"{number:04d}.eml").write_bytes(raw)


@settings(max_examples=BATCHES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(mails=st.lists(hostile_mail(), min_size=BATCH, max_size=BATCH))
def test_no_mail_stops_the_desk(mails, tiny_triager, club_backend_server, tmp_path_factory, monkeypatch):
    monkeypatch.setattr(model.inference, "MAX_NEW_TOKENS", FAST_ANSWER_TOKENS)
    club_backend_server.reset()
    folder = tmp_path_factory.mktemp("fuzz")
    write_mails(folder / "mail", mails)
    store = TicketStore(folder / "data" / "acedesk.sqlite3")
    workflow = Workflow(store, club_backend_server.api(), OutboxSender(folder / "outbox"), from_address="s@club.example")

    done = poll(store, lambda store: fetch_eml_dir(store, folder / "mail", "mx.club.example"), tiny_triager, workflow)
    assert done.errors == 0, done.last_error
    done = until_nothing_waits(store, done, tiny_triager, workflow)  # a round triages one slice (TRIAGE_SLICE)
    assert done.errors == 0, done.last_error

    seen = store.db.execute("SELECT uid, ticket_id FROM mail_seen").fetchall()
    assert len(seen) == len(mails)  # every file is recorded: nothing lost
    tickets = store.tickets()
    assert {ticket_id for _, ticket_id in seen} == {ticket.id for ticket in tickets}
    for ticket in tickets:
        assert ticket.state in (State.TRIAGED, State.NEEDS_REVIEW, State.QUARANTINED), ticket.state
        if ticket.state == State.QUARANTINED:
            assert ticket.quarantine_reason
        else:
            assert len(tiny_triager.prompt_ids(email_of(ticket))) <= MAX_PROMPT_TOKENS

    again = poll(store, lambda store: fetch_eml_dir(store, folder / "mail", "mx.club.example"), tiny_triager,
                 workflow)
    assert (again.fetched, again.errors, len(store.tickets())) == (0, 0, len(tickets))  # nothing doubled

    render_every_view(folder / "data", store)


def render_every_view(data_dir, store: TicketStore) -> None:
    """The inbox page with these tickets: every view, the first and last page, the detail of the
    tickets with the longest subject and body."""
    environment = {"ACEDESK_DATA_DIR": str(data_dir)}
    with pytest.MonkeyPatch.context() as patch:
        for name in [name for name in os.environ if name.startswith("ACEDESK_")]:
            patch.delenv(name)
        for name, value in environment.items():
            patch.setenv(name, value)
        from ui.resources import desk_settings

        desk_settings.clear()
        app = AppTest.from_file(str(REPO_ROOT / "pages/inbox.py"), default_timeout=120).run()
        assert_rendered(app)
        for view in ("To do", "Needs review", "Quarantine", "All"):
            app.segmented_control(key="inbox_view").set_value(view).run()
            assert_rendered(app)
        longest = sorted(store.tickets(), key=lambda t: len(t.subject) + len(t.body))[-3:]
        for ticket in longest:
            if ticket.id in app.selectbox(key="inbox_detail").options:
                app.selectbox(key="inbox_detail").set_value(ticket.id).run()
                assert_rendered(app)
        desk_settings.clear()


def assert_rendered(app: AppTest) -> None:
    assert not app.exception, app.exception[0].message if app.exception else ""
    assert not [error.value for error in app.error if "failed:" in str(error.value)]  # no section fell over


@settings(max_examples=1, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(generated=st.lists(hostile_mail(), min_size=20, max_size=20))
def test_the_worker_cli_over_a_folder_of_hostile_mails_exits_0_and_exports_them_all(generated, tmp_path_factory,
                                                                                     tiny_base_dir):
    """The issue's 'done when': python -m support.worker --once --eml-dir DIR, then the export."""
    tmp_path = tmp_path_factory.mktemp("cli")
    folder = tmp_path / "hostile"
    mails = [path.read_bytes() for path in MIME_CORPUS] + generated
    write_mails(folder, mails)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ACEDESK_")},
           "ACEDESK_DATA_DIR": str(tmp_path / "data"), "ACEDESK_BASE_MODEL": str(tiny_base_dir),
           "ACEDESK_ADAPTER": "", "ACEDESK_THREADS": "1"}
    worker = subprocess.run([sys.executable, "-m", "support.worker", "--once", "--eml-dir", str(folder)],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert worker.returncode == 0, worker.stderr[-2000:]
    export = subprocess.run([sys.executable, "-m", "support.tickets", "export"], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    seen = open_store_at(tmp_path / "data").db.execute("SELECT count(*), count(DISTINCT ticket_id) FROM mail_seen")
    files, tickets = seen.fetchone()
    assert files == len(mails) and len(export.stdout.splitlines()) == tickets


def open_store_at(data_dir) -> TicketStore:
    return TicketStore(data_dir / "acedesk.sqlite3")


def until_nothing_waits(store, done, triager, workflow=None):
    """Rounds without new mail until the slices have triaged every received mail, as the worker
    goes on at once while mail waits; the last round."""
    for _ in range(len(store.tickets())):
        if not done.waiting:
            return done
        assert done.errors == 0, done.last_error
        done = poll(store, lambda store: 0, triager, workflow)
    raise AssertionError(f"{done.waiting} mails still wait after a round per mail")

def test_a_mail_reusing_a_message_id_is_not_lost_and_is_fetched_once(tmp_path):
    store = open_store_at(tmp_path)
    first = b"From: anna@example.org\r\nMessage-ID: <dup@x>\r\nSubject: one\r\n\r\ncancel BK-48213\r\n"
    second = b"From: mallory@example.net\r\nMessage-ID: <dup@x>\r\nSubject: two\r\n\r\nreset anna.berg\r\n"
    folder = tmp_path / "mail"
    write_mails(folder, [first, second])
    assert fetch_eml_dir(store, folder) == 2 and fetch_eml_dir(store, folder) == 0
    one, two = store.tickets()
    assert two.flags == (f"reuses the Message-ID of ticket {one.id} (other content)",)
    assert store.is_known(MailRef(f"eml:{folder.resolve()}", "0", "0001.eml", None))


@pytest.mark.real_model
@settings(max_examples=1, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(mails=st.lists(hostile_mail(), min_size=30, max_size=30))
def test_the_real_model_reads_hostile_mails_within_its_budgets(mails, tmp_path_factory):
    """A sample through the shipped model: the real Gemma tokenizer bounds every prompt, and every
    answer is a result (valid or flagged), never an exception."""
    folder = tmp_path_factory.mktemp("real")
    write_mails(folder / "mail", mails)
    store = TicketStore(folder / "acedesk.sqlite3")
    triager = load_triager()
    done = until_nothing_waits(store, poll(store, lambda store: fetch_eml_dir(store, folder / "mail"), triager), triager)
    assert done.errors == 0, done.last_error
    for ticket in store.tickets():
        assert ticket.state in (State.TRIAGED, State.NEEDS_REVIEW, State.QUARANTINED)
        if ticket.state != State.QUARANTINED:
            assert len(triager.prompt_ids(email_of(ticket))) <= MAX_PROMPT_TOKENS
