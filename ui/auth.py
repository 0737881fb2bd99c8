"""Who may use the app. With an ``[auth]`` section in the secrets file (Streamlit's own OIDC login,
``st.login``), only a logged-in operator whose address is on the allow-list ``ACEDESK_OPERATORS``; without
one, anyone who can reach the port (the app binds to 127.0.0.1 unless told otherwise, so by default
that is this machine only).

    admitted = require_operator()      # dashboard.py, before running a page: draws the login or the refusal
    navigation = st.navigation(PAGES, position="sidebar" if admitted else "hidden")
    if admitted:
        navigation.run()

Every page checks again, silently (``may_use_app``, called by ui/navigation.py), because a page script can
run without dashboard.py: Streamlit's legacy ``pages/`` mode runs a deep link's script directly on a fresh
server. The decision itself is :func:`decide`, pure, so that the unit tests need no login.

The address in the audit log (``actor_for``) is the e-mail claim of the identity token Streamlit keeps in
its signed cookie, in the form :func:`operator_address` gives it and the allow-list: two logins are one
operator only when their addresses differ in ASCII case alone, or in how an international domain is
spelled (Unicode or its punycode, ``xn--``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlparse

import streamlit as st

from core.settings import operator_address
from ui.errors import plain, setting_problem
from ui.resources import desk_settings

NO_LOGIN_ACTOR = "operator"
"""The audit log's actor when the app has no login: one shared desk, no name to record."""
OPERATORS_SETTING = "ACEDESK_OPERATORS"
NO_LOGIN_NOTE = "No login configured: anyone who can reach this machine's port can use the app."
_WELL_KNOWN = {"accounts.google.com": "Google", "login.microsoftonline.com": "Microsoft",
               "okta.com": "Okta", "auth0.com": "Auth0", "gitlab.com": "GitLab"}
"""Provider names for the login button, by the host (or the domain) of the metadata URL."""


class Verdict(StrEnum):
    NO_LOGIN = "no login"
    """No ``[auth]`` section: the app is open to whoever reaches its port."""
    LOG_IN = "log in"
    """Login configured, nobody logged in yet: the login screen and nothing else."""
    ADMITTED = "admitted"
    REFUSED = "refused"


@dataclass(frozen=True)
class Access:
    verdict: Verdict
    operator: str | None = None
    """The admitted operator's address (:func:`operator_address`), or the refused user's, when the provider
    gave one."""
    reason: str = ""
    """Why the app is refused, in words for the screen."""
    logged_in: bool = False
    """Whether someone is logged in (a refused user gets a log-out button, to try another account)."""

    @property
    def may_use_app(self) -> bool:
        return self.verdict in (Verdict.NO_LOGIN, Verdict.ADMITTED)


@dataclass(frozen=True)
class Provider:
    name: str | None
    """``st.login``'s argument: None for the provider set in ``[auth]`` itself, else its ``[auth.NAME]``."""
    label: str


# -- the decision (pure) ---------------------------------------------------------------------------

def _verified(claim: object) -> bool:
    """Whether an ``email_verified`` claim that is present says yes. The claim is a boolean, though some
    providers send it as text ("true"); anything else ("False", "0", null) is not a yes, and the address
    is refused rather than guessed at."""
    return claim is True or (isinstance(claim, str) and claim.strip().lower() == "true")


def decide(user: Mapping[str, object], operators: Iterable[str], *, login_configured: bool = True) -> Access:
    """Whether this user may use the app: ``user`` is ``st.user`` (the identity token's claims plus
    ``is_logged_in``), ``operators`` the allow-list.

    An empty allow-list refuses everyone, logged in or not: an app that is meant to be locked must not
    open because a setting was forgotten. An address the provider does not mark verified (an
    ``email_verified`` claim that is anything but true) is refused: some providers let anyone claim any
    address. Without that claim (Microsoft Entra sends none) the provider's address is taken as it is.
    The address is compared as the provider spelled it, but for ASCII case and an international domain's
    spelling (:func:`operator_address`): one with surrounding whitespace is another account's, not an
    operator's."""
    if not login_configured:
        return Access(Verdict.NO_LOGIN)
    allowed = {operator_address(address.strip()) for address in operators if address.strip()}
    logged_in = user.get("is_logged_in") is True
    email = user.get("email")
    address = operator_address(email) if logged_in and isinstance(email, str) and email.strip() else None
    if not allowed:
        return Access(Verdict.REFUSED, address, f"Login is configured but the operator list is empty, so nobody "
                      f"may use AceDesk: set {OPERATORS_SETTING} (comma-separated e-mail addresses) and restart "
                      "the app.", logged_in)
    if not logged_in:
        return Access(Verdict.LOG_IN)
    if address is None:
        return Access(Verdict.REFUSED, None, "The login provider did not say which e-mail address you logged in "
                                             "with, so AceDesk cannot tell whether you are an operator.", True)
    if "email_verified" in user and not _verified(user["email_verified"]):
        return Access(Verdict.REFUSED, address, f"You are logged in as {address}, an address the login provider "
                                                "has not verified, so it cannot be an AceDesk operator.", True)
    if address not in allowed:
        return Access(Verdict.REFUSED, address, f"You are logged in as {address}, who is not an AceDesk operator.",
                      True)
    return Access(Verdict.ADMITTED, address, logged_in=True)


