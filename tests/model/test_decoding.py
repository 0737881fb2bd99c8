import pytest

from model.decoding import CategoryTrie, DraftLookup, decode
from model.inference import load_triager
from model.prompt import Email
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
