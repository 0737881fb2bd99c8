"""The inbox's presenter (ui/inbox_rows.py, inbox_session.py, inbox_plans.py, inbox_connections.py):
queries, rows, drafts, plans and decisions, against the real stand-in backend where a decision
reaches it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from core.mail import MailRef
from core.settings import Settings
from core.text import unseen
from integrations import connections
from integrations.mail_sending import OutboxSender
from model.schema import TriageResult
from support import intake, triage
from support.actions import Action
from support.states import State, TransitionError
from support.store import TicketStore
from support.workflow import Workflow
from testbed.app import demo_inbox
from testbed.club import ClubBackend
from tests.conftest import REPO_ROOT, settings_of
from ui import inbox_connections, inbox_plans, inbox_rows, inbox_session
from ui.inbox_plans import Outcome
from ui.inbox_rows import InboxQuery
from ui.inbox_session import Draft, OperatorSession

CLUB = "support@club.example"
ANNA = "Anna Berg <anna.berg@example.org>"


@pytest.fixture
def store(tmp_path) -> TicketStore:
    return TicketStore(tmp_path / "acedesk.sqlite3")


@pytest.fixture
def flow(store, club_backend, tmp_path) -> Workflow:
    return Workflow(store, club_backend.api(), OutboxSender(tmp_path / "outbox"), from_address=CLUB)


def add_ticket(store, uid: str, sender: str = ANNA, subject: str = "Booking", body: str = "Hello",
               flags: tuple[str, ...] = (), machine_mail: str | None = None, **fields) -> int:
    ticket_id = store.add_ticket(MailRef("INBOX", "1", uid, f"<m{uid}@example.org>"), sender=sender,
                                 subject=subject, body=body, reply_to=sender, machine_mail=machine_mail,
                                 mail_date="2026-11-24T08:00:00+01:00")
    if fields:
        result = TriageResult(response="Hi Anna, done.", confidence=0.93, **fields)
        store.record_triage(ticket_id, result.to_dict(), list(flags))
    return ticket_id


def cancel_ticket(store, uid: str = "1", sender: str = ANNA) -> int:
    return add_ticket(store, uid, sender, "Cancel BK-48213", "Please cancel BK-48213, I'm injured.",
                      category="cancel_booking", booking_id="BK-48213")


# -- pages of tickets ----------------------------------------------------------------------------

def test_a_page_is_newest_first_filtered_by_state_and_category_and_keeps_pinned_tickets(store):
    ids = [add_ticket(store, str(n), category="other" if n % 2 else "cancel_booking") for n in range(6)]
    store.move(ids[0], State.REJECTED, "operator", reason="spam")

    page = inbox_rows.load_page(store, InboxQuery("All", page_size=4))
    assert [row.id for row in page.rows] == ids[::-1][:4] and (page.total, page.pages) == (6, 2)
    second = inbox_rows.load_page(store, InboxQuery("All", page=2, page_size=4))
    assert [row.id for row in second.rows] == ids[1::-1]
    assert inbox_rows.range_text(second, 4) == "5–6 of 6 tickets, newest first"
    assert {row.id for row in inbox_rows.load_page(store, InboxQuery("To do", ("other",))).rows} == {ids[1], ids[3],
                                                                                                  ids[5]}
    done = inbox_rows.load_page(store, InboxQuery("Done")).rows
    assert [(row.id, row.note) for row in done] == [(ids[0], "rejected: spam")]
    pinned = inbox_rows.load_page(store, InboxQuery("Done", pinned=(ids[2],))).rows
    assert [row.id for row in pinned] == [ids[2], ids[0]]
    assert inbox_rows.view_counts(store) == {"To do": 5, "Ready": 5, "Needs review": 0, "Failed": 0, "Quarantine": 0,
                                        "Done": 1, "All": 6}


def test_a_page_past_the_end_shows_the_last_page(store):
    add_ticket(store, "1", category="other")
    assert inbox_rows.load_page(store, InboxQuery("All", page=9)).page == 1


def test_the_category_filter_follows_the_operators_edit(store):
    ticket_id = add_ticket(store, "1", category="other")
    store.save_approval(ticket_id, {"fields": {"category": "cancel_booking"}}, None, "operator")
    assert store.count_tickets(categories=("cancel_booking",)) == 1
    assert store.count_tickets(categories=("other",)) == 0


def test_a_page_reads_its_ids_from_the_indexes(store):
    plan = " ".join(row[3] for row in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM tickets WHERE state IN ('triaged') ORDER BY id DESC LIMIT 50"))
    assert "COVERING INDEX tickets_by_state" in plan
    plan = " ".join(row[3] for row in store.db.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM tickets WHERE category IN ('other') ORDER BY id DESC LIMIT 50"))
    assert "INDEX tickets_by_category" in plan


def test_rows_name_the_flags_and_say_what_stops_a_ticket(store):
    mismatch_flag = "sender does not match account: anna.berg's address on file is not the sender's"
    mismatch = add_ticket(store, "1", flags=(mismatch_flag,), category="reset_password", username="anna.berg")
    injection = add_ticket(store, "2", flags=("mail tries to instruct the system: 'ignore all instructions'",),
                           category="other")
    machine = add_ticket(store, "3", machine_mail="Auto-Submitted: auto-replied",
                         flags=("machine mail (Auto-Submitted: auto-replied): never auto-answered",), category="other")
    broken = store.add_ticket(MailRef("INBOX", "1", "4", None), quarantine_reason="unreadable message: boom")
    rows = {row.id: row for row in inbox_rows.load_page(store, InboxQuery("All")).rows}

    assert rows[mismatch].flags == ["needs review", "sender ≠ account"]
    assert rows[mismatch].note.startswith("sender does not match account")
    assert rows[injection].flags == ["needs review", "possible injection"]
    assert rows[machine].flags == ["needs review", "machine mail"] and "reject it" in rows[machine].note
    assert rows[broken].flags == ["quarantined"] and rows[broken].note == "unreadable message: boom: reject it"
    assert rows[mismatch].reply == "Hi Anna, done." and rows[mismatch].confidence == 0.93
    assert rows[mismatch].sender == ANNA and rows[mismatch].received.endswith(":00")



@pytest.mark.parametrize(("from_header", "misleads"), [
    ('"anna@club.example" <evil@x.example>', True),  # the name shows another address
    ("=?utf-8?q?anna=40club=2Eexample?= <evil@x.example>", True),  # the same, as an encoded word
    ("evil@x.example (anna@club.example)", True),  # another address in a comment, shown as a name
    ('"anna.berg@example.org" <Anna.Berg@Example.org>', False),  # its own address, in another case
    (ANNA, False),
])
def test_a_from_that_shows_another_address_is_labelled_in_the_flags_column(store, from_header, misleads):
    raw = f"From: {from_header}\r\nTo: {CLUB}\r\nSubject: Booking\r\nMessage-ID: <m1@x.example>\r\n\r\nHi\r\n"
    ticket = store.ticket(intake.store_mail(store, MailRef("INBOX", "1", "1", None), raw.encode()))
    assert ("From misleads" in inbox_rows.flag_labels(ticket)) == misleads, ticket.flags

def test_a_row_shows_what_hides_in_a_sender_subject_login_or_booking_id(store):
    """U+202E turns "moc.elpmaxe@anna" into another address on screen, U+200B makes a second
    tk_2009, a Cyrillic а a second anna: each is shown for what it is, in the table's values."""
    ticket_id = add_ticket(store, "1", sender="\u202emoc.elpmaxe@anna <evil@x.example>", subject="Cancel\u2066 it",
                           category="cancel_booking", username="\u0430nna", booking_id="BK-48213\u200b")
    twin = add_ticket(store, "2", sender="Tom <tk@example.org>", category="reset_password", username="tk_2009\u200b")
    rows = {row.id: row for row in inbox_rows.load_page(store, InboxQuery("All")).rows}

    assert rows[ticket_id].sender == "⟨U+202E⟩moc.elpmaxe@anna <evil@x.example>"
    assert rows[ticket_id].subject == "Cancel⟨U+2066⟩ it"
    assert rows[ticket_id].username == "⟨Cyrillic а⟩nna" and rows[ticket_id].booking_id == "BK-48213⟨U+200B⟩"
    assert rows[twin].username == "tk_2009⟨U+200B⟩"
    assert inbox_rows.ticket_label(store.ticket(ticket_id)).startswith("#1 · ⟨U+202E⟩moc.elpmaxe@anna")


