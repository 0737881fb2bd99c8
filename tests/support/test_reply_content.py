"""What the desk says to a member, against a mail written to make the club say something else:
a link, a phone number, another address or a code, in the greeting, in the model's proposal, or
echoed back by the club's backend."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.replies import GREETING_NAME_MAX_CHARS, LANGUAGES, first_name, render_reply, reply_additions
from tests.fixtures.scripted_http import relaying_gateway
from tests.support import test_workflow
from tests.support.test_workflow import add_triaged

store, workflow = test_workflow.store, test_workflow.workflow  # the real backend and SMTP server, as there

LINK_OR_NUMBER = re.compile(r"https?://|www\.|\.example|\d{3}")
HOSTILE_COURT = ("Court 1 - all members must confirm their account at http://club-verify.example/login "
                 "or call +44 20 7946 0958")


def test_a_refusal_never_carries_what_the_mail_made_the_backend_echo(store, workflow, club_backend, smtp_server):
    """A move to a "court" the mail names: the club refuses it, quoting the name in its message.
    Before, the member got that message inside the club's reply, at their address on file."""
    ticket_id = add_triaged(store, '"www.club-verify.example/login Anna" <anna.berg@example.org>',
                            "Move BK-48213 to 10:00 on " + HOSTILE_COURT, category="modify_booking",
                            booking_id="BK-48213", new_time="10:00", new_court=HOSTILE_COURT)
    workflow.approve(ticket_id, "operator")
    workflow.execute(ticket_id)

    assert "http://club-verify.example" in store.action(ticket_id).result["message"]  # kept for the operator
    [mail] = smtp_server.messages
    body = mail.message.get_content()
    assert mail.rcpt_tos == ("anna.berg@example.org",)
    assert body.startswith("Hello, unfortunately we could not complete your request.")
    assert not LINK_OR_NUMBER.search(body), body


@pytest.mark.parametrize("display_name", [
    "www.club-verify.example/login Anna", "http://evil.example/pay", "+44-20-7946-0000", "A" * 500,
    "\u202eanna\u202c Berg", "**[Click](http://e.example)** Anna", "Ann\u200ba", "<script>", "Anna1",
])
def test_a_display_name_that_is_no_name_gives_the_greeting_without_one(display_name):
    sender = f'"{display_name}" <anna.berg@example.org>'
    assert first_name(sender) is None
    assert render_reply("cancel_booking", {"booking_id": "BK-1"}, sender).startswith("Hello,")


@pytest.mark.parametrize(("display_name", "name"), [
    ("Anna Berg", "Anna"), ("Jean-Luc Picard", "Jean-Luc"), ("D'Arcy Smith", "D'Arcy"), ("Zoë Weiß", "Zoë"),
    ("Jose\u0301 Ruiz", "José"), ("Дмитрий Иванов", "Дмитрий"), ("अनुज शर्मा", "अनुज"), ("Berg, Anna", "Anna"),
])
def test_real_first_names_still_greet_by_name(display_name, name):
    assert first_name(f'"{display_name}" <a@example.org>') == name


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=600))
def test_a_greeting_name_is_only_letters_whatever_the_display_name(display_name):
    quoted = display_name.replace("\\", "").replace('"', "")
    name = first_name(f'"{quoted}" <a@example.org>')
    assert name is None or (len(name) <= GREETING_NAME_MAX_CHARS and name[0].isalpha()
                            and all(char.isalpha() or char in "'’-" or unicodedata.category(char)[0] == "M"
                                    for char in name))


FIELDS = {
    "add_user": {"username": "tom.berg", "member_name": "Tom Berg", "member_email": "tom.berg@example.org"},
    "reset_password": {"username": "anna.berg"},
    "cancel_booking": {"booking_id": "BK-48213"},
    "modify_booking": {"booking_id": "BK-48213", "new_date": "2026-12-10", "new_time": "10:00", "new_court": "Court 2"},
    "other": {},
}
SENDER = "Anna Berg <anna.berg@example.org>"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("category", list(FIELDS))
def test_the_clubs_own_reply_is_not_flagged(category, lang):
    proposed = render_reply(category, FIELDS[category], SENDER, lang)
    assert reply_additions(category, FIELDS[category], proposed) is None


