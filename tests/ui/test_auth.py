"""Who may use the app (ui/auth.py): the allow/refuse decision as a pure function, the login buttons an
``[auth]`` section gives, and the gate and the audit log's actor in a Streamlit run (AppTest, with its
own secrets and ``st.user``). The real login, through an OpenID provider in Chromium, is
tests/browser/test_login_browser.py."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit import config
from streamlit.runtime.secrets import Secrets
from streamlit.testing.v1 import AppTest

from tests.conftest import settings_of
from tests.ui.test_errors import shown
from ui.auth import (
    NO_LOGIN_ACTOR,
    NO_LOGIN_NOTE,
    OPERATORS_SETTING,
    Access,
    Provider,
    Verdict,
    actor_for,
    current_access,
    decide,
    providers,
)

OPERATORS = ("coach@club.example", "desk@club.example")
AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "x" * 32, "client_id": "acedesk",
        "client_secret": "s", "server_metadata_url": "https://accounts.google.com/.well-known/openid-configuration"}


def logged_in(email: object = "coach@club.example", **claims) -> dict:
    return {"is_logged_in": True, "email": email, **claims}


# -- the decision --------------------------------------------------------------------------------

def test_without_login_configured_the_app_is_open_and_the_actor_is_the_shared_desk():
    access = decide({}, (), login_configured=False)
    assert access.verdict is Verdict.NO_LOGIN and access.may_use_app
    assert actor_for(access) == NO_LOGIN_ACTOR == "operator"


def test_nobody_logged_in_gets_the_login():
    access = decide({"is_logged_in": False}, OPERATORS)
    assert access == Access(Verdict.LOG_IN) and not access.may_use_app
    assert decide({}, OPERATORS).verdict is Verdict.LOG_IN  # st.user before Streamlit filled it in


@pytest.mark.parametrize("email", ["coach@club.example", "Coach@Club.Example", "COACH@CLUB.EXAMPLE"])
def test_an_operator_on_the_list_is_admitted_and_named_lower_cased(email):
    access = decide(logged_in(email, email_verified=True), OPERATORS)
    assert access.verdict is Verdict.ADMITTED and access.may_use_app and access.logged_in
    assert actor_for(access) == "coach@club.example"


def test_the_list_is_compared_lower_cased_whatever_its_spelling():
    assert decide(logged_in(), [" COACH@club.example "]).verdict is Verdict.ADMITTED


def test_someone_not_on_the_list_is_refused_by_address_and_may_log_out():
    access = decide(logged_in("visitor@example.org"), OPERATORS)
    assert access.verdict is Verdict.REFUSED and not access.may_use_app and access.logged_in
    assert access.reason == "You are logged in as visitor@example.org, who is not an AceDesk operator."
    with pytest.raises(PermissionError):
        actor_for(access)


@pytest.mark.parametrize("email", ["coach@club.example.evil.org", "coach@club.example,desk@club.example",
                                   "xcoach@club.example", ""])
def test_near_misses_are_refused(email):
    assert decide(logged_in(email), OPERATORS).verdict is Verdict.REFUSED


@pytest.mark.parametrize("user", [{"is_logged_in": False}, logged_in()])
def test_an_empty_list_refuses_everyone_and_names_the_setting(user):
    access = decide(user, ())
    assert access.verdict is Verdict.REFUSED and OPERATORS_SETTING in access.reason
    assert access.logged_in is user["is_logged_in"]
    assert decide(user, [" ", ""]).verdict is Verdict.REFUSED


@pytest.mark.parametrize("user", [{"is_logged_in": True}, logged_in(None), logged_in(42)])
def test_a_login_without_an_address_is_refused(user):
    access = decide(user, OPERATORS)
    assert access.verdict is Verdict.REFUSED and "did not say which e-mail address" in access.reason


@pytest.mark.parametrize("verified", [False, "false"])
def test_an_address_the_provider_has_not_verified_is_refused(verified):
    access = decide(logged_in(email_verified=verified), OPERATORS)
    assert access.verdict is Verdict.REFUSED and "not verified" in access.reason


def test_only_a_true_login_flag_counts():
    assert decide({"is_logged_in": "true", "email": "coach@club.example"}, OPERATORS).verdict is Verdict.LOG_IN


def test_the_operators_setting_is_a_comma_separated_lower_cased_list():
    operators = settings_of({"ACEDESK_OPERATORS": " Coach@Club.example , desk@club.example,"}).operators
    assert operators == OPERATORS
    assert decide(logged_in("coach@club.example"), operators).verdict is Verdict.ADMITTED


# -- the login buttons ---------------------------------------------------------------------------------

def test_the_auth_sections_own_provider_is_named_by_its_metadata_host():
    assert providers(AUTH) == [Provider(None, "Google")]
    local = {**AUTH, "server_metadata_url": "http://127.0.0.1:9400/.well-known/openid-configuration"}
    assert providers(local) == [Provider(None, "127.0.0.1")]
    okta = {**AUTH, "server_metadata_url": "https://club.okta.com/.well-known/openid-configuration"}
    assert providers(okta) == [Provider(None, "Okta")]


def test_named_providers_each_get_a_button():
    shared = {"redirect_uri": AUTH["redirect_uri"], "cookie_secret": AUTH["cookie_secret"]}
    section = {**shared, "microsoft": {"client_id": "a", "server_metadata_url": "https://login.microsoftonline.com/x"},
               "okta": {"client_id": "b"}}
    assert providers(section) == [Provider("microsoft", "Microsoft"), Provider("okta", "Okta")]
    assert providers(shared) == []


# -- in a Streamlit run ----------------------------------------------------------------------------------

def _gate_script():
    import streamlit as st

    from ui.auth import require_operator
    from ui.inbox_common import actor

    if require_operator():
        st.write(f"the app; decisions are recorded as {actor()}")


def run_gate(monkeypatch, *, auth: dict | None, user: dict, operators: str = ",".join(OPERATORS)) -> AppTest:
    monkeypatch.setenv("ACEDESK_OPERATORS", operators)
    app = AppTest.from_function(_gate_script, default_timeout=30)
    if auth is not None:
        app.secrets["auth"] = auth
    app.user = user
    return app.run()


def texts(app: AppTest) -> str:
    """As the operator reads it (mail addresses come markdown-escaped, so that none is a live link)."""
    return " ".join(shown(item.value) for item in [*app.markdown, *app.caption, *app.error])


def test_the_gate_without_login_says_the_app_is_open_and_records_the_shared_desk(monkeypatch):
    app = run_gate(monkeypatch, auth=None, user={})
    assert not app.exception
    assert [caption.value for caption in app.sidebar.caption] == [NO_LOGIN_NOTE]
    assert "decisions are recorded as operator" in texts(app)


def test_the_gate_shows_only_the_login_to_nobody_logged_in(monkeypatch):
    app = run_gate(monkeypatch, auth=AUTH, user={"is_logged_in": False})
    assert not app.exception
    assert [button.label for button in app.button] == ["Log in with Google"]
    assert "the app" not in texts(app) and not app.sidebar.caption


def test_the_gate_admits_an_operator_and_the_audit_names_them(monkeypatch):
    app = run_gate(monkeypatch, auth=AUTH, user=logged_in("Coach@Club.example"))
    assert not app.exception
    assert "decisions are recorded as coach@club.example" in texts(app)
    assert "Logged in as coach@club.example" in shown(app.sidebar.caption[0].value)
    assert "coach@club.example" not in app.sidebar.caption[0].value  # escaped: never a live mailto link
    assert [button.label for button in app.sidebar.button] == ["Log out"]


def test_the_gate_refuses_an_outsider_with_a_log_out_button_only(monkeypatch):
    app = run_gate(monkeypatch, auth=AUTH, user=logged_in("visitor@example.org"))
    assert not app.exception
    assert "You are logged in as visitor@example.org, who is not an AceDesk operator" in texts(app)
    assert "the app" not in texts(app)
    assert [button.label for button in app.button] == ["Log out"]


def test_the_gate_with_an_empty_list_refuses_even_before_login(monkeypatch):
    app = run_gate(monkeypatch, auth=AUTH, user={"is_logged_in": False}, operators="")
    assert "ACEDESK_OPERATORS" in texts(app).replace("\\", "") and not app.button


def test_a_secrets_file_that_does_not_parse_shuts_the_app_instead_of_opening_it(monkeypatch, tmp_path):
    broken = tmp_path / "secrets.toml"
    broken.write_text('[auth]\nclient_id = "unterminated\n')
    monkeypatch.setattr(st, "secrets", Secrets())
    saved = config.get_option("secrets.files")
    config.set_option("secrets.files", [str(broken)])
    try:
        access = current_access()
    finally:
        config.set_option("secrets.files", saved)
    assert access.verdict is Verdict.REFUSED and "secrets file could not be read" in access.reason


def test_a_wrong_setting_refuses_everyone_and_names_it_without_its_value(monkeypatch):
    monkeypatch.setenv("ACEDESK_SMTP_HOST", "smtp.example.org")  # without ACEDESK_SMTP_FROM
    monkeypatch.setenv("ACEDESK_SMTP_PASSWORD", "hunter2-smtp")
    app = run_gate(monkeypatch, auth=AUTH, user=logged_in("coach@club.example"))
    assert not app.exception and "the app" not in texts(app)
    assert "A setting is wrong (ACEDESK_SMTP_FROM" in texts(app) and "hunter2-smtp" not in texts(app)


# -- an international domain -----------------------------------------------------------------------

MUELLER_UNICODE, MUELLER_PUNYCODE = "anna@tennisclub-m\u00fcller.de", "anna@xn--tennisclub-mller-uzb.de"


@pytest.mark.parametrize(("entry", "claim"), [(MUELLER_UNICODE, MUELLER_PUNYCODE), (MUELLER_PUNYCODE, MUELLER_UNICODE),
                                              (MUELLER_UNICODE, "Anna@TennisClub-M\u00fcller.DE")],
                         ids=["list-unicode", "list-punycode", "ascii-case"])
def test_an_operator_with_an_international_domain_is_admitted_however_the_domain_is_spelled(entry, claim):
    """The list's Unicode domain and the provider's punycode one are one domain: she was refused."""
    access = decide(logged_in(claim, email_verified=True), [entry])
    assert access.verdict is Verdict.ADMITTED and actor_for(access) == MUELLER_PUNYCODE


@pytest.mark.parametrize("claim", [
    "anna@xn--tennisclub-mller-jzb.de",  # punycode of another domain: t\u00fcennisclub-mller.de
    "anna@tennisclub-m\u00fcl\u04cfer.de",  # Cyrillic palochka for the l
    "anna@tennisclub-m\u0443ller.de",  # Cyrillic u, no diaeresis
    "anna@tennisclub-mu\u0308ller.de",  # u and a combining diaeresis: drawn alike, not the domain's NFC ü
    "\u212ana@tennisclub-m\u00fcller.de",  # KELVIN SIGN for the "k" of kna@, also on the list
    "anna@tennisclub-m\u00fcller.de\u00a0"])
def test_a_look_alike_of_an_international_operator_is_refused(claim):
    access = decide(logged_in(claim, email_verified=True), [MUELLER_UNICODE, "kna@tennisclub-m\u00fcller.de"])
    assert access.verdict is Verdict.REFUSED and access.operator not in (MUELLER_PUNYCODE, MUELLER_UNICODE)
    with pytest.raises(PermissionError):
        actor_for(access)
