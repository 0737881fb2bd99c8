"""Decoding one triage answer.

1. The category is constrained to the five allowed values (a token trie): the model can
   never invent a category, and the probabilities of the allowed branches give the
   category's confidence.
2. The rest of the JSON is greedy decoding inside the answer's grammar (model/constraint.py:
   the contract's shape, copied fields only as spans of the mail), sped up by *drafts* checked
   in one forward pass each. Only tokens the model itself would have chosen are kept, so the
   output is the same as plain greedy decoding under the grammar, in fewer forward passes.
   Draft sources:
   - the reply: once the category is known, the whole rest of the answer the club's templates
     give (no further field, or a copied span of the mail, then the templated reply, the
     closing brace and the stop token);
   - resync: where the answer has just left that templated answer (a name or a word said
     differently), what followed its latest n-gram there: the reply rejoins the template;
   - lookup: answers copy the email (names, ids, dates), so the tokens that followed the
     answer's latest n-gram in the prompt or in the template pieces.
3. Budgets: the answer is closed (its string and object) before ``max_new_tokens`` runs out
   or once its reply has taken ``REPLY_MAX_TOKENS`` (model/constraint.py), and decoding is
   abandoned at a deadline; all are reported on ``Decoded``.
4. The prompt's fixed start (system text and template, the same for every mail) is run once
   per Triager and its KV cache reused (``PrefixCache``).
5. With a shortlist (model/shortlist.py) the output layer scores only the tokens the answer can
   use: the adapter's answer tokens and the mail's own, half of each step's time saved.
"""

from __future__ import annotations

import copy
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from model.constraint import CLOSING_RESERVE, AnswerGuard
from model.copying import CopySpans
from model.prompt import ANSWER_PREFIX
from model.replies import LANGUAGES, draft_texts, render_reply
from model.schema import CATEGORIES, FIELDS
from model.shortlist import MailShortlist

# Every answer continues a category with '","' and the next key: tokenize with it so the
# category's tokens match how the training target was tokenized.
_AFTER_CATEGORY = '","'
_RESPONSE_KEY = '"response":"'
_PARTIAL_COPY = re.compile(r'"(username|booking_id|member_email)":"([^"]*)$')

GuardFactory = Callable[[str, list[int]], AnswerGuard]
"""Builds one mail's grammar guard once its category and the category's tokens are known."""


@dataclass
class Decoded:
    category: str
    confidence: float
    answer_tokens: list[int]
    """Everything generated after the prompt, category included, stop token excluded."""
    forward_passes: int
    stopped: bool
    """False when max_new_tokens ran out before a stop token."""
    closed_early: bool = False
    """The token budget closed the answer: its last string (the reply, usually) is cut."""
    abandoned: bool = False
    """The deadline passed: decoding stopped where it was."""


class CategoryTrie:
    """The five categories as token sequences; ``allowed`` restricts each decoding step."""

    def __init__(self, tokenizer):
        self.sequences = {cat: _category_tokens(tokenizer, cat) for cat in CATEGORIES}

    def allowed(self, prefix: list[int]) -> list[int] | None:
        """Tokens that may follow ``prefix``; None once ``prefix`` starts with a whole category."""
        if any(prefix[: len(seq)] == seq for seq in self.sequences.values()):
            return None
        depth = len(prefix)
        options = {seq[depth] for seq in self.sequences.values() if len(seq) > depth and seq[:depth] == prefix}
        if not options:
            raise ValueError("prefix is not the start of any category")
        return sorted(options)

    def first_tokens(self) -> dict[str, int]:
        """Each category's first token; calibration needs them to differ."""
        firsts = {category: sequence[0] for category, sequence in self.sequences.items()}
        if len(set(firsts.values())) != len(firsts):
            raise ValueError("this tokenizer starts two categories with the same token: no calibration")
        return firsts

    def first_token_bias(self, category_bias: dict[str, float]) -> dict[int, float]:
        """Per-category biases as biases of the categories' first tokens."""
        if not category_bias:
            return {}
        firsts = self.first_tokens()
        return {firsts[category]: bias for category, bias in category_bias.items()}

    def category_of(self, tokens: list[int]) -> str:
        return next(cat for cat, seq in self.sequences.items() if tokens[: len(seq)] == seq)


