"""Every page opens through dashboard.py's navigation, also when it is the first thing a freshly
started server is asked for."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager


def require_app_navigation() -> None:
    """Call first in each page script.

    Until some session has run ``st.navigation``, Streamlit treats the ``pages/`` folder as its
    legacy page list: a deep link such as ``/training`` as the first request after a start runs
    pages/training.py alone, without dashboard.py (no page config, the wrong menu). Streamlit
    keeps that switch in ``PagesManager.uses_pages_directory`` (``st.navigation`` clears it); we
    clear it too and rerun, and dashboard.py then opens the same page through its navigation.
    """
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
