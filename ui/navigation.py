"""Every page opens through dashboard.py's navigation, also when it is the first thing a freshly
started server is asked for."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

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
    """
    first_run = not st.session_state.get(_OPENED)
    st.session_state[_OPENED] = True
    if PagesManager.uses_pages_directory and first_run:
        PagesManager.uses_pages_directory = False
        st.rerun()
