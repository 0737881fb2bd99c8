"""A ticket's lease (support/store.py) against a wall-clock step: its live holder keeps it."""

from datetime import datetime, timedelta

from support.states import State
from support.store import TicketStore
from tests.core.test_processes import named_child
from tests.support.test_store import ref


def test_a_live_lease_holder_keeps_its_ticket_after_the_clock_steps_forward(tmp_path):
    """Its process read as created after the lease was taken, so gone: the ticket was taken over from a
    live worker and its action could run twice. A two-minute step leaves the lease itself unexpired."""
    store = TicketStore(tmp_path / "t.sqlite3")
    ticket_id = store.add_ticket(ref())
    store.record_triage(ticket_id, {"category": "other"}, [])
    store.move(ticket_id, State.APPROVED, "operator")
    with named_child() as (_, holder, _):
        assert store.claim(ticket_id, {State.APPROVED}, State.EXECUTING, holder, lease=True)
        (lease_until,) = store.db.execute("SELECT lease_until FROM tickets WHERE id=?", (ticket_id,)).fetchone()
        dated_before_the_step = (datetime.fromisoformat(lease_until) - timedelta(minutes=2)).isoformat()
        store.db.execute("UPDATE tickets SET lease_until=? WHERE id=?", (dated_before_the_step, ticket_id))
        assert not store.claim_abandoned(ticket_id, {State.EXECUTING}, "another:1")
        assert "taken_over" not in [entry.event for entry in store.audit_log(ticket_id)]
