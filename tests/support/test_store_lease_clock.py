"""A ticket's lease (support/store.py) against a wall-clock step: its live holder keeps it, and a hung
holder still loses it after LEASE_S. The machine's clock cannot be stepped in a test: the store's
wall-clock and boot-clock readings are moved instead."""

from datetime import datetime, timedelta

import support.store as store_module
from support.states import State
from support.store import LEASE_S, TicketStore
from tests.core.test_processes import named_child
from tests.support.test_store import ref

AN_HOUR = 3600


def executing(store: TicketStore, holder: str) -> int:
    """A ticket ``holder`` claimed for executing, with a lease."""
    ticket_id = store.add_ticket(ref())
    store.record_triage(ticket_id, {"category": "other"}, [])
    store.move(ticket_id, State.APPROVED, "operator")
    assert store.claim(ticket_id, {State.APPROVED}, State.EXECUTING, holder, lease=True)
    return ticket_id


def taken_over(store: TicketStore, ticket_id: int) -> bool:
    return "taken_over" in [entry.event for entry in store.audit_log(ticket_id)]


def step_wall_clock(monkeypatch, step_s: float) -> None:
    real_now = store_module._now
    monkeypatch.setattr(store_module, "_now", lambda offset_s=0: real_now(offset_s + step_s))


def test_a_live_lease_holder_keeps_its_ticket_after_the_clock_steps_forward(tmp_path):
    """Its process read as created after the lease was taken, so gone: the ticket was taken over from a
    live worker and its action could run twice. A two-minute step leaves the lease itself unexpired."""
    store = TicketStore(tmp_path / "t.sqlite3")
    with named_child() as (_, holder, _):
        ticket_id = executing(store, holder)
        (lease_until,) = store.db.execute("SELECT lease_until FROM tickets WHERE id=?", (ticket_id,)).fetchone()
        dated_before_the_step = (datetime.fromisoformat(lease_until) - timedelta(minutes=2)).isoformat()
        store.db.execute("UPDATE tickets SET lease_until=? WHERE id=?", (dated_before_the_step, ticket_id))
        assert not store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")
        assert not taken_over(store, ticket_id)


def test_a_live_lease_holder_keeps_its_ticket_after_the_clock_steps_forward_past_its_lease(tmp_path, monkeypatch):
    """By the wall clock its lease ran out an hour ago the moment the clock stepped: another worker took
    the ticket over and executed it beside its live holder (two executors in the reply path and the audit
    log). Its deadline on the boot clock, which no step moves, is still ahead."""
    store = TicketStore(tmp_path / "t.sqlite3")
    with named_child() as (_, holder, _):
        ticket_id = executing(store, holder)
        step_wall_clock(monkeypatch, AN_HOUR)
        assert not store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")
        assert not taken_over(store, ticket_id)


def test_a_live_holder_hung_past_its_lease_by_the_boot_clock_is_taken_over_though_the_clock_stepped_back(
        tmp_path, monkeypatch):
    """What the lease is for: a holder that hangs (its process runs, its work does not) gives the ticket up
    after LEASE_S. The wall clock stepped back an hour meanwhile, so by it the lease has most of an hour
    left; by the boot clock it ran out."""
    store = TicketStore(tmp_path / "t.sqlite3")
    with named_child() as (_, holder, _):
        ticket_id = executing(store, holder)
        hung_for = LEASE_S + 1
        real_boot_clock = store_module._boot_clock
        monkeypatch.setattr(store_module, "_boot_clock", lambda: real_boot_clock() + hung_for)
        step_wall_clock(monkeypatch, hung_for - AN_HOUR)
        assert store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")
        assert taken_over(store, ticket_id)


def test_a_lease_without_a_boot_clock_deadline_still_runs_out_by_the_wall_clock(tmp_path, monkeypatch):
    """Guard: a lease an older version took (no deadline on the boot clock), or one of another machine,
    keeps the wall-clock rule."""
    store = TicketStore(tmp_path / "t.sqlite3")
    with named_child() as (_, holder, _):
        ticket_id = executing(store, holder)
        store.db.execute("UPDATE tickets SET lease_until_boot=NULL WHERE id=?", (ticket_id,))
        assert not store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")
        step_wall_clock(monkeypatch, LEASE_S + 1)
        assert store.claim_abandoned(ticket_id, {State.EXECUTING}, "elsewhere:1")
        assert taken_over(store, ticket_id)
        assert not store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")  # elsewhere's lease holds
        step_wall_clock(monkeypatch, 2 * (LEASE_S + 1))
        assert store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")
