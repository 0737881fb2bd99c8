"""One ticket in full: the mail as text, its attachments and thread, the fields and the reply
(editable), why it is flagged with the override, the decisions, and the audit trail."""

from __future__ import annotations

import streamlit as st

from model.schema import CATEGORIES
from support.records import Ticket, UnreadableRow
from support.states import State
from support.store import TicketStore
from support.triage import NOT_SPLIT_FROM, NothingToSplit, also_asks_text, split_second_request
from support.workflow import NEEDS_OVERRIDE, Workflow, already_split, second_request_to_split
from ui.errors import plain
from ui.inbox_actions import decision_panels, retriage_now, start_approval
from ui.inbox_common import actor
from ui.inbox_plans import Outcome, attachments, audit_rows, reply_text
from ui.inbox_rows import APPROVABLE, InboxPage, as_seen, received_text, row_note
from ui.inbox_session import Draft, OperatorSession, field_changes
from ui.resources import review_rule

FIELD_LABELS = {"username": "Username", "booking_id": "Booking id", "member_name": "New member's name",
                "member_email": "New member's email", "new_date": "New date (YYYY-MM-DD)",
                "new_time": "New time (HH:MM)", "new_court": "New court"}
MAIL_HEIGHT = 420
MAIL_LINES = 16
"""A mail longer than this scrolls inside a box of MAIL_HEIGHT pixels."""


def ticket_detail(store: TicketStore, flow: Workflow | None, session: OperatorSession, page: InboxPage) -> None:
    labels = {row.id: _label(row.id, row.sender, row.subject) for row in page.rows}
    labels.update(_still_open(store, labels))
    chosen = st.selectbox("Open a ticket", list(labels), index=None, format_func=labels.get, key="inbox_detail",
                          placeholder="Choose a ticket on this page to read it in full, edit its fields or override")
    if chosen is None:
        return
    ticket = store.ticket(chosen)
    mail_column, decision_column = st.columns([3, 2], gap="large")
    with mail_column:
        show_mail(store, ticket)
    with decision_column:
        show_decision(store, flow, session, ticket)
    decision_panels(store, flow, session, "detail")  # full width: a call's request reads on one line
    with st.expander("Audit trail"):
        st.dataframe(audit_rows(store.audit_log(ticket.id)), hide_index=True, width="stretch")


def _label(ticket_id: int, sender: str | None, subject: str | None) -> str:
    return f"#{ticket_id} · {sender} · {subject or '(no subject)'}"


def _still_open(store: TicketStore, labels: dict[int, str]) -> dict[int, str]:
    """The opened ticket when it is no longer on this page (new mail pushed it to the next, or another
    view is shown) but still in the store: it stays open, so a reply typed into its form and then
    submitted is saved, not dropped by the choice falling back to none."""
    opened = st.session_state.get("inbox_detail")
    if not isinstance(opened, int) or opened in labels:
        return {}
    try:
        ticket = store.ticket(opened)
    except (KeyError, UnreadableRow):  # gone from the store (or unreadable): nothing to keep open
        return {}
    return {opened: f"{_label(ticket.id, as_seen(ticket.sender), as_seen(ticket.subject))} (not on this page)"}


def show_mail(store: TicketStore, ticket: Ticket) -> None:
    st.subheader(plain(as_seen(ticket.subject) or "(no subject)"), anchor=False)
    details = [f"From {plain(as_seen(ticket.sender))}", received_text(ticket), f"ticket #{ticket.id}, {ticket.state}"]
    if ticket.reply_to:
        details.append(f"Reply-To {plain(as_seen(ticket.reply_to))} (an account's reply goes to its address on file)")
    if verdict := ticket.sender_auth:
        details.append(f"sender {plain(verdict['status'].replace('_', ' '))}: {plain(verdict['reason'])}")
    st.caption(" · ".join(details))
    if ticket.state == State.QUARANTINED:
        st.error(f"Quarantined: {plain(ticket.quarantine_reason or 'the mail could not be read')}. "
                 "It can only be rejected; fix it in the mailbox if it matters.")
    # The body is text already (HTML reduced to text on arrival): shown as text, never rendered.
    body = as_seen(ticket.body) or "(no text)"
    long_mail = body.count("\n") > MAIL_LINES or len(body) > MAIL_LINES * 60
    st.code(body, language=None, wrap_lines=True, height=MAIL_HEIGHT if long_mail else "content")
    st.caption(attachment_line(ticket))
    show_thread(store, ticket)


def attachment_line(ticket: Ticket) -> str:
    names = attachments(ticket)
    if names is None:
        return ("Attachments: not stored by AceDesk (it keeps the mail's text); open the original in the mailbox "
                f"{plain(ticket.mailbox)}, UID {plain(ticket.uid)}.")
    return f"Attachments: {plain(', '.join(names))}" if names else "Attachments: none"


def show_thread(store: TicketStore, ticket: Ticket) -> None:
    """The conversation: the mails it answers or that answer it, and AceDesk's replies."""
    mails = sorted([*store.thread(ticket.id), ticket], key=lambda mail: mail.id)
    lines = []
    for mail in mails:
        this = "   ← this ticket" if mail.id == ticket.id else ""
        lines.append(f"#{mail.id:<5} in   {received_text(mail)}  {as_seen(mail.sender)}: {as_seen(mail.subject)} "
                     f"[{mail.state}]{this}")
        if reply := store.reply(mail.id):
            when = f" {reply.sent_at[:16].replace('T', ' ')}" if reply.sent_at else ""
            lines.append(f"{'':6} out  our reply, {reply.status}{when}")
    st.markdown("**Thread**")
    st.text("\n".join(lines))
    if reply := store.reply(ticket.id):
        with st.expander("Our reply, as sent"):
            st.code(reply_text(reply), language=None, wrap_lines=True)


