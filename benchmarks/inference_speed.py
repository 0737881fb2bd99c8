"""Inference speed of the triage model on this machine, against baselines measured in the same run.

    python -m benchmarks.inference_speed [--emails 12] [--dev training/data/dev.csv] [--dev-rows N] [--dev-only [--int8]]

- the dev set's mails (hand-written, real-style: long mails with quotes and signatures), median
  and p95 per mail: today's triage against the path shipped before it, in the same run, mail by
  mail: the same triage with the output layer scoring the whole 262k-token vocabulary at every
  step instead of the answer's shortlist (model/shortlist.py), and how many answers and
  categories the two give differently;
- full triage (fields and reply), median per email: AceDesk's path (merged adapter,
  constrained category, drafts: the templated reply and prompt lookup) vs the naive path (unmerged peft adapter, free greedy
  ``generate`` until the stop token);
- decode tokens/s: plain greedy, and the answer's tokens per second of AceDesk's path after
  the prefill (drafts), beside llama.cpp's 45 tok/s on the
  same GGUF and this machine's memory-bandwidth ceiling (shared/notes/verified-facts.md);
- throughput: ``triage_many`` in batches of 8 (fp32, and bf16 where batches gain most) vs the same
  greedy decoding one email at a time, with how often the bf16 batch agrees on the category;
- model ready: seconds from nothing to a loaded triager (after the one-off conversion);
- ``--int8``: the dev mails through a second copy of the model, every linear layer quantised to
  int8 (``torch.ao.quantization.quantize_dynamic``), the usual speed-up for a CPU without AMX, mail
  by mail against fp32: median, p95 and how many categories and answers it changes. Measured, not
  shipped (README).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from peft import PeftModel

from benchmarks.common import median, report, sample_emails
from core.mail import Email
from model.decoding import decode
from model.inference import DEFAULT_ADAPTER, MAX_NEW_TOKENS, load_triager
from model.loading import load_base_model, pick_dtype
from model.schema import FIELDS

LLAMA_CPP_TOK_S = 45.0  # llama-cpp-python, same Gemma GGUF Q4_K_M, 2 threads (verified-facts §2)
BANDWIDTH_GB_S = 24.0  # torch, 2 threads (verified-facts §2)


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def naive_triager_model(triager):
    """The naive path: the base model with the adapter unmerged, as peft loads it."""
    base = load_base_model(triager.base_model, pick_dtype("cpu"), "cpu")
    return PeftModel.from_pretrained(base, str(DEFAULT_ADAPTER)).eval()


@torch.inference_mode()
def naive_triage(model, triager, email):
    ids = torch.tensor([triager.prompt_ids(email)])
    out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_NEW_TOKENS,
                         do_sample=False, eos_token_id=sorted(triager.stop_ids),
                         pad_token_id=triager.tokenizer.pad_token_id)
    return out.shape[1] - ids.shape[1]


def spread(name: str, seconds: list[float]) -> dict:
    """``NAME_median_s`` and ``NAME_p95_s`` of per-mail times."""
    return {f"{name}_median_s": round(float(np.median(seconds)), 3),
            f"{name}_p95_s": round(float(np.percentile(seconds, 95)), 3)}


def previous_path(triager, email: Email):
    """The triage as shipped before: the same, scoring the whole vocabulary at every step."""
    today, triager.use_shortlist = triager.use_shortlist, False
    try:
        return timed(lambda: triager.triage(email))
    finally:
        triager.use_shortlist = today


def dev_set(triager, path: str, rows_wanted: int | None = None) -> dict:
    """Both paths on every mail of ``path`` (or ``rows_wanted`` of them, evenly spread, so every
    kind of mail is in), alternating mail by mail so load changes hit both alike."""
    emails = dev_emails(path, rows_wanted)
    previous_path(triager, emails[0])  # warm-up of the whole output layer's path too
    ours, previous, differ, categories_differ, fields_differ = [], [], 0, 0, 0
    differing_parts: dict[str, int] = {}
    for email in emails:
        result, seconds = timed(lambda e=email: triager.triage(e))
        ours.append(seconds)
        previous_result, seconds = previous_path(triager, email)
        previous.append(seconds)
        differ += result.raw_answer != previous_result.raw_answer
        categories_differ += result.category != previous_result.category
        parts = [name for name in ("category", *FIELDS, "response")
                 if getattr(result, name) != getattr(previous_result, name)]
        fields_differ += any(name in FIELDS for name in parts)
        for name in parts:
            differing_parts[name] = differing_parts.get(name, 0) + 1
    prompt_tokens = [len(triager.prompt_ids(email)) for email in emails]
    return {
        "dev_answers_that_differ": differ,
        "dev_categories_that_differ": categories_differ,
        "dev_fields_that_differ": fields_differ,
        "dev_differing_parts": differing_parts,
        "shortlist_answer_tokens": triager.shortlist_tokens,
        "dev_emails": len(emails),
        "dev_prompt_tokens_median": int(np.median(prompt_tokens)),
        "dev_prompt_tokens_max": max(prompt_tokens),
        **spread("dev_triage", ours),
        **spread("dev_previous", previous),
        "dev_speedup_median": round(float(np.median(previous) / np.median(ours)), 2),
        "dev_speedup_p95": round(float(np.percentile(previous, 95) / np.percentile(ours, 95)), 2),
    }


def dev_emails(path: str, rows_wanted: int | None = None) -> list[Email]:
    """The mails of ``path`` (or ``rows_wanted`` of them, evenly spread, so every kind is in)."""
    rows = pd.read_csv(path, keep_default_na=False, dtype=str)
    if rows_wanted and rows_wanted < len(rows):
        rows = rows.iloc[:: -(-len(rows) // rows_wanted)]
    return [Email(r.sender, r.subject, r.body) for r in rows.itertuples()]


def int8_dynamic(triager, quantised, emails: list[Email]) -> dict:
    """The same mails through ``triager`` and through ``quantised``, a second copy of it whose every
    ``nn.Linear`` this quantises to int8 (weights per tensor, activations per batch), alternating
    mail by mail as ``dev_set`` does."""
    torch.ao.quantization.quantize_dynamic(quantised.model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    quantised.triage(emails[0])  # warm-up, as for fp32
    pairs = [(timed(lambda e=e: triager.triage(e)), timed(lambda e=e: quantised.triage(e))) for e in emails]
    return {
        "int8_emails": len(emails),
        **spread("int8_fp32", [fp32_s for (_, fp32_s), _ in pairs]),
        **spread("int8", [int8_s for _, (_, int8_s) in pairs]),
        "int8_speedup_median": round(float(np.median([f for (_, f), _ in pairs])
                                           / np.median([i for _, (_, i) in pairs])), 2),
        "int8_categories_changed": sum(a.category != b.category for (a, _), (b, _) in pairs),
        "int8_answers_changed": sum(a.raw_answer != b.raw_answer for (a, _), (b, _) in pairs),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=12)
    parser.add_argument("--dev", default="training/data/dev.csv", help="labelled CSV timed mail by mail")
    parser.add_argument("--dev-rows", type=int, default=None, help="time only this many dev mails, evenly spread")
    parser.add_argument("--dev-only", action="store_true", help="only the dev-set comparison (~5 min)")
    parser.add_argument("--int8", action="store_true",
                        help="with --dev-only: then the dev mails in fp32 and int8 (dynamic quantisation)")
    args = parser.parse_args(argv)
    if args.int8 and not args.dev_only:
        parser.error("--int8 compares on the dev mails: give it with --dev-only")
    emails = sample_emails(args.emails)

    load_before = os.getloadavg()[0]
    triager, ready_s = timed(lambda: load_triager())
    triager.triage(emails[0])  # warm-up: first-call allocations are not what a user waits for
    dev = dev_set(triager, args.dev, args.dev_rows)
    if args.dev_only:
        if args.int8:
            dev.update(int8_dynamic(triager, load_triager(), dev_emails(args.dev, args.dev_rows)))
        dev.update(model_ready_s=round(ready_s, 2), load_average_before=round(load_before, 2),
                   load_average_after=round(os.getloadavg()[0], 2))
        report(f"inference_speed_{Path(args.dev).stem}", dev)  # dev.csv: inference_speed_dev
        return dev

    ours = [timed(lambda e=e: triager.triage(e))[1] for e in emails]
    plain = [timed(lambda e=e: decode(triager.model, triager.prompt_ids(e), triager.trie, None,
                                      triager.stop_ids, MAX_NEW_TOKENS)) for e in emails]
    drafted = [decode(triager.model, triager.prompt_ids(e), triager.trie, triager.lookup, triager.stop_ids,
                      MAX_NEW_TOKENS, e.sender) for e in emails]
    # a prefill as decode() runs it: output logits for the last position only
    prefill_s = median([timed(lambda e=e: triager.model(torch.tensor([triager.prompt_ids(e)]), logits_to_keep=1))[1]
                        for e in emails[:5]])
    plain_tokens = sum(len(d.answer_tokens) for d, _ in plain)
    plain_decode_s = sum(s for _, s in plain) - prefill_s * len(plain)
    batched, batched_s = timed(lambda: triager.triage_many(emails, batch_size=8, batched=True))
    bf16 = load_triager(dtype="bfloat16")
    bf16.triage_many(emails[:2], batch_size=2, batched=True)  # warm-up
    batched_bf16, batched_bf16_s = timed(lambda b=bf16: b.triage_many(emails, batch_size=8, batched=True))
    del bf16  # its ~1 GB is not needed for the naive path below

    naive_model = naive_triager_model(triager)
    naive = [timed(lambda e=e: naive_triage(naive_model, triager, e))[1] for e in emails]

    weight_gb = sum(p.numel() * p.element_size() for p in triager.model.parameters()) / 1e9
    results = {
        **dev,
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "emails": len(emails),
        "torch_threads": torch.get_num_threads(),
        "model_ready_s": round(ready_s, 2),
        "triage_median_s": round(median(ours), 3),
        "naive_median_s": round(median(naive), 3),
        "speedup_vs_naive": round(median(naive) / median(ours), 2),
        "plain_greedy_median_s": round(median([s for _, s in plain]), 3),
        "prefill_median_s": round(prefill_s, 3),
        "decode_tok_s_plain": round(plain_tokens / plain_decode_s, 1),
        "decode_tok_s_drafted": round(sum(len(d.answer_tokens) for d in drafted)
                                      / max(sum(ours) - prefill_s * len(ours), 1e-9), 1),
        "forward_passes_plain": sum(d.forward_passes for d, _ in plain),
        "forward_passes_drafted": sum(d.forward_passes for d in drafted),
        "llama_cpp_tok_s": LLAMA_CPP_TOK_S,
        "bandwidth_ceiling_tok_s": round(BANDWIDTH_GB_S / weight_gb, 1),
        "sequential_plain_emails_per_s": round(len(emails) / sum(s for _, s in plain), 3),
        "batched_emails_per_s": round(len(emails) / batched_s, 3),
        "sequential_drafted_emails_per_s": round(len(emails) / sum(ours), 3),
        "batched_bf16_emails_per_s": round(len(emails) / batched_bf16_s, 3),
        "bf16_batch_same_category_rate": round(
            sum(a.category == b.category for a, b in zip(batched, batched_bf16, strict=True)) / len(emails), 3),
    }
    results["batched_vs_sequential_plain"] = round(
        results["batched_emails_per_s"] / results["sequential_plain_emails_per_s"], 2)
    results["batched_bf16_vs_sequential_plain"] = round(
        results["batched_bf16_emails_per_s"] / results["sequential_plain_emails_per_s"], 2)
    report("inference_speed", results)
    return results


if __name__ == "__main__":
    main()
