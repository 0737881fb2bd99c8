"""The Eval page's plain helpers: pasted text to Email, model choices, data paths."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from model.active import ModelChoice
from model.loading import DEFAULT_BASE_MODEL
from model.schema import TriageResult
from training.catalog import SHIPPED_ADAPTERS_DIR, AdapterEntry
from training.data_checks import distinct_mails
from ui.eval_chat import (
    CHAT_TURNS_KEPT,
    DEFAULT_SENDER,
    SHOWN_TEXT_CHARS,
    email_from_text,
    keep_recent,
    shown_text,
    stated_fields,
    timed_triage,
)
from ui.eval_choices import (
    DEFAULT_TEST_SPLIT,
    adapter_problem,
    adapter_test_split,
    base_model_options,
    choice_for,
    describe_choice,
    is_evaluation_of,
    is_same_choice,
    trained_mails,
    upload_path,
)

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def entry(path, base="tiny-base", **hyperparameters):
    return AdapterEntry(f"run / {Path(path).name} · eval loss 0.1", Path(path), base, "checkpoint", "run", 2,
                        hyperparameters=hyperparameters)


def test_a_pasted_whole_mail_keeps_its_headers():
    text = ("From: Anna Berg <anna@example.org>\nSubject: Court\nDate: Sat, 01 Mar 2025 10:00:00 +0100\n\n"
            "Please cancel BK-48213.\nThanks")
    email = email_from_text(text, now=NOW)
    assert (email.sender, email.subject, email.body) == ("Anna Berg <anna@example.org>", "Court",
                                                         "Please cancel BK-48213.\nThanks")
    assert email.date.day == 1


def test_plain_text_is_the_body_from_the_given_sender_dated_now():
    email = email_from_text("  Subject matter: my son wants to join\n\nusername tk_2009 ", now=NOW)
    assert (email.sender, email.subject, email.body, email.date) == (
        DEFAULT_SENDER, "", "Subject matter: my son wants to join\n\nusername tk_2009", NOW)
    assert email_from_text("Hi: forgot my password", "x@example.org", NOW).sender == "x@example.org"
    assert email_from_text("From: a@example.org\n\nhello", now=NOW).date == NOW


def test_timed_triage_and_stated_fields():
    class Triager:
        def triage(self, email):
            return TriageResult("cancel_booking", booking_id="BK-12345", response="Done")

    result, seconds = timed_triage(Triager(), email_from_text("cancel", now=NOW))
    assert seconds >= 0 and stated_fields(result) == {"booking_id": "BK-12345"}


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=50), st.integers(min_value=0, max_value=3 * SHOWN_TEXT_CHARS))
def test_a_pasted_text_is_kept_bounded_and_from_its_start(prefix, padding):
    text = prefix + "\u200b" * padding  # any paste, invisible characters included
    kept = shown_text(text)
    assert len(kept) <= SHOWN_TEXT_CHARS + 60
    assert kept == text if len(text) <= SHOWN_TEXT_CHARS else kept.startswith(text[:SHOWN_TEXT_CHARS])


def test_a_chat_keeps_its_newest_turns():
    turns = list(range(CHAT_TURNS_KEPT + 7))
    keep_recent(turns)
    assert turns == list(range(7, CHAT_TURNS_KEPT + 7))


def test_choices_name_the_adapters_own_base_as_none_like_the_inbox(tmp_path):
    checkpoint = entry(tmp_path / "checkpoint-2")
    assert choice_for(checkpoint, "tiny-base", "plain") == ModelChoice(str(checkpoint.path.resolve()), None)
    assert choice_for(checkpoint, "other-base", "plain") == ModelChoice(str(checkpoint.path.resolve()), "other-base")
    assert choice_for(None, "tiny-base", "plain") == ModelChoice(None, "tiny-base")
    assert choice_for(None, DEFAULT_BASE_MODEL, DEFAULT_BASE_MODEL) == ModelChoice(None, None)
    assert describe_choice(ModelChoice(None, None), None) == f"plain base model {DEFAULT_BASE_MODEL}"
    assert describe_choice(choice_for(checkpoint, "other", "plain"), checkpoint) == "run / checkpoint-2 on other"
    assert is_same_choice(ModelChoice(str(tmp_path / "a/../checkpoint-2"), None), ModelChoice(
        str(checkpoint.path), None))


def test_base_model_options_start_with_the_adapters_own():
    entries = [entry("/x/a", "base-a"), entry("/x/b", "base-b")]
    assert base_model_options(entries, entries[1], "plain") == ["base-b", "plain", "base-a"]
    assert base_model_options(entries, None, "plain") == ["plain", "base-a", "base-b"]


def test_test_split_is_found_beside_the_training_file(tmp_path):
    (tmp_path / "train.csv").write_text("x")
    assert adapter_test_split(entry("/x/a", train_file=str(tmp_path / "train.csv"))) == DEFAULT_TEST_SPLIT
    (tmp_path / "test.csv").write_text("x")
    assert adapter_test_split(entry("/x/a", train_file=str(tmp_path / "train.csv"))) == tmp_path / "test.csv"
    assert adapter_test_split(None) == DEFAULT_TEST_SPLIT


def test_rows_the_adapter_was_trained_on_are_counted_however_copied(tmp_path):
    """Before, a copy of the training file was evaluated and scored like new mail, with no word of it."""
    import pandas as pd

    trained = pd.read_csv(DEFAULT_TEST_SPLIT, keep_default_na=False, dtype=str).head(4)
    trained.to_csv(tmp_path / "train.csv", index=False)
    (tmp_path / "chat.csv").write_text("subject,body\nhi,a chat mail\n")
    adapter = entry("/x/a", train_file=str(tmp_path / "train.csv"), extra_train_file=f"{tmp_path / 'gone.csv'}, "
                    f"{tmp_path / 'chat.csv'}")
    copied = [{"subject": row["subject"].upper(), "body": "  ".join(row["body"].split())} for _, row in
              trained.iloc[::-1].iterrows()]  # re-cased, re-spaced, reshuffled
    new = {"subject": "Court lights", "body": "Are the lights on court 3 fixed?"}
    assert trained_mails([*copied[:3], new], adapter) == (3, ["train.csv"])
    assert trained_mails([new, {"subject": "HI", "body": "A chat mail"}], adapter) == (1, ["chat.csv"])
    assert trained_mails([new], adapter) == (0, [])
    assert trained_mails(copied, None) == (0, [])  # the plain base model was trained on none of the desk's mail


MAILS = st.lists(st.fixed_dictionaries({"subject": st.text(max_size=12), "body": st.text(max_size=40)}),
                 min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(MAILS, st.lists(st.integers(min_value=1, max_value=4), min_size=8, max_size=8))
def test_repeated_mails_are_counted_once_however_often_and_however_copied(mails, repeats):
    """Before, a CSV of one mail copied N times was evaluated and its figures read as N mails."""
    copies = [{"subject": mail["subject"].upper(), "body": f"  {mail['body']} "} for mail in mails]
    repeated = [mail for mail, times in zip(mails, repeats, strict=False) for _ in range(times)]
    assert distinct_mails(repeated) == distinct_mails(mails) == distinct_mails(mails + copies) <= len(mails)


def test_distinct_mails_of_a_file_of_one_mail_and_of_different_mails():
    mail = {"subject": "Cancel", "body": "Please cancel BK-12345"}
    assert distinct_mails([mail] * 40) == 1
    assert distinct_mails([mail, {"subject": "Cancel", "body": "Please cancel BK-54321"}]) == 2
    assert distinct_mails([]) == 0


def test_an_evaluation_belongs_to_the_adapter_base_and_source_it_ran_with(tmp_path):
    from training.eval_jobs import EvalRun
    from training.jobs import JobState

    (tmp_path / "a").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")

    def run(adapter, base_model=None, served=False):
        return EvalRun(tmp_path, "x", "y", JobState.FINISHED, 1, 1, 0.0, adapter=adapter, base_model=base_model,
                       served=served)

    chosen = ModelChoice(str(tmp_path / "a"), None)
    assert is_evaluation_of(run(str(tmp_path / "link")), chosen)  # the same folder through a link
    assert not is_evaluation_of(run(str(tmp_path / "b")), chosen)
    assert not is_evaluation_of(run(None), chosen)
    assert not is_evaluation_of(run(str(tmp_path / "a"), "other-base"), chosen)
    assert not is_evaluation_of(run(str(tmp_path / "a"), served=True), chosen)
    assert is_evaluation_of(run(None), ModelChoice(None, None))


def test_uploads_keep_a_safe_name(tmp_path):
    path = upload_path(tmp_path, "../my mails (1).csv")
    assert path.parent == tmp_path / "uploads" and path.name.endswith("-my_mails_1_.csv")


def test_the_risk_coverage_chart_draws_the_curve_and_the_review_rules_point():
    from ui.eval_views import risk_coverage_chart

    chart = risk_coverage_chart({"risk_coverage": [{"coverage": 0.5, "accuracy": 1.0, "threshold": 0.9},
                                                   {"coverage": 1.0, "accuracy": 0.8, "threshold": 0.3}],
                                 "ready_coverage": 0.5, "ready_accuracy": 1.0}).to_dict()
    assert [layer["mark"]["type"] for layer in chart["layer"]] == ["line", "point"]


def readable_adapter(folder):
    """An adapter folder whose LoRA config and weights' header read (its tensors are never loaded)."""
    from safetensors.numpy import save_file

    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"peft_type": "LORA", "r": 4}')
    save_file({"lora_A": np.zeros((4, 2), dtype=np.float32)}, str(folder / "adapter_model.safetensors"))
    return folder


