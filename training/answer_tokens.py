"""Write ``answer_tokens.json`` beside an adapter trained before training wrote it.

    python -m training.answer_tokens model/adapters/gemma-3-270m-triage

The file lists the tokens of every answer the adapter was trained on: the vocabulary its decoding
scores (model/shortlist.py). Training writes it itself (training/finetune_lora.py); this rebuilds it
from the training files the adapter's ``acedesk.json`` names (``train_file`` and
``extra_train_file``), tokenized exactly as training tokenizes them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from core.settings import PROJECT_ROOT
from model.loading import load_tokenizer
from model.metadata import read_metadata, write_answer_tokens
from model.prompt import style_for
from training.config import path_list
from training.dataset import answer_tokens, load_csv, tokenize


def setup(adapter: Path) -> Path:
    """Tokenize the adapter's training files and write their answers' tokens beside it."""
    meta = read_metadata(adapter)
    hyper = meta["hyperparameters"]
    tokenizer = load_tokenizer(meta["base_model"])
    extra = ",".join(str(PROJECT_ROOT / name) for name in path_list(hyper.get("extra_train_file") or ""))
    rows = load_csv(str(PROJECT_ROOT / hyper["train_file"]), extra_path=extra)
    rows = tokenize(rows, tokenizer, style_for(tokenizer), hyper["max_length"])
    return write_answer_tokens(adapter, answer_tokens(rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("adapter", type=Path)
    print(setup(parser.parse_args().adapter))
