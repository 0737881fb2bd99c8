"""The new-run form's hyperparameter inputs: one per TrainConfig field, grouped, each with
the field's docstring as its help."""

from __future__ import annotations

import math

import streamlit as st

from training import runs
from training.config import DTYPES

GROUPS = {
    "Data": ("extra_train_file", "max_train_samples", "max_eval_samples", "max_length"),
    "Schedule": ("epochs", "max_steps", "batch_size", "grad_accum", "learning_rate", "warmup_ratio",
                 "weight_decay"),
    "LoRA": ("lora_r", "lora_alpha", "lora_dropout", "lora_top_layers", "target_modules", "category_weight",
             "init_adapter"),
    "Logging and machine": ("logging_steps", "eval_steps", "save_steps", "save_total_limit", "dtype", "threads",
                            "seed"),
}
ELSEWHERE = ("base_model", "train_file", "val_file", "out_dir", "resume")
"""Fields the page sets otherwise: the data pickers, the base model input, the run folder; a
new run never resumes."""
CHOICES = {"dtype": DTYPES}
KEY_PREFIX = "hp_"


def forget_hyperparameters() -> None:
    """Another preset was picked: drop the typed values so the inputs show its defaults."""
    for key in [key for key in st.session_state if str(key).startswith(KEY_PREFIX)]:
        del st.session_state[key]


def hyperparameter_inputs(defaults: dict) -> dict:
    """Inputs for every grouped field, in columns; returns the values as typed."""
    help_texts = runs.field_help()
    values = {}
    for column, (title, names) in zip(st.columns(len(GROUPS)), GROUPS.items(), strict=True):
        with column:
            st.markdown(f"**{title}**")
            for name in names:
                values[name] = _input(name, defaults[name], help_texts.get(name))
    return values


def _input(name: str, default, help_text: str | None):
    key = KEY_PREFIX + name
    if name in CHOICES:
        options = CHOICES[name]
        return st.selectbox(name, options, index=options.index(default), key=key, help=help_text)
    if isinstance(default, bool):
        return st.checkbox(name, value=default, key=key, help=help_text)
    if isinstance(default, int):
        return int(st.number_input(name, value=default, step=1, key=key, help=help_text))
    if isinstance(default, float):
        return float(st.number_input(name, value=default, step=_step(default), format="%g", key=key,
                                     help=help_text))
    return st.text_input(name, value=default, key=key, help=help_text)


def _step(value: float) -> float:
    # One +/- click changes the value's second digit: 3e-4 steps by 1e-5, 0.05 by 0.001.
    return 10.0 ** (math.floor(math.log10(abs(value))) - 1) if value else 0.01