def test_only_the_projects_readable_adapters_may_be_loaded_or_promoted(tmp_path):
    """Before, the Eval page loaded (and announced as promoted) a run linked to a folder outside the
    runs folder, and promoted a checkpoint whose config or weights were cut off, so the inbox failed."""
    runs = tmp_path / "runs"
    good = readable_adapter(runs / "run/adapter")
    assert adapter_problem(entry(good), runs) is None
    assert adapter_problem(entry(next(SHIPPED_ADAPTERS_DIR.iterdir())), runs) is None

    outside = readable_adapter(tmp_path / "elsewhere/adapter")
    (runs / "linked").symlink_to(outside.parent)
    (runs / "run/checkpoint-9").symlink_to(outside)
    for linked in (runs / "linked/adapter", runs / "run/checkpoint-9", runs / "run/../../elsewhere/adapter"):
        assert adapter_problem(entry(linked), runs) == (
            f"it leads to {outside.resolve()}, outside the shipped adapters and the runs folder"
            f" ({SHIPPED_ADAPTERS_DIR}, {runs})")

    damaged = readable_adapter(runs / "damaged/adapter")
    (damaged / "adapter_config.json").write_text('{"peft_type": "LORA", "r": ')
    assert adapter_problem(entry(damaged), runs).startswith("its adapter_config.json cannot be read (Expecting")
    (damaged / "adapter_config.json").write_text("[]")
    assert adapter_problem(entry(damaged), runs) == "its adapter_config.json describes no LoRA adapter"
    (damaged / "adapter_config.json").write_text(" " * 1_000_001 + "{}")
    assert adapter_problem(entry(damaged), runs) == "its adapter_config.json is over 1 MB"

    cut = readable_adapter(runs / "cut/adapter")
    weights = cut / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])  # the trainer still writing it, or a full disk
    assert adapter_problem(entry(cut), runs).startswith("its weights cannot be read (")
    weights.write_bytes(b"")
    assert adapter_problem(entry(cut), runs).startswith("its weights cannot be read (")
    weights.unlink()
    assert adapter_problem(entry(cut), runs).startswith("its weights cannot be read (")


@settings(max_examples=60, deadline=None)
@given(config=st.binary(max_size=300), weights=st.binary(max_size=300))
def test_any_bytes_as_an_adapters_files_give_a_reason_never_an_exception(tmp_path_factory, config, weights):
    folder = tmp_path_factory.mktemp("runs") / "run/adapter"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_bytes(config)
    (folder / "adapter_model.safetensors").write_bytes(weights)
    assert isinstance(adapter_problem(entry(folder), folder.parent.parent), str)
