"""The output-layer shortlist (model/shortlist.py) on the tiny 2-layer model: what it scores, that a
shortlist of the whole vocabulary changes nothing, that a short one still gives a whole answer
inside the grammar, and that a model it does not reproduce keeps the whole output layer."""

import json

import pytest
import torch

from core.mail import Email
from model.decoding import decode
from model.inference import load_triager
from model.metadata import read_answer_tokens, write_answer_tokens
from model.prompt import ANSWER_PREFIX
from model.schema import CATEGORIES
from model.shortlist import Shortlist, mail_tokens
from tests.model.test_decoding import EMAILS  # the same two mails the drafts are tested on


@pytest.fixture(scope="module")
def triager(tiny_base_dir):
    return load_triager(str(tiny_base_dir), adapter=None)


def _decode(triager, email, shortlist=None):
    spans = triager.spans(email)
    prompt = triager.prompt_ids(email)
    mail = shortlist and shortlist.for_mail(mail_tokens(triager.tokenizer, prompt, spans))
    return decode(triager.model, prompt, triager.trie, triager.lookup, triager.stop_ids, 160, email.sender,
                  guard=triager.guard_for(spans), spans=spans, shortlist=mail)


def _special(triager) -> list[int]:
    return [token for sequence in triager.trie.sequences.values() for token in sequence] + sorted(triager.stop_ids)


def test_answer_tokens_round_trip_beside_an_adapter(tmp_path):
    assert read_answer_tokens(tmp_path) is None and read_answer_tokens(None) is None
    write_answer_tokens(tmp_path, [5, 3, 5, 9])
    assert read_answer_tokens(tmp_path) == [3, 5, 9]
    assert json.loads((tmp_path / "answer_tokens.json").read_text())["count"] == 3


def test_the_shortlist_scores_its_tokens_exactly_and_nothing_else(triager):
    prompt = triager.prompt_ids(EMAILS[0])
    chosen = list(range(3, 60))
    shortlist = Shortlist.build(triager.model, chosen, prompt)
    assert shortlist is not None
    with torch.inference_mode():
        whole = triager.model(input_ids=torch.tensor([prompt])).logits[0, -3:]
        hidden = shortlist.decoder(input_ids=torch.tensor([prompt])).last_hidden_state[0, -3:]
    mail = shortlist.for_mail([100, 101, 5])
    scored = mail.logits(hidden)
    expected = sorted({*chosen, 100, 101})
    assert torch.isfinite(scored).sum(dim=1).tolist() == [len(expected)] * 3
    assert torch.allclose(scored[:, expected], whole[:, expected], atol=1e-5)
    allowed = torch.zeros(whole.shape[-1], dtype=torch.bool)
    allowed[[200, 201]] = True
    exact = mail.exact(hidden[-1], allowed)
    assert torch.allclose(exact[[200, 201]], whole[-1, [200, 201]], atol=1e-5)
    assert torch.isinf(exact).sum() == whole.shape[-1] - 2


def test_a_shortlist_of_the_whole_vocabulary_gives_exactly_the_same_answers(triager):
    everything = list(range(triager.model.config.vocab_size))
    shortlist = Shortlist.build(triager.model, everything, triager.prompt_ids(EMAILS[0]))
    for email in EMAILS:
        whole, short = _decode(triager, email), _decode(triager, email, shortlist)
        assert short.answer_tokens == whole.answer_tokens
        assert short.category == whole.category and short.confidence == pytest.approx(whole.confidence)


