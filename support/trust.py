"""What the desk trusts about who wrote: the receiving MX's verdict on the sender, and the
tricks a From or Reply-To can play. The rules for an action that changes an existing account
(a password reset, a cancellation, a move):

- with sender authentication on (``ACEDESK_TRUSTED_AUTHSERV_ID``), a From the club's own MX did
  not verify (integrations/sender_auth.py) is flagged *sender not authenticated*: it needs an
  operator's override with a reason;
- with it off, the ticket shows *sender unverified*: visible, not blocking;
- a Reply-To elsewhere is flagged, and the reply goes to the account's address on file anyway;
- a From that does not plainly name one mailbox (two From fields or addresses, none, a malformed
  field, a group) is flagged *sender does not match account* also with authentication off: its
  sender is not established to be the account's, whichever address Python's parser would pick;
- a sender address that only looks like the account's (``examp1e.org``) is said so.

An invitation's requester is the member the From names only where that From is established: with
authentication on and the From not verified, the request is flagged *sender not authenticated*
(before: a forged member's From had an outsider invited, Ready, recorded as that member's request
and confirmed to her). A reply only (no action) that would go to a Reply-To elsewhere is flagged:
a forged member's From with a Reply-To of the sender's own had a question about "my next booking"
Ready to be answered to them.

Anyone can write any From: these are evidence for the operator, who still judges the request.
"""

from __future__ import annotations

from dataclasses import dataclass

from integrations.sender_auth import address_tricks, looks_alike, sender_address
from support.actions import MOVE_HORIZON_DAYS, SENDER_MISMATCH
from support.records import Ticket

SENDER_NOT_AUTHENTICATED = "sender not authenticated"
"""Prefix of the flag that makes an account action need an override with a reason."""
SENDER_UNVERIFIED = "sender unverified: sender authentication is off (set ACEDESK_TRUSTED_AUTHSERV_ID)"


@dataclass(frozen=True)
class TrustPolicy:
    authentication_on: bool = False
    """ACEDESK_TRUSTED_AUTHSERV_ID is set: the club's MX's verdicts count."""
    self_service_signup: bool = False
    """A non-member may ask for an invitation for themselves without review."""
    move_horizon_days: int = MOVE_HORIZON_DAYS
    """A booking move further ahead than this many days goes to review (ACEDESK_MOVE_HORIZON_DAYS)."""


def account_action_findings(ticket: Ticket, account_email: str | None,
                            policy: TrustPolicy) -> tuple[list[str], list[str]]:
    """(flags, notes) for an action on an existing account: flags make it need review (or an
    override), notes are shown and block nothing."""
    flags, notes = _authentication(ticket, policy)
    verdict = ticket.sender_auth or {}
    if not policy.authentication_on and verdict.get("from_problem"):  # with it on, such a From never verifies
        flags.append(f"{SENDER_MISMATCH}: {verdict['from_problem']}")
    flags += _reply_to_elsewhere(ticket, "the reply goes to the account's address on file")
    sender = sender_address(ticket.sender)
    if account_email and sender and sender != account_email.lower():
        sender_domain, account_domain = sender.rpartition("@")[2], account_email.lower().rpartition("@")[2]
        if sender_domain != account_domain and looks_alike(sender_domain, account_domain):
            flags.append(f"the sender's domain {sender_domain} looks like the account's {account_domain}")
    return flags, notes


def invitation_findings(ticket: Ticket, requester_found: bool, policy: TrustPolicy) -> tuple[list[str], list[str]]:
    """(flags, notes) for an invitation: the requester the From names (``requester_found``: a
    member has that address) counts only where the club's MX verified the From."""
    if not requester_found:  # a non-member's request: the action's own check decides (self-service sign-up)
        return [], []
    return _authentication(ticket, policy, " (the request is recorded as the member's, and confirmed to them, "
                                           "only if they wrote it)")


def reply_only_findings(ticket: Ticket) -> list[str]:
    """Flags for a reply with no action: a Reply-To elsewhere is where it would go."""
    return _reply_to_elsewhere(ticket, "a reply only goes there: check that it is the member's before telling it "
                                       "anything")


def _authentication(ticket: Ticket, policy: TrustPolicy, why: str = "") -> tuple[list[str], list[str]]:
    """(flags, notes) on the MX's verdict: off, a note; a From it did not verify, the override flag."""
    if not policy.authentication_on:
        return [], [SENDER_UNVERIFIED]
    verdict = ticket.sender_auth or {}
    if verdict.get("status") != "verified":
        return [f"{SENDER_NOT_AUTHENTICATED}: {verdict.get('reason') or 'no verdict from the club MX'}{why}"], []
    return [], []


def _reply_to_elsewhere(ticket: Ticket, consequence: str) -> list[str]:
    return [f"{trick} ({consequence})"
            for trick in address_tricks(ticket.sender, ticket.reply_to) if trick.startswith("replies would go")]
