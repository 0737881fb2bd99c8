"""From an operator's approval to the member's reply, one persisted step at a time.

    approved -> executing -> (backend call) -> executed -> (reply stored, sent) -> replied

Every step is written to the store before the next begins, and every side effect is made
safe to repeat, so ``resume()`` after a crash anywhere completes the ticket with exactly one
backend effect and one reply:

- the backend call's idempotency key is stored before the call; a retry sends the same key
  and the backend replays its first answer instead of acting twice;
- the reply (with its Message-ID) is stored before it is sent, and claimed (prepared ->
  sending) by one sender only, and a reply left in ``sending`` is never sent again by another
  process: a crash after the mail server may have taken it leaves the ticket failed with
  "delivery unknown" for a person to decide;
- every process works on a ticket under a lease: of several workers and the app, one executes
  a ticket, and another takes it over only once the lease has run out (its holder died);
- a step that fails on a ticket (the backend away, the mail server away, an unexpected error)
  is counted; after three the ticket is parked as failed, never retried by itself again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from email import message_from_bytes
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr
from typing import Protocol

from core.mail import MailRef
from core.processes import process_name
from integrations.club_api import ClubApi, ClubApiError, ClubApiUnavailable, Member
from integrations.imap_mailbox import ImapUnavailable
from integrations.mail_sending import (
    MAIL_POLICY,
    MailDeliveryUnknown,
    MailSender,
    MailSendError,
    OriginalMail,
    build_reply,
    can_reply_to,
    message_bytes,
)
from integrations.sender_auth import address_key, sole_mailbox
from model.review import DEFAULT_RULE, ReviewThresholds
from support.actions import (
    SENDER_MISMATCH,
    Action,
    ActionProblem,
    check_action,
    club_domain_findings,
    plan_action,
    run_action,
)
from support.outcome_replies import edited_reply_problem, proposed_reply_problem, refusal_reply, success_reply
from support.records import ActionRecord, Ticket
from support.safety import REASON_PREFIX, mail_injection_reason
from support.states import State
from support.store import PARK_AFTER_FAILURES, TicketStore
from support.trust import (
    SENDER_NOT_AUTHENTICATED,
    TrustPolicy,
    account_action_findings,
    invitation_findings,
    reply_only_findings,
)

log = logging.getLogger(__name__)

NEEDS_OVERRIDE = (SENDER_MISMATCH, SENDER_NOT_AUTHENTICATED, REASON_PREFIX)
"""Flags that only an operator's override, with a reason, lets through."""
CHECK_THE_SENT_FOLDER = ("check the outbox or the Sent folder, then reject the ticket if it went out, or approve "
                         "it again to send the reply (once more)")
DELIVERY_UNKNOWN = f"the reply may have gone out before a crash: {CHECK_THE_SENT_FOLDER}"
ADDRESS_ON_FILE_CHANGED = ("the reply was not sent: {username}'s address on file {now}, not {then} as approved: "
                           "approve it again to send it to the address the club has now")
EXECUTE = "execute"
"""The step whose failures are counted (and park a ticket after three)."""
FILE_REPLY = "file_reply"
"""The step after a reply is sent: the original flagged \\Answered, a copy filed in Sent."""
FILING_GIVEN_UP = (f"the reply was sent, but filing it in Sent and flagging the original \\Answered was given up after "
                   f"{PARK_AFTER_FAILURES} tries (each failed, or the process stopped while filing): file it by hand")


@dataclass(frozen=True)
class Check:
    """What approving a ticket as it stands would do, checked against the backend now."""

    action: Action | None
    """The backend call (None: a reply only)."""
    flags: list[str]
    """Why a person must look; those starting with NEEDS_OVERRIDE need an override with a reason."""
    recipient: str
    """Where the reply goes: an account action's member at their address on file, never a
    Reply-To; an invitation's requester; otherwise the Reply-To or the From."""
    notes: list[str] = field(default_factory=list)
    """Shown beside the decision, blocking nothing (e.g. sender authentication is off)."""
    member: Member | None = None
    """The member whose address on file ``recipient`` is (None: no account decides where it goes)."""

    @property
    def blocking(self) -> list[str]:
        return [flag for flag in self.flags if flag.startswith(NEEDS_OVERRIDE)]


