"""The club's own replies against what a proposal or an edit may say: a short number called a PIN,
code or password, and placeholders left standing, measured on every labelled reply."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.text import unseen
from model.replies import (
    BODIES,
    GREETING_NO_NAME,
    LANGUAGES,
    club_role_words,
    first_name,
    placeholders,
    render_reply,
    reply_additions,
    reply_claims,
)
from model.schema import FIELDS
from tests.core.test_text import UNSEEN_EXAMPLES

DATA = Path(__file__).resolve().parents[2] / "training" / "data"
LABELLED = [row for path in sorted(DATA.glob("*.csv")) for row in csv.DictReader(path.open(encoding="utf-8"))
            if row.get("response") and row.get("category")]
TICKET_FIELDS = {
    "add_user": {"username": "tom.berg", "member_name": "Tom Berg", "member_email": "tom.berg@example.org"},
    "reset_password": {"username": "anna.berg"},
    "cancel_booking": {"booking_id": "BK-48213"},
    "modify_booking": {"booking_id": "BK-48213", "new_date": "2026-12-10", "new_time": "10:00", "new_court": "Court 2"},
    "other": {},
}


def with_sentence(category: str, sentence: str, lang: str = "en") -> str:
    return render_reply(category, TICKET_FIELDS[category], "Anna Berg <a@example.org>", lang).replace(
        "\n\n", f" {sentence}\n\n", 1)


@pytest.mark.parametrize(("category", "sentence", "named"), [
    ("reset_password", "Your PIN is 4821.", "4821"),
    ("reset_password", "Ihr Passwort lautet 482193.", "482193"),
    ("other", "4821 is your door code.", "4821"),
    ("other", "Le code d'accès est 4821.", "4821"),
    ("reset_password", "PIN: 4821", "4821"),
    ("reset_password", "Tu contraseña es 123456.", "123456"),
])
def test_a_short_number_called_a_pin_code_or_password_is_flagged(category, sentence, named):
    """Before, a PIN alone passed: only numbers of seven digits or more were flagged."""
    reason = reply_additions(category, TICKET_FIELDS[category], with_sentence(category, sentence))
    assert reason is not None and repr(named) in reason, reason


@pytest.mark.parametrize(("category", "sentence"), [
    ("cancel_booking", "The code on your booking BK-48213 is no longer valid."),
    ("reset_password", "We sent a password reset link on 08.12.2026 at 18.30."),
    ("other", "Court 4 from 7pm, see you in 2026!"), ("other", "The code of conduct is on page 12."),
])
def test_numbers_near_those_words_that_are_no_secret_are_not_flagged(category, sentence):
    assert reply_additions(category, TICKET_FIELDS[category], with_sentence(category, sentence)) is None


def test_no_labelled_reply_is_flagged_by_the_pin_rule_nor_holds_a_placeholder():
    """Every reply of training/data (dev.csv's among them): the rules add no review and refuse no text
    the club writes itself."""
    assert len(LABELLED) > 6000
    flagged = [row["response"] for row in LABELLED
               if reply_additions(row["category"], {name: row.get(name) or None for name in FIELDS}, row["response"])]
    assert flagged == []
    assert [row["response"] for row in LABELLED if placeholders(row["response"])] == []


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("category", list(BODIES))
def test_the_clubs_own_templates_hold_no_placeholder(category, lang):
    for fields in (TICKET_FIELDS[category], {}):
        assert placeholders(render_reply(category, fields, "Anna Berg <a@example.org>", lang)) == []


@pytest.mark.parametrize(("text", "found"), [
    ("Hi [name], done.", ["[name]"]), ("Booking {booking_id} is cancelled.", ["{booking_id}"]),
    ("Moved to <time>.", ["<time>"]), ("Your code is XXX.", ["XXX"]), ("At XX:XX on XX.XX.XXXX", ["XX:XX", "XX.XX.XXXX"]),
    ("TODO: check the court", ["TODO"]), ("Hi {{ first_name }},", ["{{ first_name }}"]), ("See [...] below", ["[...]"]),
    ("Hi Anna <anna@example.org>, court 3 at 10:00, see you xxx", []), ("2 < 5 > 3, did you mean Saturday???", []),
])
def test_placeholders_are_found_by_their_unmistakable_shapes(text, found):
    assert placeholders(text) == found


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["[", "{", "<", "X", "PIN ", "1234 ", "code a "]), st.integers(1_000, 60_000))
def test_hostile_repetitions_are_read_in_linear_time(unit, repeat):
    text = unit * repeat
    started = time.perf_counter()
    placeholders(text)
    reply_additions("other", {}, text)
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("char", [c for c in UNSEEN_EXAMPLES if not c.isspace()], ids=lambda char: f"U+{ord(char):04X}")
def test_an_invisible_character_in_a_proposal_is_named(char):
    """Before, only format, private-use and unassigned characters were: a variation selector, a
    grapheme joiner, a Hangul filler or a control went to the member unnoticed."""
    proposed = with_sentence("cancel_booking", f"See you on court{char} soon.")
    reason = reply_additions("cancel_booking", TICKET_FIELDS["cancel_booking"], proposed)
    assert reason is not None and f"U+{ord(char):04X}" in reason


@pytest.mark.parametrize(("display_name", "name"), [
    ("Dr. Anna Weber", "Anna"), ("Dr Anna Weber", "Anna"), ("Prof. Dr. Anna Weber", "Anna"), ("Weber, Dr. Anna", "Anna"),
    ("Mme Anne-Marie Dupont", "Anne-Marie"), ("ANNA WEBER", "Anna"), ("anna weber", "Anna"), ("JEAN-LUC PICARD", "Jean-Luc"),
    ("Ａｎｎａ Weber", "Anna"), ("Jo Berg", "Jo"), ("Ιωάννης Παπαδόπουλος", "Ιωάννης"), ("Weber, Anna", "Anna"),
])
def test_a_first_name_after_a_title_or_in_capitals_greets_as_written_by_hand(display_name, name):
    assert first_name(f'"{display_name}" <a@example.org>') == name


@pytest.mark.parametrize("display_name", [
    "J. Smith", "JD", "J", "jd Smith", "A.-M. Dupont", "Smith, J.", "Frau Weber", "Herr Dr. Weber", "Mme Dupont",
    "Monsieur Dupont", "Mr Smith", "Sra. García", "Familie Weber", "Mr. and Mrs. Smith", "Anna & Tom Berg",
    "Anna und Tom", "\u3164", "\u3164\u3164 Weber", "\u2800 Weber", "Anna\u034f", "Anna" + "\ufe01" * 30, "Ann\u17b4a",
    # a mailbox's role or an organisation (before: "Hi Info,", "Hi Team,", "Hi Tennis,", "Hi Mail,")
    "Info", "Team Support", "Tennis Club Nord", "Mail Delivery Subsystem", "Booking Support", "Secrétariat",
    "Club de Tennis Sol", "Geschäftsstelle TC Blau-Weiß",
])
def test_initials_a_title_before_a_surname_or_an_invisible_name_give_the_greeting_without_one(display_name):
    """Before: "Hi JD,", "Hi Frau,", "Hi Mme,", "Hi Mr,", "Hi ㅤ," (a Hangul filler: an empty name), and
    "Hi Anna" followed by 30 variation selectors (a hidden message in the club's own words)."""
    sender = f'"{display_name}" <a@example.org>'
    assert first_name(sender) is None
    for lang in LANGUAGES:
        assert render_reply("other", {}, sender, lang).startswith(GREETING_NO_NAME[lang])


@example("A-A")  # hyphenated initials came back as the name, all capitals
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*"AaJjnNé .,-'&\n", *UNSEEN_EXAMPLES, "Dr. ", "Frau ", "Mme ", "Anna", "WEBER"]),
                max_size=20).map("".join))
