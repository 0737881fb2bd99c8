"""The Inbox page through Streamlit's AppTest, against the real stand-in club backend; replies go
to the outbox folder. Table edits are injected as the data editor's session state (AppTest
cannot drive the grid itself; tests/browser does that in Chromium)."""

from __future__ import annotations

import json
import os

import pytest
from streamlit.testing.v1 import AppTest

from core.mail import MailRef
from core.settings import Settings, load_settings
from model.active import ACTIVE_FILE
from model.schema import TriageResult
from support.desk import build_workflow, open_store
from support.intake import fetch_eml_dir
from support.states import State
from support.triage import ALSO_ASKS
from testbed.app import demo_inbox, triage_as_labelled
from tests.conftest import REPO_ROOT
from tests.fixtures.scripted_http import relaying_gateway
from tests.ui.test_errors import shown
from ui.resources import desk_settings, fetch_lock

ANNA_CANCELS = "01-anna-cancel-injured.eml"
NEWSLETTER = "02-newsletter-tennis-world.eml"
RESET_FROM_UNKNOWN = "12-reset-anna-from-unknown-address.eml"
HTML_ONLY = "18-coach-mike-html-only-move.eml"
WITH_PDF = "19-rachel-add-husband-pdf.eml"


@pytest.fixture
def desk(tmp_path, monkeypatch, club_backend, tiny_base_dir):
    """The app's settings for one test: its own data folder, the club backend, the tiny model."""
    for name in [name for name in os.environ if name.startswith("ACEDESK_")]:
        monkeypatch.delenv(name)
    env = {"ACEDESK_DATA_DIR": str(tmp_path / "data"), "ACEDESK_CLUB_API_URL": club_backend.url,
           "ACEDESK_CLUB_API_TOKEN": club_backend.token, "ACEDESK_BASE_MODEL": str(tiny_base_dir),
           "ACEDESK_ADAPTER": ""}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()


def seed(settings: Settings, tmp_path, *names: str) -> None:
    """Demo mails stored and triaged with their labels (the tiny model answers at random)."""
    store = open_store(settings)
    fetch_eml_dir(store, demo_inbox(tmp_path / "seed", list(names)))
    triage_as_labelled(store, build_workflow(store, settings))


def open_inbox() -> AppTest:
    app = AppTest.from_file(str(REPO_ROOT / "pages/inbox.py"), default_timeout=90).run()
    assert_no_error(app)
    return app


def assert_no_error(app: AppTest) -> None:
    assert not app.exception, app.exception[0].message if app.exception else ""


def edit_table(app: AppTest, edited_rows: dict) -> AppTest:
    """Edits by row position, as the browser's grid sends them."""
    app.session_state[app.data_editor[0].key] = {"edited_rows": edited_rows, "added_rows": [], "deleted_rows": []}
    app.run()
    assert_no_error(app)
    return app


def click(app: AppTest, key: str | None = None, label: str | None = None) -> AppTest:
    """Click a button (by key, or a form's submit button by label) and run."""
    button = app.button(key=key) if key else next(b for b in app.button if b.label == label)
    button.click().run()
    assert_no_error(app)
    return app


def table(app: AppTest):
    return app.data_editor[0].value


def texts(elements) -> str:
    """The elements' text as the operator reads it: text from mail and errors comes markdown-escaped."""
    return "\n".join(shown(str(element.value)) for element in elements)


def everything(app: AppTest) -> str:
    """All the page shows in words: errors and notes, markdown, captions, headings, code and text."""
    return texts([*app.error, *app.warning, *app.info, *app.success, *app.exception, *app.title, *app.header,
                  *app.subheader, *app.markdown, *app.caption, *app.code, *app.text])


def test_the_table_lists_the_newest_first_with_category_flags_and_the_proposed_reply(desk, tmp_path):
    seed(desk, tmp_path, ANNA_CANCELS, NEWSLETTER, RESET_FROM_UNKNOWN)
    app = open_inbox()
    rows = table(app)
    assert list(rows.index) == [3, 2, 1]
    assert rows.loc[1, "Category"] == "cancel_booking" and rows.loc[1, "Booking"] == "BK-48213"
    assert rows.loc[1, "Reply"].startswith("Hi Anna") and rows.loc[1, "Confidence"] == 90
    assert list(rows.loc[2, "Flags"]) == ["needs review", "machine mail"]
    assert list(rows.loc[3, "Flags"]) == ["needs review", "sender ≠ account", "sender unverified"]  # auth off
    assert app.segmented_control(key="inbox_view").options[:3] == ["To do 3", "Ready 1", "Needs review 2"]
    assert "1–3 of 3 tickets" in texts(app.caption)
    assert "Club backend" in texts(app.caption) and desk.secret("club_api_token") not in texts(app.caption)


