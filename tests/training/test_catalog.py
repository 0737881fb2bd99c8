"""The adapter catalog on hand-made folders: what is listed, in which order, with which metrics."""

import json
import os

import pytest

from model.metadata import write_metadata
from training.catalog import find_adapter, list_adapters


def make_adapter(folder, base="tiny-base", step=None, **extra_files):
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    (folder / "adapter_config.json").write_text("{}")
    write_metadata(folder, base, "plain", {"train_file": "training/data/train.csv"},
                   **({"step": step} if step is not None else {}))
    for name, data in extra_files.items():
        (folder / f"{name}.json").write_text(json.dumps(data))
    return folder


def age(folder, seconds):
    """Make a run look older: its folders' modification times go back."""
    for path in [folder, *folder.iterdir()]:
        stamp = path.stat().st_mtime - seconds
        os.utime(path, (stamp, stamp))


@pytest.fixture
def layout(tmp_path):
    shipped, runs = tmp_path / "shipped", tmp_path / "runs"
    make_adapter(shipped / "club-triage", base="gemma-3-270m",
                 eval_metrics={"test_split": {"category_accuracy": 0.7, "macro_f1": 0.6}, "note": "cpu"})
    history = [{"step": 5, "loss": 0.9}, {"step": 10, "loss": 0.5}, {"step": 10, "eval_loss": 0.4},
               {"step": 15, "loss": 0.3}]
    make_adapter(runs / "old/checkpoint-10", step=10, trainer_state={"log_history": history[:3]})
    make_adapter(runs / "old/checkpoint-15", step=15, trainer_state={"log_history": history})
    make_adapter(runs / "old/checkpoint-9", step=9)
    make_adapter(runs / "old/adapter", train_metrics={"train_loss": 0.45, "eval_loss": 0.35})
    age(runs / "old", 3600)
    make_adapter(runs / "new/checkpoint-3", step=3)
    (runs / "new/checkpoint-6").mkdir()  # the trainer is still writing it
    (runs / "new/checkpoint-6/adapter_config.json").write_text("{}")
    (runs / "evals/2026-one").mkdir(parents=True)  # evaluation output, not a run
    return shipped, runs


def test_shipped_first_then_newest_run_first_checkpoints_by_step_then_final(layout):
    shipped, runs = layout
    entries = list_adapters(runs, shipped)
    assert [(entry.run, entry.path.name, entry.kind, entry.step) for entry in entries] == [
        (None, "club-triage", "shipped", None),
        ("new", "checkpoint-3", "checkpoint", 3),
        ("old", "checkpoint-9", "checkpoint", 9),
        ("old", "checkpoint-10", "checkpoint", 10),
        ("old", "checkpoint-15", "checkpoint", 15),
        ("old", "adapter", "final", None),
    ]
    assert entries[0].base_model == "gemma-3-270m" and entries[1].base_model == "tiny-base"
    assert entries[0].name == "club-triage" and entries[3].name == "old-checkpoint-10"


def test_labels_and_metrics_come_from_the_files_beside_each_adapter(layout):
    entries = {entry.label: entry for entry in list_adapters(layout[1], layout[0])}
    assert list(entries) == [
        "club-triage (shipped)",
        "new / checkpoint-3",
        "old / checkpoint-9",
        "old / checkpoint-10 · eval loss 0.400",
        "old / checkpoint-15 · eval loss 0.400 (step 10)",  # eval runs less often than saves
        "old / adapter (final) · eval loss 0.350",
    ]
    assert entries["old / checkpoint-15 · eval loss 0.400 (step 10)"].train_metrics == {
        "loss": 0.3, "eval_loss": 0.4, "eval_step": 10}
    assert entries["club-triage (shipped)"].eval_metrics == {"test_split": {"category_accuracy": 0.7,
                                                                            "macro_f1": 0.6}}
    assert entries["new / checkpoint-3"].hyperparameters == {"train_file": "training/data/train.csv"}


def test_adapters_of_another_prompt_format_are_left_out(layout):
    shipped, runs = layout
    metadata = runs / "new/checkpoint-3/acedesk.json"
    metadata.write_text(json.dumps({**json.loads(metadata.read_text()), "prompt_format_version": 0}))
    assert "new" not in {entry.run for entry in list_adapters(runs, shipped)}


