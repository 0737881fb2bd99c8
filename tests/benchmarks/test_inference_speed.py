"""The int8 comparison of benchmarks/inference_speed.py on the tiny 2-layer model: it really runs a
quantised copy (no linear layer left in fp32), leaves the fp32 triager as it was and counts what
changed against it."""

from __future__ import annotations

import torch

from benchmarks.inference_speed import int8_dynamic
from core.mail import Email
from model.inference import load_triager

MAILS = [Email("Anna Berg <anna@example.org>", "Cancel", "Please cancel BK-48213, I'm injured."),
         Email("tk@example.org", "New account", "Please add my son, username tk_2009."),
         Email("sarah@example.com", "Password", "I forgot my password.")]


def test_the_int8_comparison_quantises_every_linear_layer_and_counts_the_changes(tiny_base_dir):
    triager, copy = (load_triager(str(tiny_base_dir), adapter=None) for _ in range(2))
    results = int8_dynamic(triager, copy, MAILS)

    def linear(kind, model):
        return [m for m in model.modules() if type(m) is kind]
    assert not linear(torch.nn.Linear, copy.model) and linear(torch.ao.nn.quantized.dynamic.Linear, copy.model)
    assert linear(torch.nn.Linear, triager.model) and not linear(torch.ao.nn.quantized.dynamic.Linear, triager.model)
    assert results["int8_emails"] == len(MAILS)
    assert 0 <= results["int8_categories_changed"] <= results["int8_answers_changed"] <= len(MAILS)
    assert results["int8_median_s"] > 0 and results["int8_fp32_median_s"] > 0
    assert copy.triage(MAILS[0]).category  # the quantised triager still answers
