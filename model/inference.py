"""In-process triage: a base model, an optional LoRA adapter, and ``triage(email)``.

    triager = load_triager()                      # default base + shipped adapter
    result = triager.triage(Email(sender, subject, body, date))
    results = triager.triage_many(emails)         # many: batches on a GPU, drafts on a CPU
    result = triager.triage(email, time_budget_s=TRIAGE_TIME_BUDGET_S)   # the caller's time budget

A Triager is shared (the app caches one with st.cache_resource): generation holds a lock,
and switching adapters (``use_adapter``) never reloads the base model. Work per mail is
bounded: the prompt by model/prompt.py's token budgets, the answer by ``MAX_NEW_TOKENS`` (the
grammar closes it in time), the wall time by ``time_budget_s`` (past it the triage is
abandoned and comes back invalid with the reason, never an exception).
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import torch
from peft import PeftModel
from transformers import LogitsProcessor, LogitsProcessorList

from core.mail import Email
from model.calibration import read_category_bias
from model.category_check import load_category_check
from model.constraint import AnswerGuard, GrammarTokenizer, best_allowed
from model.copying import CopySpans, copy_spans
from model.decoding import (
    CategoryTrie,
    DraftLookup,
    PrefixCache,
    common_start,
    decode,
    last_logits,
    prefix_cache,
)
from model.loading import (
    load_base_model,
    load_tokenizer,
    pick_device,
    pick_dtype,
    set_threads,
)
from model.metadata import (
    DEFAULT_ADAPTER,
    DEFAULT_BASE_MODEL,
    read_answer_tokens,
    read_metadata,
    reading_adapter,
)
from model.prompt import encode_prompt, mail_parts, style_for
from model.results import build_result
from model.review import DEFAULT_RULE, ReviewRule, read_review_rule
from model.schema import CATEGORIES, TriageResult
from model.shortlist import MailShortlist, Shortlist, mail_tokens

MAX_NEW_TOKENS = 160  # the longest training answer is ~95 tokens
TRIAGE_TIME_BUDGET_S = 20.0
"""Seconds one triage may take before it is abandoned (the worker passes it; a CPU shared with
training can be 5x slower than an idle one, so it is ~10x an idle triage)."""


class Triager:
    """A loaded model that turns emails into :class:`TriageResult`."""

    def __init__(self, model, tokenizer, base_model: str):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"  # batched answers then start at the same column
        self.base_model = base_model
        self.style = style_for(tokenizer)
        self.adapter: str | None = None
        self.first_token_bias: dict[int, float] = {}
        """The active adapter's category calibration (model/calibration.py)."""
        self.review_rule: ReviewRule = DEFAULT_RULE
        """The active adapter's review rule (model/review.py): the worker and the evaluation decide
        "ready" by its thresholds."""
        self.check_weight = self.review_rule.check_weight
        """How much the category check counts in the category decision (model/category_check.py):
        the review rule's, unless a caller sets another (``training.evaluate --check-weight``)."""
        self.use_shortlist = True
        """Score only the answer's shortlist of tokens at each step (model/shortlist.py)."""
        # The check's vocabularies (~1.5 s to read) load while the model does, not on the first mail.
        threading.Thread(target=lambda: load_category_check().probabilities([""]), daemon=True).start()
        self.trie = CategoryTrie(tokenizer)
        end_id = (tokenizer.convert_tokens_to_ids(self.style.answer_end) if self.style.answer_end
                  else tokenizer.eos_token_id)
        self.stop_ids = {tokenizer.eos_token_id, end_id}
        self.lookup = DraftLookup(tokenizer, end_id)
        self.grammar_tokenizer = GrammarTokenizer(tokenizer, self.stop_ids)
        self.quote_check = len({sequence[0] for sequence in self.trie.sequences.values()}) == len(CATEGORIES)
        """Whether the categories start with distinct tokens, so one forward pass scores all five
        (the quote check, ``category_probabilities``); true for Gemma."""
        self._prefix: PrefixCache | None = None
        """KV cache of the prompt's fixed start under the active adapter (``use_adapter`` drops it)."""
        self._shortlist: Shortlist | None = None
        """The active adapter's output-layer shortlist (model/shortlist.py), built on its first mail."""
        self._shortlist_built = False
        self._answer_tokens: list[int] | None = None
        self._lock = threading.Lock()

    # -- adapters -----------------------------------------------------------------------
    def use_adapter(self, adapter: str | Path | None) -> None:
        """Switch to another LoRA adapter (or None: the plain base) without reloading the base."""
        with self._lock, reading_adapter(adapter):
            rule = read_review_rule(adapter)  # first: a broken file leaves the triager as it was
            if self.adapter is not None:  # only the active adapter is merged
                self.model.unmerge_adapter()
            self.first_token_bias = {}
            self._prefix = None
            self._shortlist, self._shortlist_built = None, False
            self._answer_tokens = read_answer_tokens(adapter)  # read now: the shortlist is built on the first mail
            self.review_rule, self.check_weight = rule, rule.check_weight
            if adapter is None:
                self.adapter = None
                return
            adapter = str(adapter)
            meta = read_metadata(adapter)
            if meta["prompt_style"] != self.style.name:
                raise ValueError(f"{adapter} was trained with the {meta['prompt_style']} prompt style, "
                                 f"but {self.base_model} uses {self.style.name}")
            name = _adapter_name(adapter)
            if not isinstance(self.model, PeftModel):
                self.model = PeftModel.from_pretrained(self.model, adapter, adapter_name=name).eval()
            elif name not in self.model.peft_config:
                self.model.load_adapter(adapter, adapter_name=name)
            self.model.set_adapter(name)
            self.model.merge_adapter()  # merged weights: the LoRA matmuls cost nothing at decode time
            self.adapter = adapter
            self.first_token_bias = self.trie.first_token_bias(read_category_bias(adapter))

    def _adapter_scope(self):
        """No adapter chosen but adapters loaded: switch them off for this call."""
        if isinstance(self.model, PeftModel) and self.adapter is None:
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    # -- triage -------------------------------------------------------------------------
    def prompt_ids(self, email: Email) -> list[int]:
        return encode_prompt(self.tokenizer, email, self.style)

    def spans(self, email: Email) -> CopySpans:
        """What the copied fields may be: spans of the mail as this prompt shows it."""
        return copy_spans(mail_parts(email, self.tokenizer))

    def guard_for(self, spans: CopySpans):
        """The grammar guard factory ``decode`` calls once the category is known."""
        return lambda category, tokens: AnswerGuard(self.grammar_tokenizer, self.tokenizer, spans, category, tokens)

    def triage(self, email: Email, use_drafts: bool = True, time_budget_s: float = TRIAGE_TIME_BUDGET_S
               ) -> TriageResult:
        """Triage one email: constrained category, then the greedy answer inside the mail's
        grammar, sped up by drafts; abandoned (invalid, with the reason) after ``time_budget_s``."""
        deadline = time.monotonic() + time_budget_s
        parts = mail_parts(email, self.tokenizer)
        spans = copy_spans(parts)
        prompt = self.prompt_ids(email)
        without_quote = None
        bias = self.decision_bias(email.subject, email.body)  # the check reads the new text: one bias serves both
        with self._lock, self._adapter_scope():
            start = self._prefix_cache()
            shortlist = self._mail_shortlist(prompt, spans)
            if parts.quoted and self.quote_check:  # without its quote the prompt is the same up to the quote
                alone = self.prompt_ids(Email(email.sender, email.subject, parts.text, email.date))
                start = prefix_cache(self.model, prompt[: common_start(prompt, alone)], start)
                without_quote = self._category_of(last_logits(self.model, alone, start, shortlist), bias)
            decoded = decode(self.model, prompt, self.trie, self.lookup if use_drafts else None, self.stop_ids,
                             MAX_NEW_TOKENS, email.sender, bias,
                             self.guard_for(spans), spans, deadline, start, shortlist)
        text = self.tokenizer.decode(decoded.answer_tokens)
        result = build_result(email, decoded.category, decoded.confidence, text, decoded.stopped, parts=parts,
                              reply_cut=decoded.closed_early,
                              abandoned_after_s=time_budget_s if decoded.abandoned else None)
        result.category_without_quote = without_quote
        return result

    def _prefix_cache(self) -> PrefixCache | None:
        """The fixed start every prompt shares, run once per adapter (held lock: called in triage)."""
        if self._prefix is None:
            probes = [encode_prompt(self.tokenizer, Email(sender, "", ""), self.style) for sender in ("a", "Z 9")]
            if common := common_start(*probes):
                self._prefix = prefix_cache(self.model, probes[0][:common])
        return self._prefix

    def _mail_shortlist(self, prompt: list[int], spans: CopySpans | None) -> MailShortlist | None:
        """The output layer cut to what this mail's answer can use (``spans`` None: the categories'
        tokens are all that is read); None: the whole vocabulary (no adapter, an adapter without
        its answer tokens, a model the shortlist does not reproduce, or ``use_shortlist`` off).
        Called with the lock held."""
        if not self.use_shortlist:
            return None
        if not self._shortlist_built:
            answer_tokens = list(self._answer_tokens) if self._answer_tokens is not None else None
            if answer_tokens:  # the category tokens and stop tokens always count
                answer_tokens += [token for sequence in self.trie.sequences.values() for token in sequence]
                answer_tokens += sorted(self.stop_ids)
            self._shortlist = Shortlist.build(self.model, answer_tokens, prompt)
            self._shortlist_built = True
        if self._shortlist is None:
            return None
        return self._shortlist.for_mail(mail_tokens(self.tokenizer, prompt, spans) if spans else ())

    @property
    def shortlist_tokens(self) -> int:
        """How many tokens the active adapter's shortlist scores besides each mail's own (0: the
        whole vocabulary, or no mail triaged yet under this adapter)."""
        return len(self._shortlist.ids) if self._shortlist else 0

    def category_scores(self, email: Email) -> dict[str, float]:
        """Log-probabilities of the categories' first tokens, uncalibrated (what
        ``training.calibrate`` fits the biases on)."""
        with self._lock, self._adapter_scope():
            return self._scores(email)

    def decision_bias(self, subject: str, body: str) -> dict[int, float]:
        """The category's first-token biases for one mail: the adapter's calibration plus
        ``check_weight`` times the category check's log-probabilities (model/category_check.py).
        The calibration alone where two categories share a first token (no such tokenizer known)."""
        if not self.check_weight or not self.quote_check:
            return self.first_token_bias
        check = load_category_check().log_probabilities(subject, body)
        bias = dict(self.first_token_bias)
        for category, token in self.trie.first_tokens().items():
            bias[token] = bias.get(token, 0.0) + self.check_weight * check.get(category, 0.0)
        return bias

    def category_probabilities(self, email: Email) -> dict[str, float]:
        """The five categories' probabilities for ``email`` by the model alone (its calibration,
        not the category check): what second requests compare clause by clause."""
        with self._lock, self._adapter_scope():
            return self._probabilities(email)

    def _scores(self, email: Email) -> dict[str, float]:
        prompt = self.prompt_ids(email)
        return self._first_token_scores(last_logits(self.model, prompt, self._prefix_cache(),
                                                    self._mail_shortlist(prompt, None)))

    def _first_token_scores(self, logits: torch.Tensor) -> dict[str, float]:
        firsts = self.trie.first_tokens()
        scores = torch.log_softmax(logits[list(firsts.values())], dim=-1).tolist()
        return dict(zip(firsts, scores, strict=True))

    def _probabilities(self, email: Email) -> dict[str, float]:
        return self._calibrated(self._scores(email))

    def _calibrated(self, scores: dict[str, float]) -> dict[str, float]:
        bias = {category: self.first_token_bias.get(token, 0.0) for category, token in self.trie.first_tokens().items()}
        probabilities = torch.softmax(torch.tensor([scores[c] + bias[c] for c in scores]), dim=-1).tolist()
        return dict(zip(scores, probabilities, strict=True))

    def _category_of(self, logits: torch.Tensor, bias: dict[int, float]) -> str:
        """The most likely category after a prompt whose next-token ``logits`` are given, with
        first-token ``bias`` added (``decision_bias``), as ``decode`` decides it."""
        scores = self._first_token_scores(logits)
        firsts = self.trie.first_tokens()
        return max(scores, key=lambda category: scores[category] + bias.get(firsts[category], 0.0))

    def triage_many(self, emails: list[Email], batch_size: int = 8, batched: bool | None = None,
                    time_budget_s: float = TRIAGE_TIME_BUDGET_S) -> list[TriageResult]:
        """Triage many emails: in padded batches (several emails share each decoding step), or
        one by one with drafts. ``batched=None`` picks what is faster on this device: batches on
        a GPU; drafts on a CPU, where a drafted triage needs ~2 forward passes and beats a batch
        (``python -m benchmarks.inference_speed`` measures both). ``time_budget_s`` holds for
        each mail, or for each batch: one slow mail never holds up the others for longer."""
        if batched is None:
            batched = self.model.device.type != "cpu"
        if not batched:
            return [self.triage(email, time_budget_s=time_budget_s) for email in emails]
        # Similar lengths share a batch: less padding to compute on.
        order = sorted(range(len(emails)), key=lambda i: len(emails[i].body) + len(emails[i].subject))
        results: list[TriageResult | None] = [None] * len(emails)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            batch = self._triage_batch([emails[i] for i in chunk], time_budget_s)
            for index, result in zip(chunk, batch, strict=True):
                results[index] = result
        return results

    def _triage_batch(self, emails: list[Email], time_budget_s: float) -> list[TriageResult]:
        started = time.monotonic()
        prompts = [self.prompt_ids(email) for email in emails]
        width = max(len(ids) for ids in prompts)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in prompts], device=self.model.device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in prompts],
                                 device=self.model.device)
        constraint = CategoryConstraint(self.trie, width, [self.decision_bias(e.subject, e.body) for e in emails])
        parts = [mail_parts(email, self.tokenizer) for email in emails]
        grammar = GrammarConstraint(self, [copy_spans(each) for each in parts], width)
        with self._lock, self._adapter_scope(), torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids, attention_mask=attention, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                logits_processor=LogitsProcessorList([constraint, grammar]), max_time=time_budget_s,
                eos_token_id=sorted(self.stop_ids), pad_token_id=pad,
            )
        late = time.monotonic() - started > time_budget_s
        results = []
        for row, email in enumerate(emails):
            tokens = output[row, width:].tolist()
            stopped = any(token in self.stop_ids for token in tokens)
            tokens = tokens[: next((i for i, t in enumerate(tokens) if t in self.stop_ids), len(tokens))]
            text = self.tokenizer.decode(tokens)
            if self.trie.allowed(tokens) is not None:  # stopped by the clock before a whole category
                results.append(build_result(email, "other", 0.0, text, False, abandoned_after_s=time_budget_s))
                continue
            category = self.trie.category_of(tokens)
            results.append(build_result(email, category, constraint.confidence[row], text, stopped,
                                        parts=parts[row], reply_cut=row in grammar.closed,
                                        abandoned_after_s=time_budget_s if late and not stopped else None))
        return results