def test_the_needs_review_queue_and_the_quarantine_give_each_reason(desk, tmp_path):
    seed(desk, tmp_path, ANNA_CANCELS, RESET_FROM_UNKNOWN)
    open_store(desk).add_ticket(MailRef("INBOX", "1", "99", None), quarantine_reason="unreadable message: bad charset")
    app = open_inbox()
    app.segmented_control(key="inbox_view").set_value("Quarantine").run()
    assert list(table(app).index) == [3]
    assert table(app).loc[3, "Note"] == "unreadable message: bad charset: reject it"
    app.segmented_control(key="inbox_view").set_value("Needs review").run()
    assert list(table(app).index) == [2]
    assert table(app).loc[2, "Note"].startswith("sender does not match account")


def test_three_clicks_send_an_edited_reply_and_the_outcome_shows_on_the_row(desk, tmp_path, club_backend):
    seed(desk, tmp_path, ANNA_CANCELS)
    app = edit_table(open_inbox(), {0: {"Reply": "Dear Anna, cancelled. Get well soon!", "Select": True}})
    click(app, "inbox_approve")  # the call is shown, nothing has run yet
    assert f"POST {club_backend.url}/bookings/BK-48213/cancel" in texts(app.code)
    assert club_backend.effects()["cancel"] == 0

    click(app, "inbox_confirm_table")
    assert club_backend.effects()["cancel"] == 1
    [sent] = (desk.outbox).glob("*.eml")
    assert "Dear Anna, cancelled. Get well soon!" in sent.read_text()
    assert table(app).loc[1, "State"] == "replied"
    assert table(app).loc[1, "Note"] == "replied · BK-48213 cancelled"
    assert "#1 replied · BK-48213 cancelled" in texts(app.success)


def test_a_reply_edited_while_the_confirmation_is_open_is_shown_before_it_is_sent(desk, tmp_path, club_backend):
    seed(desk, tmp_path, ANNA_CANCELS)
    app = click(edit_table(open_inbox(), {0: {"Select": True}}), "inbox_approve")
    assert "filled in with what the backend confirms" in texts(app.caption)
    edit_table(app, {0: {"Select": True, "Reply": "A reply typed after the confirmation opened"}})
    click(app, "inbox_confirm_table")  # the panel still shows the proposed reply
    assert "edited after the confirmation was shown" in texts(app.error)
    assert club_backend.effects()["cancel"] == 0 and not list(desk.outbox.glob("*.eml"))
    assert open_store(desk).ticket(1).state == State.TRIAGED

    click(app, "inbox_approve")
    assert "A reply typed after the confirmation opened" in texts(app.code)
    click(app, "inbox_confirm_table")
    assert club_backend.effects()["cancel"] == 1
    [sent] = desk.outbox.glob("*.eml")
    assert "A reply typed after the confirmation opened" in sent.read_text()


def test_a_flagged_ticket_runs_only_with_an_override_reason_given_in_its_detail(desk, tmp_path, club_backend):
    seed(desk, tmp_path, RESET_FROM_UNKNOWN)
    app = click(edit_table(open_inbox(), {0: {"Select": True}}), "inbox_approve")
    assert "will not run" in texts(app.warning) and "override reason" in texts(app.warning)
    assert app.button(key="inbox_confirm_table").disabled

    app.selectbox(key="inbox_detail").set_value(1).run()
    assert "Needs an override" in texts(app.error) and "sender does not match account" in texts(app.error)
    override = next(box for box in app.text_input if box.label.startswith("Override reason"))
    override.input("Called Anna: she writes from a new address")  # in a form: sent with the submit
    click(app, label="Approve & send…")
    assert "POST" in texts(app.code) and "Override: Called Anna" in texts(app.caption)
    click(app, "inbox_confirm_detail")
    assert club_backend.effects()["password_reset"] == 1
    approval = next(e for e in open_store(desk).audit_log(1) if e.event == "needs_review->approved")
    assert approval.detail["override_reason"] == "Called Anna: she writes from a new address"


