"""Fetching new mail with progress (N of M triaged), the optional auto-fetch, and the state of
the connections (IMAP or the mail folder, SMTP or the outbox, the club backend)."""

from __future__ import annotations

import time

import streamlit as st

from core.settings import Settings
from integrations.connections import Connection, probe_imap, probe_smtp
from integrations.imap_mailbox import ImapSettings, ImapUnavailable
from integrations.mail_sending import SmtpSettings
from support.corrections import agreement_warning
from support.intake import NoMailSource, fetch_new_mail
from support.store import TicketStore
from support.triage import triage_slice, triage_tickets
from support.workflow import Workflow
from ui.errors import plain, section
from ui.inbox_common import operator_session
from ui.inbox_connections import (
    backend_connection,
    mail_in_connection,
    mail_out_connection,
    model_connection,
    worker_connection,
)
from ui.inbox_session import OperatorSession
from ui.resources import fetch_lock, triager

AUTO_FETCH_SECONDS = 60
# Streamlit's own icon font: emoji depend on the operator's system fonts, these do not.
ICONS = {"ok": ":green[:material/check_circle:]", "down": ":red[:material/error:]",
         "unchecked": ":gray[:material/help:]", "off": ":gray[:material/block:]"}


def fetch_with_progress(store: TicketStore, settings: Settings, flow: Workflow | None) -> None:
    """Fetch, then triage everything received, in a status box with a progress bar."""
    if not fetch_lock().acquire(blocking=False):
        st.info("Another session is fetching mail right now: its tickets appear here when it is done. "
                "Reload the page in a moment.")
        return
    try:
        with st.status("Fetching new mail…", expanded=True) as status:
            try:
                new = fetch_new_mail(store, settings)
            except (NoMailSource, ImapUnavailable) as error:
                status.update(label="No mail fetched", state="error")
                st.error(f"{error}. Check the mail settings, then try again.")
                return
            status.write(f"{new} new mail{'s' if new != 1 else ''}.")
            ids, waiting = triage_slice(store)
            with section("Triage"):
                triage_with_progress(store, flow, ids)
            later = f"; {waiting} more wait for the next fetch or the worker" if waiting else ""
            status.update(label=f"Fetched {new} new mail{'s' if new != 1 else ''}, triaged {len(ids)}{later}",
                          state="complete", expanded=False)
    finally:
        fetch_lock().release()


def triage_with_progress(store: TicketStore, flow: Workflow | None, ticket_ids: list[int]) -> None:
    if not ticket_ids:
        return
    bar = st.progress(0.0, text=f"Triaging 0 of {len(ticket_ids)}…")
    model = triager()
    for done in triage_tickets(store, model, flow, ticket_ids):
        bar.progress(done / len(ticket_ids), text=f"Triaged {done} of {len(ticket_ids)}")


@st.fragment(run_every=AUTO_FETCH_SECONDS)
def auto_fetch(store: TicketStore, settings: Settings, flow: Workflow | None) -> None:
    """Fetches once a minute while the toggle is on; reruns the page only when mail came in
    (a rerun for nothing would interrupt the operator's typing)."""
    session = operator_session()
    if time.monotonic() - session.last_auto_fetch >= AUTO_FETCH_SECONDS - 5:
        session.last_auto_fetch = time.monotonic()
        new = _quiet_fetch(store, settings, flow, session)
        if new:
            st.rerun(scope="app")
    st.caption(session.auto_fetch_note)


def _quiet_fetch(store: TicketStore, settings: Settings, flow: Workflow | None,
                 session: OperatorSession) -> int:
    if not fetch_lock().acquire(blocking=False):
        return 0  # another session is fetching: its tickets show on the next rerun
    try:
        new = fetch_new_mail(store, settings)
        triage_with_progress(store, flow, triage_slice(store)[0])
    except (NoMailSource, ImapUnavailable) as error:
        session.auto_fetch_note = f"Auto-fetch at {time.strftime('%H:%M')}: {error}"
        return 0
    finally:
        fetch_lock().release()
    session.auto_fetch_note = f"Auto-fetch at {time.strftime('%H:%M')}: {new} new"
    return new


@st.cache_data(ttl=30, show_spinner=False)
def _backend_connection(url: str | None, _settings: Settings) -> Connection:
    return backend_connection(_settings)


@st.cache_data(ttl=30, show_spinner=False)
def _model_connection(url: str | None, _settings: Settings) -> Connection:
    # the name the inbox's triage asks the server for: a server started for another adapter is down for it
    return model_connection(_settings, getattr(triager(), "model", None) if url else None)


def connection_strip(settings: Settings, store: TicketStore, session: OperatorSession) -> list:
    """The connections in one row — the worker, the club backend, mail in and out, and the model
    server when triage goes to one — and a button that tries the mail servers' logins. Returns the
    cells whose checks wait on the network (backend, model server) for ``backend_status``: the
    page fills them last, and the row is already laid out then (nothing below it moves)."""
    widths = [3, 3, 3, 3] + ([3] if settings.model_url else []) + [0.4]
    worker_cell, backend_cell, mail_in_cell, mail_out_cell, *model_cells, button_cell = st.columns(
        widths, vertical_alignment="center")
    _show(worker_cell, worker_connection(store))
    for cell, connection in ((mail_in_cell, mail_in_connection(settings)),
                             (mail_out_cell, mail_out_connection(settings))):
        _show(cell, session.probes.get(connection.name, connection))
    if button_cell.button("", icon=":material/refresh:", key="inbox_probe", type="tertiary",
                          help="Check the connections now (logs in to IMAP and SMTP, sends nothing)"):
        imap, smtp = ImapSettings.from_settings(settings), SmtpSettings.from_settings(settings)
        probes = [probe_imap(imap) if imap else None, probe_smtp(smtp) if smtp else None]
        session.probes = {probe.name: probe for probe in probes if probe is not None}
        _backend_connection.clear()
        _model_connection.clear()
        st.rerun()
    agreement_line(settings, store)
    return [backend_cell, *model_cells]


def agreement_line(settings: Settings, store: TicketStore) -> None:
    """One warning under the strip while the operator corrects the model more often than
    ACEDESK_AGREEMENT_ALERT allows (support/corrections.py; the Active model page says where)."""
    if warning := agreement_warning(store, settings.agreement_alert, settings.agreement_min_decisions):
        st.warning(warning, icon=":material/trending_down:")


def backend_status(cells: list, settings: Settings) -> None:
    """Fill the cells ``connection_strip`` left for the checks that wait on the network."""
    backend_cell, *model_cells = cells
    _show(backend_cell, _backend_connection(settings.club_api_url, settings))
    for cell in model_cells:
        _show(cell, _model_connection(settings.model_url, settings))


def _show(cell, connection: Connection) -> None:
    cell.caption(f"{ICONS[connection.state]} **{connection.name}** · {plain(connection.text)}")
