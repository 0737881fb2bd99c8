"""The last guard before the operator's screen: an unexpected error in one part of a page shows
as a plain message (what failed, in words) and the rest of the page goes on; the traceback goes
to the server's log only (.streamlit/config.toml also sets showErrorDetails = "none")."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

log = logging.getLogger("acedesk.ui")
_MARKDOWN = re.compile(r"([\\`*_\[\]#|<>~$])")


def plain(text: str) -> str:
    """Text from a mail or an error for markdown: shown as written, never as a link, image or HTML."""
    return _MARKDOWN.sub(r"\\\1", text).replace("\n", "  \n")


@contextmanager
def section(doing: str) -> Iterator[None]:
    """Show ``doing``'s unexpected error as words; Streamlit's rerun and stop pass through."""
    try:
        yield
    except Exception as error:  # the operator sees words, the server log the traceback
        log.exception("%s failed", doing)
        message = str(error)[:300]
        st.error(f"{doing} failed: {type(error).__name__}: {plain(message)}. The rest of the page works; try "
                 "again, and if it keeps failing, the server log has the details.", icon=":material/error:")
