"""Hyperparameters of a LoRA run, one YAML per run (training/configs/)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from model.metadata import DEFAULT_BASE_MODEL, default_base_folder

DTYPES = ("auto", "float32", "bfloat16")
LARGEST_WHOLE_NUMBER = 2**53 - 1
"""The largest integer a browser's number input (a JavaScript number) holds exactly."""


@dataclass
class TrainConfig:
    """A LoRA fine-tuning run. Every field can be set in the YAML or as ``--name value``."""

    base_model: str = DEFAULT_BASE_MODEL
    """Packaged default (``gemma-3-270m``), a Hugging Face hub id or a local folder."""
    train_file: str = "training/data/train.csv"
    """CSV with sender,subject,body,category,username,booking_id,response (+ optional fields)."""
    extra_train_file: str = ""
    """More training CSVs whose rows join train_file's, comma-separated (e.g.
    ``training/data/train_chat.csv,training/data/train_traps.csv``)."""
    val_file: str = "training/data/val.csv"
    """Validation CSV (eval loss); empty to skip evaluation."""
    out_dir: str = "runs/default"
    """Checkpoints, progress.jsonl and the final adapter (``out_dir/adapter``) go here."""
    max_train_samples: int = 0
    """Use only the first N shuffled training rows (0 = all): the CPU budget knob."""
    max_eval_samples: int = 200
    """Cap on validation rows; eval runs every ``eval_steps`` and costs forward passes."""
    init_adapter: str = ""
    """Continue training this saved adapter (its LoRA config wins over the lora_* fields); empty = new."""
    category_weight: float = 1.0
    """Loss weight of the category decision (the first answer token) against the reply's tokens."""
    lora_r: int = 8
    """LoRA rank; 8 on all linear layers keeps the adapter ~8 MB for the 270M base."""
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: str = "all-linear"
    """peft's shortcut for every linear layer except the output head."""
    lora_top_layers: int = 0
    """Adapt only the last N transformer layers (0 = all): backward then stops at the lowest
    adapted layer, ~1/3 less compute per step when N is half the layers."""
    learning_rate: float = 2e-4
    """LoRA tolerates ~10x the full fine-tuning learning rate."""
    epochs: float = 1.0
    max_steps: int = -1
    """Stop after this many optimizer steps (-1 = run ``epochs``)."""
    batch_size: int = 8
    grad_accum: int = 1
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_length: int = 640
    """Longer examples are dropped; emails are already truncated by model/prompt.py."""
    logging_steps: int = 5
    eval_steps: int = 50
    save_steps: int = 50
    save_total_limit: int = 3
    dtype: str = "auto"
    """auto = bf16 mixed precision on GPU, fp32 on CPU (measured faster there), or float32/bfloat16."""
    threads: int = 0
    """CPU threads for torch (0 = torch's default); leave a core to the inbox when both run."""
    seed: int = 13
    resume: bool = False
    """Continue from the newest checkpoint in ``out_dir``."""

    def __post_init__(self) -> None:
        kinds = typing.get_type_hints(TrainConfig)
        for name in (name for name, kind in kinds.items() if kind in (int, float)):
            # the one reading of a number (text "1e-3" is read; NaN, inf, a bool or text refused by name)
            setattr(self, name, setting_value(name, getattr(self, name)))
        for name, (allowed, words) in NUMBER_RANGES.items():
            if not allowed(getattr(self, name)):
                raise ValueError(f"{name} is {_shown(getattr(self, name))}; it must be {words}")
        if self.max_steps == -1 and not 0 < self.epochs <= MAX_EPOCHS:
            raise ValueError(f"epochs is {_shown(self.epochs)}; with max_steps -1 it must be above 0 and at most "
                             f"{MAX_EPOCHS:,} (or set max_steps)")
        width = model_width(self.base_model)
        if width is not None and self.lora_r > width:
            raise ValueError(f"lora_r is {self.lora_r:,}, more than the base model's width ({width:,}): "
                             "a rank above it adds memory and no capacity; use at most that (8 or 16 is usual)")
        if self.init_adapter and not (Path(self.init_adapter) / "adapter_config.json").exists():
            raise FileNotFoundError(f"init_adapter {self.init_adapter} has no adapter_config.json")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be {', '.join(DTYPES[:-1])} or {DTYPES[-1]}")
        if not Path(self.train_file).exists():
            raise FileNotFoundError(f"train_file {self.train_file} does not exist")
        for extra in path_list(self.extra_train_file):
            if not Path(extra).exists():
                raise FileNotFoundError(f"extra_train_file {extra} does not exist")
        if self.val_file and not Path(self.val_file).exists():
            raise FileNotFoundError(f"val_file {self.val_file} does not exist")


MAX_STEPS = 1_000_000
"""More optimizer steps than any run here needs (the shipped stages took 200 to 400): a typo, not a plan."""
MAX_EPOCHS = 1_000
"""Above this, transformers' step count overflows for a large file (1e308 epochs ended the run)."""
MAX_BATCH = 512
"""Far above what fits a CPU's or one GPU's memory for these prompts: a typo. Smaller batches that
still do not fit end the run with an out-of-memory error."""

