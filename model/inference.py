"""In-process triage: a base model, an optional LoRA adapter, and ``triage(email)``.

    triager = load_triager()                      # default base + shipped adapter
    result = triager.triage(Email(sender, subject, body, date))
    results = triager.triage_many(emails)         # many: batches on a GPU, drafts on a CPU

A Triager is shared (the app caches one with st.cache_resource): generation holds a lock,
and switching adapters (``use_adapter``) never reloads the base model.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import torch
from peft import PeftModel
from transformers import LogitsProcessor, LogitsProcessorList

from core.mail import Email
from model.calibration import read_category_bias
from model.decoding import CategoryTrie, DraftLookup, ShapeGuard, decode
from model.loading import (
    load_base_model,
    load_tokenizer,
    pick_device,
    pick_dtype,
    set_threads,
)
from model.metadata import DEFAULT_ADAPTER, DEFAULT_BASE_MODEL, read_metadata
from model.prompt import build_prompt, style_for
from model.results import build_result
from model.schema import TriageResult

MAX_NEW_TOKENS = 160  # the longest training answer is ~95 tokens


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
        self.trie = CategoryTrie(tokenizer)
        end_id = (tokenizer.convert_tokens_to_ids(self.style.answer_end) if self.style.answer_end
                  else tokenizer.eos_token_id)
        self.stop_ids = {tokenizer.eos_token_id, end_id}
        self.lookup = DraftLookup(tokenizer, end_id)
        self.guard = ShapeGuard(tokenizer, self.stop_ids)
        self._lock = threading.Lock()

    # -- adapters -----------------------------------------------------------------------
    def use_adapter(self, adapter: str | Path | None) -> None:
        """Switch to another LoRA adapter (or None: the plain base) without reloading the base."""
        with self._lock:
            if self.adapter is not None:  # only the active adapter is merged
                self.model.unmerge_adapter()
            self.first_token_bias = {}
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
        return self.tokenizer(build_prompt(email, self.style)).input_ids

    def triage(self, email: Email, use_drafts: bool = True) -> TriageResult:
        """Triage one email: constrained category, then the greedy answer kept in the JSON shape,
        sped up by drafts."""
        with self._lock, self._adapter_scope():
            decoded = decode(self.model, self.prompt_ids(email), self.trie,
                             self.lookup if use_drafts else None, self.stop_ids, MAX_NEW_TOKENS, email.sender,
                             self.first_token_bias, self.guard)
        text = self.tokenizer.decode(decoded.answer_tokens)
        return build_result(email, decoded.category, decoded.confidence, text, decoded.stopped)

    def category_scores(self, email: Email) -> dict[str, float]:
        """Log-probabilities of the categories' first tokens, uncalibrated (what
        ``training.calibrate`` fits the biases on)."""
        firsts = self.trie.first_tokens()
        ids = torch.tensor([self.prompt_ids(email)], device=self.model.device)
        with self._lock, self._adapter_scope(), torch.inference_mode():
            logits = self.model(input_ids=ids, logits_to_keep=1).logits[0, -1].float()
        scores = torch.log_softmax(logits[list(firsts.values())], dim=-1).tolist()
        return dict(zip(firsts, scores, strict=True))

    def triage_many(self, emails: list[Email], batch_size: int = 8, batched: bool | None = None) -> list[TriageResult]:
        """Triage many emails: in padded batches (several emails share each decoding step), or
        one by one with drafts. ``batched=None`` picks what is faster on this device: batches on
        a GPU; drafts on a CPU, where a drafted triage needs ~2 forward passes and beats a batch
        (``python -m benchmarks.inference_speed`` measures both)."""
        if batched is None:
            batched = self.model.device.type != "cpu"
        if not batched:
            return [self.triage(email) for email in emails]
        # Similar lengths share a batch: less padding to compute on.
        order = sorted(range(len(emails)), key=lambda i: len(emails[i].body) + len(emails[i].subject))
        results: list[TriageResult | None] = [None] * len(emails)
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            for index, result in zip(chunk, self._triage_batch([emails[i] for i in chunk]), strict=True):
                results[index] = result
        return results

    def _triage_batch(self, emails: list[Email]) -> list[TriageResult]:
        prompts = [build_prompt(email, self.style) for email in emails]
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.model.device)
        prompt_length = batch.input_ids.shape[1]
        constraint = CategoryConstraint(self.trie, prompt_length, self.first_token_bias)
        shape = ShapeConstraint(self.guard, self.trie, prompt_length)
        with self._lock, self._adapter_scope(), torch.inference_mode():
            output = self.model.generate(
                **batch, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                logits_processor=LogitsProcessorList([constraint, shape]),
                eos_token_id=sorted(self.stop_ids), pad_token_id=self.tokenizer.pad_token_id,
            )
        results = []
        for row, email in enumerate(emails):
            tokens = output[row, batch.input_ids.shape[1] :].tolist()
            stopped = any(token in self.stop_ids for token in tokens)
            tokens = tokens[: next((i for i, t in enumerate(tokens) if t in self.stop_ids), len(tokens))]
            text = self.tokenizer.decode(tokens)
            category = self.trie.category_of(tokens)
            results.append(build_result(email, category, constraint.confidence[row], text, stopped))
        return results


class CategoryConstraint(LogitsProcessor):
    """Batched form of the category constraint for ``generate``: until a row has spelled a
    whole category, only the trie's allowed tokens keep their scores."""

    def __init__(self, trie: CategoryTrie, prompt_length: int, first_token_bias: dict[int, float] | None = None):
        self.trie = trie
        self.prompt_length = prompt_length
        self.first_token_bias = first_token_bias or {}
        self.confidence: dict[int, float] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row in range(input_ids.shape[0]):
            self.confidence.setdefault(row, 1.0)
            answer = input_ids[row, self.prompt_length :].tolist()
            allowed = self.trie.allowed(answer)
            if allowed is None:
                continue
            if self.first_token_bias and not answer:
                bias = torch.tensor([self.first_token_bias.get(t, 0.0) for t in allowed], dtype=scores.dtype)
                scores[row, allowed] += bias
            probs = torch.softmax(scores[row, allowed].float(), dim=-1)
            self.confidence[row] *= float(probs.max())
            masked = torch.full_like(scores[row], float("-inf"))
            masked[allowed] = scores[row, allowed]
            scores[row] = masked
        return scores


class ShapeConstraint(LogitsProcessor):
    """Batched form of the JSON-shape guard: after the category, a row whose greedy token would
    break the answer's shape gets the model's best token that fits instead."""

    def __init__(self, guard: ShapeGuard, trie: CategoryTrie, prompt_length: int):
        self.guard = guard
        self.trie = trie
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for row in range(input_ids.shape[0]):
            answer = input_ids[row, self.prompt_length :].tolist()
            if self.trie.allowed(answer) is not None or any(t in self.guard.stop_ids for t in answer):
                continue  # still spelling the category, or finished (padding follows)
            best = int(scores[row].argmax())
            if not self.guard.fits(answer, best):
                best = self.guard.best_fitting(answer, scores[row])
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
