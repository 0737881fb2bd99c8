"""Deep links: a bookmark to a page is the first thing a freshly started server is asked for."""

import pytest

from tests.fixtures.browser import wait_for_app

pytest_plugins = ["tests.fixtures.browser"]


@pytest.mark.parametrize(("path", "heading"), [("training", "Training"), ("eval", "Eval")])
def test_a_deep_link_to_a_fresh_server_opens_the_page_inside_the_apps_navigation(page, app_server, path,
                                                                                 heading):
    app = app_server()  # a new server per case: no session has run dashboard.py yet
    page.goto(f"{app.url}/{path}")
    wait_for_app(page)
    page.get_by_role("heading", name=heading).wait_for()
    nav = page.get_by_test_id("stSidebarNav")
    # dashboard.py's titled, grouped menu, not Streamlit's legacy list of the pages/ files
    assert nav.get_by_text("Active model", exact=True).count() == 1
    assert nav.get_by_text("Support", exact=True).count() == 1
    assert page.title() == "AceDesk" or page.title().endswith("AceDesk")
    assert page.url.rstrip("/").endswith(f"/{path}")
