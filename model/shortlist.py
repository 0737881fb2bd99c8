"""The output layer cut down to the tokens an answer can use: a vocabulary shortlist.

Gemma's output layer scores all 262,144 tokens of its vocabulary at every position it keeps, which
is half of a decoding step on the 2-core CPU (48 of 95 ms for one token; 122 of 203 ms for a draft
of four). An adapter's answers use few of them: the ~1,560 distinct tokens of its training answers
(JSON keys, the club's replies in four languages, dates, ids), plus what it copies from the mail.
So decoding scores only those (``MailShortlist``): the adapter's answer tokens, every token of the
prompt, and each copyable span of the mail as the answer's JSON spells it. The rest of the
vocabulary gets ``-inf``.

What this changes, and what it cannot:
- The category, its confidence and the category check's vote read the category tokens, which are
  always scored: they are exactly what the whole output layer gives.
- The rest of the answer is greedy among the shortlisted tokens. It differs from greedy over the
  whole vocabulary only where the model's best token is one no training answer holds and the mail
  does not show (a reworded reply, say); ``python -m benchmarks.inference_speed --dev-only``
  counts such answers on the dev set.
- Where the grammar allows only tokens outside the shortlist, those are scored exactly from the
  kept hidden state (``MailShortlist.exact``), so the grammar never runs out of choices.

An adapter without the list (``answer_tokens.json``, model/metadata.py, written by training), or a model whose output
layer this does not reproduce (``Shortlist.build`` checks it on one prompt), decodes over the whole
vocabulary as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from model.copying import COPIED_FIELDS, CopySpans

_SELF_CHECK_TOLERANCE = 1e-3
"""How far the shortlist's logits may lie from the whole output layer's (float rounding)."""


@dataclass
class Shortlist:
    """One adapter's answer tokens and their rows of the output layer (built once per adapter)."""

    decoder: torch.nn.Module
    """The model without its output layer: gives the final hidden states."""
    output: torch.nn.Module
    """The output layer (Gemma: tied to the input embeddings)."""
    softcap: float | None
    ids: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor | None

    @classmethod
    def build(cls, model, answer_tokens: list[int] | None, probe: list[int]) -> Shortlist | None:
        """The shortlist of ``answer_tokens`` for ``model`` (merged adapter), or None when there is
        no list, or when the decoder and output layer this reads do not give the model's own logits
        on the ``probe`` prompt (a model that scales or post-processes its logits another way)."""
        if not answer_tokens:
            return None
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        try:
            output, decoder = base.get_output_embeddings(), base.get_decoder()
        except (AttributeError, NotImplementedError):  # a model that does not expose the split
            return None
        if output is None or decoder is None or decoder is base:
            return None
        ids = torch.tensor(sorted(set(answer_tokens)), device=output.weight.device)
        bias = getattr(output, "bias", None)
        shortlist = cls(decoder, output, getattr(base.config, "final_logit_softcapping", None), ids,
                        output.weight.detach()[ids].contiguous(), None if bias is None else bias.detach()[ids])
        return shortlist if shortlist._reproduces(model, probe) else None

    @torch.inference_mode()
    def _reproduces(self, model, probe: list[int]) -> bool:
        ids = torch.tensor([probe], device=self.ids.device)
        whole = model(input_ids=ids, logits_to_keep=1).logits[0, -1].float()
        hidden = self.decoder(input_ids=ids).last_hidden_state[0, -1:]
        mine = self.for_mail([]).logits(hidden)[0]
        return bool(torch.allclose(mine[self.ids], whole[self.ids], atol=_SELF_CHECK_TOLERANCE, rtol=0))

    def for_mail(self, token_ids: Iterable[int]) -> MailShortlist:
        """The shortlist for one mail: the answer tokens plus ``token_ids`` (its prompt and spans)."""
        extra = torch.tensor(sorted(set(token_ids)), dtype=torch.long, device=self.ids.device)
        extra = extra[~torch.isin(extra, self.ids)]
        return MailShortlist(self, extra)

    def _scores(self, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        scores = torch.nn.functional.linear(hidden, weight, bias).float()
        if self.softcap:
            scores = torch.tanh(scores / self.softcap) * self.softcap
        return scores


class MailShortlist:
    """The output layer restricted to one mail's shortlist; ``exact`` scores any other token."""

    def __init__(self, shortlist: Shortlist, extra: torch.Tensor):
        self.shortlist = shortlist
        self.extra = extra
        self.extra_weight = shortlist.output.weight.detach()[extra]
        bias = getattr(shortlist.output, "bias", None)
        self.extra_bias = None if bias is None else bias.detach()[extra]
        self.vocab_size = shortlist.output.weight.shape[0]

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Whole-vocabulary logits for ``hidden`` (positions × model width): the shortlist's
        tokens scored, every other token ``-inf``."""
        out = torch.full((hidden.shape[0], self.vocab_size), float("-inf"), device=hidden.device)
        out[:, self.shortlist.ids] = self.shortlist._scores(hidden, self.shortlist.weight, self.shortlist.bias)
        if len(self.extra):
            out[:, self.extra] = self.shortlist._scores(hidden, self.extra_weight, self.extra_bias)
        return out

    def exact(self, hidden: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """Logits of one position for the ``allowed`` tokens (a boolean mask over the vocabulary),
        from the whole output layer; ``-inf`` elsewhere."""
        ids = allowed.nonzero().flatten()
        output = self.shortlist.output
        bias = None if getattr(output, "bias", None) is None else output.bias.detach()[ids]
        out = torch.full((self.vocab_size,), float("-inf"), device=hidden.device)
        out[ids] = self.shortlist._scores(hidden.unsqueeze(0), output.weight.detach()[ids], bias)[0]
        return out


def mail_tokens(tokenizer, prompt: list[int], spans: CopySpans) -> list[int]:
    """What one mail adds to the shortlist: its prompt's tokens, each also with its leading space
    added or taken away where that is one token too (a word of the mail that starts a JSON string,
    or a name the reply puts after a space), and each copyable span as the answer's JSON spells it."""
    unique = sorted(set(prompt))
    texts = tokenizer.batch_decode([[token] for token in unique])
    variants = [text[1:] if text.startswith(" ") else " " + text for text in texts]
    respelled = [ids[0] for ids in tokenizer(variants, add_special_tokens=False).input_ids if len(ids) == 1]
    spelled = [json.dumps(value, ensure_ascii=False) for field in COPIED_FIELDS for value in spans.of(field)]
    copied = [token for ids in (tokenizer(spelled, add_special_tokens=False).input_ids if spelled else [])
              for token in ids]
    return [*unique, *respelled, *copied]
