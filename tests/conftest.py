"""Shared fixtures. The tiny model is a randomly initialised 2-layer Llama with a byte-level
BPE tokenizer trained here in milliseconds: a second architecture that runs the real
training and inference code offline, on CPU, in seconds."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from model.prompt import SYSTEM_PROMPT
from model.replies import draft_texts
from model.schema import CATEGORIES, MODEL_FIELDS

REPO_ROOT = Path(__file__).resolve().parent.parent
MIME_CORPUS_DIR = REPO_ROOT / "tests" / "data" / "mime_corpus"
"""Malformed and unusual MIME messages from public parser test suites (README and licences beside them)."""
MIME_CORPUS = [MIME_CORPUS_DIR / row["file"] for row in csv.DictReader((MIME_CORPUS_DIR / "MANIFEST.csv").open())]

pytest_plugins = ["tests.fixtures.browser", "tests.fixtures.club_backend", "tests.fixtures.dovecot",
                  "tests.fixtures.smtp"]


def pytest_configure(config):
    import torch

    # Tiny models gain nothing from more threads, and a training run may share these cores.
    torch.set_num_threads(int(os.environ.get("ACEDESK_TEST_THREADS", "1")))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``real_model`` need the converted Gemma base: skipped unless
    ACEDESK_REAL_MODEL=1 (make test sets it), and never silently skipped under CI."""
    if os.environ.get("ACEDESK_REAL_MODEL") == "1":
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError("CI must run the real_model tests: set ACEDESK_REAL_MODEL=1")
    skip = pytest.mark.skip(reason="needs the real default model: set ACEDESK_REAL_MODEL=1")
    for item in items:
        if "real_model" in item.keywords:
            item.add_marker(skip)


def build_tiny_model(folder: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    corpus = [SYSTEM_PROMPT, *draft_texts(), *CATEGORIES, *MODEL_FIELDS,
              "Please cancel my booking BK-12345. My username is tk_2009. Hi Anna, thanks!"]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<pad>", "<bos>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>",
                                        pad_token="<pad>")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_base_dir(tmp_path_factory) -> Path:
    import torch

    torch.manual_seed(0)
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))