def test_a_greeting_name_never_holds_an_invisible_character_nor_shouts(display_name):
    name = first_name(f'"{display_name.replace(chr(0), "")}" <a@example.org>')
    # neither all capitals ("JD", "ANNA") nor all small letters: initials, or a name to write as by hand
    assert name is None or (not any(map(unseen, name)) and not name.isupper() and not name.islower())


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("claimed", ["add_user", "reset_password", "cancel_booking", "modify_booking"])
def test_a_reply_only_proposal_that_says_an_action_was_done_is_flagged(claimed, lang):
    # a mail can steer the "other" answer into "your booking BK-48213 has been cancelled" (support/
    # test_ready_attacks.py): nothing ran, and the member would be told it did
    proposal = render_reply(claimed, TICKET_FIELDS[claimed], "Anna Berg <anna@example.org>", lang)
    assert reply_claims("other", proposal).startswith("the proposed reply says the club did what a "
                                                      f"{claimed.replace('_', ' ')} reply says")
    # an action's proposal is never sent as written: its reply is built from the club's answer
    assert reply_claims(claimed, proposal) is None


def test_a_reworded_claim_is_still_a_claim_and_no_labelled_reply_claims_another_action():
    assert reply_claims("other", "Hi Anna, we have sent you a password reset link.") is not None
    assert reply_claims("other", "Hallo Anna, die Buchung BK-1 wurde storniert, wie gewünscht.") is not None
    assert reply_claims("other", "Hi Anna, thank you for your message. A member of our team will get back to you.") is None
    assert [row["response"] for row in LABELLED if reply_claims(row["category"], row["response"])] == []


