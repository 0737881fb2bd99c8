"""The real default model with the shipped adapter (marked: needs the converted Gemma base)."""

import json
import math
from datetime import datetime

import pytest

from core.mail import Email
from model.category_check import load_category_check
from model.decoding import decode
from model.inference import DEFAULT_ADAPTER, MAX_NEW_TOKENS, load_triager
from model.prompt import mail_parts

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def triager():
    assert (DEFAULT_ADAPTER / "adapter_model.safetensors").exists(), "the shipped adapter is missing"
    return load_triager()


def test_cancellation_with_a_booking_id(triager):
    result = triager.triage(Email(
        "Tom Keller <tom.keller@example.org>", "Saturday court",
        "Hi, please cancel my booking BK-48213 on Saturday, I hurt my ankle. Thanks, Tom",
        datetime(2026, 11, 25, 9, 0)))
    assert result.category == "cancel_booking"
    assert result.booking_id == "BK-48213"
    assert result.valid and result.confidence > 0.5
    assert "BK-48213" in result.response


def test_password_reset_with_a_username(triager):
    result = triager.triage(Email(
        "m.fischer@example.com", "Can't log in",
        "Hello, I forgot my password and cannot log in. My username is mfischer77. Can you help?"))
    assert result.category == "reset_password"
    assert result.username == "mfischer77"
    assert result.valid


def test_drafted_decoding_is_exactly_greedy_in_a_few_passes(triager):
    email = Email("Anna Berg <anna@example.org>", "Saturday",
                  "Please cancel booking bk 30917, I am ill. Anna")
    prompt = triager.prompt_ids(email)
    plain = decode(triager.model, prompt, triager.trie, None, triager.stop_ids, MAX_NEW_TOKENS)
    spans = triager.spans(email)
    drafted = decode(triager.model, prompt, triager.trie, triager.lookup, triager.stop_ids, MAX_NEW_TOKENS,
                     email.sender, guard=triager.guard_for(spans), spans=spans)  # a valid answer: no change
    assert drafted.answer_tokens == plain.answer_tokens
    assert drafted.forward_passes <= plain.forward_passes // 4


def test_copied_fields_are_the_mails_own_spans(triager):
    result = triager.triage(Email(
        "Hans König <hans.koenig@t-online.de>", "Password",
        "Dear Sirs,\n\nI have been locked out. The username is HKOENIG, all in capitals, as the old system "
        "gave it to me. Please reset the password.\n\nRegards\nH. König"))
    assert (result.category, result.username) == ("reset_password", "HKOENIG")


def test_a_mail_that_makes_the_reply_long_still_gets_a_complete_valid_answer(triager):
    name = "Maximilian-Alexander Johannes Friedrich Wilhelm von Hohenberg-Schwarzenstein-Lichtenfels"
    email = Email("Familie von Hohenberg <eltern@example.de>", "Neues Konto für unseren Sohn",
                  f"Sehr geehrte Damen und Herren,\n\nbitte legen Sie für unseren Sohn {name} ({name} II.) "
                  f"ein Konto an, E-Mail {name.split()[0].lower()}@example.de, Benutzername "
                  f"{name.replace(' ', '_')[:60]}.\n\nMit freundlichen Grüßen\nFamilie von Hohenberg")
    result = triager.triage(email)
    assert result.valid and not result.problems
    assert json.loads(result.raw_answer)["category"] == result.category
    assert result.response.endswith(("Ihr Club-Support-Team", "Your club support team"))


def test_the_cached_prompt_start_and_the_quote_check_change_nothing_but_the_work(triager):
    email = Email("Laura Becker <laura.becker@example.org>", "Re: Password reset",
                  "Got it, I'm back in. Thank you! Ref " + "1234567890 " * 100 + "\n\n> We have sent a "
                  "password reset link to the email address on file for username lbecker_9.\n")
    prompt = triager.prompt_ids(email)
    assert len(prompt) > 512  # past Gemma's sliding window: its layers' caches are copied and cropped too
    spans = triager.spans(email)
    fresh = decode(triager.model, prompt, triager.trie, triager.lookup, triager.stop_ids, MAX_NEW_TOKENS,
                   email.sender, triager.decision_bias(email.subject, email.body), guard=triager.guard_for(spans),
                   spans=spans)
    result = triager.triage(email)
    assert result.raw_answer == '{"category":"' + triager.tokenizer.decode(fresh.answer_tokens)
    assert result.confidence == pytest.approx(fresh.confidence, abs=1e-3)
    parts = mail_parts(email, triager.tokenizer)
    alone = triager.category_probabilities(Email(email.sender, email.subject, parts.text))
    check = load_category_check().log_probabilities(email.subject, parts.text)  # weighed in as in triage
    decided = {category: math.log(p) + triager.check_weight * check[category] for category, p in alone.items()}
    assert result.category_without_quote == max(decided, key=decided.get)


def test_the_shipped_adapter_decodes_with_its_shortlist_and_gives_the_whole_layers_answers(triager):
    """The shipped adapter lists its answer tokens: decoding scores those and the mail's own, and
    on these mails (a reschedule with free fields, a German new member, a quoted thank-you) gives
    what scoring the whole vocabulary gives (benchmarks/inference_speed.py counts it on whole sets)."""
    from model.metadata import read_answer_tokens

    mails = [
        Email("Ben Ortiz <ben.ortiz@example.com>", "Move my booking",
              "Hi, could you move BK-52210 from Saturday to Sunday at 10am on court 4? Thanks, Ben"),
        Email("Kai Brenner <kai@example.de>", "Neues Mitglied",
              "Hallo, bitte legen Sie ein Konto für meine Tochter Emilia Brenner an, emilia.b@example.de. Danke!"),
        Email("Laura Becker <laura.becker@example.org>", "Re: Password reset",
              "Thank you, all sorted!\n\n> We have sent a password reset link for username lbecker_9.\n"),
    ]
    shortlisted = [triager.triage(email) for email in mails]
    assert triager.shortlist_tokens >= len(read_answer_tokens(DEFAULT_ADAPTER)) > 1000
    triager.use_shortlist = False
    try:
        whole = [triager.triage(email) for email in mails]
    finally:
        triager.use_shortlist = True
    for short, full in zip(shortlisted, whole, strict=True):
        assert short.raw_answer == full.raw_answer
        assert short.confidence == pytest.approx(full.confidence, abs=1e-4)
        assert short.category_without_quote == full.category_without_quote
