"""The real default model with the shipped adapter (marked: needs the converted Gemma base)."""

from datetime import datetime

import pytest

from core.mail import Email
from model.decoding import decode
from model.inference import DEFAULT_ADAPTER, MAX_NEW_TOKENS, load_triager

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
    drafted = decode(triager.model, prompt, triager.trie, triager.lookup, triager.stop_ids, MAX_NEW_TOKENS,
                     email.sender, guard=triager.guard)  # a valid answer: the guard changes nothing
    assert drafted.answer_tokens == plain.answer_tokens
    assert drafted.forward_passes <= plain.forward_passes // 4