def test_a_short_list_still_closes_a_whole_answer_inside_the_grammar(triager, monkeypatch):
    """Only the category and stop tokens on the list: after the category every step is either a
    token of the mail or one the grammar forces from off the list (scored exactly), and the answer
    is still whole, valid JSON whose copied fields are spans of the mail."""
    from model.shortlist import MailShortlist

    shortlist = Shortlist.build(triager.model, _special(triager), triager.prompt_ids(EMAILS[0]))
    exact_calls = []
    scored_exactly = MailShortlist.exact
    monkeypatch.setattr(MailShortlist, "exact", lambda self, *a: exact_calls.append(1) or scored_exactly(self, *a))
    for email in EMAILS:
        whole, short = _decode(triager, email), _decode(triager, email, shortlist)
        assert short.category == whole.category and short.confidence == pytest.approx(whole.confidence)
        answer = json.loads(ANSWER_PREFIX + triager.tokenizer.decode(short.answer_tokens))
        assert answer["category"] in CATEGORIES and isinstance(answer["response"], str)
        spans = triager.spans(email)
        for field in ("username", "booking_id", "member_email"):
            assert answer.get(field) in (None, *spans.of(field))
    assert exact_calls  # the grammar needed tokens off the list, and got them scored


def test_mail_tokens_hold_the_prompt_its_respellings_and_the_spans_as_json_spells_them(triager):
    email = EMAILS[1]
    prompt = triager.prompt_ids(email)
    tokens = set(mail_tokens(triager.tokenizer, prompt, triager.spans(email)))
    assert set(prompt) <= tokens
    assert set(triager.tokenizer('"tk_2009"', add_special_tokens=False).input_ids) <= tokens


def test_a_model_whose_logits_it_does_not_reproduce_keeps_the_whole_output_layer(triager, monkeypatch):
    prompt = triager.prompt_ids(EMAILS[0])
    assert Shortlist.build(triager.model, [], prompt) is None  # no list: the whole vocabulary
    assert Shortlist.build(torch.nn.Linear(4, 4), [1, 2], prompt) is None  # no decoder / output layer split
    monkeypatch.setattr(triager.model.config, "final_logit_softcapping", 0.5, raising=False)
    assert Shortlist.build(triager.model, list(range(50)), prompt) is None


def test_the_triager_decodes_with_its_adapters_list_and_only_with_it(tiny_base_dir, tmp_path):
    """A triager whose adapter lists its answer tokens builds the shortlist on its first mail; the
    category, its confidence and the category scores the calibration and second requests read are
    the whole output layer's, however short the list."""
    from peft import LoraConfig, get_peft_model

    from model.metadata import write_metadata

    local = load_triager(str(tiny_base_dir), adapter=None)
    adapter = tmp_path / "adapter"
    peft_model = get_peft_model(local.model, LoraConfig(r=2, target_modules=["q_proj"], task_type="CAUSAL_LM"))
    peft_model.save_pretrained(adapter)
    write_metadata(adapter, str(tiny_base_dir), local.style.name, {})
    write_answer_tokens(adapter, range(3, 40))
    triager = load_triager(str(tiny_base_dir), adapter=adapter)
    assert triager.shortlist_tokens == 0  # built on the first mail, under the adapter's merged weights
    quoted = Email("Anna Berg <anna@example.org>", "Re: Cancel",
                   "Thanks!\n\nOn Mon, club wrote:\n> Your booking BK-12345 has been cancelled.")
    mails = [*EMAILS, quoted]
    short = [triager.triage(email) for email in mails]
    scores = [triager.category_scores(email) for email in EMAILS]
    assert 37 <= triager.shortlist_tokens < 50  # the list, the categories' tokens and the stop tokens
    triager.use_shortlist = False
    whole = [triager.triage(email) for email in mails]
    for a, b in zip(short, whole, strict=True):
        assert a.category == b.category and a.confidence == pytest.approx(b.confidence, abs=1e-5)
        assert a.category_without_quote == b.category_without_quote
    assert triager.quote_check == (short[-1].category_without_quote is not None)
    for email, scored in zip(EMAILS, scores, strict=True):
        assert triager.category_scores(email) == pytest.approx(scored, abs=1e-5)
    triager.use_adapter(None)
    assert triager.shortlist_tokens == 0