def _category_tokens(tokenizer, category: str) -> list[int]:
    ids = tokenizer(category + _AFTER_CATEGORY, add_special_tokens=False).input_ids
    for end in range(1, len(ids) + 1):
        if tokenizer.decode(ids[:end]).startswith(category):
            return ids[:end]
    raise ValueError(f"cannot tokenize category {category}")


class DraftLookup:
    """Proposes draft tokens: the templated rest of the answer while the answer agrees with it,
    else the tokens that followed the answer's last n-gram in, first, the templated answers it
    has just left (so a reply that said one word differently rejoins the template after it),
    then the answer itself, the prompt and the reply templates (prompt-lookup decoding)."""

    def __init__(self, tokenizer, end_id: int | None = None, max_ngram: int = 3, max_draft: int = 16,
                 resync: bool = True):
        self.tokenizer = tokenizer
        self.end_id = end_id
        self.max_ngram = max_ngram
        self.max_draft = max_draft
        self.resync = resync
        """Look the templated answers up after the answer has left them (False: the drafts as
        before 2026-12-02, the speed benchmark's baseline)."""
        # Templates as they appear inside the JSON answer (escaped), plus the answer's keys.
        texts = [json.dumps(text, ensure_ascii=False)[1:-1] for text in draft_texts()]
        texts += [f'","{key}":"' for key in (*FIELDS, "response")]
        self.template_tokens = [tokenizer(t, add_special_tokens=False).input_ids for t in texts]

    def propose(self, prompt: list[int], answer: list[int], sender: str = "", spans: CopySpans | None = None
                ) -> list[int]:
        rendered = self.rendered_answers(answer, sender, spans)
        return _rest_of_agreeing(rendered, answer) or self.lookup(prompt, answer, rendered if self.resync else [])

    def finish_draft(self, answer: list[int], sender: str, spans: CopySpans | None = None) -> list[int]:
        """The rest of the answer, guessing that no further field follows and that the reply
        is the template's, in the first language whose rendering agrees with what was
        decoded so far (English before any reply token). A wrong guess costs one pass."""
        return _rest_of_agreeing(self.rendered_answers(answer, sender, spans), answer)

    def rendered_answers(self, answer: list[int], sender: str, spans: CopySpans | None = None) -> list[list[int]]:
        """Whole answers (tokens, stop token included) the club's templates give for what was
        decoded so far: one per guess of the answer's head and per language, in that order."""
        text = self.tokenizer.decode(answer)
        tail = [self.end_id] if self.end_id is not None else []
        answers = []
        for head in self._heads(text, spans):
            try:
                fields = json.loads(ANSWER_PREFIX + head + '"}')
            except ValueError:  # what was decoded so far is not valid JSON: no reliable draft
                continue
            if fields.get("category") not in CATEGORIES:
                continue
            for lang in LANGUAGES:
                reply = json.dumps(render_reply(fields["category"], fields, sender, lang), ensure_ascii=False)
                answers.append(self.tokenizer(head + reply[1:-1] + '"}', add_special_tokens=False).input_ids + tail)
        return answers

    def _heads(self, text: str, spans: CopySpans | None):
        """Guesses of the answer up to its reply."""
        at = text.find(_RESPONSE_KEY)
        if at >= 0:
            yield text[: at + len(_RESPONSE_KEY)]
        elif text in CATEGORIES:  # a booking id the email states, or no field at all
            for booking_id in spans.booking_id if spans else ():
                yield f'{text}","booking_id":"{booking_id}",{_RESPONSE_KEY}'
            yield text + '",' + _RESPONSE_KEY
        elif text.endswith('","'):  # a key starts
            yield text[:-1] + _RESPONSE_KEY
        elif spans and (partial := _PARTIAL_COPY.search(text)):  # a copied span: only the mail's own
            for value in spans.of(partial.group(1)):
                if value.startswith(partial.group(2)):
                    yield f'{text[: partial.start(2)]}{value}",{_RESPONSE_KEY}'

    def lookup(self, prompt: list[int], answer: list[int], rendered: list[list[int]] = ()) -> list[int]:
        """What followed the answer's last n-gram (longest first) in the ``rendered`` answers,
        the answer so far, the prompt or the templates."""
        for n in range(min(self.max_ngram, len(answer)), 0, -1):
            tail = answer[-n:]
            for source in (*rendered, answer[:-1], prompt, *self.template_tokens):
                draft = _continuation(source, tail, self.max_draft)
                if draft:
                    return draft
        return []


