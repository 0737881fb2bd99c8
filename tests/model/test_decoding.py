import json

import pytest

from core.mail import Email
from model.decoding import CategoryTrie, DraftLookup, decode
from model.inference import load_triager
from model.replies import render_reply
from model.schema import CATEGORIES

EMAILS = [
    Email("Anna Berg <anna@example.org>", "Cancel", "Please cancel my booking BK-12345, I'm injured."),
    Email("tom@example.com", "login", "I forgot my password, username tk_2009"),
]


@pytest.fixture(scope="module")
def triager(tiny_base_dir):
    return load_triager(str(tiny_base_dir), adapter=None)


def test_trie_allows_only_category_tokens_then_frees_decoding(triager):
    trie = CategoryTrie(triager.tokenizer)
    first = trie.allowed([])
    assert first and len(first) <= len(CATEGORIES)
    for category, sequence in trie.sequences.items():
        assert trie.allowed(sequence) is None
        assert trie.allowed(sequence + [7]) is None
        assert trie.category_of(sequence + [7]) == category
    with pytest.raises(ValueError):
        trie.allowed([max(first) + 10_000])


def test_draft_lookup_proposes_what_followed_in_the_prompt(triager):
    lookup = DraftLookup(triager.tokenizer)
    prompt = triager.tokenizer("booking BK-12345 thanks", add_special_tokens=False).input_ids
    answer = prompt[:2]
    assert lookup.propose(prompt, answer)[:3] == prompt[2:5]


def test_draft_lookup_decoding_gives_exactly_the_greedy_answer_in_fewer_passes(triager):
    for email in EMAILS:
        prompt = triager.prompt_ids(email)
        plain = decode(triager.model, prompt, triager.trie, None, triager.stop_ids, 60)
        drafted = decode(triager.model, prompt, triager.trie, triager.lookup, triager.stop_ids, 60)
        assert drafted.answer_tokens == plain.answer_tokens
        assert drafted.category == plain.category and drafted.category in CATEGORIES
        assert drafted.forward_passes <= plain.forward_passes
        assert 0.0 < drafted.confidence <= 1.0


def _draft_text(triager, draft):
    return triager.tokenizer.decode(draft)


def test_finish_draft_after_a_bare_category_is_the_templated_reply_and_the_stop_token(triager):
    lookup = triager.lookup
    answer = triager.trie.sequences["other"]
    draft = lookup.finish_draft(answer, "Anna Berg <anna@example.org>")
    reply = json.dumps(render_reply("other", {}, "Anna Berg <anna@example.org>"))[1:-1]
    assert draft[-1] == lookup.end_id
    assert _draft_text(triager, draft[:-1]) == f'","response":"{reply}"}}'


def test_finish_draft_completes_a_booking_id_in_the_clubs_form_from_the_email(triager):
    spans = triager.spans(Email("Tom <tom@example.org>", "court", "please cancel bk 48213 thanks"))
    answer = triager.tokenizer('cancel_booking","booking_id":"', add_special_tokens=False).input_ids
    text = _draft_text(triager, triager.lookup.finish_draft(answer, "Tom <tom@example.org>", spans))
    assert text.startswith('BK-48213","response":"Hi Tom, your booking BK-48213 has been cancelled.')


def test_finish_draft_completes_a_copied_username_from_the_mails_spans(triager):
    spans = triager.spans(Email("Tom <tom@example.org>", "login", "I'm locked out, my login is HKOENIG"))
    answer = triager.tokenizer('reset_password","username":"HK', add_special_tokens=False).input_ids
    text = _draft_text(triager, triager.lookup.finish_draft(answer, "Tom <tom@example.org>", spans))
    assert text.startswith('OENIG","response":"Hi Tom, we have sent a password reset link')


def test_finish_draft_follows_the_language_the_reply_started_in(triager):
    head = 'cancel_booking","response":"Hallo'
    answer = triager.tokenizer(head, add_special_tokens=False).input_ids
    text = head + _draft_text(triager, triager.lookup.finish_draft(answer, "Markus <m@example.de>"))
    assert "Ihre Buchung wurde storniert" in text


def test_finish_draft_gives_nothing_inside_a_field_value(triager):
    answer = triager.tokenizer('add_user","username":"tk_20', add_special_tokens=False).input_ids
    assert triager.lookup.finish_draft(answer, "x@example.org") == []


def test_drafts_change_nothing_under_the_grammar_either(triager):
    for email in EMAILS:
        spans = triager.spans(email)
        run = [decode(triager.model, triager.prompt_ids(email), triager.trie, lookup, triager.stop_ids, 160,
                      email.sender, guard=triager.guard_for(spans), spans=spans) for lookup in (None, triager.lookup)]
        assert run[0].answer_tokens == run[1].answer_tokens and run[0].stopped


def test_the_prefix_cache_changes_nothing_but_the_work(triager):
    from model.decoding import prefix_cache

    for email in EMAILS:
        prompt = triager.prompt_ids(email)
        cached = prefix_cache(triager.model, prompt[:12])
        plain = decode(triager.model, prompt, triager.trie, triager.lookup, triager.stop_ids, 60)
        reused = decode(triager.model, prompt, triager.trie, triager.lookup, triager.stop_ids, 60, prefix=cached)
        assert reused.answer_tokens == plain.answer_tokens and reused.confidence == pytest.approx(plain.confidence)


def test_a_reply_that_left_the_template_rejoins_it_after_the_word_that_differed(triager):
    sender = "Kai <kai@example.de>"
    head = 'add_user","member_name":"Emilie Brenner","response":"'
    reply = render_reply("add_user", {"member_name": "Emilie Brenner"}, sender, "de")
    said = json.dumps(reply.replace("Emilie", "Emilia"), ensure_ascii=False)[1:-1] + '"}'
    upto = said.index(" zum Anlegen") + len(" zum")
    answer = triager.tokenizer(head + said[:upto], add_special_tokens=False).input_ids
    assert triager.lookup.finish_draft(answer, sender) == []  # the answer has left the template
    draft = triager.lookup.propose([], answer, sender)
    assert len(draft) >= 8
    assert (head + said).startswith(_draft_text(triager, answer + draft))