@dataclass(frozen=True)
class Shown:
    """What the operator was shown and confirmed: approving runs exactly this, or nothing."""

    action: Action | None
    recipient: str
    reply: str
    """The reply as ``Workflow.reply_preview`` showed it."""


CHANGED_SINCE_SHOWN = "the call or the reply changed since it was shown (the club's records, or the ticket " \
                      "triaged again meanwhile): approve it again to see the new one"


def approval_edits(ticket: Ticket, reply: str | None, fields: dict | None) -> dict:
    """The operator's edits as an approval stores them: a reply that only restates the proposal is
    no edit (the club's template then says what the backend confirmed)."""
    edits = {"fields": fields} if fields else {}
    if reply is not None and reply.strip() != (ticket.triage or {}).get("response", "").strip():
        edits["reply"] = reply.strip()
    return edits


def second_request_to_split(ticket: Ticket) -> dict | None:
    """The second request of the ticket's mail that approving it (with its edits) splits off, or None:
    it has none, or the operator's edits made this ticket that request (splitting it would ask the
    club for it twice)."""
    extra = (ticket.triage or {}).get("second_request")
    if not extra:
        return None
    approved = ticket.fields
    named = extra.get("booking_id") or extra.get("username")
    if approved.get("category") == extra["category"] and named in (approved.get("booking_id"),
                                                                  approved.get("username")):
        return None
    return extra


def already_split(store: TicketStore, ticket_id: int) -> bool:
    """Whether the ticket's second request is a ticket of its own already (support.store.add_split)."""
    return any(entry.event == "split" for entry in store.audit_log(ticket_id))


class NeedsOverride(PermissionError):
    """The ticket is flagged; executing it needs an explicit operator override with a reason."""


class ReplyMailbox(Protocol):
    """The IMAP side of answering (integrations.imap_mailbox.ImapReplyFiling): flag the
    original \\Answered (exactly the mail ``original`` names, never another with its Message-ID),
    keep a copy in Sent. Must be safe to repeat."""

    def after_reply(self, original: MailRef, raw_reply: bytes, reply_message_id: str) -> None: ...


def _no_crash(step: str) -> None:
    """Tests replace this to simulate a crash between two steps."""


def reply_address(ticket: Ticket) -> str:
    """Where a reply that no account's address decides goes: the mail's Reply-To (flagged at intake
    when it is not the sender), else the From's one address. Where the From holds several, a Reply-To
    counts only when it is flagged as going elsewhere: one naming an address of that From is not
    flagged, and intake stores the From's first address as the Reply-To of one that names none
    (``anna@x <b@y>`` with ``Reply-To: nobody`` was answered to anna@x, whom the From only shows)."""
    if ticket.reply_to and (sole_mailbox(ticket.sender) is not None or reply_only_findings(ticket)):
        return ticket.reply_to
    return sole_sender(ticket)


def sole_sender(ticket: Ticket) -> str:
    """The From's address when it holds exactly one; ActionProblem otherwise. The reply is built
    from this address alone, so the confirmation and the sent mail cannot name different ones (the
    first of several addresses is the one a mail client may not show as the sender)."""
    mailbox = sole_mailbox(ticket.sender)
    if mailbox is None:
        raise ActionProblem(f"the From ({ticket.sender}) holds no single address to answer: reply from your own "
                            "mail client and reject the ticket")
    return mailbox_text(mailbox.display_name, mailbox.address)



