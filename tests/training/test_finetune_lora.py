"""Runs the real training script on CPU with the tiny 2-layer Llama and checks what it wrote."""

import json
import subprocess
import sys

import pandas as pd
import pytest
import torch

from model.inference import load_triager
from model.metadata import read_answer_tokens, read_metadata
from model.prompt import encode_completion
from model.schema import CATEGORIES
from tests.conftest import REPO_ROOT
from training.config import TrainConfig
from training.dataset import (
    IGNORE_INDEX,
    REQUIRED_COLUMNS,
    LeftPadCollator,
    answer_only_loss,
    load_csv,
    row_answer,
)
from training.finetune_lora import setup
from training.progress import read_events


def tiny_config(tiny_base_dir, csv, out_dir, **overrides):
    values = {"base_model": str(tiny_base_dir), "train_file": str(csv), "val_file": str(csv),
              "out_dir": str(out_dir), "batch_size": 4, "max_steps": 4, "logging_steps": 1, "eval_steps": 2,
              "save_steps": 2, "learning_rate": 1e-3, "lora_r": 4, "lora_alpha": 8}
    return TrainConfig(**{**values, **overrides})


def test_training_writes_adapter_checkpoints_metadata_and_progress(tiny_base_dir, ten_rows, tmp_path):
    out = tmp_path / "run"
    adapter = setup(tiny_config(tiny_base_dir, ten_rows, out))

    assert (adapter / "adapter_model.safetensors").stat().st_size > 0
    meta = read_metadata(adapter)
    assert meta["base_model"] == str(tiny_base_dir) and meta["prompt_style"] == "plain"
    assert meta["hyperparameters"]["lora_r"] == 4
    assert json.loads((adapter / "train_metrics.json").read_text())["train_examples"] == 10
    for step in (2, 4):
        assert read_metadata(out / f"checkpoint-{step}")["step"] == step
    # the tokens of the rows' answers, beside the adapter and each checkpoint: decoding's shortlist
    triager = load_triager(str(tiny_base_dir), adapter=None)
    rows = pd.read_csv(ten_rows, dtype=str, keep_default_na=False).to_dict("records")
    written = {token for row in rows for token in encode_completion(triager.tokenizer, row_answer(row), triager.style)}
    assert read_answer_tokens(adapter) == sorted(written)
    assert read_answer_tokens(out / "checkpoint-2") == sorted(written)
    (adapter / "answer_tokens.json").unlink()  # an adapter trained before training wrote the list
    from training.answer_tokens import setup as rebuild_answer_tokens

    rebuild_answer_tokens(adapter)
    assert read_answer_tokens(adapter) == sorted(written)

    events = read_events(out)
    logs = [e for e in events if e["event"] == "log" and e["loss"] is not None]
    evals = [e for e in events if e["event"] == "eval"]
    assert [e["step"] for e in logs] == [1, 2, 3, 4]
    assert all(e["tokens_per_s"] > 0 and e["eta_s"] >= 0 and e["learning_rate"] is not None for e in logs)
    assert evals and all(e["eval_loss"] > 0 for e in evals)
    assert events[-1]["event"] == "saved"

    result = load_triager(str(tiny_base_dir), adapter).triage_many(
        [load_email(ten_rows)], batch_size=1)[0]
    assert result.category in CATEGORIES


def test_adapters_switch_without_reloading_and_restore_the_base_exactly(tiny_base_dir, ten_rows, tmp_path):
    adapter = setup(tiny_config(tiny_base_dir, ten_rows, tmp_path / "run", val_file="", learning_rate=5e-2))
    triager = load_triager(str(tiny_base_dir), adapter=None)
    ids = torch.tensor([triager.prompt_ids(load_email(ten_rows))])

    def logits():
        with triager._adapter_scope(), torch.inference_mode():
            return triager.model(input_ids=ids).logits

    base = logits()
    triager.use_adapter(adapter)
    adapted = logits()
    model_object = triager.model
    triager.use_adapter(None)
    assert not torch.allclose(base, adapted, atol=1e-4)
    assert torch.allclose(base, logits(), atol=1e-5)
    triager.use_adapter(adapter)
    assert torch.allclose(adapted, logits(), atol=1e-5)
    assert triager.model is model_object  # the base was not reloaded


