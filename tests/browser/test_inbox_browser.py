"""The Inbox in Chromium on the real app: what AppTest cannot do, typing into the grid (the edit
outliving a reload) and ticking a row, then the approval reaching the real stand-in backend and the outbox; a
fetch through the page with the detail of a ticket; and a mail's text shown, and copied, as written.
Screenshots: test-artifacts/screenshots/."""

from __future__ import annotations

import email
import email.message
import email.policy
import email.utils

from core.settings import Settings
from support.desk import build_workflow, open_store
from support.intake import fetch_eml_dir
from tests.fixtures.browser import (
    cell_text,
    demo_inbox,
    edit_cell,
    find_row,
    screenshot,
    toggle_cell,
    triage_as_labelled,
    wait_for_app,
)

SELECT, SUBJECT, REPLY = 1, 4, 10  # grid columns (0 is the index)
REASON_IN_QUEUES = 5  # the queues show the reason right after the subject
LOAD_MS = 120_000  # the first page load imports torch; any run is slow while other work shares the CPU
EDITED = "Dear Anna, BK-48213 is cancelled. Get well soon!"


def seeded_data(tmp_path, club_backend, names: list[str]):
    """A data folder whose demo tickets are triaged with their labels (the tiny model answers at random)."""
    settings = Settings(data_dir=tmp_path / "data", club_api_url=club_backend.url,
                        club_api_token=club_backend.token)
    store = open_store(settings)
    fetch_eml_dir(store, demo_inbox(tmp_path / "seed", names))
    triage_as_labelled(store, build_workflow(store, settings))
    return settings.data_dir


def open_inbox(page, app) -> None:
    page.goto(app.url)
    wait_for_app(page, timeout_ms=LOAD_MS)


def test_an_edited_reply_is_approved_in_the_grid_and_reaches_backend_and_outbox(page, app_server, club_backend,
                                                                               tmp_path):
    data = seeded_data(tmp_path, club_backend, ["01-anna-cancel-injured.eml", "02-newsletter-tennis-world.eml",
                                                "12-reset-anna-from-unknown-address.eml",
                                                "04-sarah-forgot-password.eml"])
    app = app_server(club=club_backend, data_dir=data)
    requests: list = []  # what the browser asks the app for
    page.on("websocket", lambda socket: socket.on("framesent", lambda frame: requests.append(frame)))
    open_inbox(page, app)
    grid = page.get_by_test_id("stDataFrame").first
    screenshot(page, "inbox-table")

    row = find_row(grid, SUBJECT, "Cancel BK-48213")
    edit_cell(page, grid, row, REPLY, EDITED)
    assert cell_text(grid, row, REPLY) == EDITED
    page.reload()  # a new session: the edit was kept in the store, not only in the tab
    wait_for_app(page, timeout_ms=LOAD_MS)
    grid = page.get_by_test_id("stDataFrame").first
    row = find_row(grid, SUBJECT, "Cancel BK-48213")
    assert cell_text(grid, row, REPLY) == EDITED
    toggle_cell(page, grid, row, SELECT)
    page.get_by_role("button", name="Approve & send (1)").wait_for()
    wait_for_app(page, timeout_ms=LOAD_MS)
    asked = len(requests)
    page.get_by_role("button", name="Approve & send (1)").click()
    wait_for_app(page, timeout_ms=LOAD_MS)
    page.get_by_text(f"POST {club_backend.url}/bookings/BK-48213/cancel").wait_for(timeout=LOAD_MS)
    # One request, the click's: a second one the grid sent itself (its data changed under it) can
    # overtake a click's run and swallow it on a loaded machine
    assert len(requests) - asked == 1, f"{len(requests) - asked} requests after one click"
    assert club_backend.effects()["cancel"] == 0  # shown, not run
    screenshot(page, "inbox-approve-preview")

    page.get_by_role("button", name="Confirm: run and send (1)").click()
    wait_for_app(page, timeout_ms=LOAD_MS)
    page.get_by_text("replied · BK-48213 cancelled").first.wait_for(timeout=LOAD_MS)
    screenshot(page, "inbox-replied")
    assert club_backend.effects()["cancel"] == 1
    [sent] = app.outbox.glob("*.eml")
    reply = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert reply.get_content().strip() == EDITED and reply["To"] == "Anna Berg <anna.berg@example.org>"
    assert not page.get_by_test_id("stException").count()