def test_the_audit_trail_shows_what_hides_in_a_flag(store):
    add_ticket(store, "1", flags=("the display name shows anna@club.example\u202e",), category="other")
    details = " ".join(row["detail"] for row in inbox_plans.audit_rows(store.audit_log(1)))
    assert "anna@club.example⟨U+202E⟩" in details and "\u202e" not in details


@pytest.mark.parametrize("honest", ["Anna Berg <anna.berg@example.org>", "Jürgen Müller, Straße 5", "Анна Берг",
                                    "東京の予約", "عن الحجز", "tk_2009", "BK-48213", "Zoë's court 3"])
def test_honest_text_in_any_one_script_is_shown_unchanged(honest):
    assert inbox_rows.as_seen(honest) == honest


def test_a_megabyte_body_is_judged_once_per_distinct_character_on_every_rerun(monkeypatch):
    """The detail reads the body on each rerun while its ticket is open: judged per distinct
    character, not per character (1.3 s for 1 MB of Cyrillic when it was). Counted, not timed: a
    wall-clock limit failed on a loaded machine, and speed goals live in benchmarks/."""
    import core.text

    body = "Привет, мир! Grüße aus München.\n" * 31_000 + "tk_2009\u200b"
    calls = []
    category = core.text.unicodedata.category
    monkeypatch.setattr(core.text, "unicodedata", SimpleNamespace(category=lambda char: calls.append(char) or
                                                                  category(char)))
    seen = inbox_rows.as_seen(body)
    assert len(calls) <= len(set(body)), len(calls)
    assert seen.endswith("tk_2009⟨U+200B⟩") and seen.startswith("Привет, мир! Grüße")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_nothing_unseen_reaches_the_operator_and_every_hidden_character_is_named(text):
    seen = inbox_rows.as_seen(text)
    assert not any(unseen(char) for char in seen)
    for char in {char for char in text if unseen(char)}:
        assert f"⟨U+{ord(char):04X}⟩" in seen
    assert inbox_rows.as_seen(seen) == seen  # shown twice (a label of a row) reads the same