def test_fields_edited_in_the_detail_are_what_runs(desk, tmp_path, club_backend):
    seed(desk, tmp_path, ANNA_CANCELS)
    store = open_store(desk)
    store.retriage(1, "test")
    store.record_triage(1, TriageResult(category="other", response="Hi Anna, thanks.", confidence=0.5).to_dict(), [])
    app = open_inbox()
    app.selectbox(key="inbox_detail").set_value(1).run()
    next(box for box in app.selectbox if box.label == "Category").set_value("cancel_booking")
    next(box for box in app.text_input if box.label == "Booking id").input("BK-48213")
    click(app, label="Approve & send…")
    assert "/bookings/BK-48213/cancel" in texts(app.code)
    click(app, "inbox_confirm_detail")
    assert club_backend.effects()["cancel"] == 1
    assert store.ticket(1).edits["fields"] == {"category": "cancel_booking", "booking_id": "BK-48213"}


def test_a_backend_outage_is_said_in_plain_words(desk, tmp_path, club_backend):
    seed(desk, tmp_path, ANNA_CANCELS)
    app = edit_table(open_inbox(), {0: {"Select": True}})
    club_backend.inject_fault("500", count=50)
    click(app, "inbox_approve")
    club_backend.inject_fault("500", count=0)
    assert "the club backend could not check it" in texts(app.warning)
    assert "Try again in a moment" in texts(app.warning) and open_store(desk).ticket(1).state == State.TRIAGED


def test_rejecting_takes_a_reason_and_shows_it_on_the_row(desk, tmp_path):
    seed(desk, tmp_path, NEWSLETTER)
    app = click(edit_table(open_inbox(), {0: {"Select": True}}), "inbox_reject")
    app.selectbox(key="inbox_reason_table").set_value("other (write it in the note)")
    click(app, "inbox_reject_confirm_table")
    assert "Write the reason in the note" in texts(app.error)
    assert open_store(desk).ticket(1).state != State.REJECTED
    app.selectbox(key="inbox_reason_table").set_value("machine mail (auto-reply, bounce, newsletter)")
    click(app, "inbox_reject_confirm_table")
    assert open_store(desk).ticket(1).state == State.REJECTED
    assert table(app).loc[1, "Note"] == "rejected: machine mail (auto-reply, bounce, newsletter)"


def test_fetch_new_mail_triages_with_progress_and_a_ticket_can_be_triaged_again(desk, tmp_path, monkeypatch):
    mail = demo_inbox(tmp_path / "mail", [ANNA_CANCELS, WITH_PDF, NEWSLETTER])
    monkeypatch.setenv("ACEDESK_EML_DIR", str(mail))
    desk_settings.clear()
    app = click(open_inbox(), "inbox_fetch")
    assert app.status[0].label == "Fetched 3 new mails, triaged 3" and app.status[0].state == "complete"
    assert list(table(app).index) == [3, 2, 1]
    assert {open_store(desk).ticket(i).state for i in (1, 2, 3)} <= {State.TRIAGED, State.NEEDS_REVIEW}
    assert click(app, "inbox_fetch").status[0].label == "Fetched 0 new mails, triaged 0"

    click(edit_table(app, {2: {"Select": True}}), "inbox_retriage")
    assert "#1 triaged again" in texts([*app.success, *app.warning])
    events = [entry.event for entry in open_store(desk).audit_log(1)]
    assert events.count("triaged->received") + events.count("needs_review->received") == 1


