"""What the inbox's widgets share: the operator's session, plain-words errors, safe text."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from support.store import TicketStore
from ui.inbox_session import OperatorSession, saved_drafts

log = logging.getLogger("acedesk.inbox")
ACTOR = "operator"
_MARKDOWN = re.compile(r"([\\`*_\[\]#|<>~$])")


def operator_session(store: TicketStore | None = None) -> OperatorSession:
    """This browser session's work in progress; a new one (after a reload) starts from the
    drafts kept in ``store``."""
    if "inbox" not in st.session_state:
        st.session_state["inbox"] = OperatorSession(drafts=saved_drafts(store) if store else {})
    return st.session_state["inbox"]


def plain(text: str) -> str:
    """Mail text for markdown: shown as written, never as a link, image or HTML."""
    return _MARKDOWN.sub(r"\\\1", text).replace("\n", "  \n")


@contextmanager
def plain_errors(doing: str) -> Iterator[None]:
    """An unexpected error while ``doing`` shows as words with the next step, never as a
    traceback (that goes to the server log). Streamlit's rerun and stop pass through."""
    try:
        yield
    except Exception as error:  # the last guard before the operator's screen
        log.exception("inbox: %s failed", doing)
        st.error(f"{doing} failed: {type(error).__name__}: {error}. The tickets keep the state the table "
                 "shows; try again, and if it keeps failing, the server log has the details.")


def new_filter() -> None:
    """Another view or category: back to the first page; what was pinned there is not pinned here."""
    operator_session().new_filter()
    st.session_state.pop("inbox_page", None)
