"""Deciding tickets: Approve & send (the club API calls shown first, run on confirmation),
Reject (with a reason), Re-triage; and the outcomes in plain words.

The same panels serve the table (selected rows) and the detail view (one ticket); the
session says where the open one belongs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import streamlit as st

from core.settings import public_url
from support.store import TicketStore
from support.workflow import Workflow
from ui.errors import plain
from ui.inbox_common import actor
from ui.inbox_fetch import triage_with_progress
from ui.inbox_plans import (
    REJECT_REASONS,
    Outcome,
    Plan,
    approve_and_send,
    plan_approval,
    reject_tickets,
    retriage_outcome,
    send_back_to_triage,
)
from ui.inbox_rows import as_seen
from ui.inbox_session import OperatorSession

log = logging.getLogger("acedesk.inbox")
OTHER_REASON = "other (write it in the note)"
SHOW_EACH_SUCCESS = 5


def action_bar(store: TicketStore, flow: Workflow | None, session: OperatorSession) -> None:
    """The buttons for the selected rows, and the panel one of them opened."""
    ids = sorted(session.selected, reverse=True)
    columns = st.columns([1.5, 1, 1.1, 5], vertical_alignment="center")
    approve = columns[0].button(f"Approve & send ({len(ids)})", type="primary", key="inbox_approve",
                                disabled=not ids or flow is None)
    reject = columns[1].button(f"Reject ({len(ids)})", key="inbox_reject", disabled=not ids)
    retriage = columns[2].button(f"Re-triage ({len(ids)})", key="inbox_retriage", disabled=not ids)
    columns[3].caption(_hint(ids, flow))
    if approve:
        start_approval(store, flow, session, ids, "table")
    if reject:
        session.close_panel()
        session.rejecting, session.panel_from = tuple(ids), "table"
    if retriage:
        retriage_now(store, flow, session, ids)
    decision_panels(store, flow, session, "table")


def _hint(ids: list[int], flow: Workflow | None) -> str:
    if flow is None:
        return ("Approving needs the club backend: set ACEDESK_CLUB_API_URL and ACEDESK_CLUB_API_TOKEN "
                "(environment or .streamlit/secrets.toml) and reload.")
    if not ids:
        return ("Tick rows in the ✓ column. A reply can be edited in its cell (double-click); fields in the "
                "detail below.")
    return "Approve & send shows the club API calls first; nothing runs before you confirm."


def start_approval(store: TicketStore, flow: Workflow, session: OperatorSession, ids: list[int], where: str) -> None:
    session.close_panel()
    with st.spinner("Checking with the club backend…"):
        session.plans = [checked_plan(flow, store, ticket_id, session.drafts.get(ticket_id)) for ticket_id in ids]
    session.panel_from = where


def checked_plan(flow: Workflow, store: TicketStore, ticket_id: int, draft) -> Plan:
    try:
        return plan_approval(flow, store, ticket_id, draft)
    except Exception as error:  # shown as why it will not run; the traceback goes to the log
        log.exception("inbox: planning ticket %s", ticket_id)
        return Plan(ticket_id, f"#{ticket_id}", problem=f"unexpected {type(error).__name__}: {error}. Try again; "
                                                        "the server log has the details")


def decision_panels(store: TicketStore, flow: Workflow | None, session: OperatorSession, where: str) -> None:
    """The open confirmation panel, if it belongs here."""
    if session.panel_from != where:
        return
    if session.plans and flow is not None:
        approval_panel(flow, session, where)
    elif session.rejecting:
        reject_panel(session, where)


def approval_panel(flow: Workflow, session: OperatorSession, where: str) -> None:
    ready = [plan for plan in session.plans if plan.ready]
    with st.container(border=True, key=f"inbox_plans_{where}"):
        st.markdown("**Check before anything runs.** Confirming makes these club API calls and sends the replies:")
        for plan in session.plans:
            show_plan(plan, public_url(flow.api.base_url))  # the call as shown: no user:password@, no ?key=
        with st.container(horizontal=True):
            # The buttons only mark the decision: the next run carries it out before drawing the table
            st.button(f"Confirm: run and send ({len(ready)})", type="primary", key=f"inbox_confirm_{where}",
                      disabled=not ready, on_click=session.confirm)
            st.button("Cancel", key=f"inbox_cancel_{where}", on_click=session.close_panel)


def show_plan(plan: Plan, base_url: str) -> None:
    """The exact call, then the exact reply and its recipient: what is confirmed is what runs."""
    if plan.hold_reason:
        st.warning(f"**{plain(plan.label)}** will not run: {plain(as_seen(plan.hold_reason))}.", icon=":material/pause_circle:")
        return
    st.markdown(f"**{plain(plan.label)}**")
    call = plan.call
    if call is None:
        st.caption("No club API call (nothing to change at the club): the reply only.")
    else:
        st.code(as_seen(call.text(base_url)), language="http")  # a Cyrillic letter in a login, named
    st.caption(f"Then this reply goes to **{plain(as_seen(plan.reply_to))}** ({plan.reply_note}):")
    st.code(as_seen(plan.reply_text), language=None, wrap_lines=True)
    notes = [f"{note[0].upper()}{note[1:]}." for note in plan.notes]
    if plan.review:
        notes.append(f"Flagged for review: {'; '.join(plan.review)}.")
    if plan.blocking:
        notes.append(f"Override: {plan.override_reason}.")
    if notes:
        st.caption(plain(as_seen(" ".join(notes))))


def run_confirmed(store: TicketStore, flow: Workflow | None, session: OperatorSession) -> None:
    """Carries out what the operator confirmed, before the page counts and draws the tickets:
    the table then shows the outcome on the rows without a second run."""
    if not session.confirmed:
        return
    session.confirmed = False
    if session.plans and flow is not None:
        run_approvals(flow, session)
    elif session.rejecting:
        run_rejections(store, session)


def run_approvals(flow: Workflow, session: OperatorSession) -> None:
    ready = [plan for plan in session.plans if plan.ready]
    held = [Outcome(plan.ticket_id, "error", f"#{plan.ticket_id} not run: {plan.hold_reason}")
            for plan in session.plans if not plan.ready]
    outcomes = []
    progress = st.empty()
    for done, plan in enumerate(ready):
        progress.progress(done / len(ready), text=f"Approving and sending: {done} of {len(ready)} done")
        draft = session.drafts.get(plan.ticket_id)
        outcomes.append(guarded(plan.ticket_id, lambda p=plan, d=draft: approve_and_send(flow, p, d, actor())))
    progress.empty()
    session.decided(outcomes + held)


def guarded(ticket_id: int, decide: Callable[[], Outcome]) -> Outcome:
    """A decision's outcome; an unexpected error becomes one too (the traceback goes to the log)."""
    try:
        return decide()
    except Exception as error:  # the operator sees words, the server log the traceback
        log.exception("inbox: ticket %s", ticket_id)
        return Outcome(ticket_id, "error", f"#{ticket_id}: unexpected {type(error).__name__}: {error}. Its state "
                                           "is in the table; try again, the server log has the details")


