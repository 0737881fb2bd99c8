"""The inbox's table: one page of tickets in an ``st.data_editor``, with a tick box to select a
row and the proposed reply editable in place.

The editor's own state lists edits by row position. Its key therefore names the tickets it
shows: when new mail or a page change puts other tickets in those positions, the editor
starts afresh from the drafts (kept by ticket id) instead of moving an edit to another ticket.
While the rows stay the same, so does the editor's data (``OperatorSession.table_data``).
"""

from __future__ import annotations

import hashlib

import streamlit as st

from ui.inbox_rows import EDITABLE_COLUMNS, TABLE_COLUMNS, InboxPage, grid_changes, table_frame
from ui.inbox_session import OperatorSession

ROW_HEIGHT = 35
VISIBLE_ROWS = 15

COLUMNS = {
    "Select": st.column_config.CheckboxColumn("✓", width=36, pinned=True,
                                              help="Select for Approve & send, Reject or Re-triage"),
    "Received": st.column_config.TextColumn("Received", width=92),
    "From": st.column_config.TextColumn("From", width=200, help="The full From address, and the Reply-To if any"),
    "Subject": st.column_config.TextColumn("Subject", width=150),
    "Category": st.column_config.TextColumn("Category", width=112),
    "Confidence": st.column_config.NumberColumn("Conf.", format="%d%%", width=52,
                                                help="The model's confidence in the category"),
    "Booking": st.column_config.TextColumn("Booking", width=78),
    "Username": st.column_config.TextColumn("Username", width=92),
    "Flags": st.column_config.ListColumn("Flags", width=140),
    "Reply": st.column_config.TextColumn("Reply (double-click to edit)", width=320,
                                         help="What the member gets; longer edits in the ticket's detail below"),
    "State": st.column_config.TextColumn("State", width=96),
    "Note": st.column_config.TextColumn("Outcome / reason", width=320),
}


REASON_FIRST = [*TABLE_COLUMNS[:4], "Note", *(name for name in TABLE_COLUMNS[4:] if name != "Note")]


def table_key(page: InboxPage, session: OperatorSession) -> str:
    ids = ",".join(str(row.id) for row in page.rows)
    return f"inbox_table_{hashlib.sha1(f'{ids}|{session.table_version}'.encode()).hexdigest()[:12]}"


def ticket_table(page: InboxPage, session: OperatorSession, reason_first: bool = False) -> None:
    """Shows the page and takes the operator's ticks and reply edits into the session.
    ``reason_first``: the queues (needs review, quarantine, failed) show why right after the subject."""
    key = table_key(page, session)
    rows = f"{key}|{hashlib.sha1(repr(page.rows).encode()).hexdigest()}"  # the tickets and all they show
    drawn_selected, drawn_drafts = session.table_data(rows)
    height = ROW_HEIGHT * (min(len(page.rows), VISIBLE_ROWS) + 1) + 3
    edited = st.data_editor(
        table_frame(page.rows, drawn_drafts, drawn_selected), key=key, height=height, width="stretch", num_rows="fixed",
        column_config=COLUMNS, disabled=[name for name in TABLE_COLUMNS if name not in EDITABLE_COLUMNS],
        column_order=REASON_FIRST if reason_first else None, row_height=ROW_HEIGHT)
    proposed = {row.id: row.reply for row in page.rows}
    before = table_frame(page.rows, session.drafts, session.selected)  # what is new is what differs from this
    session.take_table_edits(rows, *grid_changes(before, edited, proposed))