def test_a_missing_runs_folder_lists_the_shipped_adapters_only(layout, tmp_path):
    assert [entry.kind for entry in list_adapters(tmp_path / "nothing", layout[0])] == ["shipped"]


def test_find_adapter_compares_resolved_paths(layout):
    entries = list_adapters(layout[1], layout[0])
    found = find_adapter(entries, layout[1] / "old/../old/checkpoint-10")
    assert found is not None and found.step == 10
    assert find_adapter(entries, None) is None and find_adapter(entries, layout[1] / "elsewhere") is None


def test_losses_a_damaged_file_does_not_hold_as_numbers_cost_the_label_not_the_list(layout):
    """A trainer_state.json or train_metrics.json edited by hand or damaged (a loss as text, a log that
    is no list, a step that is no number) took the whole list down with it."""
    shipped, runs = layout
    make_adapter(runs / "odd/checkpoint-4", step=4, trainer_state={"log_history": [{"step": "3", "loss": 1.0}]})
    make_adapter(runs / "odd/checkpoint-5", step=5, trainer_state={"log_history": {"step": 5}})
    make_adapter(runs / "odd/checkpoint-6", step=6, trainer_state={"log_history": ["loss", {"step": 6, "loss": 0.2}]})
    make_adapter(runs / "odd/adapter", train_metrics={"eval_loss": "0.3", "train_loss": None, "device": "cpu"})
    entries = {entry.label: entry for entry in list_adapters(runs, shipped)}
    assert {"odd / checkpoint-4", "odd / checkpoint-5", "odd / checkpoint-6", "odd / adapter (final)",
            "old / checkpoint-10 · eval loss 0.400"} <= set(entries)
    assert entries["odd / checkpoint-6"].train_metrics == {"loss": 0.2}
    assert entries["odd / adapter (final)"].train_metrics == {"device": "cpu"}


def test_scores_of_a_data_set_not_held_as_numbers_are_left_out_not_shown(layout):
    """The Eval page formats each set's accuracy and macro-F1 as numbers: a set missing one, or
    holding it as text, is left out instead of breaking the page."""
    shipped, runs = layout
    make_adapter(runs / "odd/adapter", eval_metrics={"dev": {"category_accuracy": 0.9},
                                                     "test": {"category_accuracy": "0.9", "macro_f1": 0.8},
                                                     "real": {"category_accuracy": 0.9, "macro_f1": 0.8}})
    [entry] = [entry for entry in list_adapters(runs, shipped) if entry.run == "odd"]
    assert entry.eval_metrics == {"real": {"category_accuracy": 0.9, "macro_f1": 0.8}}


def test_an_adapter_leading_outside_the_homes_is_marked_and_nothing_in_it_is_read_or_written(layout, tmp_path):
    """Before, a run linked to a folder elsewhere was listed like the project's own, its labels read
    from there, and reading its metadata finished the half-done replacement a journal there
    described: listing the adapters deleted a file outside the project."""
    from model.metadata import REPLACEMENT_JOURNAL

    shipped, runs = layout
    elsewhere = make_adapter(tmp_path / "elsewhere/adapter", train_metrics={"eval_loss": 0.1})
    (elsewhere / "notes.txt").write_text("not the project's")
    (elsewhere / REPLACEMENT_JOURNAL).write_text(json.dumps({"replace": [], "remove": ["notes.txt"]}))
    (runs / "linked").symlink_to(elsewhere.parent)
    (runs / "old/checkpoint-20").symlink_to(elsewhere)

    entries = list_adapters(runs, shipped)
    marked = {(entry.run, entry.path.name): entry for entry in entries if entry.leads_outside_to}
    assert set(marked) == {("linked", "adapter"), ("old", "checkpoint-20")}
    assert all(entry.leads_outside_to == elsewhere.resolve() and entry.train_metrics == {} for entry in marked.values())
    assert marked[("linked", "adapter")].label == "linked / adapter (final)"  # no eval loss read from there
    assert (elsewhere / "notes.txt").exists() and (elsewhere / REPLACEMENT_JOURNAL).exists()
    assert len(entries) - len(marked) == 6  # the project's own, as before