class CategoryConstraint(LogitsProcessor):
    """Batched form of the category constraint for ``generate``: until a row has spelled a
    whole category, only the trie's allowed tokens keep their scores."""

    def __init__(self, trie: CategoryTrie, prompt_length: int, row_bias: list[dict[int, float]] | None = None):
        self.trie = trie
        self.prompt_length = prompt_length
        self.row_bias = row_bias or []
        """Each row's first-token biases (``Triager.decision_bias``)."""
        self.confidence: dict[int, float] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row in range(input_ids.shape[0]):
            self.confidence.setdefault(row, 1.0)
            answer = input_ids[row, self.prompt_length :].tolist()
            allowed = self.trie.allowed(answer)
            if allowed is None:
                continue
            first_token_bias = self.row_bias[row] if row < len(self.row_bias) else {}
            if first_token_bias and not answer:
                bias = torch.tensor([first_token_bias.get(t, 0.0) for t in allowed], dtype=scores.dtype)
                scores[row, allowed] += bias
            probs = torch.softmax(scores[row, allowed].float(), dim=-1)
            self.confidence[row] *= float(probs.max())
            masked = torch.full_like(scores[row], float("-inf"))
            masked[allowed] = scores[row, allowed]
            scores[row] = masked
        return scores


class GrammarConstraint(LogitsProcessor):
    """Batched form of the grammar guard: once a row has spelled its category, only the tokens
    its mail's grammar allows keep their scores; near the token budget the row is closed."""

    def __init__(self, triager: Triager, spans: list[CopySpans], prompt_length: int):
        self.triager = triager
        self.spans = spans
        self.prompt_length = prompt_length
        self.matchers: dict[int, object] = {}
        self.forced: dict[int, list[int]] = {}
        self.closed: set[int] = set()

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        stop_ids = self.triager.stop_ids
        for row in range(input_ids.shape[0]):
            answer = input_ids[row, self.prompt_length :].tolist()
            if self.triager.trie.allowed(answer) is not None or any(t in stop_ids for t in answer):
                continue  # still spelling the category, or finished (padding follows)
            if row not in self.matchers:
                category = self.triager.trie.category_of(answer)
                self.matchers[row] = AnswerGuard(self.triager.grammar_tokenizer, self.triager.tokenizer,
                                                 self.spans[row], category, answer)
            else:
                self.matchers[row].matcher.consume_token(answer[-1])
                self.matchers[row].answer.append(answer[-1])
            guard = self.matchers[row]
            closing = guard.closing() if row not in self.forced and guard.must_close(MAX_NEW_TOKENS) else None
            if closing:
                self.forced[row] = [*closing, min(stop_ids)]
                self.closed.add(row)
            if self.forced.get(row):
                best = self.forced[row].pop(0)
            else:
                best = best_allowed(guard.matcher, scores[row])
            scores[row] = float("-inf")
            scores[row, best] = 0.0
        return scores


def _adapter_name(path: str) -> str:
    return Path(path).resolve().as_posix().strip("/").replace("/", "__").replace(".", "_")


def load_triager(base_model: str | None = None, adapter: str | Path | None = DEFAULT_ADAPTER,
                 dtype: str | None = None, threads: int | None = None) -> Triager:
    """Load a base model (default: the packaged Gemma 3 270M) and optionally a LoRA adapter.

    ``base_model`` defaults to the adapter's own base (from its acedesk.json). ``dtype``:
    fp32 on CPU and bf16 on GPU unless given (float32 / bfloat16).
    """
    set_threads(threads)
    if adapter is not None and not base_model:
        base_model = read_metadata(adapter)["base_model"]
    base_model = base_model or DEFAULT_BASE_MODEL
    device = pick_device()
    torch_dtype = pick_dtype(device, dtype)
    model = load_base_model(base_model, torch_dtype, device)
    if torch_dtype == torch.bfloat16 and device == "cpu":
        # CPU quirk: a bf16 output layer without requires_grad runs ~35x slower (see README)
        model.get_output_embeddings().weight.requires_grad_(True)
    triager = Triager(model, load_tokenizer(base_model), base_model)
    if adapter is not None:
        triager.use_adapter(adapter)
    return triager
