"""A config file's values as TrainConfig holds them (training/config.py ``setting_value``): what
the Training page's presets and their form can show, or a ValueError that names the setting."""

import dataclasses
import math
import typing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.config import DTYPES, LARGEST_WHOLE_NUMBER, TrainConfig, setting_value

CONFIGS = Path(__file__).resolve().parents[2] / "training" / "configs"
KINDS = typing.get_type_hints(TrainConfig)
ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**400, max_value=10**400) | st.floats() | st.text(max_size=30)
    | st.sampled_from(["1e-3", " 8 ", "nan", "inf", "9" * 30, "auto", "bfloat16"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(KINDS)), value=ANY_VALUE)
def test_any_value_is_one_the_form_can_show_or_a_named_error(name, value):
    try:
        typed = setting_value(name, value)
    except ValueError as error:
        assert str(error).startswith(f"{name} is "), error
        assert len(str(error)) < 200  # a line, however long the value
        return
    kind = KINDS[name]
    if value is None:
        assert typed is None
    elif kind is float:
        assert type(typed) is float and math.isfinite(typed)
    elif kind is int:
        assert type(typed) is int and abs(typed) <= LARGEST_WHOLE_NUMBER
    else:
        assert type(typed) is kind and typed == value
    assert name != "dtype" or typed in (None, *DTYPES)


def test_what_is_read_and_what_is_refused():
    assert setting_value("learning_rate", "1e-3") == 0.001  # YAML reads 1e-3 as text
    assert setting_value("epochs", 2) == 2.0 and setting_value("lora_r", "8") == 8 and setting_value("lora_r", 8.0) == 8
    assert setting_value("resume", True) is True
    for name, value in (("lora_r", True), ("lora_r", 8.7), ("resume", "yes"), ("base_model", 12),
                        ("target_modules", ["q_proj"]), ("epochs", math.nan), ("max_steps", 2**53)):
        with pytest.raises(ValueError, match=f"^{name} is "):
            setting_value(name, value)
    with pytest.raises(ValueError, match="unknown setting 'learning_rte'"):
        setting_value("learning_rte", 0.1)
    with pytest.raises(ValueError, match="^max_steps is a number too long to write, not a whole number$"):
        setting_value("max_steps", 10**5000)


def test_the_form_offers_every_dtype_the_config_accepts():
    from ui.training_form import CHOICES

    assert CHOICES["dtype"] == DTYPES
    assert {spec.name for spec in dataclasses.fields(TrainConfig)} == set(KINDS)


def test_the_command_line_reads_a_config_file_as_the_page_does(tmp_path):
    """``python -m training.finetune_lora --config F`` (``parse_config``) types the file's values by
    ``setting_value``: ``"8"`` is rank 8, and a value the page refuses stops the command by name."""
    from training.config import parse_config

    good = tmp_path / "good.yaml"
    good.write_text("lora_r: '8'\nlearning_rate: 1e-3\nmax_steps: null\n")
    config = parse_config(["--config", str(good)])
    assert (config.lora_r, config.learning_rate) == (8, 0.001)
    assert config.max_steps == TrainConfig().max_steps  # left empty: the default
    for text, named in (("lora_r: true\n", "lora_r is"), ("dtype: float16\n", "dtype is"), ("- 1\n", "not a mapping"),
                        ("learning_rte: 0.1\n", "unknown setting")):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(SystemExit, match=named):
            parse_config(["--config", str(bad)])


@pytest.mark.parametrize("preset", sorted(CONFIGS.glob("*.yaml")),
                         ids=lambda path: path.name)
def test_every_shipped_config_reads_on_the_command_line(preset):
    from training.config import parse_config

    parse_config(["--config", str(preset)])


# Each of these was accepted by the form and started a run that then ended in a traceback (measured
# with the tiny model: logging_steps 0, seed -1, threads -4, max_train_samples -1 failed 12-18 s in)
# or in an OverflowError (epochs 1e308), or ran for ever or out of memory (max_steps, batch_size, lora_r).
REFUSED_BEFORE_ANY_RUN = [
    ("logging_steps", 0), ("eval_steps", -1), ("save_steps", 0), ("seed", -1), ("seed", 2**40),
    ("threads", -4), ("max_train_samples", -1), ("max_eval_samples", -1), ("max_length", 0),
    ("warmup_ratio", -0.5), ("warmup_ratio", 1.5), ("weight_decay", -1.0), ("learning_rate", 1e308),
    ("learning_rate", math.nan), ("learning_rate", "fast"), ("epochs", 1e308), ("max_steps", 10**9),
    ("max_steps", -5), ("batch_size", 10**9), ("grad_accum", 10**9), ("category_weight", math.inf),
    ("lora_r", 10**6),  # above the packaged base's width of 640
]


@pytest.mark.parametrize(("name", "value"), REFUSED_BEFORE_ANY_RUN, ids=lambda item: repr(item))
def test_a_value_that_would_end_a_started_run_is_refused_by_name(name, value):
    with pytest.raises(ValueError, match=f"^{name} is "):
        TrainConfig(**{name: value})


def test_numbers_at_their_edges_and_as_text_are_read_not_refused():
    config = TrainConfig(learning_rate="1e-3", max_steps=1_000_000, seed=2**32 - 1, save_total_limit=0,
                         warmup_ratio=0.0, weight_decay=0.0, lora_r=640, max_eval_samples=0, threads=0)
    assert (config.learning_rate, config.max_steps, config.lora_r) == (0.001, 1_000_000, 640)
    assert TrainConfig(epochs=1e308, max_steps=10).max_steps == 10  # epochs are not used with max_steps


NUMBER_FIELDS = sorted(name for name, kind in KINDS.items() if kind in (int, float))


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(NUMBER_FIELDS),
       value=st.integers(min_value=-10**30, max_value=10**30) | st.floats() | st.sampled_from(["1e-3", "x", ""]))
def test_any_number_in_any_field_builds_a_config_or_names_the_field(name, value):
    try:
        config = TrainConfig(**{name: value})
    except ValueError as error:
        assert str(error).startswith(f"{name} is ") and "\n" not in str(error), error
    else:  # what was built, training can use: finite and of the field's type
        assert type(getattr(config, name)) is KINDS[name] and math.isfinite(getattr(config, name))
