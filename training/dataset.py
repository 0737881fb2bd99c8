"""From a CSV of labelled emails to tokenized prompt/answer pairs and padded batches."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch
from datasets import Dataset, concatenate_datasets

from core.mail import Email
from model.prompt import PromptStyle, encode_completion, encode_prompt
from model.schema import FIELDS, answer_json
from training.config import path_list

REQUIRED_COLUMNS = ("sender", "subject", "body", "category", "username", "booking_id", "response")
IGNORE_INDEX = -100  # label value that CrossEntropyLoss skips: prompt tokens teach nothing


def load_csv(path: str, limit: int = 0, seed: int = 13, extra_path: str = "") -> Dataset:
    """Load a labelled CSV (plus the rows of ``extra_path``'s comma-separated CSVs) as the checks
    read it (``read_labelled_csv``)."""
    dataset = _load_one(path)
    for extra_file in path_list(extra_path):  # columns every file has, typed as in the first
        extra = _load_one(extra_file)
        common = [c for c in dataset.column_names if c in extra.column_names]
        dataset = dataset.select_columns(common)
        dataset = concatenate_datasets([dataset, extra.select_columns(common).cast(dataset.features)])
    if limit:
        dataset = dataset.shuffle(seed=seed).select(range(min(limit, len(dataset))))
    return dataset


class TooManyRows(ValueError):
    """The CSV holds more rows than its reader was allowed to read."""


def read_labelled_csv(path: str | Path, max_rows: int | None = None) -> pd.DataFrame:
    """The one reading of a labelled CSV, for the checks (training/data_checks.py) and for training:
    every cell a string, empty cells empty, never NaN. Guessed types turned a username "007" into 7,
    and a column that looked numeric for datasets' first 10,000 rows ended the run at a later row
    that did not. A first row with more cells than the header is a ParserError, as any later one
    is (pandas would make its first cells the index and shift every column). With ``max_rows``, a
    file of more rows is TooManyRows, read no further than the row past the limit."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, nrows=None if max_rows is None else max_rows + 1)
    if not isinstance(frame.index, pd.RangeIndex):
        raise pd.errors.ParserError("the first row has more cells than the header")
    if max_rows is not None and len(frame) > max_rows:
        raise TooManyRows(f"{Path(path).name} has more than {max_rows:,} rows")
    return frame


def _load_one(path: str) -> Dataset:
    dataset = Dataset.from_pandas(read_labelled_csv(path), preserve_index=False)
    missing = [c for c in REQUIRED_COLUMNS if c not in dataset.column_names]
    if missing:
        raise ValueError(f"{path} lacks columns {missing}")
    return dataset


def row_answer(row: dict) -> str:
    """The training target for a CSV row: the answer JSON exactly as the model must write it."""
    # Spaces around the category, as a spreadsheet leaves them, are how data_checks counts it too:
    # read alike, a file the checks passed cannot end the run.
    answer = {"category": row["category"].strip(), "response": row["response"]}
    answer.update({name: str(row.get(name) or "") for name in FIELDS})
    return answer_json(answer)


def tokenize_row(row: dict, tokenizer, style: PromptStyle) -> dict:
    """Prompt and answer ids exactly as inference encodes them (model/prompt.py): mail text
    never becomes a control token, and each part of the mail keeps within its token budget."""
    email = Email(sender=row["sender"], subject=row["subject"], body=row["body"])
    prompt_ids = encode_prompt(tokenizer, email, style)
    answer_ids = encode_completion(tokenizer, row_answer(row), style)
    return {
        "input_ids": prompt_ids + answer_ids,
        "labels": [IGNORE_INDEX] * len(prompt_ids) + answer_ids,
        "length": len(prompt_ids) + len(answer_ids),
    }


def answer_tokens(dataset: Dataset) -> set[int]:
    """Every token id the tokenized rows' answers hold: the vocabulary an adapter trained on them
    writes (saved beside it, model/shortlist.py)."""
    return {token for labels in dataset["labels"] for token in labels if token != IGNORE_INDEX}


class NoExampleFits(ValueError):
    """Every row is longer than ``max_length`` (or there is none): nothing is left to train or
    measure on, which the Trainer would only report as a library error once the model had loaded."""


def tokenize(dataset: Dataset, tokenizer, style: PromptStyle, max_length: int, split: str = "training") -> Dataset:
    """The rows whose prompt and answer together fit ``max_length`` tokens; ``split`` names the rows
    in the sentence of NoExampleFits."""
    columns = dataset.column_names
    tokenized = dataset.map(tokenize_row, fn_kwargs={"tokenizer": tokenizer, "style": style},
                            remove_columns=columns)
    if len(tokenized) == 0:
        raise NoExampleFits(f"the {split} data has no rows")
    fitting = tokenized.filter(lambda row: row["length"] <= max_length)
    if len(fitting) == 0:
        raise NoExampleFits(f"no {split} example fits max_length {max_length}: the shortest prompt+answer is "
                            f"{min(tokenized['length'])} tokens; raise max_length")
    return fitting


class LeftPadCollator:
    """Pads each batch only to its own longest example (no fixed 512), on the left.

    Left padding puts every answer at the end of its row, so the loss needs logits for
    just the last ``longest answer + 1`` positions (``logits_to_keep``): the 262k-word
    output layer is most of a small model's compute, and the prompt needs none of it.
    """

    def __init__(self, pad_token_id: int):
        self.pad_token_id = pad_token_id

    def __call__(self, rows: list[dict]) -> dict:
        width = max(len(row["input_ids"]) for row in rows)
        answer_width = max(sum(label != IGNORE_INDEX for label in row["labels"]) for row in rows)
        input_ids, labels, mask, positions = [], [], [], []
        for row in rows:
            pad = width - len(row["input_ids"])
            input_ids.append([self.pad_token_id] * pad + row["input_ids"])
            labels.append([IGNORE_INDEX] * pad + row["labels"])
            mask.append([0] * pad + [1] * len(row["input_ids"]))
            # positions start at 0 on the first real token, as they do at inference
            positions.append([0] * pad + list(range(len(row["input_ids"]))))
        return {
            "input_ids": torch.tensor(input_ids),
            "attention_mask": torch.tensor(mask),
            "position_ids": torch.tensor(positions),
            "labels": torch.tensor(labels),
            "logits_to_keep": answer_width + 1,
        }


def answer_only_loss(outputs, labels: torch.Tensor, num_items_in_batch=None, category_weight: float = 1.0):
    """Cross-entropy on the answer tokens, from the kept logits only (see LeftPadCollator).

    ``category_weight`` scales the loss of each row's first answer token. The prompt ends
    inside ``{"category":"``, so that token is the category decision itself; unweighted it is
    one of ~60 answer tokens and the reply text dominates the gradient.
    """
    logits = outputs.logits[:, :-1, :].float()
    targets = labels[:, -logits.shape[1]:].to(logits.device)
    losses = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
    ).view(targets.shape)
    answer = targets != IGNORE_INDEX
    if category_weight != 1.0:
        first = answer.int().argmax(dim=1)
        weights = torch.ones_like(losses)
        weights[torch.arange(len(first)), first] = category_weight
        losses = losses * weights
    count = num_items_in_batch if num_items_in_batch is not None else answer.sum()
    return losses.sum() / count