def show_decision(store: TicketStore, flow: Workflow | None, session: OperatorSession, ticket: Ticket) -> None:
    blocking = [flag for flag in ticket.flags if flag.startswith(NEEDS_OVERRIDE)]
    review = [flag for flag in ticket.flags if flag not in blocking]
    if blocking:
        st.error("**Needs an override with a reason to be approved:**\n" + _bullets(blocking), icon=":material/flag:")
    if review:
        st.warning("**Flagged for review:**\n" + _bullets(review), icon=":material/warning:")
    if ticket.state not in NOT_SPLIT_FROM and not ticket.machine_mail:
        # after approval too: a ticket approved before approving split it off still holds its request
        split_button(store, flow, session, ticket)
    if ticket.state in APPROVABLE and not ticket.machine_mail:
        edit_form(store, flow, session, ticket)
    else:
        st.info(plain(as_seen(row_note(ticket, store.action(ticket.id))) or f"This ticket is {ticket.state}."))
    reject_column, retriage_column = st.columns(2)
    if reject_column.button("Reject…", key=f"inbox_detail_reject_{ticket.id}", width="stretch",
                            disabled=ticket.state in (State.REPLIED, State.REJECTED)):
        session.close_panel()
        session.rejecting, session.panel_from = (ticket.id,), "detail"
        st.rerun()
    if retriage_column.button("Re-triage", key=f"inbox_detail_retriage_{ticket.id}", width="stretch",
                              disabled=ticket.state not in APPROVABLE):
        retriage_now(store, flow, session, [ticket.id])


def split_button(store: TicketStore, flow: Workflow | None, session: OperatorSession, ticket: Ticket) -> None:
    """One click: the mail's second request becomes a linked ticket of its own, triaged and checked."""
    extra = second_request_to_split(ticket)
    if extra is None or already_split(store, ticket.id):
        return
    label = f"Split “{plain(as_seen(also_asks_text(extra)))}” into its own ticket"
    if st.button(label, key=f"inbox_split_{ticket.id}", icon=":material/call_split:"):
        try:
            thresholds = review_rule().thresholds
        except ValueError as error:  # a broken review_rule.json: say so, never a traceback
            st.error(f"Not split: the inbox model's review rule cannot be read ({plain(str(error))}).")
            return
        try:
            split_id = split_second_request(store, flow, ticket.id, actor(), thresholds)
        except NothingToSplit as error:  # changed since this page was drawn (another tab rejected it, re-triage)
            st.error(f"Not split: {plain(str(error))}.")
            return
        session.decided([Outcome(split_id, "success", f"#{ticket.id} split: its second request is ticket "
                                                      f"#{split_id}, triaged and checked")])
        st.rerun()


def _bullets(lines: list[str]) -> str:
    return "\n".join(f"- {plain(as_seen(line))}" for line in lines)


def edit_form(store: TicketStore, flow: Workflow | None, session: OperatorSession, ticket: Ticket) -> None:
    """The fields (category included), the reply and, for a flagged ticket, the override reason."""
    draft = session.drafts.get(ticket.id) or Draft()
    values = {**ticket.fields, **draft.fields}
    suffix = f"{ticket.id}_{session.drafts_version}"
    flagged = any(flag.startswith(NEEDS_OVERRIDE) for flag in ticket.flags)
    with st.form(f"inbox_form_{suffix}"):
        category = st.selectbox("Category", CATEGORIES, key=f"inbox_category_{suffix}",
                                index=CATEGORIES.index(values["category"]) if values.get("category") in CATEGORIES
                                else len(CATEGORIES) - 1)
        columns = st.columns(2)
        typed = {name: columns[number % 2].text_input(label, value=values.get(name) or "",
                                                      key=f"inbox_{name}_{suffix}")
                 for number, (name, label) in enumerate(FIELD_LABELS.items())}
        hidden_in = {label: as_seen(value) for name, label in FIELD_LABELS.items()
                     if (value := str(values.get(name) or "")) != as_seen(value)}
        if hidden_in:  # the box shows the value as typed; the operator must see what it holds
            st.warning("Not what it looks like: " + "; ".join(f"{label} reads {plain(seen)}"
                                                             for label, seen in hidden_in.items()),
                       icon=":material/visibility:")
        reply = st.text_area("Reply", value=draft.reply if draft.reply is not None else ticket.proposed_reply,
                             height=220, key=f"inbox_reply_{suffix}")
        # Open even when not flagged yet: edited fields can raise a flag at the check.
        override = st.text_input("Override reason (required to approve a flagged ticket)",
                                 key=f"inbox_override_{suffix}", value=draft.override_reason,
                                 placeholder="e.g. called the member, the request is genuine" if flagged else
                                 "only needed if the check flags the ticket")
        approve_column, save_column = st.columns(2)
        approve = approve_column.form_submit_button("Approve & send…", type="primary", width="stretch",
                                                    disabled=flow is None)
        save = save_column.form_submit_button("Save draft", width="stretch")
    if approve or save:
        edited_reply = None if reply.strip() == ticket.proposed_reply.strip() else reply
        session.save_draft(ticket.id, Draft(edited_reply, field_changes(ticket, {**typed, "category": category}),
                                               override.strip()))
        if approve:
            start_approval(store, flow, session, [ticket.id], "detail")
        st.rerun()
