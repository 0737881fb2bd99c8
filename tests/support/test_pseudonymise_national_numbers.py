"""Pseudonymisation of what the last probes left: national ids and bank codes written with
no word before them in their usual spacing or hyphens (a US SSN, a UK sort code beside its account,
a UK National Insurance number, a Spanish DNI or NIE, a French INSEE number; the German tax id was
already a spaced number), a date of birth whose birth word comes after it ("03/04/2009 (date of
birth)", "14.3.2011 – Geburtsdatum") in the four languages, and a month's abbreviation that is the
sender's first name ("see you on 14 Jan" from Jan Kowalski)."""

from __future__ import annotations

import re

import pytest

from support.pseudonymise import pseudonymise_rows
from tests.support.test_pseudonymise import _a_stand_in_date, _form

SUPPORT = "Club Support <support@club.example>"
DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def one(body: str, sender: str = SUPPORT, seed: int = 1) -> str:
    [out] = pseudonymise_rows([{"sender": sender, "body": body}], seed=seed)
    return out["body"]


def _shape(text: str) -> str:
    return re.sub(r"[A-Z]", "A", re.sub(r"\d", "0", text))


_NATIONAL_NUMBERS = [  # (a form with no cue the rules knew, the same value as the file may also write it)
    ("123-45-6789", "123456789"),  # US SSN
    ("QQ 12 34 56 C", "QQ123456C"),  # UK National Insurance number
    ("12.345.678-Z", "12345678Z"),  # Spanish DNI, its letter the check of its digits
    ("X-1234567-L", "X1234567L"),  # Spanish NIE
    ("1 85 05 78 006 084 36", "185057800608436"),  # French INSEE number
    ("2 85 05 2A 006 084 36", "285052A00608436"),  # French INSEE number, born in Corsica
    ("12 345 678 901", "12345678901"),  # German tax id: a guard, a spaced number of seven digits or more
]


@pytest.mark.parametrize(("written", "again"), _NATIONAL_NUMBERS)
def test_a_national_number_in_its_usual_spacing_is_replaced_whole(written, again):
    """Before: the SSN, the NI number, the dotted DNI passed through as written; the INSEE
    number kept its first groups (sex, year and month of birth) as a phone number took the rest."""
    body = f"Please note {written} on the form."
    out = one(body)
    stand_in = out.removeprefix("Please note ").removesuffix(" on the form.")
    assert out == f"Please note {stand_in} on the form." and _shape(stand_in) == _shape(written), out
    kept = [original for original, new in zip(re.findall(r"\w+", written), re.findall(r"\w+", stand_in), strict=True)
            if original == new and re.search(r"\d\d", original)]  # one digit may be drawn again
    assert not kept, out


@pytest.mark.parametrize(("written", "again"), _NATIONAL_NUMBERS)
def test_a_national_number_written_two_ways_is_one_stand_in(written, again):
    out = one(f"Please note {written} on the form.\nAgain: {again}, thanks.")
    found = re.fullmatch(r"Please note (.+) on the form\.\nAgain: (.+), thanks\.", out)
    assert found and _shape(found[1]) == _shape(written) and _shape(found[2]) == _shape(again), out
    assert re.sub(r"\W", "", found[1]) == re.sub(r"\W", "", found[2]) != re.sub(r"\W", "", written), out


@pytest.mark.parametrize("written", ["12.345.678-Z", "12345678Z", "X-1234567-L", "Y1234567X"])
def test_a_spanish_id_keeps_a_check_letter_that_fits_its_new_digits(written):
    """The letter is the digits' remainder by 23: the original letter beside new digits told a
    reader that remainder, and read as a forged id."""
    out = one(f"DNI: {written}")
    stand_in = out.removeprefix("DNI: ")
    digits = re.sub(r"\D", "", stand_in)
    prefix = "XYZ".find(stand_in[0]) if stand_in[0] in "XYZ" else ""
    assert stand_in[-1] == DNI_LETTERS[int(f"{prefix}{digits}") % 23] and digits != re.sub(r"\D", "", written), out


@pytest.mark.parametrize("body", [
    "Please pay from 20-00-00 12345678, thanks",
    "Sort code 20-00-00, account 12345678.",
    "sort code: 20-00-00",
    "Account 12345678 / 20-00-00",
    "20-00-00 acc. no. 12345678",
])
def test_a_sort_code_after_its_words_or_beside_an_account_is_replaced_whole(body):
    """Before, "20-00-00" passed through, or a phone number took "00-00 12345678" and left "20-"."""
    out = one(body)
    assert _shape(out) == _shape(body) and "12345678" not in out, out
    assert not re.search(r"\d\d-\d\d-\d\d", out)[0].startswith("20-00"), out