NUMBER_RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "max_train_samples": (lambda value: value >= 0, "0 (all rows) or more"),
    "max_eval_samples": (lambda value: value >= 0, "0 (all rows) or more"),
    "max_length": (lambda value: value >= 1, "at least 1"),
    "max_steps": (lambda value: value == -1 or 1 <= value <= MAX_STEPS, f"-1 (run epochs) or 1 to {MAX_STEPS:,}"),
    "batch_size": (lambda value: 1 <= value <= MAX_BATCH, f"1 to {MAX_BATCH}"),
    "grad_accum": (lambda value: 1 <= value <= MAX_BATCH, f"1 to {MAX_BATCH}"),
    "learning_rate": (lambda value: 0 < value < 1, "above 0 and below 1 (LoRA runs here use 1e-4 to 3e-4)"),
    "warmup_ratio": (lambda value: 0 <= value < 1, "from 0 up to, not including, 1 (a share of all steps)"),
    "weight_decay": (lambda value: 0 <= value <= 1, "from 0 to 1"),
    "lora_r": (lambda value: value >= 1, "at least 1"),
    "lora_alpha": (lambda value: value >= 1, "at least 1"),
    "lora_dropout": (lambda value: 0 <= value < 1, "from 0 up to, not including, 1"),
    "lora_top_layers": (lambda value: value >= 0, "0 (all layers) or more"),
    "category_weight": (lambda value: 0 < value <= 1000, "above 0 and at most 1000"),
    "logging_steps": (lambda value: value >= 1, "at least 1"),
    "eval_steps": (lambda value: value >= 1, "at least 1"),
    "save_steps": (lambda value: value >= 1, "at least 1"),
    "save_total_limit": (lambda value: value >= 0, "0 (keep every checkpoint) or more"),
    "threads": (lambda value: 0 <= value <= (os.cpu_count() or 1),
                f"0 (torch's default) to {os.cpu_count() or 1}, this machine's cores"),
    "seed": (lambda value: 0 <= value < 2**32, "0 to 4,294,967,295 (numpy's seeds)"),
}
"""What each number may be, in words for the message: outside, a run would end in a traceback
(a 0 step interval, a negative seed or thread count, a negative sample limit that empties the data)
or train nothing sensible (a learning rate of 1e308)."""


def model_width(base_model: str) -> int | None:
    """The hidden size of a base model on this machine (the packaged one or a local folder); None
    when it is not here yet (a hub id, downloaded when the run starts) or says none."""
    folder = default_base_folder() if base_model.strip() in ("", DEFAULT_BASE_MODEL) else Path(base_model.strip())
    try:
        described = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(described, dict):
        return None
    width = described.get("hidden_size", (described.get("text_config") or {}).get("hidden_size"))
    return width if isinstance(width, int) and not isinstance(width, bool) and width > 0 else None


def path_list(value: str) -> list[str]:
    """The files a comma-separated path field names, in order (``""`` names none)."""
    return [part.strip() for part in value.split(",") if part.strip()]


def setting_value(name: str, value):
    """A config file's value for the field ``name``, as that field holds it (None, a setting left
    empty, stays None: the default); ValueError, naming the setting, for an unknown name or a value
    of another kind. Numbers written as text are read
    (YAML reads ``1e-3`` as text), nothing else is converted: ``true`` is no rank, ``8.7`` no count,
    a list no text, and a value the form could not show (not finite, a dtype it does not offer)
    is refused here rather than there."""
    kinds = typing.get_type_hints(TrainConfig)
    if name not in kinds:
        raise ValueError(f"unknown setting {name!r}")
    if value is None:
        return None
    kind = kinds[name]
    typed = _as_kind(kind, value)
    if typed is None:
        wanted = {bool: "true or false", int: "a whole number", float: "a finite number", str: "text"}[kind]
        raise ValueError(f"{name} is {_shown(value)}, not {wanted}")
    if name == "dtype" and typed not in DTYPES:
        raise ValueError(f"dtype is {typed!r}, not one of {', '.join(DTYPES)}")
    return typed


def _as_kind(kind: type, value):
    """``value`` as ``kind`` (bool, int, float or str), or None where it is not one."""
    if isinstance(value, bool) or kind in (bool, str):  # a bool is an int to Python, never to a config
        return value if isinstance(value, kind) and isinstance(value, bool) == (kind is bool) else None
    try:
        number = float(value) if isinstance(value, str | int | float) else math.nan
    except (ValueError, OverflowError):
        return None
    if not math.isfinite(number):
        return None
    if kind is float:
        return number
    whole = int(value) if isinstance(value, int) else int(number) if number.is_integer() else None
    return whole if whole is not None and abs(whole) <= LARGEST_WHOLE_NUMBER else None


def _shown(value) -> str:
    """A value for a message: its repr, cut to a line."""
    try:
        text = repr(value)
    except ValueError:  # an int of more digits than Python writes out
        return "a number too long to write"
    return text if len(text) <= 60 else f"{text[:57]}..."


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    """``--config FILE.yaml`` sets the run; any ``--field value`` after it overrides one field."""
    parser = argparse.ArgumentParser(description="LoRA fine-tuning of the triage model")
    parser.add_argument("--config", help="YAML file with TrainConfig fields")
    hints = typing.get_type_hints(TrainConfig)
    for field in dataclasses.fields(TrainConfig):
        kind = hints[field.name]
        if kind is bool:
            parser.add_argument(f"--{field.name}", type=_parse_bool, default=None, nargs="?", const=True)
        else:
            parser.add_argument(f"--{field.name}", type=kind, default=None)
    args = vars(parser.parse_args(argv))
    values = {}
    config_file = args.pop("config")
    if config_file:
        written = yaml.safe_load(Path(config_file).read_text()) or {}
        if not isinstance(written, dict):
            raise SystemExit(f"{config_file}: not a mapping of TrainConfig fields")
        try:  # the page's reading (setting_value), so a file the page refuses never trains from here either
            values.update({name: typed for name, value in written.items()
                           if (typed := setting_value(name, value)) is not None})
        except ValueError as problem:
            raise SystemExit(f"{config_file}: {problem}") from None
    values.update({key: value for key, value in args.items() if value is not None})
    return TrainConfig(**values)


def _parse_bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"not a boolean: {text}")