def test_one_session_fetches_at_a_time(desk, tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_EML_DIR", str(demo_inbox(tmp_path / "mail", [ANNA_CANCELS])))
    desk_settings.clear()
    with fetch_lock():  # another session is fetching and triaging
        app = click(open_inbox(), "inbox_fetch")
    assert "Another session is fetching mail right now" in texts(app.info)
    assert open_store(desk).count_tickets() == 0
    assert click(app, "inbox_fetch").status[0].label == "Fetched 1 new mail, triaged 1"


def test_auto_fetch_fetches_when_switched_on(desk, tmp_path, monkeypatch):
    monkeypatch.setenv("ACEDESK_EML_DIR", str(demo_inbox(tmp_path / "mail", [ANNA_CANCELS])))
    desk_settings.clear()
    app = open_inbox()
    app.toggle(key="inbox_auto").set_value(True).run()
    assert_no_error(app)
    assert list(table(app).index) == [1]
    assert "Auto-fetch at" in texts(app.caption)


def test_without_a_backend_or_a_mail_source_the_page_says_what_to_set(desk, tmp_path, monkeypatch):
    monkeypatch.delenv("ACEDESK_CLUB_API_URL")
    desk_settings.clear()
    app = click(open_inbox(), "inbox_fetch")
    assert "no mail source is configured" in texts(app.error)
    assert app.button(key="inbox_approve").disabled
    assert "Approving needs the club backend" in texts(app.caption)


def test_a_promotion_the_inbox_cannot_use_is_said_on_the_inbox(desk):
    """The inbox falls back to the default model: the operator must know it runs another than promoted."""
    desk.data_dir.mkdir(parents=True, exist_ok=True)
    (desk.data_dir / ACTIVE_FILE).write_text(json.dumps({"adapter": "/etc", "base_model": None}))
    app = open_inbox()
    assert "The promoted model is not used" in texts(app.warning) and "outside the shipped adapters" in texts(app.warning)


@pytest.mark.parametrize("damage", [b"\x00garbage" * 100, b"SQLite format 3\x00" + b"\xff" * 5000])
def test_a_damaged_ticket_store_is_said_with_what_to_do_never_a_traceback(desk, damage):
    desk.store_path.parent.mkdir(parents=True, exist_ok=True)
    desk.store_path.write_bytes(damage)
    app = AppTest.from_file(str(REPO_ROOT / "pages/inbox.py"), default_timeout=90).run()
    assert not app.exception
    assert f"The ticket store {desk.store_path} cannot be opened" in texts(app.error)
    assert "move it away" in texts(app.error)


def test_a_wrong_setting_is_named_not_shown_as_a_traceback(desk, monkeypatch):
    monkeypatch.setenv("ACEDESK_SMTP_HOST", "smtp.example.org")  # without ACEDESK_SMTP_FROM
    monkeypatch.setenv("ACEDESK_SMTP_PASSWORD", "hunter2-smtp")
    desk_settings.clear()
    app = open_inbox()
    assert "ACEDESK_SMTP_FROM" in texts(app.error)
    # pydantic's message quotes the whole input: every setting, the passwords and the token with them
    page = everything(app)
    assert "hunter2-smtp" not in page and desk.secret("club_api_token") not in page


def test_a_secret_written_as_a_number_is_named_never_shown(desk, monkeypatch, tmp_path):
    from core.settings import SecretsFileSource

    secrets = tmp_path / "secrets.toml"
    secrets.write_text("ACEDESK_SMTP_PASSWORD = 918273645\n")  # a TOML number: not a string, so not valid
    monkeypatch.setattr(SecretsFileSource, "path", secrets)
    desk_settings.clear()
    app = open_inbox()
    assert "ACEDESK_SMTP_PASSWORD: Input should be a valid string" in texts(app.error)
    page = everything(app)
    assert "918273645" not in page and desk.secret("club_api_token") not in page


def test_a_reply_typed_while_new_mail_pushes_its_ticket_to_the_next_page_is_saved(desk):
    store = open_store(desk)

    def arrives(number: int) -> None:
        ticket_id = store.add_ticket(MailRef("INBOX", "1", str(number), None), sender=f"m{number}@example.org",
                                     subject=f"mail {number}", body="please cancel BK-48213")
        store.record_triage_if_received(ticket_id, {"category": "other", "confidence": 0.9,
                                                    "response": f"Dear member {number}"}, [])

    for number in range(50):  # one full page
        arrives(number)
    app = open_inbox()
    app.selectbox(key="inbox_detail").set_value(1).run()  # the oldest, last on the page
    next(area for area in app.text_area if area.label == "Reply").input("Dear member, it is done.")
    arrives(50)  # meanwhile the worker stores a new mail: ticket 1 moves to page 2
    click(app, label="Save draft")
    assert open_store(desk).drafts(("triaged",))[1]["reply"] == "Dear member, it is done."
    assert app.selectbox(key="inbox_detail").value == 1  # still open, though no longer on this page
    assert 1 not in list(table(app).index)


def test_pages_of_fifty_newest_first(desk):
    store = open_store(desk)
    for number in range(120):
        store.add_ticket(MailRef("INBOX", "1", str(number), None), sender="a@example.org", subject=f"n{number}")
    app = open_inbox()
    assert len(table(app)) == 50 and "1–50 of 120 tickets" in texts(app.caption)
    app.pagination(key="inbox_page").set_value(3).run()
    assert list(table(app).index) == list(range(20, 0, -1)) and "101–120 of 120 tickets" in texts(app.caption)


def test_the_detail_shows_the_mail_as_text_its_attachments_thread_and_audit(desk, tmp_path):
    seed(desk, tmp_path, HTML_ONLY, WITH_PDF)
    app = open_inbox()
    app.selectbox(key="inbox_detail").set_value(1).run()
    body = app.code[0].value
    assert "BK-33333" in body and "<" not in body  # HTML reduced to text, never rendered
    app.selectbox(key="inbox_detail").set_value(2).run()
    assert "Attachments: membership-form-david-evans.pdf" in texts(app.caption)
    assert "Login for my husband" in texts(app.text)  # the thread
    assert "received" in app.expander[0].dataframe[0].value["what"].tolist()


def test_a_reply_saved_in_the_detail_shows_in_the_table(desk, tmp_path):
    seed(desk, tmp_path, ANNA_CANCELS)
    app = open_inbox()
    app.selectbox(key="inbox_detail").set_value(1).run()
    next(area for area in app.text_area if area.label == "Reply").input("Dear Anna, it is done.")
    click(app, label="Save draft")
    assert table(app).loc[1, "Reply"] == "Dear Anna, it is done."


def inbox_with_model_server(desk, tmp_path, monkeypatch, url: str):
    """The inbox, one mail in it, triaging through ``url``; and its connection strip's text."""
    monkeypatch.setenv("ACEDESK_MODEL_URL", url)
    seed(desk, tmp_path, ANNA_CANCELS)
    app = open_inbox()
    assert_no_error(app)
    return app, texts(app.caption)


def test_a_model_server_that_is_down_is_said_on_the_strip(desk, tmp_path, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _, strip = inbox_with_model_server(desk, tmp_path, monkeypatch, f"http://user:hunter2@127.0.0.1:{port}/v1")
    assert f"**Model** · the model server http://127.0.0.1:{port}/v1 does not answer" in strip
    assert "new mail waits as received" in strip and "hunter2" not in strip


def test_a_model_server_for_another_adapter_is_said_on_the_strip(desk, tmp_path, monkeypatch):
    # it answers, but triage refuses it (model/served.py check_model): the strip must not say "ok"
    from tests.model.test_served import _Stub

    with _Stub([], models=("triage-0123456789ab",)).serving() as url:
        app, strip = inbox_with_model_server(desk, tmp_path, monkeypatch, f"{url}?api-key=K3Y")
    assert f"**Model** · the model server {url} does not serve triage-" in strip
    assert "started for the inbox's adapter" in strip and "K3Y" not in everything(app)


def test_the_club_backend_url_shows_without_its_password_or_key(desk, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("ACEDESK_CLUB_API_URL", f"http://desk:Sup3rSecret@127.0.0.1:{port}/api?api_key=K3Y")
    app = open_inbox()
    strip = texts(app.caption)
    assert f"**Club backend** · http://127.0.0.1:{port}/api does not answer" in strip
    assert "Sup3rSecret" not in everything(app) and "K3Y" not in everything(app)


class ShownUrl:
    """The club API with another base URL to show; every call still goes to the real one."""

    def __init__(self, api, base_url: str):
        self._api, self.base_url = api, base_url

    def __getattr__(self, name):
        return getattr(self._api, name)


def test_the_approval_shows_the_call_without_the_backend_url_s_password_or_key(desk, tmp_path, monkeypatch,
                                                                               club_backend):
    # requests would send user:password@ as Basic auth instead of the token: the stand-in backend cannot be
    # reached through such a URL, so the workflow keeps the real one for its calls and shows this one
    secret_url = club_backend.url.replace("http://", "http://desk:Sup3rSecret@") + "/?api_key=K3Y"
    from ui.resources import workflow as real_workflow

    def workflow_with_secret_url(store):
        flow = real_workflow(store)
        flow.api = ShownUrl(flow.api, secret_url)
        return flow

    monkeypatch.setattr("ui.resources.workflow", workflow_with_secret_url)
    seed(desk, tmp_path, ANNA_CANCELS)
    app = click(edit_table(open_inbox(), {0: {"Select": True}}), "inbox_approve")
    assert f"POST {club_backend.url}/bookings/BK-48213/cancel" in texts(app.code)
    assert "Sup3rSecret" not in everything(app) and "K3Y" not in everything(app)


def anna_asks_twice(desk, tmp_path):
    """Anna's cancellation, triaged as one that also asks to move BK-48214; returns the store."""
    seed(desk, tmp_path, ANNA_CANCELS)
    store = open_store(desk)
    store.retriage(1, "test")
    triage = TriageResult(category="cancel_booking", booking_id="BK-48213", confidence=0.97,
                          response="Hi Anna, cancelled.").to_dict()
    triage["second_request"] = {"category": "modify_booking", "booking_id": "BK-48214", "username": None,
                                "clause": "And move BK-48214 to 10am, please.", "probability": 0.95}
    store.record_triage(1, triage, [f"{ALSO_ASKS}: modify booking BK-48214"])
    return store


def test_a_second_request_is_split_into_a_linked_ticket_with_one_click(desk, tmp_path, club_backend):
    store = anna_asks_twice(desk, tmp_path)
    app = open_inbox()
    app.selectbox(key="inbox_detail").set_value(1).run()
    assert shown(app.button(key="inbox_split_1").label) == "Split “modify booking BK-48214” into its own ticket"

    click(app, "inbox_split_1")
    assert "#1 split: its second request is ticket #2, triaged and checked" in texts(app.success)
    assert table(app).loc[2, "Category"] == "modify_booking" and table(app).loc[2, "Booking"] == "BK-48214"
    assert store.ticket(2).message_id == store.ticket(1).message_id  # the same mail, linked
    app.selectbox(key="inbox_detail").set_value(1).run()
    assert not [button for button in app.button if button.key == "inbox_split_1"]  # split once only


def test_a_split_with_an_unreadable_review_rule_says_so_and_splits_nothing(desk, tmp_path, monkeypatch):
    import ui.inbox_detail

    def broken_rule():
        raise ValueError("review_rule.json: not a review rule (JSONDecodeError: Expecting value)")

    monkeypatch.setattr(ui.inbox_detail, "review_rule", broken_rule)
    store = anna_asks_twice(desk, tmp_path)
    app = open_inbox()
    app.selectbox(key="inbox_detail").set_value(1).run()
    click(app, "inbox_split_1")
    assert not app.exception and "review rule cannot be read" in texts(app.error)
    assert len(store.tickets()) == 1  # nothing split



@pytest.mark.parametrize("change", ["rejected", "retriaged"])
def test_a_split_racing_another_tab_that_changed_the_ticket_says_so_and_splits_nothing(desk, tmp_path, monkeypatch,
                                                                                       change):
    import ui.inbox_detail

    store = anna_asks_twice(desk, tmp_path)
    rule = ui.inbox_detail.review_rule

    def another_tab_acts_meanwhile():  # between this run's read of the ticket and the split
        if change == "rejected":
            store.move(1, State.REJECTED, "other tab", reason="not from Anna")
        else:
            store.retriage(1, "other tab")
        return rule()

    monkeypatch.setattr(ui.inbox_detail, "review_rule", another_tab_acts_meanwhile)
    app = open_inbox()
    app.selectbox(key="inbox_detail").set_value(1).run()
    app.button(key="inbox_split_1").click().run()
    state = "rejected" if change == "rejected" else "received"
    assert not app.exception and f"Not split: ticket 1 is {state} now" in texts(app.error)
    assert len(store.tickets()) == 1  # nothing split


def test_the_confirmation_says_approving_makes_the_second_request_a_ticket_of_its_own(desk, tmp_path, club_backend):
    anna_asks_twice(desk, tmp_path)
    app = click(edit_table(open_inbox(), {0: {"Select": True}}), "inbox_approve")
    assert ("Its second request (modify booking BK-48214) becomes a ticket of its own, linked to this one, to be "
            "decided there.") in texts(app.caption)

    click(app, "inbox_confirm_table")  # and it does what it said
    assert table(app).loc[2, "Category"] == "modify_booking" and table(app).loc[2, "Booking"] == "BK-48214"


def test_a_ticket_replied_before_approving_split_offers_its_second_request_split(desk, tmp_path, monkeypatch,
                                                                                  club_backend):
    # Tickets approved before approving split the second request off hold it still, unsplit: without a
    # Split button on the replied ticket the request was lost.
    store = anna_asks_twice(desk, tmp_path)
    from support.workflow import Workflow

    with monkeypatch.context() as before_today:
        before_today.setattr(Workflow, "_split_second_request", lambda *args: None)
        flow = build_workflow(store, desk)
        flow.approve(1, "desk@club.example")
        assert flow.execute(1) == State.REPLIED and len(store.tickets()) == 1

    app = open_inbox()
    app.segmented_control(key="inbox_view").set_value("Done").run()
    app.selectbox(key="inbox_detail").set_value(1).run()
    click(app, "inbox_split_1")
    assert "#1 split: its second request is ticket #2, triaged and checked" in texts(app.success)
    assert (store.ticket(2).triage["category"], store.ticket(2).triage["booking_id"]) == ("modify_booking",
                                                                                         "BK-48214")
    app.selectbox(key="inbox_detail").set_value(1).run()
    assert not [button for button in app.button if button.key == "inbox_split_1"]  # split once only


def test_a_replied_ticket_the_operator_made_its_second_request_offers_no_split(desk, tmp_path, club_backend):
    seed(desk, tmp_path, ANNA_CANCELS)
    store = open_store(desk)
    store.retriage(1, "test")  # read as a password reset that also cancels BK-48213
    triage = TriageResult(category="reset_password", username="anna.berg", confidence=0.97).to_dict()
    triage["second_request"] = {"category": "cancel_booking", "booking_id": "BK-48213", "username": None,
                                "clause": "Please cancel BK-48213.", "probability": 0.95}
    store.record_triage(1, triage, [f"{ALSO_ASKS}: cancel booking BK-48213"])
    flow = build_workflow(store, desk)
    flow.approve(1, "desk@club.example", fields={"category": "cancel_booking", "booking_id": "BK-48213"})
    assert flow.execute(1) == State.REPLIED and len(store.tickets()) == 1
    app = open_inbox()
    app.segmented_control(key="inbox_view").set_value("Done").run()
    app.selectbox(key="inbox_detail").set_value(1).run()
    assert not [button for button in app.button if button.key == "inbox_split_1"]  # it would cancel twice


def test_the_outcome_says_why_the_member_got_the_general_sentence(desk, tmp_path, club_backend, scripted):
    """A gateway relays a real cancellation, then answers with a booking id that carries markdown and a
    link: the member's reply leaves it out, and the operator's outcome says so, as text."""
    from integrations.club_api import ClubApi
    from tests.ui.test_errors import unescaped_punctuation

    hostile = "BK-48213 **urgent** [verify](http://club-verify.example/login)"

    def booking_id_replaced(method, answer):
        answer["booking"]["booking_id"] = hostile
        return answer

    gateway_server = relaying_gateway(scripted, club_backend.url, booking_id_replaced)
    seed(desk, tmp_path, ANNA_CANCELS)
    store = open_store(desk)
    flow = build_workflow(store, desk)
    flow.api = ClubApi(gateway_server.url, club_backend.token, timeout=2, retries=0)
    flow.approve(1, "desk@club.example")
    assert flow.execute(1) == State.REPLIED and club_backend.effects()["cancel"] == 1

    app = open_inbox()
    app.segmented_control(key="inbox_view").set_value("Done").run()
    why = f"so the member got the general sentence without it: booking id {hostile[:60]!r}"  # as long as it says
    assert why in table(app).loc[1, "Note"]
    app.selectbox(key="inbox_detail").set_value(1).run()
    [outcome] = [info for info in app.info if "general sentence" in shown(info.value)]
    assert why in shown(outcome.value) and not unescaped_punctuation(outcome.value)  # text, nothing live


def test_a_draft_the_full_store_cannot_keep_is_said_and_kept_for_the_next_run(desk, monkeypatch):
    from support.store import TicketStore

    store = open_store(desk)
    ticket_id = store.add_ticket(MailRef("INBOX", "1", "77", None), sender="m@example.org", subject="fees",
                                 body="What are the fees?")
    store.record_triage_if_received(ticket_id, {"category": "other", "confidence": 0.9, "response": "Dear member"}, [])
    put_draft = TicketStore.put_draft

    def on_a_full_disk(self, *args):  # the page's own connection may not grow the file: a real SQLITE_FULL
        pages = self.db.execute("PRAGMA page_count").fetchone()[0]
        self.db.execute(f"PRAGMA max_page_count={pages}")
        try:
            return put_draft(self, *args)
        finally:
            self.db.execute("PRAGMA max_page_count=1073741823")

    app = open_inbox()
    app.selectbox(key="inbox_detail").set_value(ticket_id).run()
    long_reply = "Dear member, the fees are on our website. " * 500  # needs new pages
    next(area for area in app.text_area if area.label == "Reply").input(long_reply)
    monkeypatch.setattr(TicketStore, "put_draft", on_a_full_disk)
    next(b for b in app.button if b.label == "Save draft").click().run()
    assert not app.exception  # the page stands
    said = texts(app.error)
    assert "Saving your drafts failed" in said and "is full" in said and "free space" in said, said
    assert ticket_id not in open_store(desk).drafts(("triaged",))

    monkeypatch.setattr(TicketStore, "put_draft", put_draft)  # room again: the next run saves what was typed
    app.run()
    assert_no_error(app)
    assert open_store(desk).drafts(("triaged",))[ticket_id]["reply"] == long_reply


def test_what_hides_in_a_mail_is_shown_for_what_it_is_in_the_table_and_the_detail(desk):
    """A right-to-left override reverses "moc.elpmaxe@anna" into an address, a zero-width space
    makes a second tk_2009, a Cyrillic а a second anna: the operator sees each of them marked."""
    store = open_store(desk)
    ticket_id = store.add_ticket(MailRef("INBOX", "1", "1", None), sender="\u202emoc.elpmaxe@anna <evil@x.example>",
                                 subject="Reset \u202eanna", body="please reset tk_2009\u200b")
    store.record_triage_if_received(ticket_id, {"category": "reset_password", "confidence": 0.9,
                                                "username": "tk_2009\u200b", "booking_id": "\u0430BK-1",
                                                "response": "Dear member"}, [])
    app = open_inbox()
    row = table(app).loc[ticket_id]
    assert row["From"] == "⟨U+202E⟩moc.elpmaxe@anna <evil@x.example>" and row["Subject"] == "Reset ⟨U+202E⟩anna"
    assert row["Username"] == "tk_2009⟨U+200B⟩" and row["Booking"] == "⟨Cyrillic а⟩BK-1"

    app.selectbox(key="inbox_detail").set_value(ticket_id).run()
    assert_no_error(app)
    shown_text = everything(app)
    assert "\u202e" not in shown_text and "\u200b" not in shown_text
    assert "Reset ⟨U+202E⟩anna" in texts(app.subheader) and "From ⟨U+202E⟩moc.elpmaxe@anna" in texts(app.caption)
    assert "please reset tk_2009⟨U+200B⟩" in app.code[0].value and "⟨U+202E⟩moc.elpmaxe@anna" in texts(app.text)
    assert "Username reads tk_2009⟨U+200B⟩; Booking id reads ⟨Cyrillic а⟩BK-1" in texts(app.warning)


def test_a_login_with_a_look_alike_letter_is_named_where_the_approval_holds_it(desk):
    """Without the mark the panel read "no account аnna.berg" for a member who plainly exists."""
    store = open_store(desk)
    ticket_id = store.add_ticket(MailRef("INBOX", "1", "1", None), sender="anna.berg@example.org", subject="Reset")
    store.record_triage_if_received(ticket_id, {"category": "reset_password", "confidence": 0.9,
                                                "username": "\u0430nna.berg", "response": "Dear member"}, [])
    app = edit_table(open_inbox(), {0: {"Select": True}})
    click(app, "inbox_approve")
    assert "will not run: no account ⟨Cyrillic а⟩nna.berg" in texts(app.warning)
