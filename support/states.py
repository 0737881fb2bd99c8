"""Ticket states and the moves allowed between them.

received → triaged → (needs_review) → approved → executing → executed → replied,
plus rejected, failed (retryable, with a reason) and quarantined (the mail could not be read).
An operator may send a triaged, needs_review or failed ticket back to received to have it
triaged again; TicketStore.retriage refuses a failed one that has an action or a reply.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    RECEIVED = "received"
    TRIAGED = "triaged"
    NEEDS_REVIEW = "needs_review"
    APPROVED = "approved"
    EXECUTING = "executing"
    EXECUTED = "executed"
    REPLIED = "replied"
    REJECTED = "rejected"
    FAILED = "failed"
    QUARANTINED = "quarantined"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.RECEIVED: frozenset({State.TRIAGED, State.NEEDS_REVIEW, State.QUARANTINED}),
    State.TRIAGED: frozenset({State.APPROVED, State.REJECTED, State.NEEDS_REVIEW, State.RECEIVED}),
    State.NEEDS_REVIEW: frozenset({State.APPROVED, State.REJECTED, State.RECEIVED}),
    State.APPROVED: frozenset({State.EXECUTING, State.REJECTED}),
    State.EXECUTING: frozenset({State.EXECUTED, State.FAILED}),
    State.EXECUTED: frozenset({State.REPLIED, State.FAILED}),
    # retry, give up, or (before any action) triage again
    State.FAILED: frozenset({State.EXECUTING, State.APPROVED, State.REJECTED, State.RECEIVED}),
    State.REPLIED: frozenset(),
    State.REJECTED: frozenset(),
    State.QUARANTINED: frozenset({State.RECEIVED}),  # an operator may retry a fixed mail
}


class TransitionError(ValueError):
    """A ticket was asked to move where its state does not allow."""


def check_transition(current: State, target: State) -> None:
    if target not in TRANSITIONS[current]:
        raise TransitionError(f"a {current} ticket cannot become {target}")
