"""The last guard before the operator's screen: an unexpected error in one part of a page shows
as a plain message (what failed, in words) and the rest of the page goes on; the traceback goes
to the server's log only (.streamlit/config.toml also sets showErrorDetails = "none").

``plain`` is how text from outside (a mail's subject, sender, attachment names; an error's words)
enters Streamlit's markdown: shown, and copied, as written, with nothing in it live."""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import streamlit as st
from pydantic import ValidationError

from core.settings import PREFIX

log = logging.getLogger("acedesk.ui")

TEXT_BREAK = ":small[]"
"""Streamlit's ``:small[…]`` directive, empty: an empty ``<span>``, so it shows nothing and a copy of the
text carries nothing of it, but it ends markdown's text node there (see ``plain``)."""
LINE_BREAK = " ⏎ "
"""What a line break in one-line text becomes: visible, and no markdown block can start after it."""
_NEWLINE = re.compile(r"\r\n|\r|\n")
_PUNCTUATION = frozenset(string.punctuation)
"""ASCII punctuation: CommonMark shows any of it backslash-escaped as the character itself."""
_BREAK_AFTER = frozenset(":@-<>~")
"""``:x:`` shortcodes, ``http://`` and ``a@b.example`` autolinks, and Streamlit's typographic
replacements (``->``, ``<-``, ``--``, ``>=``, ``<=``, ``~=``) each need one of these followed by more text."""
_BREAK_BEFORE = frozenset(".")
"""``www.`` autolinks need the dot in the same text node as the ``www``."""


def plain(text: str) -> str:
    """Text from a mail or an error for markdown, on one line: shown as written, nothing in it live.

    Every ASCII punctuation character is backslash-escaped, so no markdown construct can form
    (emphasis, links, images, HTML, tables, math, ``:color[…]`` directives, lists and quotes). Line
    breaks become `` ⏎ `` so no block (a ``---`` rule, a heading underline, a list) can start. That is
    not enough for what Streamlit and GFM find in the *text* once the escapes are read — literal
    autolinks (``http://…``, ``www.…``, ``a@b.example``), ``:emoji:`` and ``:material_icon:``
    shortcodes, ``->`` turned into an arrow — so a ``TEXT_BREAK`` ends the text node after each
    ``:``, ``@``, ``-``, ``<``, ``>`` and ``~`` and before each ``.``: none of those patterns can
    match across it. The operator reads, and copies, the text unchanged: no invisible character
    (a zero-width space did the same, but a copied address or login then carried it)."""
    one_line = _NEWLINE.sub(LINE_BREAK, text)
    return "".join(_escaped(char) for char in one_line)


def _escaped(char: str) -> str:
    if char not in _PUNCTUATION:
        return char
    return (TEXT_BREAK if char in _BREAK_BEFORE else "") + f"\\{char}" + (TEXT_BREAK if char in _BREAK_AFTER else "")


def setting_problem(problem: ValueError) -> str:
    """Which setting is wrong and why, in words, never its value: pydantic's own message quotes the
    input (the whole settings, passwords included, for a rule between two settings; a secret written
    as a number). Not escaped: pass it through ``plain``."""
    if not isinstance(problem, ValidationError):
        return str(problem)
    reasons = []
    for error in problem.errors(include_url=False, include_context=False, include_input=False):
        reason = error["msg"].removeprefix("Value error, ")
        place = error["loc"]
        if len(place) == 1 and isinstance(place[0], str):
            reasons.append(f"{PREFIX}{place[0].upper()}: {reason}")
        else:
            reasons.append(f"{'.'.join(map(str, place))}: {reason}" if place else reason)
    return "; ".join(reasons)


def wrong_setting(problem: ValueError) -> NoReturn:
    """A page that cannot read its settings says which one is wrong (never a traceback) and stops."""
    log.warning("a wrong setting: %s", setting_problem(problem))
    st.error(f"A setting is wrong: {plain(setting_problem(problem))}. Fix it in the environment or "
             ".streamlit/secrets.toml, then reload.", icon=":material/settings:")
    st.stop()


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