def test_resume_continues_from_the_last_checkpoint(tiny_base_dir, ten_rows, tmp_path):
    out = tmp_path / "run"
    setup(tiny_config(tiny_base_dir, ten_rows, out, max_steps=2, val_file=""))
    setup(tiny_config(tiny_base_dir, ten_rows, out, max_steps=4, val_file="", resume=True))
    starts = [e["step"] for e in read_events(out) if e["event"] == "started"]
    assert starts == [0, 2]


def test_init_adapter_continues_from_saved_weights_not_fresh_ones(tiny_base_dir, ten_rows, tmp_path):
    first = setup(tiny_config(tiny_base_dir, ten_rows, tmp_path / "first", val_file="", lora_r=2))
    # an adapter's config may name any base (a crafted one: /etc); the continued adapter names its own
    written = json.loads((first / "adapter_config.json").read_text())
    (first / "adapter_config.json").write_text(json.dumps({**written, "base_model_name_or_path": "/etc"}))
    # a tiny learning rate: the continued adapter must stay next to the one it started from
    second = setup(tiny_config(tiny_base_dir, ten_rows, tmp_path / "second", val_file="", lora_r=4,
                               init_adapter=str(first), learning_rate=1e-7, max_steps=1))
    from safetensors.torch import load_file

    before = load_file(first / "adapter_model.safetensors")
    after = load_file(second / "adapter_model.safetensors")
    assert set(before) == set(after)
    assert all(after[name].shape == before[name].shape for name in before)  # r=2 kept, not r=4
    assert all(torch.allclose(after[name], before[name], atol=1e-4) for name in before)
    assert json.loads((second / "adapter_config.json").read_text())["base_model_name_or_path"] == written[
        "base_model_name_or_path"]


def test_category_weight_scales_only_the_first_answer_token():
    torch.manual_seed(0)
    labels = torch.tensor([[IGNORE_INDEX, 3, 4, 5], [IGNORE_INDEX, IGNORE_INDEX, 6, 7]])
    logits = torch.randn(2, 5, 10)  # one more position than labels: the loss drops the last one

    class Outputs:
        pass

    outputs = Outputs()
    outputs.logits = logits
    per_token = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 10), labels[:, -4:].reshape(-1),
                                                  ignore_index=IGNORE_INDEX, reduction="none").view(2, 4)
    first_tokens = per_token[0, 1] + per_token[1, 2]
    plain = answer_only_loss(outputs, labels)
    weighted = answer_only_loss(outputs, labels, category_weight=5.0)
    assert torch.isclose(plain, per_token.sum() / 5)
    assert torch.isclose(weighted, (per_token.sum() + 4 * first_tokens) / 5)