@pytest.mark.parametrize("sentence", [
    "From now on please write to max.weber@gmail.example, our new desk.",
    "Please renew at club-payments[.]example before Friday.",
    "Please pay by PayPal to max dot weber at gmail dot example.",
    "Our new address is support (at) clubhelp (dot) example.",
])
def test_an_other_proposal_naming_an_address_its_fields_hold_or_spelled_out_is_flagged(sentence):
    """Before, an address the model copied into an ``other`` answer's fields could be named in its
    reply (the fields were read as "shown beside the reply", but nothing runs for ``other``), and a
    link written with "[.]", "(at)" or " dot " was no link to the rule."""
    fields = {"member_email": "max.weber@gmail.example"}
    assert reply_additions("other", fields, with_sentence("other", sentence)) is not None


def test_an_other_proposal_naming_the_members_own_booking_or_login_is_no_addition():
    # dev.csv: an auto-reply quoting "Ihre Buchung BK-38176 wurde verschoben", read as ``other`` with its
    # booking id and answered with it, was a right ticket sent to review by the rule above
    fields = {"booking_id": "BK-38176", "username": "mrother"}
    sentence = "We have noted your message about booking BK-38176 (login mrother)."
    assert reply_additions("other", fields, with_sentence("other", sentence)) is None
    assert reply_additions("other", {}, with_sentence("other", sentence)) is not None


@pytest.mark.parametrize(("lang", "sentence"), [
    ("fr", "Écrivez désormais à max point weber arobase gmail point example."),
    ("de", "Schreiben Sie ab jetzt an max punkt weber at gmail punkt example."),
    ("es", "Escriba a partir de ahora a max punto weber arroba gmail punto example."),
    ("de", "Unsere neue Adresse: support (ät) clubhilfe (punkt) example."),
    ("fr", "Notre nouvelle adresse : support (arobase) clubaide (point) example."),
    ("es", "Nuestra nueva dirección: soporte [arroba] clubayuda [punto] example."),
    ("en", "Please renew at club-payments<dot>example before Friday."),
])
def test_an_address_spelled_out_in_the_desks_other_languages_is_flagged(lang, sentence):
    """The desk answers in four languages; before, only the English "dot" and "(at)" were read, so
    the same address spelt with "point", "punkt", "punto", "arobase" or "arroba" reached Ready."""
    assert reply_additions("other", {}, with_sentence("other", sentence, lang)) is not None


@pytest.mark.parametrize("sentence", ["Please arrive on the dot at 9 so we can start on time.",
                                      "Your court is the one with the red dot on the door."])
def test_dot_before_a_little_word_is_no_spelled_out_link(sentence):
    """Before, "the dot at" and "red dot on" read as a link spelt out, and a right reply went to review."""
    assert reply_additions("other", {}, with_sentence("other", sentence)) is None


@pytest.mark.parametrize("sentence", ["We are at the club (at least until 8pm).", "See you on court 3 at 10.00.",
                                      "Dot and Anna are on the same team."])
def test_words_like_at_and_dot_in_a_sentence_are_no_link(sentence):
    assert reply_additions("other", {}, with_sentence("other", sentence)) is None


@pytest.mark.parametrize(("name", "roles"), [
    ("office", ["office"]), ("Tennis Club Office", ["office"]), ("clubsecretary", ["secretary"]),
    ("TennisClubAdmin2", ["admin"]), ("Vorstand TC Nord", ["vorstand"]), ("info.club", ["info"]),
    ("tennis_raj", []), ("jennyh_tennis", []), ("badminton_anna", []), ("Mike Ross", []), ("boardman", []),
])
def test_a_name_reads_as_a_club_role_only_when_its_words_are_the_clubs(name, roles):
    assert club_role_words(name) == roles


def test_no_labelled_new_account_is_named_like_the_clubs_staff():
    """Guard: the 1,001 labelled add_user rows' logins, names and addresses read as no role."""
    new_accounts = [row for row in LABELLED if row["category"] == "add_user"]
    assert len(new_accounts) > 900
    assert [row for row in new_accounts for value in (row["username"], row["member_name"], row["member_email"])
            if club_role_words(value.rpartition("@")[0] or value)] == []
