"""A locked app (issue 13, part 5) in Chromium, against a real OpenID provider (testbed/oidc.py): with
``[auth]`` in the app's secrets, an unauthenticated browser sees the login and nothing else, whatever
URL it opens first; an operator on the allow-list logs in through the provider, works in the inbox,
and the audit log names them; anyone else is refused and can log out.

The test app gets its own secrets file through Streamlit's ``secrets.files`` option, set by the
environment variable ``STREAMLIT_SECRETS_FILES`` (the developer's .streamlit/secrets.toml is never
read or written for it), and its allow-list through ``ACEDESK_OPERATORS``. The browser may reach
loopback addresses only: the provider's page links a stylesheet on a CDN.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator

import pytest

from core.settings import Settings
from support.desk import open_store
from support.intake import fetch_eml_dir
from tests.fixtures.browser import (
    VIEWPORT,
    AppServer,
    demo_inbox,
    find_row,
    screenshot,
    toggle_cell,
    triage_as_labelled,
    wait_for_app,
)

pytest_plugins = ["tests.fixtures.browser"]

OPERATOR = "coach@club.example"
OUTSIDER = "visitor@example.org"
USERS = {
    OPERATOR: {"email": "Coach@Club.example", "email_verified": True, "name": "Club coach"},  # case: as typed
    OUTSIDER: {"email": OUTSIDER, "email_verified": True, "name": "A visitor"},
}
MAILS = ["01-anna-cancel-injured.eml", "04-sarah-forgot-password.eml"]
TICKET_TEXT = ("Cancel BK-48213", "anna.berg", "sarah")  # in the seeded tickets; never shown before login
SUBJECT, SELECT = 4, 1  # grid columns (0 is the index)
LOAD_MS = 120_000  # the first page load imports torch
NOT_LOOPBACK = re.compile(r"^(?!https?://(127\.0\.0\.1|localhost)[:/])")
LOG_IN = re.compile(r"^Log in with ")


@pytest.fixture(scope="session")
def oidc_provider():
    """One provider for the session, with an operator and an outsider."""
    try:
        from testbed.oidc import start_provider
    except ImportError as error:  # the package comes with requirements.txt
        message = f"oidc-provider-mock is not installed ({error}): pip install -r requirements.txt"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    provider = start_provider(USERS)
    yield provider
    provider.stop()


@pytest.fixture
def locked_app(app_server, oidc_provider, tmp_path) -> Callable[..., AppServer]:
    """``locked_app(data_dir=None)``: the app with login through ``oidc_provider`` and OPERATOR allowed."""
    secrets = tmp_path / "secrets.toml"  # the app's own: Streamlit's secrets.files, from the environment
    secrets.write_text(oidc_provider.secrets_toml())

    def start(data_dir=None) -> AppServer:
        return app_server(data_dir=data_dir, env={"STREAMLIT_SECRETS_FILES": str(secrets),
                                                  "ACEDESK_OPERATORS": f"{OPERATOR.upper()}, admin@club.example"})
    return start


@pytest.fixture
def page(page):
    """pytest-playwright's page, kept on this machine's loopback addresses."""
    page.context.route(NOT_LOOPBACK, lambda route: route.abort())
    return page


@pytest.fixture
def second_page(browser) -> Iterator:
    """Another browser (its own cookies): a second person at the same app."""
    context = browser.new_context(viewport=VIEWPORT)
    context.route(NOT_LOOPBACK, lambda route: route.abort())
    yield context.new_page()
    context.close()


def seeded(tmp_path):
    """A data folder with two triaged demo tickets."""
    settings = Settings(data_dir=tmp_path / "data")
    store = open_store(settings)
    fetch_eml_dir(store, demo_inbox(tmp_path / "seed", MAILS))
    triage_as_labelled(store)
    return settings.data_dir


def assert_only_the_login(page) -> None:
    """The login button and nothing of the app: no navigation, no page, no ticket in the DOM."""
    page.get_by_role("button", name=LOG_IN).wait_for()
    assert page.get_by_test_id("stSidebarNav").count() == 0
    assert page.get_by_test_id("stSidebar").count() == 0
    assert page.get_by_test_id("stDataFrame").count() == 0
    assert page.get_by_role("button", name="Fetch new mail").count() == 0
    for heading in ("Inbox", "Training", "Eval", "Active model"):
        assert page.get_by_role("heading", name=heading, exact=True).count() == 0
    html = page.content()
    assert not [text for text in TICKET_TEXT if text in html]
    assert not page.get_by_test_id("stException").count()


def log_in_through_provider(page, app: AppServer, subject: str) -> None:
    from testbed.oidc import log_in

    page.get_by_role("button", name=LOG_IN).click()
    page.get_by_placeholder("sub").wait_for()  # the provider's own login form
    assert not page.url.startswith(app.url + "/")
    log_in(page, subject)
    page.wait_for_url(app.url + "/")  # through /oauth2callback, to the app's home
    wait_for_app(page, timeout_ms=LOAD_MS)


@pytest.mark.parametrize("path", ["", "training", "eval"])
def test_an_unauthenticated_browser_sees_the_login_and_nothing_else_on_any_first_url(page, locked_app, path):
    app = locked_app()  # a fresh server: this URL is its first request (Streamlit's legacy pages/ mode)
    page.goto(f"{app.url}/{path}")
    wait_for_app(page, timeout_ms=LOAD_MS)
    assert_only_the_login(page)
    page.get_by_role("button", name="Log in with 127.0.0.1").wait_for()
    screenshot(page, f"login-{path or 'home'}")
    page.reload()  # a second session of the same browser, now in st.navigation's mode
    wait_for_app(page)
    assert_only_the_login(page)


def test_an_operator_logs_in_through_the_provider_works_and_is_named_in_the_audit_log(page, locked_app,
                                                                                       tmp_path):
    app = locked_app(seeded(tmp_path))
    page.goto(app.url)
    wait_for_app(page, timeout_ms=LOAD_MS)
    assert_only_the_login(page)

    log_in_through_provider(page, app, OPERATOR)
    page.get_by_role("heading", name="Inbox").wait_for()
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text(f"Logged in as {OPERATOR}").wait_for()
    assert sidebar.get_by_test_id("stSidebarNav").get_by_text("Training", exact=True).count() == 1
    grid = page.get_by_test_id("stDataFrame").first
    row = find_row(grid, SUBJECT, "Cancel BK-48213")
    screenshot(page, "login-operator-inbox")

    toggle_cell(page, grid, row, SELECT)
    page.get_by_role("button", name="Reject (1)").click()
    wait_for_app(page)
    page.get_by_role("button", name="Confirm: reject (1)").click()
    wait_for_app(page)
    store = open_store(Settings(data_dir=app.data_dir))
    [ticket] = [ticket for ticket in store.tickets() if ticket.subject == "Cancel BK-48213"]
    decisions = [entry for entry in store.audit_log(ticket.id) if entry.event.endswith("->rejected")]
    assert [entry.actor for entry in decisions] == [OPERATOR]

    page.goto(f"{app.url}/training")  # logged in, a deep link opens its page
    wait_for_app(page, timeout_ms=LOAD_MS)
    page.get_by_role("heading", name="Training").wait_for()
    assert not page.get_by_test_id("stException").count()


def test_a_user_not_on_the_list_is_refused_and_can_log_out(page, second_page, locked_app, tmp_path):
    app = locked_app(seeded(tmp_path))
    page.goto(app.url)
    wait_for_app(page, timeout_ms=LOAD_MS)
    log_in_through_provider(page, app, OUTSIDER)
    page.get_by_text(f"You are logged in as {OUTSIDER}, who is not an AceDesk operator").wait_for()
    assert page.get_by_role("button", name=LOG_IN).count() == 0
    assert page.get_by_test_id("stSidebarNav").count() == 0
    assert page.get_by_test_id("stDataFrame").count() == 0
    assert not [text for text in TICKET_TEXT if text in page.content()]
    screenshot(page, "login-refused")
    for path in ("training", "eval"):  # the deep links stay shut for them too
        page.goto(f"{app.url}/{path}")
        wait_for_app(page)
        page.get_by_text("who is not an AceDesk operator").wait_for()
        assert page.get_by_role("heading", name=path.capitalize(), exact=True).count() == 0

    second_page.goto(app.url)  # another browser: not logged in at all
    wait_for_app(second_page, timeout_ms=LOAD_MS)
    assert_only_the_login(second_page)

    page.get_by_role("button", name="Log out").click()
    page.get_by_role("button", name="End session").click()  # the provider's end-session form
    page.wait_for_url(app.url + "/")  # through /oauth2callback, to the app's home
    wait_for_app(page)
    assert_only_the_login(page)
