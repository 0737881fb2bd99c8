"""Every page opens through dashboard.py's navigation, also when it is the first thing a freshly
started server is asked for, and only for someone who may use the app (ui/auth.py)."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from ui.auth import may_use_app

_OPENED = "acedesk_session_opened"


def require_app_navigation() -> None:
    """Call first in each page script.

    Until some session has run ``st.navigation``, Streamlit treats the ``pages/`` folder as its
    legacy page list: a deep link such as ``/training`` as the first request after a start runs
    pages/training.py alone, without dashboard.py (no page config, the wrong menu). Streamlit
    keeps that switch in ``PagesManager.uses_pages_directory`` (``st.navigation`` clears it); we
    clear it too and rerun, and dashboard.py then opens the same page through its navigation.
    Only a session's first run is redirected: a later one carries widget events that a rerun
    would drop (Streamlit's AppTest re-arms the legacy switch before every run).

    Then the login, checked again here without drawing anything: dashboard.py has drawn the login
    and run no page, but a page script that runs without it (the legacy switch, flipped by another
    session between this session's start and this line) must not show a thing either.
    """
    first_run = not st.session_state.get(_OPENED)
    st.session_state[_OPENED] = True
    if PagesManager.uses_pages_directory and first_run:
        PagesManager.uses_pages_directory = False
        st.rerun()
    if not may_use_app():
        st.stop()