# -- drafts and the table's edits ----------------------------------------------------------------

def test_the_table_shows_drafts_and_hands_back_ticks_and_reply_edits(store):
    first, second = add_ticket(store, "1", category="other"), add_ticket(store, "2", category="other")
    rows = inbox_rows.load_page(store, InboxQuery("All")).rows
    shown = inbox_rows.table_frame(rows, {first: Draft(reply="Edited before")}, {second})
    assert list(shown.columns) == list(inbox_rows.TABLE_COLUMNS) and list(shown.index) == [second, first]
    assert shown.at[first, "Reply"] == "Edited before" and bool(shown.at[second, "Select"])

    edited = shown.copy()
    edited.at[first, "Reply"] = "Hi Anna, done."  # back to the proposal
    edited.at[second, "Reply"] = "New text"
    edited.at[first, "Select"] = True
    selected, replies = inbox_rows.grid_changes(shown, edited, {row.id: row.reply for row in rows})
    assert selected == {first, second} and replies == {first: None, second: "New text"}


def test_the_same_rows_are_drawn_with_the_same_data_while_the_ticks_and_edits_live_in_the_editor():
    """A table whose data changed under it drops its edits and asks for a rerun that can swallow a
    click in flight; the browser test sees the one request a click makes."""
    session = OperatorSession(selected={1}, drafts={2: Draft(reply="typed before")})
    first = session.table_data("rows")
    session.take_table_edits("rows", {1}, {})  # the first run of these rows
    session.take_table_edits("rows", {1, 3}, {2: "typed in the grid"})  # later runs: the editor's edits
    assert session.table_data("rows") == first == (frozenset({1}), {2: Draft(reply="typed before")})
    assert session.selected == {1, 3} and session.drafts[2].reply == "typed in the grid"

    # other rows (new mail, another page, a ticket's new state): drawn from the session as it is
    assert session.table_data("other rows") == (frozenset({1, 3}), {2: Draft(reply="typed in the grid")})
    session.take_table_edits("other rows", {1, 3, 4}, {})  # a tick arriving in that first run is kept
    assert session.table_data("other rows") == (frozenset({1, 3, 4}), {2: Draft(reply="typed in the grid")})


