"""The int8 comparison of benchmarks/inference_speed.py on the tiny 2-layer model: it really runs a
quantised model (no linear layer left in fp32) and counts what changed against fp32."""

from __future__ import annotations

import torch

from benchmarks.inference_speed import int8_dynamic
from core.mail import Email
from model.inference import load_triager

MAILS = [Email("Anna Berg <anna@example.org>", "Cancel", "Please cancel BK-48213, I'm injured."),
         Email("tk@example.org", "New account", "Please add my son, username tk_2009."),
         Email("sarah@example.com", "Password", "I forgot my password.")]


def test_the_int8_comparison_quantises_every_linear_layer_and_counts_the_changes(tiny_base_dir):
    triager = load_triager(str(tiny_base_dir), adapter=None)
    results = int8_dynamic(triager, MAILS)

    linear = [m for m in triager.model.modules() if type(m) is torch.nn.Linear]
    quantised = [m for m in triager.model.modules() if type(m) is torch.ao.nn.quantized.dynamic.Linear]
    assert not linear and quantised
    assert results["int8_emails"] == len(MAILS)
    assert 0 <= results["int8_categories_changed"] <= results["int8_answers_changed"] <= len(MAILS)
    assert results["int8_median_s"] > 0 and results["int8_fp32_median_s"] > 0
    assert triager.triage(MAILS[0]).category  # the quantised triager still answers
