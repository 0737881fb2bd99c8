"""The answer's grammar, per mail: llguidance keeps every decoded token inside it.

After the category (decided by the trie in model/decoding.py, which gives its confidence),
the answer is the contract's JSON object: the contract's fields in ``MODEL_FIELDS`` order, each
optional, then the reply and the closing brace. ``username``, ``booking_id``, ``member_name``
and ``member_email`` are alternatives of the mail's own spans (model/copying.py): the model
picks one, or leaves the field out. Other strings are any valid JSON string.

Why llguidance: it builds such a grammar per mail in ~10 ms and computes a token mask in tens
of microseconds, so the check costs nothing next to a forward pass (~60 ms); it validates a
whole draft at once (``try_consume_tokens``) and rolls back, which the drafted decoding needs.
Building its view of Gemma's 262k-token vocabulary takes seconds, so a Triager starts it in a
thread while the model loads (``GrammarTokenizer``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

import llguidance
import llguidance.hf
import llguidance.torch
import torch

from model.copying import COPIED_FIELDS, CopySpans
from model.schema import FIELDS

_STRING = r'/([^"\\\x00-\x1f]|\\(["\\\/bfnrt]|u[0-9a-fA-F]{4}))*/'
"""A JSON string's content: no raw control characters, valid escapes only."""
CLOSING_RESERVE = 24
"""Tokens kept free for closing the answer (``AnswerGuard.closing``)."""
REPLY_MAX_TOKENS = 64
"""Tokens the reply may take before the answer is closed: the longest reply in the training data
is 52 tokens, so a longer one is the model wandering off (seen on the dev set: a French reply
that ran into markup and repeated tokens until the whole budget was spent). Closed, it is
replaced by the club's template like any cut reply (model/results.py)."""


class GrammarTokenizer:
    """llguidance's view of a tokenizer, built once in a background thread."""

    def __init__(self, tokenizer, stop_ids: set[int]):
        self._result: list = []
        self._thread = threading.Thread(target=self._build, args=(tokenizer, sorted(stop_ids)), daemon=True)
        self._thread.start()

    def _build(self, tokenizer, stop_ids: list[int]) -> None:
        self._result.append(llguidance.hf.from_tokenizer(tokenizer, eos_token=stop_ids))

    def get(self) -> llguidance.LLTokenizer:
        self._thread.join()
        return self._result[0]


def answer_grammar(category: str, spans: CopySpans) -> str:
    """The answer from the category on, as a Lark grammar (llguidance's dialect)."""
    rules, start = [], [_literal(category + '"')]
    for name in FIELDS:
        opening = _literal(f',"{name}":"')
        if name in COPIED_FIELDS:
            values = spans.of(name)
            if not values:
                continue  # the mail states nothing this field could be
            rules.append(f"{name.upper()}: {' | '.join(_literal(value) for value in values)}")
            rules.append(f'{name}: {opening} {name.upper()} "\\""')
        else:
            rules.append(f'{name}: {opening} STRING "\\""')
        start.append(f"{name}?")
    start += [_literal(',"response":"'), "STRING", _literal('"}')]
    return "\n".join([f"start: {' '.join(start)}", *rules, f"STRING: {_STRING}"])


def answer_matcher(grammar_tokenizer: GrammarTokenizer, category: str, spans: CopySpans) -> llguidance.LLMatcher:
    grammar = llguidance.LLMatcher.grammar_from_lark(answer_grammar(category, spans))
    matcher = llguidance.LLMatcher(grammar_tokenizer.get(), grammar, log_level=0)
    if matcher.is_error():
        raise ValueError(f"answer grammar rejected: {matcher.get_error()}")
    return matcher


def allowed_mask(matcher: llguidance.LLMatcher, vocab_size: int) -> torch.Tensor:
    """A boolean mask over the vocabulary: the tokens the grammar allows next."""
    bitmask = llguidance.torch.allocate_token_bitmask(1, vocab_size)
    llguidance.torch.fill_next_token_bitmask(matcher, bitmask)
    bits = (bitmask[0].unsqueeze(1) >> torch.arange(32, dtype=torch.int32)) & 1
    return bits.flatten()[:vocab_size].bool()


def best_allowed(matcher: llguidance.LLMatcher, logits: torch.Tensor,
                 exact: Callable[[torch.Tensor], torch.Tensor] | None = None) -> int:
    """The model's most likely token among those the grammar allows. ``exact`` scores the allowed
    tokens (a mask) when ``logits`` leave them all unscored (``-inf``: outside a vocabulary
    shortlist, model/shortlist.py)."""
    mask = allowed_mask(matcher, logits.shape[-1])
    if exact is not None and not torch.isfinite(logits[mask]).any():
        logits = exact(mask)
    return int(torch.where(mask, logits, torch.finfo(logits.dtype).min).argmax())


