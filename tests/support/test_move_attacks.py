"""A move that reads as ordinary but is not: a date years ahead, a move to the start the booking
already has. The club would carry either out, so neither may be Ready; each goes to review with
words that say what is odd, and stays approvable (a flag, not a refusal). Moves the club refuses
by itself (a new start in the past, a booking that has started) are guards: the operator and the
member hear the club's refusal. Mails go through the real intake, the desk's triage recording
(review rule and backend check) and the stand-in club backend, as in test_ready_attacks."""

from __future__ import annotations

from datetime import datetime, timedelta

from core.settings import Settings
from support.actions import MOVE_CHANGES_NOTHING, MOVE_FAR_AHEAD
from support.states import State
from tests.support.test_ready_attacks import MEMBER_VERIFIED, SARAH, desk, triaged
from tests.support.test_trust import mail

SARAHS_BOOKING = "BK-22845"  # the seed's: Court 1, four days from now at 17:00


def move_ticket(tmp_path, club_backend, smtp_server, **fields):
    store, workflow = desk(tmp_path, club_backend, smtp_server)
    ticket_id = triaged(store, workflow, mail(SARAH, f"Please move {SARAHS_BOOKING}.", extra=MEMBER_VERIFIED),
                        "modify_booking", booking_id=SARAHS_BOOKING, **fields)
    return store, workflow, ticket_id


def test_a_move_years_ahead_goes_to_review_saying_how_far(tmp_path, club_backend, smtp_server):
    """"move BK-22845 to 12.03.2031" (a stated year, a year the model wrote, or a forged Date
    header): the club books it, so before this it was Ready and ran unseen."""
    store, workflow, ticket_id = move_ticket(tmp_path, club_backend, smtp_server,
                                             new_date="2031-03-12", new_time="10:00")
    ticket = store.ticket(ticket_id)
    assert ticket.state == State.NEEDS_REVIEW
    [flag] = [flag for flag in ticket.flags if flag.startswith(MOVE_FAR_AHEAD)]
    assert "2031-03-12" in flag and "check the date the mail asks for" in flag
    assert not workflow.check(ticket_id).blocking  # the operator may still approve it as it stands


def test_a_move_within_the_horizon_stays_ready(tmp_path, club_backend, smtp_server):
    """Guard: a date a member writes without a year lands at most a year ahead, inside the horizon."""
    within = (datetime.now() + timedelta(days=Settings().move_horizon_days - 2)).date().isoformat()
    store, _, ticket_id = move_ticket(tmp_path, club_backend, smtp_server, new_date=within, new_time="10:00")
    assert store.ticket(ticket_id).state == State.TRIAGED, store.ticket(ticket_id).flags


def test_a_move_to_the_start_the_booking_has_goes_to_review(tmp_path, club_backend, smtp_server):
    """The club "moves" it to where it is and the member is told it was moved: a misread date or
    time, which nobody would notice."""
    start = club_backend.api().booking(SARAHS_BOOKING).start
    store, workflow, ticket_id = move_ticket(tmp_path, club_backend, smtp_server,
                                             new_date=start.date().isoformat(), new_time=f"{start:%H:%M}")
    ticket = store.ticket(ticket_id)
    assert ticket.state == State.NEEDS_REVIEW
    [flag] = [flag for flag in ticket.flags if flag.startswith(MOVE_CHANGES_NOTHING)]
    assert f"{start:%Y-%m-%d %H:%M}" in flag and "check the date and time the mail asks for" in flag
    assert not workflow.check(ticket_id).blocking


def test_a_move_to_the_same_start_on_another_court_stays_ready(tmp_path, club_backend, smtp_server):
    """Guard: same day and time, another court, is a move."""
    start = club_backend.api().booking(SARAHS_BOOKING).start
    store, _, ticket_id = move_ticket(tmp_path, club_backend, smtp_server, new_date=start.date().isoformat(),
                                      new_court="Court 2")
    assert store.ticket(ticket_id).state == State.TRIAGED, store.ticket(ticket_id).flags


def test_a_move_into_the_past_is_refused_by_the_club(tmp_path, club_backend, smtp_server):
    """Guard: no flag needed (nor one for a booking that has started, inside the club's 24-hour
    window): the club refuses it and the operator sees why."""
    two_days_ago = (datetime.now() - timedelta(days=2)).date().isoformat()
    store, workflow, ticket_id = move_ticket(tmp_path, club_backend, smtp_server, new_date=two_days_ago,
                                             new_time="10:00")
    workflow.approve(ticket_id, "operator")
    workflow.execute(ticket_id)
    assert store.action(ticket_id).status == "refused"
    assert "in the past" in str(store.action(ticket_id).result)
    assert club_backend.effects()["move"] == 0


def test_the_desk_takes_the_horizon_from_its_setting(tmp_path, club_backend, smtp_server):
    """ACEDESK_MOVE_HORIZON_DAYS reaches the check the desk runs: a club that books a month ahead
    sees a move 60 days ahead in review (the setting was read nowhere before it was wired)."""
    from support.desk import build_workflow
    from support.store import TicketStore
    from tests.conftest import settings_of

    settings = settings_of({"ACEDESK_DATA_DIR": str(tmp_path), "ACEDESK_CLUB_API_URL": club_backend.url,
                            "ACEDESK_CLUB_API_TOKEN": club_backend.token, "ACEDESK_MOVE_HORIZON_DAYS": "30"})
    store = TicketStore(tmp_path / "acedesk.sqlite3")
    workflow = build_workflow(store, settings)
    in_two_months = (datetime.now() + timedelta(days=60)).date().isoformat()
    ticket_id = triaged(store, workflow, mail(SARAH, f"Please move {SARAHS_BOOKING}.", extra=MEMBER_VERIFIED),
                        "modify_booking", booking_id=SARAHS_BOOKING, new_date=in_two_months, new_time="10:00")
    flags = [flag for flag in workflow.check(ticket_id).flags if flag.startswith(MOVE_FAR_AHEAD)]
    assert len(flags) == 1 and "beyond the 30 days" in flags[0]