def test_the_session_keeps_failures_selected_and_drops_what_was_done():
    session = OperatorSession()
    session.take_table_edits("rows", {1, 2, 3}, {1: "mine", 2: "also mine"})
    version = session.table_version
    session.decided([Outcome(1, "success", "done"), Outcome(2, "error", "not approved"), Outcome(None, "error", "x")])
    assert session.selected == {2, 3} and set(session.drafts) == {2} and session.pinned == (1, 2)
    assert session.table_version == version + 1 and session.outcomes[0].text == "done"
    session.new_filter()
    assert session.pinned == ()


def test_drafts_outlive_the_session_until_the_ticket_is_decided(store):
    first, second = add_ticket(store, "1", category="other"), add_ticket(store, "2", category="other")
    session = OperatorSession()
    session.take_table_edits("rows", set(), {first: "Edited in the grid"})
    session.save_draft(second, Draft(None, {"category": "cancel_booking"}, "called the member"))
    inbox_session.keep_drafts(store, session)
    assert session.unsaved_drafts == set()

    reloaded = OperatorSession(drafts=inbox_session.saved_drafts(store))  # a reload: a new session
    assert reloaded.drafts == {first: Draft("Edited in the grid"),
                               second: Draft(None, {"category": "cancel_booking"}, "called the member")}

    reloaded.take_table_edits("rows", set(), {first: None})  # back to the proposal: nothing left to keep
    reloaded.decided([Outcome(second, "success", "rejected")])
    inbox_session.keep_drafts(store, reloaded)
    assert inbox_session.saved_drafts(store) == {}


def test_a_draft_of_a_ticket_decided_elsewhere_is_not_brought_back(store):
    ticket_id = add_ticket(store, "1", category="other")
    store.put_draft(ticket_id, {"reply": "stale"})
    store.move(ticket_id, State.REJECTED, "operator")
    assert inbox_session.saved_drafts(store) == {}


def test_field_changes_are_counted_against_the_models_answer(store):
    ticket = store.ticket(add_ticket(store, "1", category="other", username="anna.berg"))
    assert inbox_session.field_changes(ticket, {"category": "other", "username": "anna.berg"}) == {}
    assert inbox_session.field_changes(ticket, {"category": "cancel_booking", "username": " ", "booking_id": "BK-48213"}) \
        == {"category": "cancel_booking", "username": None, "booking_id": "BK-48213"}


# -- plans and decisions against the real backend ---------------------------------------------