def reject_panel(session: OperatorSession, where: str) -> None:
    count = len(session.rejecting)
    with st.container(border=True, key=f"inbox_rejecting_{where}"):
        st.markdown(f"**Reject {count} ticket{'s' if count != 1 else ''}:** no reply is sent and nothing changes "
                    "at the club.")
        reason_column, note_column = st.columns(2)
        reason_column.selectbox("Reason", (*REJECT_REASONS, OTHER_REASON), key=f"inbox_reason_{where}")
        note_column.text_input("Note", key=f"inbox_reason_note_{where}", placeholder="optional; required for “other”")
        if session.panel_error:
            st.error(session.panel_error)
        with st.container(horizontal=True):
            st.button(f"Confirm: reject ({count})", type="primary", key=f"inbox_reject_confirm_{where}",
                      on_click=session.confirm)
            st.button("Cancel", key=f"inbox_reject_cancel_{where}", on_click=session.close_panel)


def run_rejections(store: TicketStore, session: OperatorSession) -> None:
    """With the reason the panel's widgets sent along with the confirmation."""
    where = session.panel_from
    reason = st.session_state.get(f"inbox_reason_{where}")
    note = (st.session_state.get(f"inbox_reason_note_{where}") or "").strip()
    text = "; ".join(part for part in (None if reason == OTHER_REASON else reason, note) if part)
    if not text:
        session.panel_error = "Write the reason in the note, then confirm again."
        return
    session.decided(reject_tickets(store, session.rejecting, text, actor()))


def retriage_now(store: TicketStore, flow: Workflow | None, session: OperatorSession, ids: list[int]) -> None:
    session.close_panel()
    moved, outcomes = send_back_to_triage(store, ids, actor())
    with st.status(f"Triaging {len(moved)} again…", expanded=True):
        try:
            triage_with_progress(store, flow, moved)
        except Exception as error:  # the tickets wait in received; the worker or a fetch triages them
            log.exception("inbox: re-triage")
            outcomes.append(Outcome(None, "error", f"The model could not run ({type(error).__name__}: {error}); the "
                                                "tickets wait as received and the next fetch triages them"))
    session.decided(outcomes + [retriage_outcome(store, ticket_id) for ticket_id in moved])
    st.rerun()


def show_outcomes(session: OperatorSession) -> None:
    """The last decisions' outcomes; successes are counted once there are many."""
    if not session.outcomes:
        return
    successes = [outcome for outcome in session.outcomes if outcome.level == "success"]
    with st.container(border=True, key="inbox_outcomes"):
        if len(successes) > SHOW_EACH_SUCCESS:
            st.success(f"{len(successes)} tickets done.")
        for outcome in session.outcomes:
            if outcome.level != "success" or len(successes) <= SHOW_EACH_SUCCESS:
                {"success": st.success, "warning": st.warning, "error": st.error}[outcome.level](plain(as_seen(outcome.text)))
        st.button("Dismiss", key="inbox_dismiss", type="tertiary", on_click=session.dismiss_outcomes)