def _literal(text: str) -> str:
    """A Lark string literal for ``text`` exactly as the JSON answer writes it."""
    return json.dumps(text, ensure_ascii=False)


class AnswerGuard:
    """One mail's grammar while its answer is decoded: keeps the model's tokens while they fit,
    replaces the first that does not by the model's best token that does, and closes the answer
    when its token budget runs short."""

    def __init__(self, grammar_tokenizer: GrammarTokenizer, tokenizer, spans: CopySpans, category: str,
                 category_tokens: list[int]):
        self.tokenizer = tokenizer
        self.spans = spans
        self.answer = list(category_tokens)
        self._reply_start: int | None = None
        self.matcher = answer_matcher(grammar_tokenizer, category, spans)
        if self.matcher.try_consume_tokens(self.answer) != len(self.answer):
            raise ValueError(f"the category's tokens do not start the {category} grammar")

    def keep_valid(self, new_tokens: list[int], logits: torch.Tensor,
                   exact: Callable[[int, torch.Tensor], torch.Tensor] | None = None) -> list[int]:
        """``new_tokens`` up to the first the grammar refuses, then the best allowed token
        instead (``logits[j]`` scores the token at position ``j``; ``exact(j, mask)`` scores the
        allowed tokens where ``logits`` leave them out, see ``best_allowed``)."""
        kept = self.matcher.try_consume_tokens(new_tokens)
        if kept < len(new_tokens):
            best = best_allowed(self.matcher, logits[kept], exact and (lambda mask: exact(kept, mask)))
            if not self.matcher.consume_token(best):
                raise RuntimeError("the grammar refused the token its own mask allowed")
            new_tokens = [*new_tokens[:kept], best]
        self.answer.extend(new_tokens)
        return new_tokens

    def must_close(self, max_new_tokens: int) -> bool:
        """Whether the answer is to be closed now: its token budget is nearly spent, or its reply
        has taken ``REPLY_MAX_TOKENS``."""
        return len(self.answer) >= max_new_tokens - CLOSING_RESERVE or self.reply_tokens_left() == 0

    def reply_tokens_left(self) -> int | None:
        """Tokens the reply may still take (0 at most); None before the reply has started."""
        if self._reply_start is None:
            if _RESPONSE_OPENING not in self.tokenizer.decode(self.answer):
                return None
            start = len(self.answer)  # the first token after the one that completed the opening
            while start > 0 and _RESPONSE_OPENING in self.tokenizer.decode(self.answer[: start - 1]):
                start -= 1
            self._reply_start = start
        return max(REPLY_MAX_TOKENS - (len(self.answer) - self._reply_start), 0)

    def closing(self) -> list[int] | None:
        """The fewest tokens that end the answer where it stands (the open string, any key
        being written, the reply and the object), or None when none fits here (decoding then
        goes on a token and asks again)."""
        text = self.tokenizer.decode(self.answer)
        best = None
        for suffix in self._closing_texts(text):
            ids = self.tokenizer(suffix, add_special_tokens=False).input_ids
            trial = self.matcher.deep_copy()
            if trial.try_consume_tokens(ids) == len(ids) and trial.is_accepting() and (best is None or
                                                                                       len(ids) < len(best)):
                best = ids
        return best

    def _closing_texts(self, text: str):
        end = '","response":""}'
        yield '"}'  # inside the reply
        yield end  # inside another string
        yield end[1:]  # between fields
        yield "}"  # after the reply
        for name in FIELDS:
            opening = f',"{name}":"'
            values = sorted(self.spans.of(name), key=len) if name in COPIED_FIELDS else [""]
            if not values:
                continue
            for overlap in range(1, len(opening)):  # a key half written
                if text.endswith(opening[:overlap]):
                    yield opening[overlap:] + values[0] + end
            written = text.rsplit(opening, 1)[-1] if name in COPIED_FIELDS and opening in text else '"'
            if '"' not in written:  # inside a copied value: the shortest span it starts
                value = next((value for value in values if value.startswith(written)), None)
                if value is not None:
                    yield value[len(written) :] + end
        for overlap in range(1, len(_RESPONSE_OPENING)):
            if text.endswith(_RESPONSE_OPENING[:overlap]):
                yield _RESPONSE_OPENING[overlap:] + '"}'


_RESPONSE_OPENING = ',"response":"'
