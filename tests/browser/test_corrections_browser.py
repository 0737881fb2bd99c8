"""A correction made in Chromium on the real app becomes training data: the operator rewrites a
reply in the inbox grid and approves it; the export (``python -m support.tickets corrections``)
holds it pseudonymised, and the Active model page counts the decision. Screenshots:
test-artifacts/screenshots/."""

from __future__ import annotations

import csv

from support import tickets
from tests.browser.test_inbox_browser import EDITED, REPLY, SELECT, SUBJECT, open_inbox, seeded_data
from tests.fixtures.browser import edit_cell, find_row, screenshot, toggle_cell, wait_for_app


def test_a_reply_rewritten_in_the_grid_reaches_the_export_pseudonymised(page, app_server, club_backend, tmp_path,
                                                                       monkeypatch):
    data = seeded_data(tmp_path, club_backend, ["01-anna-cancel-injured.eml", "04-sarah-forgot-password.eml"])
    app = app_server(club=club_backend, data_dir=data)
    open_inbox(page, app)
    grid = page.get_by_test_id("stDataFrame").first
    row = find_row(grid, SUBJECT, "Cancel BK-48213")
    edit_cell(page, grid, row, REPLY, EDITED)
    toggle_cell(page, grid, row, SELECT)
    page.get_by_role("button", name="Approve & send (1)").click()
    wait_for_app(page)
    page.get_by_role("button", name="Confirm: run and send (1)").click()
    wait_for_app(page)
    page.get_by_text("replied · BK-48213 cancelled").first.wait_for()

    page.goto(app.url + "/model")
    wait_for_app(page)
    page.get_by_text("Most frequent corrections").wait_for()
    assert page.get_by_test_id("stMetricValue").first.inner_text() == "100%"  # the category and fields stood
    screenshot(page, "model-agreement")

    monkeypatch.setenv("ACEDESK_DATA_DIR", str(data))
    out = tmp_path / "corrections.csv"
    assert tickets.main(["corrections", "--out", str(out)]) == 0
    [row] = csv.DictReader(out.open(encoding="utf-8"))
    assert (row["decision"], row["changed"], row["category"]) == ("approved", "reply rewritten", "cancel_booking")
    text = out.read_text(encoding="utf-8")
    assert "Anna" not in text and "anna.berg" not in text and "48213" not in text
    stand_in = row["sender"].split()[0]  # the same stand-in for Anna in the sender and in her reply
    assert row["response"] == EDITED.replace("Anna", stand_in).replace("BK-48213", row["booking_id"])