def test_every_planned_call_is_in_the_club_api_contract():
    paths = json.loads((REPO_ROOT / "club_backend/openapi.json").read_text())["paths"]
    actions = [Action("invite_member", {"username": "tk", "name": "T K", "email": "t@example.org"}),
               Action("password_reset", {"username": "anna.berg"}),
               Action("cancel_booking", {"booking_id": "BK-48213"}),
               Action("move_booking", {"booking_id": "BK-22845", "start": "2026-11-26T10:00", "court": None})]
    for action in actions:
        call = action.request
        template = next((path for path in paths if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", path), call.path)), None)
        assert template is not None and call.method.lower() in paths[template], call
    assert actions[3].request.body == {"start": "2026-11-26T10:00"}
    assert actions[0].request.text("http://club/").startswith("POST http://club/members/invitations\n")


def test_an_approval_runs_exactly_the_call_it_showed_and_sends_the_edited_reply(store, flow, club_backend, tmp_path):
    ticket_id = cancel_ticket(store)
    draft = Draft(reply="Dear Anna, cancelled - get well soon!")
    plan = inbox_plans.plan_approval(flow, store, ticket_id, draft)
    assert plan.ready and str(plan.call) == "POST /bookings/BK-48213/cancel"
    assert plan.reply_to == ANNA and "edited reply" in plan.reply_note

    outcome = inbox_plans.approve_and_send(flow, plan, draft, "operator")
    assert outcome == Outcome(ticket_id, "success", f"#{ticket_id} replied · BK-48213 cancelled")
    assert club_backend.effects()["cancel"] == 1
    [sent] = (tmp_path / "outbox").glob("*.eml")
    assert "Dear Anna, cancelled - get well soon!" in sent.read_text()


def test_a_call_that_changed_since_it_was_shown_does_not_run(store, flow, club_backend):
    ticket_id = cancel_ticket(store)
    plan = inbox_plans.plan_approval(flow, store, ticket_id, None)
    shown = replace(plan, action=Action("cancel_booking", {"booking_id": "BK-99999"}))
    outcome = inbox_plans.approve_and_send(flow, shown, None, "operator")
    assert outcome.level == "error" and "changed since it was shown" in outcome.text
    assert store.ticket(ticket_id).state == State.TRIAGED and club_backend.effects()["cancel"] == 0


def test_a_flagged_ticket_runs_only_with_an_override_reason(store, flow, club_backend):
    ticket_id = add_ticket(store, "1", "stranger@freemail.example", "Reset", "Reset anna.berg please",
                           category="reset_password", username="anna.berg")
    plan = inbox_plans.plan_approval(flow, store, ticket_id, None)
    assert not plan.ready and "sender does not match account" in plan.hold_reason
    assert "override reason" in plan.hold_reason

    draft = Draft(override_reason="called Anna: her new address")
    plan = inbox_plans.plan_approval(flow, store, ticket_id, draft)
    assert plan.ready and str(plan.call) == "POST /members/anna.berg/password-reset"
    assert inbox_plans.approve_and_send(flow, plan, draft, "operator").level == "success"
    assert club_backend.effects()["password_reset"] == 1


def test_what_cannot_run_says_why_and_what_to_do(store, flow):
    no_booking = add_ticket(store, "1", category="cancel_booking")
    machine = add_ticket(store, "2", machine_mail="Precedence: bulk", category="other")
    emptied = cancel_ticket(store, "3")
    assert "no booking id" in inbox_plans.plan_approval(flow, store, no_booking, None).hold_reason
    assert "reject it" in inbox_plans.plan_approval(flow, store, machine, None).hold_reason
    assert "reply is empty" in inbox_plans.plan_approval(flow, store, emptied, Draft(reply=" ")).hold_reason
    bad_date = Draft(fields={"category": "modify_booking", "new_date": "2026-13-01"})
    assert "Fix the fields" in inbox_plans.plan_approval(flow, store, emptied, bad_date).hold_reason
    store.move(emptied, State.REJECTED, "operator", reason="duplicate")
    assert "nothing to approve" in inbox_plans.plan_approval(flow, store, emptied, None).hold_reason


def test_a_backend_refusal_is_a_warning_and_an_outage_an_error_in_plain_words(store, flow, club_backend):
    refused = add_ticket(store, "1", "tom.baker@example.co.uk", category="cancel_booking", booking_id="BK-61004")
    plan = inbox_plans.plan_approval(flow, store, refused, None)
    outcome = inbox_plans.approve_and_send(flow, plan, None, "operator")
    assert outcome.level == "warning" and "the club refused" in outcome.text and "24 hours" in outcome.text

    away = cancel_ticket(store, "2")
    plan = inbox_plans.plan_approval(flow, store, away, None)
    club_backend.inject_fault("500", count=20)
    outcome = inbox_plans.approve_and_send(flow, plan, None, "operator")
    club_backend.inject_fault("500", count=0)
    assert outcome.level == "error" and "the club backend did not answer" in outcome.text
    assert "Try again in a moment" in outcome.text and store.ticket(away).state == State.TRIAGED


def test_a_failed_ticket_says_why_and_how_to_retry(store):
    ticket_id = cancel_ticket(store)
    store.save_approval(ticket_id, {}, None, "operator", ("cancel_booking", "key-1", {"booking_id": "BK-48213"}))
    store.move(ticket_id, State.EXECUTING, "workflow")
    store.finish_action(ticket_id, "unavailable", {"message": "club backend unavailable, retry later: timeout"},
                        State.FAILED)
    assert inbox_plans.outcome_of(store, ticket_id) == Outcome(
        ticket_id, "error", f"#{ticket_id} club backend unavailable, retry later: timeout. Approve it again to retry, "
                            "or reject it")


def test_rejecting_and_retriaging_report_each_ticket(store):
    open_one, replied = add_ticket(store, "1", category="other"), add_ticket(store, "2", category="other")
    store.db.execute("UPDATE tickets SET state='replied' WHERE id=?", (replied,))
    outcomes = inbox_plans.reject_tickets(store, [open_one, replied], "spam or phishing", "operator")
    assert [o.level for o in outcomes] == ["success", "error"] and "cannot become rejected" in outcomes[1].text

    again = add_ticket(store, "3", category="other")
    moved, refused = inbox_plans.send_back_to_triage(store, [again, replied], "operator")
    assert moved == [again] and refused[0].ticket_id == replied
    assert store.ticket(again).state == State.RECEIVED and store.ticket(again).triage is None


def test_retriage_is_refused_once_a_failed_ticket_called_the_backend(store):
    ticket_id = cancel_ticket(store)
    store.save_approval(ticket_id, {}, None, "operator", ("cancel_booking", "key-1", {"booking_id": "BK-48213"}))
    store.move(ticket_id, State.EXECUTING, "workflow")
    store.move(ticket_id, State.FAILED, "workflow", failure_reason="club backend unavailable")
    with pytest.raises(TransitionError, match="retried"):
        store.retriage(ticket_id, "operator")
    assert store.ticket(ticket_id).state == State.FAILED


# -- fetching and triage -------------------------------------------------------------------------

class CannedTriager:
    """Answers every mail the same way; counts the batches."""

    def __init__(self):
        self.batches = []

    def triage_many(self, emails, batch_size=8):
        self.batches.append(len(emails))
        return [TriageResult(category="other", response="Hi, thanks.", confidence=0.95) for _ in emails]


def test_triage_reports_progress_and_leaves_what_someone_else_triaged(store):
    ids = [add_ticket(store, str(n)) for n in range(5)]
    store.record_triage(ids[1], TriageResult(category="cancel_booking", confidence=0.5).to_dict(), ["theirs"])
    triager = CannedTriager()
    assert list(triage.triage_tickets(store, triager, None, ids, batch_size=2)) == [2, 4, 5]
    assert triager.batches == [2, 2, 1]
    assert store.ticket(ids[1]).triage["category"] == "cancel_booking"  # the first result stands
    assert {store.ticket(i).state for i in ids} == {State.TRIAGED, State.NEEDS_REVIEW}
    assert inbox_plans.retriage_outcome(store, ids[0]) == Outcome(ids[0], "success", f"#{ids[0]} triaged again: other (95%)")


def test_fetching_needs_a_source_and_reads_the_mail_folder(store, tmp_path):
    with pytest.raises(intake.NoMailSource, match="ACEDESK_EML_DIR"):
        intake.fetch_new_mail(store, Settings(data_dir=tmp_path))
    with pytest.raises(intake.NoMailSource, match="does not exist"):
        intake.fetch_new_mail(store, Settings(data_dir=tmp_path, eml_dir=tmp_path / "missing"))
    folder = demo_inbox(tmp_path / "mail", ["01-anna-cancel-injured.eml", "19-rachel-add-husband-pdf.eml"])
    settings = settings_of({"ACEDESK_DATA_DIR": str(tmp_path), "ACEDESK_EML_DIR": str(folder)})
    assert intake.fetch_new_mail(store, settings) == 2 and intake.fetch_new_mail(store, settings) == 0
    assert triage.received_ids(store) == [1, 2]


# -- a ticket's detail ----------------------------------------------------------------------------

def test_attachments_are_read_again_from_the_mail_folder_or_said_to_be_unknown(store, tmp_path):
    folder = demo_inbox(tmp_path / "mail", ["19-rachel-add-husband-pdf.eml"])
    intake.fetch_new_mail(store, Settings(data_dir=tmp_path, eml_dir=folder))
    assert inbox_plans.attachments(store.ticket(1)) == ["membership-form-david-evans.pdf"]
    assert inbox_plans.attachments(store.ticket(add_ticket(store, "9"))) is None  # IMAP: not stored


def test_the_thread_links_a_mail_to_the_ones_it_answers_and_that_answer_it(store):
    first = add_ticket(store, "1", subject="Booking")
    answer = store.add_ticket(MailRef("INBOX", "1", "2", "<m2@example.org>"), sender=ANNA, subject="Re: Booking",
                              references="<x@club.example> <m1@example.org>")
    unrelated = add_ticket(store, "3")
    assert [t.id for t in store.thread(first)] == [answer]
    assert [t.id for t in store.thread(answer)] == [first]
    assert store.thread(unrelated) == []


def test_a_stored_reply_reads_as_text(store, flow):
    ticket_id = cancel_ticket(store)
    plan = inbox_plans.plan_approval(flow, store, ticket_id, None)
    inbox_plans.approve_and_send(flow, plan, None, "operator")
    assert "BK-48213 has been cancelled" in inbox_plans.reply_text(store.reply(ticket_id))
    rows = inbox_plans.audit_rows(store.audit_log(ticket_id))
    assert rows[0] == {"at": rows[0]["at"], "who": "fetcher", "what": "received", "detail": ""}


def test_a_ticket_taken_over_names_both_processes_as_host_and_pid(store):
    """The detail showed the long name (``host:pid:<boot id>:<start ticks>``) the "who" column shortens."""
    from core.processes import parse_process_name, process_name

    ticket_id = add_ticket(store, "1")
    store.record_triage(ticket_id, {"category": "other"}, [])
    store.move(ticket_id, State.APPROVED, "operator")
    gone = f"elsewhere:4242:{'0' * 8}-{'0' * 4}-{'0' * 4}-{'0' * 4}-{'0' * 12}:17"
    assert parse_process_name(gone).identity  # the long form a worker writes
    assert store.claim(ticket_id, {State.APPROVED}, State.EXECUTING, gone, lease=True)
    store.db.execute("UPDATE tickets SET lease_until='2000-01-01T00:00:00+00:00' WHERE id=?", (ticket_id,))
    assert store.claim_abandoned(ticket_id, {State.EXECUTING}, process_name())
    taken = [row for row in inbox_plans.audit_rows(store.audit_log(ticket_id)) if row["what"] == "taken_over"]
    assert len(taken) == 1 and json.loads(taken[0]["detail"])["from"] == "elsewhere:4242"
    assert taken[0]["who"] == parse_process_name(process_name()).address


# -- connections ----------------------------------------------------------------------------------

def test_connections_say_what_is_set_and_never_show_a_secret(tmp_path, club_backend, smtp_server):
    settings = settings_of({"ACEDESK_DATA_DIR": str(tmp_path), "ACEDESK_CLUB_API_URL": club_backend.url,
                            "ACEDESK_CLUB_API_TOKEN": club_backend.token})
    strip = [inbox_connections.backend_connection(settings), inbox_connections.mail_in_connection(settings),
             inbox_connections.mail_out_connection(settings)]
    assert [c.state for c in strip] == ["ok", "off", "ok"]
    assert "outbox" in strip[2].text and club_backend.token not in repr(strip)

    away = ClubBackend("http://127.0.0.1:9", "secret-token")
    down = inbox_connections.backend_connection(settings.model_copy(update={
        "club_api_url": away.url, "club_api_token": SecretStr(away.token)}))
    assert down.state == "down" and "secret-token" not in down.text
    assert inbox_connections.backend_connection(Settings(data_dir=tmp_path)).state == "off"
    assert connections.probe_smtp(smtp_server.settings()).state == "ok"
    closed = connections.probe_smtp(replace(smtp_server.settings(), port=9, user="desk", password="pa55word"))
    assert closed.state == "down" and "pa55word" not in closed.text


def test_the_imap_check_logs_in_and_keeps_the_password_out_of_its_words(imap_account):
    assert connections.probe_imap(imap_account).state == "ok"
    wrong = connections.probe_imap(replace(imap_account, password="Wr0ng-pa55"))
    assert wrong.state == "down" and "Wr0ng-pa55" not in wrong.text
    imap = Settings(imap_host=imap_account.host, imap_port=imap_account.port, imap_security=imap_account.security,
                    imap_user=imap_account.user, imap_password=imap_account.password)
    assert inbox_connections.mail_in_connection(imap).state == "unchecked"
