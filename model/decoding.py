"""Decoding one triage answer.

1. The category is constrained to the five allowed values (a token trie): the model can
   never invent a category, and the probabilities of the allowed branches give the
   category's confidence.
2. The rest of the JSON is greedy decoding, sped up by *drafts* checked in one forward
   pass each. Only tokens the model itself would have chosen are kept, so the output is
   the same as plain greedy decoding, in fewer forward passes. Two draft sources:
   - the reply: once the answer reaches its "response" key, the whole reply the club's
     templates give for the fields decoded so far (the model was trained on exactly these
     texts), plus the closing brace and the stop token;
   - lookup: answers copy the email (names, ids, dates), so the tokens that followed the
     answer's latest n-gram in the prompt or in the template pieces.
3. ``ShapeGuard`` keeps that answer valid JSON in the contract's shape (model/grammar.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import torch

from model.grammar import Shape, answer_shape
from model.prompt import ANSWER_PREFIX
from model.replies import LANGUAGES, draft_texts, render_reply
from model.schema import CATEGORIES, FIELDS, normalize_booking_id

# Every answer continues a category with '","' and the next key: tokenize with it so the
# category's tokens match how the training target was tokenized.
_AFTER_CATEGORY = '","'
_RESPONSE_KEY = '"response":"'
_PARTIAL_BOOKING_ID = re.compile(r'"booking_id":"([^"]*)$')
_BOOKING_ID_LIKE = re.compile(r"#?\s*\bbk[\s#:\-_]*\d{5}\b|\b\d{5}\b", re.IGNORECASE)


@dataclass
class Decoded:
    category: str
    confidence: float
    answer_tokens: list[int]
    """Everything generated after the prompt, category included, stop token excluded."""
    forward_passes: int
    stopped: bool
    """False when max_new_tokens ran out before a stop token."""


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
    """Proposes draft tokens: the templated reply once the answer reaches it, else the tokens
    that followed the answer's last n-gram in the prompt or the reply templates
    (prompt-lookup decoding, with the templates as a second source)."""

    def __init__(self, tokenizer, end_id: int | None = None, max_ngram: int = 3, max_draft: int = 16):
        self.tokenizer = tokenizer
        self.end_id = end_id
        self.max_ngram = max_ngram
        self.max_draft = max_draft
        # Templates as they appear inside the JSON answer (escaped), plus the answer's keys.
        texts = [json.dumps(text, ensure_ascii=False)[1:-1] for text in draft_texts()]
        texts += [f'","{key}":"' for key in (*FIELDS, "response")]
        self.template_tokens = [tokenizer(t, add_special_tokens=False).input_ids for t in texts]

    def propose(self, prompt: list[int], answer: list[int], sender: str = "") -> list[int]:
        return self.finish_draft(prompt, answer, sender) or self.lookup(prompt, answer)

    def finish_draft(self, prompt: list[int], answer: list[int], sender: str) -> list[int]:
        """The rest of the answer, guessing that no further field follows and that the reply
        is the template's, in the first language whose rendering agrees with what was
        decoded so far (English before any reply token). A wrong guess costs one pass."""
        text = self.tokenizer.decode(answer)
        for head in self._heads(text, prompt):
            try:
                fields = json.loads(ANSWER_PREFIX + head + '"}')
            except ValueError:  # what was decoded so far is not valid JSON: no reliable draft
                continue
            if fields.get("category") not in CATEGORIES:
                continue
            tail = [self.end_id] if self.end_id is not None else []
            for lang in LANGUAGES:
                reply = json.dumps(render_reply(fields["category"], fields, sender, lang), ensure_ascii=False)
                full = self.tokenizer(head + reply[1:-1] + '"}', add_special_tokens=False).input_ids + tail
                if len(full) > len(answer) and full[: len(answer)] == answer:
                    return full[len(answer) :]
        return []

    def _heads(self, text: str, prompt: list[int]):
        """Guesses of the answer up to its reply."""
        at = text.find(_RESPONSE_KEY)
        if at >= 0:
            yield text[: at + len(_RESPONSE_KEY)]
        elif text in CATEGORIES:  # a booking id the email states, or no field at all
            for booking_id in _booking_ids(self.tokenizer.decode(prompt)):
                yield f'{text}","booking_id":"{booking_id}",{_RESPONSE_KEY}'
            yield text + '",' + _RESPONSE_KEY
        elif text.endswith('","'):  # a key starts
            yield text[:-1] + _RESPONSE_KEY
        elif partial := _PARTIAL_BOOKING_ID.search(text):  # ids are normalised, not copied as written
            for booking_id in _booking_ids(self.tokenizer.decode(prompt)):
                if booking_id.startswith(partial.group(1)):
                    yield f'{text[: partial.start(1)]}{booking_id}",{_RESPONSE_KEY}'

    def lookup(self, prompt: list[int], answer: list[int]) -> list[int]:
        for n in range(min(self.max_ngram, len(answer)), 0, -1):
            tail = answer[-n:]
            for source in (answer[:-1], prompt, *self.template_tokens):
                draft = _continuation(source, tail, self.max_draft)
                if draft:
                    return draft
        return []


def _booking_ids(text: str) -> list[str]:
    """The email's booking-id candidates as the answer writes them (``BK-NNNNN``)."""
    found = (normalize_booking_id(match) for match in _BOOKING_ID_LIKE.findall(text))
    return list(dict.fromkeys(value for value in found if value))