@pytest.mark.parametrize(("category", "added", "named"), [
    ("other", "Please register at https://evil.example/signup.", "https://evil.example/signup"),
    ("other", "Register at www.tennis-deals.example with code FREE50.", "www.tennis-deals.example"),
    ("other", "Call us on +44 20 7946 0958.", "+44"),
    ("other", "Write to finder@evil.example.", "finder@evil.example"),
    ("other", "We will refund 120 EUR to DE89370400440532013000.", "DE89370400440532013000"),
    ("cancel_booking", "Your voucher code is FREE50.", "FREE50"),
    ("cancel_booking", "Peter's booking BK-11111 is cancelled too.", "BK-11111"),
    ("reset_password", "Peter's login is p.klein.", "p.klein"),
    ("other", "Thank\u202e you.", "U+202E"),
])
def test_a_proposal_that_adds_a_link_number_or_code_is_flagged_by_name(category, added, named):
    proposed = render_reply(category, FIELDS[category], SENDER).replace("\n\n", f" {added}\n\n", 1)
    reason = reply_additions(category, FIELDS[category], proposed)
    assert reason is not None and named in reason, reason


@pytest.mark.parametrize("said", ["It is now at 7pm.", "von 10.00-11.00 Uhr", "at 11h30 on court 4", "on the 3rd",
                                  "le 08.12.2026 à 18.30", "from 10:00-11:00"])
def test_times_days_and_courts_as_a_member_writes_them_are_not_flagged(said):
    """The model copies a move's new time from the mail, the fields hold it normalised: on dev, flagging
    every number sent 26 correct tickets of 249 to review (ready coverage 0.908 to 0.803). A short
    number alone (a PIN) is therefore not flagged either: the price of not flagging times."""
    proposed = render_reply("modify_booking", FIELDS["modify_booking"], SENDER).replace("\n\n", f" {said}\n\n", 1)
    assert reply_additions("modify_booking", FIELDS["modify_booking"], proposed) is None


def test_the_tickets_own_fields_named_in_the_reply_are_no_addition():
    """On dev the model named the new member's address (its field) where the club's reply names the
    member: three correct tickets went to review for it."""
    proposed = render_reply("add_user", FIELDS["add_user"], SENDER).replace("Tom Berg", "Tom Berg (Tom.Berg@example.org)")
    assert reply_additions("add_user", FIELDS["add_user"], proposed) is None


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(FIELDS)), st.sampled_from(LANGUAGES),
       st.from_regex(r"(https?://|www\.)[a-z]{1,12}\.[a-z]{2,6}(/[a-z0-9]{0,8})?|\+?\d{2,4}( \d{3,5}){2,3}"
                     r"|[a-z]{1,10}@[a-z]{1,10}\.[a-z]{2,4}|[A-Z]{2,6}\d{2,6}", fullmatch=True),
       st.integers(0, 40))
def test_any_link_number_or_code_added_anywhere_is_flagged(category, lang, added, position):
    words = render_reply(category, FIELDS[category], SENDER, lang).split(" ")
    position = min(position, len(words))
    proposed = " ".join([*words[:position], added, *words[position:]])
    assert reply_additions(category, FIELDS[category], proposed) is not None


def test_a_successful_answer_that_holds_a_link_is_confirmed_without_it(store, club_backend, smtp_server, scripted):
    """A gateway in front of the real club relays a real cancellation, then answers 200 with a booking
    id that carries a link. Before, the member's confirmation said "your booking BK-48213 - confirm your
    account at http://club-verify.example/login has been cancelled."."""
    from integrations.club_api import ClubApi
    from integrations.mail_sending import SmtpSender
    from support.outcome_replies import unconfirmed_values
    from support.workflow import Workflow

    def booking_id_replaced(method, answer):
        answer["booking"]["booking_id"] = "BK-48213 - confirm your account at " + HOSTILE_COURT
        return answer

    gateway_server = relaying_gateway(scripted, club_backend.url, booking_id_replaced)
    workflow = Workflow(store, ClubApi(gateway_server.url, club_backend.token, timeout=2, retries=0),
                        SmtpSender(smtp_server.settings(from_address=test_workflow.CLUB)),
                        from_address=test_workflow.CLUB)
    ticket_id = test_workflow.cancel_ticket(store)
    workflow.approve(ticket_id, "operator")
    workflow.execute(ticket_id)

    assert club_backend.effects()["cancel"] == 1
    [mail] = smtp_server.messages
    body = mail.message.get_content()
    assert body.startswith("Hi Anna, your booking has been cancelled.") and not LINK_OR_NUMBER.search(body), body
    record = store.action(ticket_id)  # the operator sees the answer as given, and why it was left out
    assert "club-verify" in record.result["booking_id"]
    assert "booking id 'BK-48213 - confirm" in unconfirmed_values(store.ticket(ticket_id).fields, record.kind,
                                                                  record.result)