def test_fetching_through_the_page_then_reading_a_ticket_and_the_quarantine(page, app_server, club_backend,
                                                                            tmp_path):
    mail = demo_inbox(tmp_path / "mail", ["19-rachel-add-husband-pdf.eml", "18-coach-mike-html-only-move.eml",
                                          "02-newsletter-tennis-world.eml"])
    (mail / "99-unreadable.eml").write_bytes(b"\r\n\r\n")
    app = app_server(club=club_backend, env={"ACEDESK_EML_DIR": str(mail)})
    open_inbox(page, app)
    page.get_by_role("button", name="Fetch new mail").click()
    wait_for_app(page, timeout_ms=LOAD_MS)
    page.get_by_text("Fetched 4 new mails, triaged 3").wait_for()
    screenshot(page, "inbox-fetched")

    page.get_by_test_id("stSelectbox").filter(has_text="Open a ticket").click()
    page.keyboard.type("Login for my husband")
    page.keyboard.press("Enter")
    wait_for_app(page)
    page.get_by_text("Attachments: membership-form-david-evans.pdf").wait_for()
    page.get_by_text("Open a ticket").evaluate("label => label.scrollIntoView({block: 'start'})")
    screenshot(page, "inbox-detail")

    page.get_by_text("Quarantine 1").click()
    wait_for_app(page)
    page.get_by_role("heading", name="Inbox").evaluate("title => title.scrollIntoView({block: 'start'})")
    grid = page.get_by_test_id("stDataFrame").first
    assert cell_text(grid, 0, 0) == "4"  # the unreadable mail, alone, its reason beside the subject
    assert "neither a sender nor any text" in cell_text(grid, 0, REASON_IN_QUEUES)
    screenshot(page, "inbox-quarantine")
    assert not page.get_by_test_id("stException").count()


ADDRESS, USERNAME, BOOKING = "anna.berg@example.org", "tk_2009.piotr", "BK-48213"
HOSTILE_SUBJECT = "[click](http://evil.example) :smile: **bold** $x$ <b>x</b> www.evil.example -- a -> b"


def mail_file(folder, name: str, subject: str, sender: str, reply_to: str | None = None) -> None:
    message = email.message.EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "support@club.example", subject
    message["Date"] = email.utils.format_datetime(email.utils.localtime())
    message["Message-ID"] = email.utils.make_msgid(domain="example.org")
    if reply_to:
        message["Reply-To"] = reply_to
    message.set_content("Please see the subject.")
    (folder / name).write_bytes(message.as_bytes())


def open_ticket(page, typed: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text="Open a ticket").click()
    page.keyboard.type(typed)
    page.keyboard.press("Enter")
    wait_for_app(page)


def copied(page, element) -> str:
    """What the operator's clipboard holds after selecting the element's text and pressing Ctrl+C."""
    element.evaluate("node => { const range = document.createRange(); range.selectNodeContents(node);"
                     " getSelection().removeAllRanges(); getSelection().addRange(range); }")
    page.keyboard.press("Control+C")
    return page.evaluate("() => navigator.clipboard.readText()")


def test_text_from_a_mail_copies_exactly_and_nothing_in_it_is_live(page, app_server, tmp_path):
    mail = tmp_path / "mail"
    mail.mkdir()
    mail_file(mail, "01-ids.eml", f"Reset {USERNAME}, booking {BOOKING}", f"Anna Berg <{ADDRESS}>",
              reply_to=f"{USERNAME}@example.net")
    mail_file(mail, "02-hostile.eml", HOSTILE_SUBJECT, "x@example.org")
    app = app_server(env={"ACEDESK_EML_DIR": str(mail)})
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app.url)
    open_inbox(page, app)
    page.get_by_role("button", name="Fetch new mail").click()
    wait_for_app(page, timeout_ms=LOAD_MS)

    open_ticket(page, f"Reset {USERNAME}")
    heading = page.locator("h3").filter(has_text=BOOKING)
    assert heading.inner_text() == f"Reset {USERNAME}, booking {BOOKING}"
    assert copied(page, heading) == f"Reset {USERNAME}, booking {BOOKING}"
    details = page.get_by_test_id("stCaptionContainer").filter(has_text="Reply-To").inner_text()
    assert f"From Anna Berg <{ADDRESS}> · " in details and f"Reply-To {USERNAME}@example.net (" in details
    screenshot(page, "inbox-detail-ids")

    open_ticket(page, "[click]")
    heading = page.locator("h3").filter(has_text="click")
    assert heading.inner_text() == HOSTILE_SUBJECT  # shown as written: no link, emoji, bold, math, tag or arrow
    assert copied(page, heading) == HOSTILE_SUBJECT
    assert heading.locator("a, img, strong, em, b, code, del, .katex, [role=img]").count() == 0
    screenshot(page, "inbox-detail-hostile")
    assert not page.get_by_test_id("stException").count()
