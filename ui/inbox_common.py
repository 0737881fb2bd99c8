"""What the inbox's widgets share: the operator's session, and who the operator is."""

from __future__ import annotations

import streamlit as st

from support.store import TicketStore
from ui.auth import actor_for, current_access
from ui.inbox_session import OperatorSession, saved_drafts


def actor() -> str:
    """Who decides, for the audit log of approvals, rejections and re-triage: the logged-in operator's
    e-mail address, or "operator" when the app has no login (ui/auth.py)."""
    return actor_for(current_access())


def operator_session(store: TicketStore | None = None) -> OperatorSession:
    """This browser session's work in progress; a new one (after a reload) starts from the
    drafts kept in ``store``."""
    if "inbox" not in st.session_state:
        st.session_state["inbox"] = OperatorSession(drafts=saved_drafts(store) if store else {})
    return st.session_state["inbox"]


def new_filter() -> None:
    """Another view or category: back to the first page; what was pinned there is not pinned here."""
    operator_session().new_filter()
    st.session_state.pop("inbox_page", None)
