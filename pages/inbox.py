"""The operator's inbox: fetch and triage new mail, check the model's proposals in a table, and
approve (the club API call shown first), reject or re-triage; one ticket in full below.

A correct standard ticket takes three clicks: tick its row, Approve & send, Confirm.
"""

from dataclasses import replace

import streamlit as st

from model.active import read_active
from model.schema import CATEGORIES
from ui.errors import section
from ui.inbox_actions import action_bar, run_confirmed, show_outcomes
from ui.inbox_common import new_filter, operator_session
from ui.inbox_detail import ticket_detail
from ui.inbox_fetch import auto_fetch, backend_status, connection_strip, fetch_with_progress
from ui.inbox_rows import (
    DEFAULT_PAGE_SIZE,
    PAGE_SIZES,
    VIEWS,
    InboxQuery,
    load_page,
    page_count,
    range_text,
    view_counts,
)
from ui.inbox_session import keep_drafts
from ui.inbox_table import ticket_table
from ui.navigation import require_app_navigation
from ui.resources import page_settings, promoted_fallback, workflow
from ui.resources import store as ticket_store

require_app_navigation()

title_column, fetch_column, auto_column = st.columns([5, 1.3, 1.3], vertical_alignment="bottom")
title_column.title("Inbox")
settings = page_settings()
store = ticket_store()
flow = workflow(store)
session = operator_session(store)
with section("Saving your drafts"):  # a full or busy store: said; the drafts stay unsaved, retried next run
    keep_drafts(store, session)  # what a rerun interrupted last time (the detail view's Save draft)
promoted_fallback(read_active(settings))  # the operator must know when the inbox runs another model

network_cells = None
with section("Checking the connections"):
    network_cells = connection_strip(settings, store, session)  # filled last: these checks wait on the network
fetch_clicked = fetch_column.button("Fetch new mail", icon=":material/move_to_inbox:", key="inbox_fetch",
                                    width="stretch")
auto_on = auto_column.toggle("Auto-fetch", key="inbox_auto", help="Fetch and triage new mail every minute")
with section("Fetching new mail"):
    if fetch_clicked:
        fetch_with_progress(store, settings, flow)
    if auto_on:
        auto_fetch(store, settings, flow)
with section("Carrying out the confirmed decision"):
    run_confirmed(store, flow, session)  # before the counts and the table: they show its outcome

counts = view_counts(store)
view_column, category_column, size_column = st.columns([7, 2.2, 0.9], vertical_alignment="bottom")
view = view_column.segmented_control("View", list(VIEWS), default="To do", required=True, key="inbox_view",
                                     format_func=lambda name: f"{name} {counts[name]}", on_change=new_filter)
categories = category_column.multiselect("Category", CATEGORIES, key="inbox_categories",
                                         placeholder="All categories", on_change=new_filter)
page_size = size_column.selectbox("Rows", PAGE_SIZES, index=PAGE_SIZES.index(DEFAULT_PAGE_SIZE),
                                  key="inbox_page_size", on_change=new_filter)
query = InboxQuery(view, tuple(categories), session.pinned, page_size=page_size)

decisions, table, pager = st.container(), st.container(), st.container()  # filled out of order below
with pager:
    pages_column, count_column = st.columns([2, 3], vertical_alignment="center")
    with pages_column:
        page_number = st.pagination(page_count(store, query), key="inbox_page")
page = load_page(store, replace(query, page=page_number))
count_column.caption(range_text(page, page_size))
with table, section("Showing the tickets"):
    if page.rows:
        # before the action bar: it takes this run's ticks
        ticket_table(page, session, reason_first=view in ("Needs review", "Quarantine", "Failed"))
    else:
        st.info("No tickets here. Fetch new mail, or choose another view or category.")
with section("Saving your drafts"):
    keep_drafts(store, session)  # a reply edited in the grid survives a reload or a closed tab
with decisions, section("The decision buttons"):
    action_bar(store, flow, session)
    show_outcomes(session)

st.divider()
with section("Showing the ticket"):
    ticket_detail(store, flow, session, page)
if network_cells is not None:
    with section("Checking the club backend"):
        backend_status(network_cells, settings)