def mailbox_text(name: str, address: str) -> str:
    """A recipient as the confirmation shows it and the reply reads it: ``"Berg, Anna" <a@x>``, a name
    or an international domain (``anna@bücher.example``) as written. ``formataddr`` refused a non-ASCII
    address (a UnicodeEncodeError: no such member could be answered) and showed a non-ASCII name as
    an encoded word (``=?utf-8?b?SsO2cmc=?=``); the reply writes the domain in its IDNA form. An address
    the email package will not take as an ``Address`` (``a..b@x.example``, a final dot) is written as
    ``formataddr`` always wrote it, so the ticket is still checked (and refused at sending, if it must be)."""
    try:
        return str(Address(display_name=name, addr_spec=address))
    except (ValueError, HeaderParseError):  # InvalidHeaderDefect is a ValueError
        return formataddr((name, address)) if address.isascii() else address


class Workflow:
    def __init__(self, store: TicketStore, api: ClubApi, sender: MailSender, *, from_address: str,
                 mailbox: ReplyMailbox | None = None, checkpoint: Callable[[str], None] = _no_crash,
                 worker: str | None = None, trust: TrustPolicy | None = None,
                 review_thresholds: ReviewThresholds = DEFAULT_RULE.thresholds):
        self.store, self.api, self.sender, self.mailbox = store, api, sender, mailbox
        self.trust = trust or TrustPolicy()
        self.review_thresholds = review_thresholds
        """The review rule of the inbox's model: what decides a ticket this workflow makes itself (a
        second request split off as its ticket is approved)."""
        self.from_address = from_address
        self.checkpoint = checkpoint
        self.worker = worker or process_name()
        """Who holds a ticket's lease while this workflow executes it."""

    # -- before approval --------------------------------------------------------------------
    def check(self, ticket_id: int, edits: dict | None = None) -> Check:
        """What approving the ticket (with ``edits`` applied) would do: the action, the flags a
        person must see, where the reply goes. Raises ActionProblem when it cannot run as it stands."""
        check = self._check(ticket_id, edits)
        if not can_reply_to(check.recipient):  # else the club acts, and the reply fails at every try
            raise ActionProblem(f"no reply can be written to {check.recipient} (an address this desk cannot send "
                                "to): reply from your own mail client and reject the ticket")
        return check

    def _check(self, ticket_id: int, edits: dict | None) -> Check:
        ticket = self.store.ticket(ticket_id)
        if edits is not None:
            ticket = replace(ticket, edits=edits)
        if problem := edited_reply_problem((ticket.edits or {}).get("reply")):
            raise ActionProblem(problem)  # nothing may run for a reply that would not go out as meant
        if ticket.machine_mail:
            raise ActionProblem(f"machine mail ({ticket.machine_mail}) is never answered: reject it")
        if ticket.triage is None:
            raise ActionProblem("the ticket has not been triaged")
        fields = ticket.fields
        flags = [reason] if (reason := mail_injection_reason(ticket.subject, ticket.body)) else []
        action = plan_action(fields)
        previous = self.store.action(ticket_id)
        if action is None:
            if problem := proposed_reply_problem(ticket):
                raise ActionProblem(problem)  # the proposal is the reply: "Hi [name]" must not go out
            if previous is not None and previous.status in UNSETTLED:
                # a reply only would leave the call's outcome unknown, and the reply may contradict it
                raise ActionProblem(f"the earlier {previous.kind} call's outcome is unknown (the club backend did "
                                    "not answer): approve it as it was, and the club acts at most once; or reject "
                                    "the ticket and check with the club")
            return Check(None, flags + reply_only_findings(ticket), reply_address(ticket))
        # the call this ticket made (or may have made) is not held against it: approving again replays it
        earlier = previous.request if previous and previous.kind == action.kind and previous.status != "refused" \
            else None
        action, checked = check_action(action, fields, ticket.sender, self.api,
                                       self_service_signup=self.trust.self_service_signup, earlier=earlier,
                                       move_horizon_days=self.trust.move_horizon_days)
        flags += checked.flags
        member = checked.member
        on_file = mailbox_text(member.name, member.email) if member else None
        if not action.definition.changes_an_account:  # an invitation: to the requester (a member: on file)
            trust_flags, notes = invitation_findings(ticket, member is not None, self.trust)
            trust_flags += club_domain_findings(action.params["email"], self.from_address)
            return Check(action, flags + trust_flags, on_file or sole_sender(ticket), notes, member)
        trust_flags, notes = account_action_findings(ticket, member and member.email, self.trust)
        return Check(action, flags + trust_flags, on_file or sole_sender(ticket), notes, member)

    def approve(self, ticket_id: int, actor: str, *, reply: str | None = None, fields: dict | None = None,
                override_reason: str | None = None, shown: Shown | None = None) -> None:
        """Check and record the operator's decision with the action it will run (and that
        action's idempotency key). ``shown``: what the operator confirmed; anything else (the
        club's records or the ticket's triage changed since) raises ActionProblem and nothing is
        recorded. Raises ActionProblem, NeedsOverride or TransitionError."""
        edits = approval_edits(self.store.ticket(ticket_id), reply, fields)
        check = self.check(ticket_id, edits)
        if shown is not None and shown != Shown(check.action, check.recipient,
                                                self.reply_preview(ticket_id, edits, check)):
            raise ActionProblem(CHANGED_SINCE_SHOWN)
        action, blocking = check.action, check.blocking
        edits["recipient"] = check.recipient  # what the operator confirmed is where the reply goes
        if check.member is not None:  # looked up again before the reply goes out (ADDRESS_ON_FILE_CHANGED)
            edits["account"] = {"username": check.member.username, "email": check.member.email}
        override_reason = (override_reason or "").strip() or None
        if blocking and not override_reason:
            raise NeedsOverride("; ".join(blocking) + ": an override with a reason is needed")
        planned = None
        if action is not None:
            previous = self.store.action(ticket_id)
            same = previous is not None and previous.kind == action.kind and previous.request == action.params
            if previous is not None and not same:
                self.settle(previous)  # the earlier call's outcome first, before a new key acts
            # the same request keeps its key: after an unknown outcome a retry must not act twice
            key = previous.idempotency_key if same else f"acedesk-{ticket_id}-{uuid.uuid4().hex}"
            planned = None if same else (action.kind, key, action.params)
        # Before the approval is saved, so a crash between the two leaves the split made and the
        # ticket approvable again; splitting again finds that split instead of making another.
        self._split_second_request(ticket_id, actor, edits)
        self.checkpoint("split")
        self.store.save_approval(ticket_id, edits, override_reason if blocking else None, actor, planned)
        self.checkpoint("approved")

    def _split_second_request(self, ticket_id: int, actor: str, edits: dict) -> None:
        """A second request the mail also makes becomes its own ticket as this one is approved: once
        approved, the ticket offers no split, and the request would be lost. Not when the operator's
        edits made this ticket that request (splitting it would ask for it twice)."""
        from support.triage import NothingToSplit, split_second_request  # support.triage imports this module

        if second_request_to_split(replace(self.store.ticket(ticket_id), edits=edits)) is None:
            return
        try:
            split_second_request(self.store, self, ticket_id, actor, self.review_thresholds)
        except NothingToSplit:  # its state forbids it: saving the approval then refuses with the reason
            pass

    def reply_preview(self, ticket_id: int, edits: dict, check: Check) -> str:
        """The reply the member gets if the backend does as asked (a refusal is explained instead):
        built by the code that builds the real one."""
        ticket = replace(self.store.ticket(ticket_id), edits=edits)
        if check.action is None:
            return success_reply(ticket, ticket.fields, None, None)
        expected = check.action.definition.expected(check.action.params)
        return success_reply(ticket, ticket.fields, check.action.kind, expected)

    def approval_notes(self, ticket_id: int, check: Check, edits: dict | None = None) -> list[str]:
        """What approving (with ``edits``, as ``check`` was made with them) does besides the call and
        the reply, in words for the confirmation: the mail's second request made a ticket of its own,
        and what becomes of an earlier attempt."""
        from support.triage import also_asks_text  # support.triage imports this module

        notes = list(check.notes)
        extra = second_request_to_split(replace(self.store.ticket(ticket_id), edits=edits or {}))
        if extra is not None and not already_split(self.store, ticket_id):
            notes.append(f"its second request ({also_asks_text(extra)}) becomes a ticket of its own, linked to this "
                         "one, to be decided there")
        previous, reply = self.store.action(ticket_id), self.store.reply(ticket_id)
        if previous is not None and previous.status in UNSETTLED and check.action is not None:
            if previous.kind == check.action.kind and previous.request == check.action.params:
                notes.append("the earlier call is retried with its own Idempotency-Key: the club acts on it at most "
                             "once")
            else:
                notes.append("the earlier call's outcome is unknown: it is replayed with its own Idempotency-Key "
                             "first, then this call runs with a new one")
        if reply is not None and reply.status == "prepared":
            notes.append("the reply prepared earlier was never sent: this approval's reply replaces it")
        elif reply is not None and reply.status == "sending":
            notes.append("the earlier reply may have gone out (a crash, or a mail server that never confirmed it): "
                         "approving sends this one, so the member may get two")
        return notes

    def settle(self, previous: ActionRecord) -> None:
        """An earlier call whose outcome is unknown (a timeout, the backend away) is replayed with
        its own Idempotency-Key, so it has a definite outcome before another call is made; raises
        ActionProblem while the backend still does not answer."""
        if previous.status not in UNSETTLED:
            return
        status, result, _ = self._run(Action(previous.kind, previous.request), previous.idempotency_key)
        if status in UNSETTLED:
            raise ActionProblem("the earlier call's outcome is still unknown (the club backend does not answer): "
                                "approve again once it is back")
        self.store.settle_action(previous.id, status, result)

    def reject(self, ticket_id: int, actor: str, reason: str) -> None:
        self.store.move(ticket_id, State.REJECTED, actor, reason=reason)

    # -- execution ----------------------------------------------------------------------------
    def execute(self, ticket_id: int, actor: str = "workflow") -> str:
        """Run an approved (or failed) ticket to its reply; returns the state it ends in. Another
        process on it already: a no-op (logged), returning the state as it stands."""
        if not self.store.claim(ticket_id, {State.APPROVED, State.FAILED}, State.EXECUTING, self.worker,
                                lease=True, by=actor):
            log.info("ticket %s: someone else is executing it, or it is done", ticket_id)
            return self.store.state_of(ticket_id)
        self.checkpoint("leased")
        return self._contained(ticket_id)

    def resume(self) -> list[int]:
        """Finish what a crash interrupted and retry the failed tickets not yet parked; one
        ticket's trouble never stops the others. Returns the tickets worked on."""
        resumed = []
        for ticket in self.store.tickets(State.APPROVED):
            self.execute(ticket.id)
            resumed.append(ticket.id)
        for ticket in self.store.tickets(State.FAILED):
            if self.store.parked(ticket.id, EXECUTE) or self._delivery_unknown(ticket.id):
                continue  # a person decides
            self.execute(ticket.id)
            resumed.append(ticket.id)
        if self.mailbox is not None:  # a reply sent whose filing failed: the filing alone is tried again
            for ticket_id in self.store.unfiled_replies():
                if self.store.parked(ticket_id, FILE_REPLY):
                    self.store.give_up(ticket_id, FILE_REPLY, FILING_GIVEN_UP, self.worker)
                # the process that sent it may be filing it now: a second APPEND would put two copies in Sent
                elif self.store.claim_abandoned(ticket_id, {State.REPLIED}, self.worker):
                    try:
                        self._after_reply(ticket_id)
                    finally:
                        self.store.release(ticket_id)
        for state in (State.EXECUTING, State.EXECUTED):
            for ticket in self.store.tickets(state):
                if self.store.claim_abandoned(ticket.id, {state}, self.worker):
                    self._contained(ticket.id)
                    resumed.append(ticket.id)
        return resumed

    def _contained(self, ticket_id: int) -> str:
        """``_continue`` under the lease this process holds; a failure, expected or not, is counted
        and the ticket's state says where it stands."""
        try:
            state = self._continue(ticket_id)
        except Exception as error:  # one ticket's unexpected error must never stop the others
            log.exception("ticket %s: unexpected error while executing", ticket_id)
            state = self._failed(ticket_id, f"unexpected error: {type(error).__name__}: {error}", unexpected=True)
        else:
            if state == State.FAILED:
                state = self._failed(ticket_id, self.store.ticket(ticket_id).failure_reason or "failed")
        finally:
            self.store.release(ticket_id)
        return state

    def _failed(self, ticket_id: int, reason: str, unexpected: bool = False) -> str:
        count = self.store.record_failure(ticket_id, EXECUTE, reason, self.worker)
        parked = count >= PARK_AFTER_FAILURES
        text = f"parked after {count} failed tries (approve it again to retry): {reason}" if parked else reason
        if unexpected or parked:
            self.store.fail(ticket_id, text, self.worker, step=EXECUTE)
        return self.store.state_of(ticket_id)

    def _delivery_unknown(self, ticket_id: int) -> bool:
        reply = self.store.reply(ticket_id)
        return reply is not None and reply.status == "sending"

    def _continue(self, ticket_id: int) -> str:
        if self.store.state_of(ticket_id) == State.EXECUTING and not self._call_backend(ticket_id):
            return State.FAILED
        return self._reply(ticket_id)

    def _call_backend(self, ticket_id: int) -> bool:
        """The backend step; False when the outcome is unknown (ticket failed, retryable)."""
        record = self.store.action(ticket_id)
        if record is None or record.status in ("succeeded", "refused"):  # nothing to do, or done
            self.store.move(ticket_id, State.EXECUTED, "workflow", action=record and record.kind)
            return True
        status, result, target = self._run(Action(record.kind, record.request), record.idempotency_key)
        self.checkpoint("api_called")
        self.store.finish_action(ticket_id, status, result, target)
        self.checkpoint("result_recorded")
        return target == State.EXECUTED

    def _run(self, action: Action, key: str) -> tuple[str, dict, State]:
        try:
            return "succeeded", run_action(action, self.api, key), State.EXECUTED
        except ClubApiUnavailable as error:
            return "unavailable", {"message": _unavailable(error)}, State.FAILED
        except ClubApiError as error:
            if error.status in (401, 403):  # AceDesk's own configuration, not the member's request
                return "unavailable", {"message": _unavailable(error)}, State.FAILED
            return "refused", {"code": error.code, "message": error.message}, State.EXECUTED

    # -- the reply ----------------------------------------------------------------------------
    def _reply(self, ticket_id: int) -> str:
        reply = self.store.reply(ticket_id)
        # Hours may pass between the approval and the sending (a crash, the mail server away): an
        # account's news goes only to the address the club has for the member as it goes out.
        if (reply is None or reply.status == "prepared") and \
                (moved := self._address_on_file_changed(self.store.ticket(ticket_id))):
            self.store.fail(ticket_id, moved, self.worker, step="reply")
            return State.FAILED
        if reply is None:
            message = self._build_reply(self.store.ticket(ticket_id))
            self.store.add_reply(ticket_id, message["Message-ID"], message_bytes(message))
            self.checkpoint("reply_prepared")
            reply = self.store.reply(ticket_id)
        if reply.status == "sending" and self.sender.holds(reply.message_id):
            self.store.mark_replied(ticket_id)  # its sender died once the outbox had it: it went out, once
            reply = self.store.reply(ticket_id)
        if reply.status == "sending":  # not ours: its sender died or hangs, the message may be out
            self.store.fail(ticket_id, DELIVERY_UNKNOWN, self.worker, step="reply")
            return State.FAILED
        if reply.status != "sent":
            if not self.store.claim_reply(ticket_id):
                return self.store.state_of(ticket_id)  # another process claimed it just now
            self.checkpoint("reply_claimed")
            message = message_from_bytes(reply.raw, policy=MAIL_POLICY)
            try:
                self.sender.send(message)
            except MailDeliveryUnknown as error:  # left "sending": never sent again by itself
                self.store.fail(ticket_id, f"the mail server did not confirm the reply ({error}): "
                                           f"{CHECK_THE_SENT_FOLDER}", self.worker, step="reply")
                return State.FAILED
            except MailSendError as error:
                self.store.release_reply(ticket_id, f"reply not sent: {error}")
                return State.FAILED
            self.checkpoint("reply_sent")
            self.store.mark_replied(ticket_id)
            self.checkpoint("replied")
        self._after_reply(ticket_id)
        return State.REPLIED

    def _address_on_file_changed(self, ticket: Ticket) -> str | None:
        """Why the reply may not go to the address the approval confirmed for the member: the club has
        another one for them now, none, or cannot say. None when it may, or when no account decides."""
        confirmed = (ticket.edits or {}).get("account")
        if not confirmed:
            return None
        try:
            member = self.api.find_member(username=confirmed["username"])
        except ClubApiError as error:  # retried: the reply waits for the club's answer
            return f"the reply waits for {confirmed['username']}'s address on file: {_unavailable(error)}"
        if member is not None and address_key(member.email) == address_key(confirmed["email"]):
            return None
        now = f"is now {member.email}" if member is not None else "is gone (no such member any more)"
        return ADDRESS_ON_FILE_CHANGED.format(username=confirmed["username"], now=now, then=confirmed["email"])

    def _build_reply(self, ticket: Ticket) -> EmailMessage:
        fields = ticket.fields
        record = self.store.action(ticket.id)
        if record is not None and record.status == "refused":
            body = refusal_reply(ticket, fields, record.kind, record.result)
        else:
            body = success_reply(ticket, fields, record and record.kind, record and record.result)
        recipient = (ticket.edits or {}).get("recipient") or ticket.reply_to or ticket.sender
        original = OriginalMail(message_id=ticket.message_id, references=ticket.references_header,
                                subject=ticket.subject, reply_to_address=recipient, sender_display=ticket.sender)
        domain = self.from_address.rsplit("@", 1)[-1]
        return build_reply(original, from_address=self.from_address, body=body, domain=domain)

    def _after_reply(self, ticket_id: int) -> None:
        """Flag the original \\Answered and file a Sent copy; retried on resume, and given up after
        PARK_AFTER_FAILURES tries (each said once in the audit log). The member has the reply
        whatever happens here: this is bookkeeping, and never sends it again."""
        reply, ticket = self.store.reply(ticket_id), self.store.ticket(ticket_id)
        if self.mailbox is None or reply.answered_flagged or not ticket.mailbox.startswith("imap:"):
            return
        # Counted before it starts: a filing that kills the process (no handler runs) is a try too.
        self.store.begin_runs([ticket_id], FILE_REPLY)
        try:
            original = MailRef(ticket.mailbox, ticket.uidvalidity, ticket.uid, ticket.message_id)
            self.mailbox.after_reply(original, reply.raw, reply.message_id)
        except Exception as error:  # any failure here is the filing's, never the reply's
            if not isinstance(error, ImapUnavailable):
                log.exception("ticket %s: filing the sent reply failed unexpectedly", ticket_id)
            log.warning("ticket %s: could not flag the original as answered or file the reply: %s", ticket_id, error)
            self.store.end_run(ticket_id, FILE_REPLY)  # counted again below, with its reason
            self.store.record_failure(ticket_id, FILE_REPLY, f"the reply was sent; filing it in Sent and flagging the "
                                      f"original failed: {error}", self.worker)
            return
        self.store.mark_answered_flagged(ticket_id)
        self.store.clear_failures(ticket_id, FILE_REPLY)


UNSETTLED = ("pending", "unavailable")
"""Action statuses whose outcome at the backend is unknown."""


def _unavailable(error: Exception) -> str:
    return f"club backend unavailable, retry later: {error}"