@pytest.mark.parametrize("body", [
    "Rechnung Nr. 2026-4471", "score 6-4 6-3 7-5", "see you 14-06-25 at 10:00", "season 2025-2026",
    "courts 12 14 16 18", "order 1234-5678-9012-3456", "from 10-12-14 to 2026-01-15", "Court 3A, U12 squad",
    "call me at 10-12", "code AB 12 34 56", "the U12 team UK 12 34 56 plays", "£12.50 per hour",
    "Court 3 on 14.06.2025 from 18:30-19:30", "Rechnung 2025-123-4567"])
def test_guard_what_only_looks_like_a_national_number_stays(body):
    """A guard: dates, scores, courts, seasons and invoices in the shapes near the new ones stay."""
    assert one(body) == body


_BIRTH_DATES_CUED_AFTER = [  # (the mail, the date as written)
    ("03/04/2009 (date of birth)", "03/04/2009"),
    ("14.3.2011 – Geburtsdatum", "14.3.2011"),
    ("2009-04-03 is my son's birthday", "2009-04-03"),
    ("Details: 12/05/2010 is her date of birth, she plays Court 3.", "12/05/2010"),
    ("Mein Sohn ist am 3.4.2009 geboren.", "3.4.2009"),
    ("Der 14.03.2011 ist sein Geburtstag.", "14.03.2011"),
    ("3 avril 2009 (date de naissance)", "3 avril 2009"),
    ("Le 12/05/2010 est sa date de naissance.", "12/05/2010"),
    ("12/05/2010 es su fecha de nacimiento", "12/05/2010"),
    ("El 12 de mayo de 2010 es su cumpleaños.", "12 de mayo de 2010"),
    ("3 April 2009 - DOB", "3 April 2009"),
]


@pytest.mark.parametrize(("body", "written"), _BIRTH_DATES_CUED_AFTER)
def test_a_date_of_birth_with_its_birth_word_after_it_becomes_another_date_in_its_form(body, written):
    """Each passed through as written before: the birth word was looked for before the date only."""
    out = one(f"{body}\nAgain: {body}")
    first, again = out.split("\nAgain: ")
    before, after = body.split(written)
    assert first == again and first.startswith(before) and first.endswith(after), out
    stand_in = first[len(before):len(first) - len(after)]
    assert _a_stand_in_date(stand_in, written) and _form(stand_in) == _form(written), out


@pytest.mark.parametrize("body", [
    "Can we book Court 2 on 14.06.2026 for my son's birthday party?",
    "2026-04-03 is my son's birthday, can we book Court 2?",
    "Training on 03/04/2026 (date of birth required to register).",
    "Sein Geburtstag ist am 14.03.2026, habt ihr Platz 3 frei?",
    "Mi cumpleaños es el 12 de mayo de 2026, ¿hay pista?",
    "Please book 3 April 2009 - the club's 100th anniversary"])
def test_guard_a_booking_date_beside_a_birthday_stays(body):
    """A guard: a birth word after a date of this year or last is a party's booking, not a birth."""
    assert one(body) == body


JAN = "Jan Kowalski <jan.kowalski@example.org>"


def test_a_months_abbreviation_that_is_the_senders_name_stays_a_month_beside_a_day():
    """Before, every "Jan" became the sender's stand-in: "see you on 14 Alex", "On Alex 3"."""
    body = "Hi, see you on 14 Jan.\nJan will come on Saturday. Jan 14 is fine too, or the 3rd of Jan.\nThanks,\nJan"
    out = one(body, sender=JAN)
    assert out.startswith("Hi, see you on 14 Jan.\n") and " Jan 14 is fine too, or the 3rd of Jan.\n" in out, out
    assert not re.search(r"^Jan|\nJan will|Jan$", out) and out.count("Jan") == 3, out


@pytest.mark.parametrize("body", ["Hi Jan, 3 courts are free", "Jan, 14:00 works", "at 10:00 Jan will come"])
def test_guard_the_senders_name_jan_beside_a_number_that_is_no_day_is_replaced(body):
    """A guard: a time, or a number after a comma, beside "Jan" makes it no date: the name is replaced."""
    assert not re.search(r"\bJan\b", one(body, sender=JAN)), body