def _continuation(source: list[int], tail: list[int], limit: int) -> list[int]:
    """Tokens after the last occurrence of ``tail`` in ``source``."""
    n = len(tail)
    for start in range(len(source) - n, -1, -1):
        if source[start : start + n] == tail:
            return source[start + n : start + n + limit]
    return []


class ShapeGuard:
    """Keeps the free part of the answer in the contract's JSON shape (model/grammar.py): a
    token that would break it is replaced by the model's most likely token that fits."""

    def __init__(self, tokenizer, stop_ids: set[int], candidates: int = 256):
        self.tokenizer = tokenizer
        self.stop_ids = stop_ids
        self.candidates = candidates
        self.special = set(tokenizer.all_special_ids) - stop_ids  # <pad> and the like: never in an answer
        # When none of the likely tokens fits, the answer's own punctuation and key names do,
        # whole or character by character.
        openings = [f',"{key}":"' for key in (*FIELDS, "response")]
        pieces = ['"', "}", '"}', *openings, *{char for opening in openings for char in opening}]
        self.structural = list(dict.fromkeys(
            token for piece in pieces for token in tokenizer(piece, add_special_tokens=False).input_ids))

    def fits(self, answer: list[int], token: int) -> bool:
        if token in self.special:
            return False
        done = answer_shape(self.tokenizer.decode(answer)) is Shape.DONE
        if token in self.stop_ids:
            return done
        return not done and answer_shape(self.tokenizer.decode([*answer, token])) is not Shape.BROKEN

    def keep_fitting(self, answer: list[int], new_tokens: list[int], logits: torch.Tensor) -> list[int]:
        """``new_tokens`` up to the first that does not fit, then the best fitting one instead
        (``logits[j]`` scores the token at position ``j``)."""
        for index, token in enumerate(new_tokens):
            prefix = [*answer, *new_tokens[:index]]
            if not self.fits(prefix, token):
                return [*new_tokens[:index], self.best_fitting(prefix, logits[index])]
        return new_tokens

    def best_fitting(self, answer: list[int], logits: torch.Tensor) -> int:
        likely = logits.topk(min(self.candidates, logits.shape[-1])).indices.tolist()
        for token in [*likely, *self.structural]:
            if self.fits(answer, token):
                return token
        return min(self.stop_ids)  # nothing fits at all: end here (the answer is flagged invalid)


class _Stepper:
    """Feeds tokens through the model, keeping its KV cache, and rolls back rejected drafts."""

    def __init__(self, model):
        self.model = model
        self.cache = None
        self.passes = 0

    def logits(self, tokens: list[int], keep: int = 1) -> torch.Tensor:
        """Logits of the last ``keep`` positions: a prefill needs the output layer only for
        its last token, and a draft check only for the draft's positions."""
        ids = torch.tensor([tokens], device=self.model.device)
        output = self.model(input_ids=ids, cache=self.cache, use_cache=True, logits_to_keep=keep)
        logits = output.logits[0].float()
        if self.cache is None:
            self.cache = output.cache
            self.cache.activate_past_recording()  # sliding-window layers can then roll back too
        self.passes += 1
        return logits

    def drop_last(self, count: int) -> None:
        if count:
            self.cache.crop(-count)


@torch.inference_mode()
def decode(model, prompt: list[int], trie: CategoryTrie, lookup: DraftLookup | None,
           stop_ids: set[int], max_new_tokens: int = 160, sender: str = "",
           first_token_bias: dict[int, float] | None = None, guard: ShapeGuard | None = None) -> Decoded:
    """Constrained category, then greedy decoding with drafts (``lookup=None``: none).
    ``sender`` names the member in the drafted reply, as the training replies do;
    ``first_token_bias`` is the adapter's calibration (model/calibration.py); ``guard`` keeps
    the answer in the JSON shape (None: free greedy decoding)."""
    step = _Stepper(model)
    answer: list[int] = []
    pending = list(prompt)  # tokens not yet fed to the model
    confidence = 1.0
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

    while len(answer) < max_new_tokens:
        draft = lookup.propose(prompt, answer, sender) if lookup else []
        draft = draft[: max_new_tokens - len(answer) - 1]
        logits = step.logits(pending + draft, keep=len(draft) + 1)
        predicted = logits.argmax(dim=-1).tolist()
        accepted = 0
        while accepted < len(draft) and draft[accepted] == predicted[accepted]:
            accepted += 1
        new_tokens = draft[:accepted] + [predicted[accepted]]
        if guard:
            new_tokens = guard.keep_fitting(answer, new_tokens, logits)
        step.drop_last(len(draft) - (len(new_tokens) - 1))  # the cache holds the kept draft tokens
        for index, token in enumerate(new_tokens):
            if token in stop_ids:
                answer.extend(new_tokens[:index])
                return Decoded(category, confidence, answer, step.passes, True)
        answer.extend(new_tokens)
        pending = [new_tokens[-1]]
    return Decoded(category, confidence, answer, step.passes, False)