def test_cli_runs_as_a_file_with_yaml_and_overrides(tiny_base_dir, ten_rows, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(f"base_model: {tiny_base_dir}\ntrain_file: {ten_rows}\nval_file: ''\n"
                      f"out_dir: {tmp_path / 'cli'}\nmax_steps: 1\nbatch_size: 2\n")
    subprocess.run([sys.executable, "training/finetune_lora.py", "--config", str(config), "--lora_r", "2"],
                   cwd=REPO_ROOT, check=True, capture_output=True)
    assert read_metadata(tmp_path / "cli" / "adapter")["hyperparameters"]["lora_r"] == 2


def test_a_run_whose_data_holds_test_mails_ends_before_any_model_loads(tiny_base_dir, ten_rows, tmp_path):
    """The command line gets the Training page's guard: a re-cased copy of test mails, typed as an
    extra file, would have the model measured on what it learnt."""
    copied = tmp_path / "more.csv"
    test_rows = pd.read_csv(REPO_ROOT / "training/data/test.csv", dtype=str, keep_default_na=False).head(5)
    test_rows.assign(body=test_rows["body"].str.upper()).to_csv(copied, index=False)
    config = tmp_path / "run.yaml"
    config.write_text(f"base_model: {tiny_base_dir}\ntrain_file: {ten_rows}\nextra_train_file: {copied}\n"
                      f"val_file: ''\nout_dir: {tmp_path / 'cli'}\nmax_steps: 1\n")
    done = subprocess.run([sys.executable, "training/finetune_lora.py", "--config", str(config)],
                          check=False, cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.startswith("error: rows 1, 2, 3, 4 and 5 of more.csv are emails of test.csv")
    assert not (tmp_path / "cli" / "adapter").exists()


def test_extra_train_files_rows_join_the_training_rows(tiny_base_dir, ten_rows, tmp_path):
    extra = tmp_path / "extra.csv"  # only the required columns: the shared ones are kept
    pd.read_csv(ten_rows, keep_default_na=False).head(3)[list(REQUIRED_COLUMNS)].to_csv(extra, index=False)
    more = tmp_path / "more.csv"
    pd.read_csv(ten_rows, keep_default_na=False).tail(2).to_csv(more, index=False)
    extra_files = f"{extra}, {more}"  # comma-separated, spaces allowed
    adapter = setup(tiny_config(tiny_base_dir, ten_rows, tmp_path / "run", val_file="", max_steps=1,
                                extra_train_file=extra_files))
    assert json.loads((adapter / "train_metrics.json").read_text())["train_examples"] == 15
    assert read_metadata(adapter)["hyperparameters"]["extra_train_file"] == extra_files
    rows = load_csv(str(ten_rows), extra_path=extra_files).to_pandas()
    assert set(rows.columns) == set(REQUIRED_COLUMNS)  # only what every file has
    assert rows["body"].tolist()[10:] == pd.read_csv(ten_rows, keep_default_na=False)["body"].tolist()[:3] + \
        pd.read_csv(ten_rows, keep_default_na=False)["body"].tolist()[-2:]


def test_extra_train_file_without_a_required_column_is_named(ten_rows, tmp_path):
    extra = tmp_path / "extra.csv"
    pd.read_csv(ten_rows, keep_default_na=False).drop(columns="category").to_csv(extra, index=False)
    with pytest.raises(ValueError, match=r"extra\.csv lacks columns \['category'\]"):
        load_csv(str(ten_rows), extra_path=str(extra))


def test_config_checks_its_values(tmp_path):
    with pytest.raises(FileNotFoundError):
        TrainConfig(train_file=str(tmp_path / "missing.csv"))
    with pytest.raises(FileNotFoundError, match="extra_train_file"):
        TrainConfig(train_file=str(REPO_ROOT / "training/data/train.csv"), extra_train_file=str(tmp_path / "no.csv"))
    with pytest.raises(FileNotFoundError, match=r"extra_train_file .*no\.csv"):
        TrainConfig(train_file=str(REPO_ROOT / "training/data/train.csv"),
                    extra_train_file=f"{REPO_ROOT / 'training/data/train_chat.csv'},{tmp_path / 'no.csv'}")
    with pytest.raises(ValueError):
        TrainConfig(train_file=str(REPO_ROOT / "training/data/train.csv"), lora_dropout=1.5)


def test_collator_pads_left_and_masks_everything_but_the_answer():
    rows = [{"input_ids": [5, 6, 7, 8], "labels": [IGNORE_INDEX, IGNORE_INDEX, 7, 8]},
            {"input_ids": [5, 9], "labels": [IGNORE_INDEX, 9]}]
    batch = LeftPadCollator(pad_token_id=0)(rows)
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8], [0, 0, 5, 9]]
    assert batch["labels"].tolist() == [[IGNORE_INDEX, IGNORE_INDEX, 7, 8], [IGNORE_INDEX] * 3 + [9]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3], [0, 0, 0, 1]]
    assert batch["logits_to_keep"] == 3  # longest answer (2) + the position that predicts its first token
    assert torch.equal(batch["attention_mask"], torch.tensor([[1, 1, 1, 1], [0, 0, 1, 1]]))


def load_email(csv):
    from core.mail import Email

    row = pd.read_csv(csv, keep_default_na=False).iloc[0]
    return Email(row.sender, row.subject, row.body)