def _rest_of_agreeing(rendered: list[list[int]], answer: list[int]) -> list[int]:
    """The rest of the first rendered answer that begins with ``answer``; [] when none does."""
    return next((full[len(answer) :] for full in rendered if len(full) > len(answer) and full[: len(answer)] == answer),
                [])


def _continuation(source: list[int], tail: list[int], limit: int) -> list[int]:
    """Tokens after the last occurrence of ``tail`` in ``source``."""
    n = len(tail)
    for start in range(len(source) - n, -1, -1):
        if source[start : start + n] == tail:
            return source[start + n : start + n + limit]
    return []


@dataclass
class PrefixCache:
    """The KV cache of the token ids every prompt starts with (the template and system text)."""

    ids: list[int]
    cache: object


def prefix_cache(model, ids: list[int], start: PrefixCache | None = None) -> PrefixCache:
    """Run ``ids`` once (from ``start``'s cache where ``ids`` begin with its ids), so that
    prompts beginning with them copy the cache instead of running them again: the template and
    system text shared by every mail, or a mail's start shared by two prompts."""
    step = _Stepper(model, start)
    step.logits(ids)
    return PrefixCache(list(ids), step.cache)


def common_start(first: list[int], second: list[int]) -> int:
    """How many leading tokens two prompts share, less one: where they part, the last shared
    token may be spelled differently in context."""
    shared = next((i for i, (a, b) in enumerate(zip(first, second, strict=False)) if a != b),
                  min(len(first), len(second)))
    return max(shared - 1, 0)


class _Stepper:
    """Feeds tokens through the model, keeping its KV cache, and rolls back rejected drafts.
    With a ``shortlist`` the output layer scores only its tokens (model/shortlist.py)."""

    def __init__(self, model, prefix: PrefixCache | None = None, shortlist: MailShortlist | None = None):
        self.model = model
        self.cache = None
        self.passes = 0
        self.prefix = prefix
        self.shortlist = shortlist
        self.hidden: torch.Tensor | None = None
        """The final hidden states of the positions the last call kept (with a shortlist)."""

    @torch.inference_mode()
    def logits(self, tokens: list[int], keep: int = 1) -> torch.Tensor:
        """Logits of the last ``keep`` positions: a prefill needs the output layer only for
        its last token, and a draft check only for the draft's positions."""
        if self.cache is None and self.prefix and len(tokens) > len(self.prefix.ids) \
                and tokens[: len(self.prefix.ids)] == self.prefix.ids:
            self.cache = copy.deepcopy(self.prefix.cache)
            tokens = tokens[len(self.prefix.ids) :]
        ids = torch.tensor([tokens], device=self.model.device)
        if self.shortlist is None:
            output = self.model(input_ids=ids, cache=self.cache, use_cache=True, logits_to_keep=keep)
            logits = output.logits[0].float()
        else:
            output = self.shortlist.shortlist.decoder(input_ids=ids, cache=self.cache, use_cache=True)
            self.hidden = output.last_hidden_state[0, -keep:]
            logits = self.shortlist.logits(self.hidden)
        if self.cache is None:
            self.cache = output.cache
            self.cache.activate_past_recording()  # sliding-window layers can then roll back too
        self.passes += 1
        return logits

    def exact(self, position: int, allowed: torch.Tensor) -> torch.Tensor:
        """The whole output layer's logits for the ``allowed`` tokens at a kept ``position`` of the
        last call (``-inf`` elsewhere): where the grammar allows only tokens off the shortlist."""
        return self.shortlist.exact(self.hidden[position], allowed)

    def drop_last(self, count: int) -> None:
        if count:
            self.cache.crop(-count)