def actor_for(access: Access) -> str:
    """The audit log's actor: the admitted operator's address, or "operator" without login. Anyone else
    never reaches a decision; if code ever asks on their behalf, it fails rather than record a name."""
    if access.verdict is Verdict.ADMITTED and access.operator:
        return access.operator
    if access.verdict is Verdict.NO_LOGIN:
        return NO_LOGIN_ACTOR
    raise PermissionError("only a logged-in operator decides tickets")


def providers(auth: Mapping[str, object]) -> list[Provider]:
    """The login buttons an ``[auth]`` section gives: its own provider (client_id, server_metadata_url in
    ``[auth]``), then each named one (``[auth.NAME]``), as Streamlit's ``st.login`` reads them."""
    found = [Provider(name, name.capitalize()) for name, section in auth.items()
             if isinstance(section, Mapping) and _is_provider(section)]
    if _is_provider(auth):
        found.insert(0, Provider(None, _provider_label(str(auth.get("server_metadata_url", "")))))
    return found


def _is_provider(section: Mapping[str, object]) -> bool:
    return "client_id" in section or "server_metadata_url" in section


def _provider_label(metadata_url: str) -> str:
    host = urlparse(metadata_url).hostname or ""
    for domain, name in _WELL_KNOWN.items():
        if host == domain or host.endswith("." + domain):
            return name
    return host or "the login provider"


# -- in the app --------------------------------------------------------------------------------------

def auth_section() -> dict:
    """The secrets' ``[auth]`` section ({} when there is none): where Streamlit itself looks, so the app is
    locked exactly when ``st.login`` works (``secrets.files``: .streamlit/secrets.toml by default)."""
    if not st.secrets.load_if_toml_exists():
        return {}
    section = st.secrets.get("auth")
    return section.to_dict() if hasattr(section, "to_dict") else dict(section or {})


def _unreadable_secrets() -> list[str]:
    """Secrets files that exist but did not load (a TOML error): the app stays shut rather than fall open,
    since the login they may configure cannot be read."""
    if st.secrets.load_if_toml_exists():
        return []
    return [path for path in st.get_option("secrets.files") if Path(path).is_file()]


def current_access() -> Access:
    """This session's access, decided afresh on every run (the allow-list is read once per process)."""
    if _unreadable_secrets():  # which file, and why, is in the server's log (Streamlit logs it), not on screen
        return Access(Verdict.REFUSED, None, "The secrets file could not be read, so the login it may configure "
                                             "cannot be checked: nobody may use AceDesk until it is fixed (the "
                                             "server log says what is wrong).")
    if not auth_section():
        return Access(Verdict.NO_LOGIN)
    try:
        operators = desk_settings().operators
    except ValueError as problem:  # the allow-list cannot be read: nobody is admitted, and the setting is named
        return Access(Verdict.REFUSED, None, f"A setting is wrong ({setting_problem(problem)}), so the operators "
                                             "allowed in cannot be read: fix it in the environment or "
                                             ".streamlit/secrets.toml, then reload.")
    return decide(st.user.to_dict(), operators)


def may_use_app() -> bool:
    """For each page's first line (ui/navigation.py): the same decision, drawing nothing."""
    return current_access().may_use_app


def require_operator() -> bool:
    """Call in the entry script before running a page. True: this session may use the app (the sidebar says
    who is logged in, or that nobody needs to). False: the login or the refusal is drawn, and the caller
    runs no page and shows no navigation."""
    access = current_access()
    if access.verdict is Verdict.NO_LOGIN:
        st.sidebar.caption(NO_LOGIN_NOTE)
    elif access.verdict is Verdict.ADMITTED:
        st.sidebar.caption(f"Logged in as {plain(access.operator or '')}")
        st.sidebar.button("Log out", key="acedesk_logout", on_click=st.logout)
    elif access.verdict is Verdict.LOG_IN:
        _login_screen()
    else:
        _refusal(access)
    return access.may_use_app


def _login_screen() -> None:
    st.title("AceDesk")
    st.write("The club's support desk is for its operators: log in first.")
    choices = providers(auth_section())
    if not choices:
        st.error("The secrets file's [auth] section names no login provider (client_id, client_secret and "
                 "server_metadata_url, in [auth] or in [auth.NAME]).")
    for provider in choices:
        st.button(f"Log in with {provider.label}", type="primary", key=f"acedesk_login_{provider.name or ''}",
                  on_click=st.login, args=(provider.name,))


def _refusal(access: Access) -> None:
    st.title("AceDesk")
    st.error(plain(access.reason), icon=":material/block:")
    if access.logged_in:
        st.button("Log out", key="acedesk_logout", on_click=st.logout)