def example_lengths(tiny_base_dir, csv) -> list[int]:
    from model.loading import load_tokenizer
    from model.prompt import style_for
    from training.dataset import tokenize_row

    tokenizer = load_tokenizer(str(tiny_base_dir))
    return sorted(tokenize_row(row, tokenizer, style_for(tokenizer))["length"] for row in load_csv(str(csv)))


def test_a_max_length_below_every_example_ends_with_a_sentence_before_the_model_loads(
        tiny_base_dir, ten_rows, tmp_path, monkeypatch):
    """Before: every row was dropped, the base model loaded, and the Trainer ended the run with
    "IndexError: argmax(): Expected reduction dim to be specified for input.numel() == 0"."""
    import training.finetune_lora as finetune

    def no_model(*args, **kwargs):
        raise AssertionError("the base model loaded although nothing can train")

    monkeypatch.setattr(finetune, "load_base_model", no_model)
    shortest = example_lengths(tiny_base_dir, ten_rows)[0]
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match=rf"^error: no training example fits max_length {shortest - 1}: the "
                                         rf"shortest prompt\+answer is {shortest} tokens; raise max_length$"):
        setup(tiny_config(tiny_base_dir, ten_rows, out, max_length=shortest - 1))
    events = read_events(out)
    assert [e["event"] for e in events] == ["failed"]  # the Training page shows the run failed, and why
    assert events[0]["error"].startswith(f"no training example fits max_length {shortest - 1}")


def test_a_validation_file_with_no_example_that_fits_ends_before_training(tiny_base_dir, ten_rows, tmp_path):
    """Before: the run trained up to its first evaluation and ended there with an IndexError."""
    longest = example_lengths(tiny_base_dir, ten_rows)[-1]
    long_mails = tmp_path / "long.csv"
    rows = pd.read_csv(ten_rows, dtype=str, keep_default_na=False)
    rows.assign(body=rows["body"] + " and one more thing" * 200).to_csv(long_mails, index=False)
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match=rf"^error: no validation example fits max_length {longest}: "):
        setup(tiny_config(tiny_base_dir, ten_rows, out, val_file=str(long_mails), max_length=longest))
    assert [e["event"] for e in read_events(out)] == ["failed"]


def test_a_file_without_rows_is_said_not_a_library_error(tiny_base_dir, ten_rows, tmp_path):
    empty = tmp_path / "empty.csv"
    pd.read_csv(ten_rows, dtype=str, keep_default_na=False).head(0).to_csv(empty, index=False)
    with pytest.raises(SystemExit, match=r"^error: the training data has no rows$"):
        setup(tiny_config(tiny_base_dir, empty, tmp_path / "run", val_file=""))


def test_examples_longer_than_max_length_are_counted_once_in_the_log_and_the_progress_file(
        tiny_base_dir, ten_rows, tmp_path, capsys):
    lengths = example_lengths(tiny_base_dir, ten_rows)
    max_length = lengths[5]
    kept = sum(length <= max_length for length in lengths)
    out = tmp_path / "run"
    # more samples asked for than the files hold: all of them, no error
    adapter = setup(tiny_config(tiny_base_dir, ten_rows, out, max_length=max_length, max_steps=1, eval_steps=1,
                                max_train_samples=1_000, max_eval_samples=1_000))
    assert json.loads((adapter / "train_metrics.json").read_text())["train_examples"] == kept
    dropped = [e for e in read_events(out) if e["event"] == "dropped"]
    assert [(e["split"], e["dropped"], e["rows"], e["max_length"]) for e in dropped] == [
        ("training", 10 - kept, 10, max_length), ("validation", 10 - kept, 10, max_length)]
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: {10 - kept} of 10 {split} examples are longer than max_length {max_length} and are left out"
                     for split in ("training", "validation")]


def test_every_example_fitting_says_nothing_about_dropping(tiny_base_dir, ten_rows, tmp_path, capsys):
    out = tmp_path / "run"
    setup(tiny_config(tiny_base_dir, ten_rows, out, val_file="", max_steps=1, max_train_samples=3))
    assert not [e for e in read_events(out) if e["event"] == "dropped"]
    assert "note: " not in capsys.readouterr().err