@torch.inference_mode()
def last_logits(model, prompt: list[int], prefix: PrefixCache | None = None,
                shortlist: MailShortlist | None = None) -> torch.Tensor:
    """The next-token logits after ``prompt`` (one prefill, reusing the prefix cache; with a
    ``shortlist``, only its tokens scored: enough for the categories' first tokens)."""
    return _Stepper(model, prefix, shortlist).logits(prompt)[-1]


@torch.inference_mode()
def decode(model, prompt: list[int], trie: CategoryTrie, lookup: DraftLookup | None,
           stop_ids: set[int], max_new_tokens: int = 160, sender: str = "",
           first_token_bias: dict[int, float] | None = None, guard: GuardFactory | None = None,
           spans: CopySpans | None = None, deadline: float | None = None,
           prefix: PrefixCache | None = None, shortlist: MailShortlist | None = None) -> Decoded:
    """Constrained category, then greedy decoding with drafts (``lookup=None``: none).
    ``sender`` names the member in the drafted reply, as the training replies do;
    ``first_token_bias`` is the adapter's calibration (model/calibration.py); ``guard`` builds
    the mail's grammar (None: free greedy decoding, no budget); ``spans`` the mail's copyable
    spans for drafts; ``deadline`` a ``time.monotonic()`` after which decoding is abandoned;
    ``shortlist`` the mail's output-layer shortlist (model/shortlist.py; None: the whole vocabulary)."""
    step = _Stepper(model, prefix, shortlist)
    answer: list[int] = []
    pending = list(prompt)  # tokens not yet fed to the model
    confidence = 1.0

    def late() -> bool:
        return deadline is not None and time.monotonic() > deadline

    if late():
        return Decoded(CATEGORIES[-1], 0.0, [], 0, False, abandoned=True)
    while (allowed := trie.allowed(answer)) is not None:
        if len(allowed) == 1:  # forced: no choice, probability 1 within the constraint
            choice = allowed[0]
        else:
            scores = step.logits(pending)[-1][allowed]
            if first_token_bias and not answer:
                scores = scores + torch.tensor([first_token_bias.get(token, 0.0) for token in allowed])
            probs = torch.softmax(scores, dim=-1)
            best = int(probs.argmax())
            confidence *= float(probs[best])
            choice, pending = allowed[best], []
        answer.append(choice)
        pending.append(choice)
    category = trie.category_of(answer)
    checker = guard(category, list(answer)) if guard else None

    while len(answer) < max_new_tokens:
        if late():
            return Decoded(category, confidence, answer, step.passes, False, abandoned=True)
        if checker and checker.must_close(max_new_tokens) and (closing := checker.closing()):
            return Decoded(category, confidence, answer + closing, step.passes, True, closed_early=True)
        room = max_new_tokens - len(answer) - 1 - (CLOSING_RESERVE if checker else 0)
        if checker and (reply_left := checker.reply_tokens_left()) is not None:
            room = min(room, reply_left - 1)  # draft and the token after it: never past the reply's budget
        draft = lookup.propose(prompt, answer, sender, spans)[: max(room, 0)] if lookup else []
        logits = step.logits(pending + draft, keep=len(draft) + 1)
        predicted = logits.argmax(dim=-1).tolist()
        accepted = 0
        while accepted < len(draft) and draft[accepted] == predicted[accepted]:
            accepted += 1
        new_tokens = draft[:accepted] + [predicted[accepted]]
        if checker:
            new_tokens = checker.keep_valid(new_tokens, logits, step.exact if shortlist else None)
        step.drop_last(len(draft) - (len(new_tokens) - 1))  # the cache holds the kept draft tokens
        for index, token in enumerate(new_tokens):
            if token in stop_ids:
                answer.extend(new_tokens[:index])
                return Decoded(category, confidence, answer, step.passes, True)
        answer.extend(new_tokens)
        pending = [new_tokens[-1]]
    return Decoded(category, confidence, answer, step.passes, False)

