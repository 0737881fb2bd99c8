"""What a careless experimenter does on the command line, with the real training on the tiny model:
the README's command run twice into the same out_dir, a finished run continued with ``--resume``."""

import json

import pytest

from model.calibration import CALIBRATION_FILE, read_category_bias
from model.metadata import read_metadata
from model.review import REVIEW_RULE_FILE, ReviewRule, ReviewThresholds, read_review_rule, write_review_rule
from training import catalog, layout
from training.config import TrainConfig
from training.finetune_lora import setup
from training.progress import read_events


def tiny_run(tiny_base_dir, rows, out_dir, **overrides):
    values = {"base_model": str(tiny_base_dir), "train_file": str(rows), "val_file": "", "out_dir": str(out_dir),
              "batch_size": 4, "max_steps": 2, "save_steps": 2, "logging_steps": 1, "lora_r": 4, "lora_alpha": 8}
    return TrainConfig(**{**values, **overrides})


def test_a_new_run_into_an_earlier_runs_out_dir_is_refused_and_leaves_it_whole(tiny_base_dir, ten_rows, tmp_path):
    """Before: running the same config again (runs/default) replaced the earlier adapter, wrote its
    checkpoint-2 over the earlier one's beside the earlier checkpoint-4, and appended a second
    curve from step 1 to the earlier progress: one run on the Eval and Training pages, of two."""
    out = tmp_path / "runs" / "default"
    adapter = setup(tiny_run(tiny_base_dir, ten_rows, out, max_steps=4))
    weights = (adapter / "adapter_model.safetensors").read_bytes()
    checkpoint = (out / "checkpoint-2" / "adapter_model.safetensors").read_bytes()
    events = read_events(out)

    with pytest.raises(SystemExit) as refused:
        setup(tiny_run(tiny_base_dir, ten_rows, out, learning_rate=5e-2))

    message = str(refused.value.code)
    assert message.startswith(f"error: {out} already holds a run")
    assert "--resume true" in message and "out_dir" in message
    assert (adapter / "adapter_model.safetensors").read_bytes() == weights
    assert (out / "checkpoint-2" / "adapter_model.safetensors").read_bytes() == checkpoint
    assert read_events(out) == events  # not even a "failed" line in the earlier run's progress


def test_a_continued_run_drops_what_measured_the_adapter_it_replaces(tiny_base_dir, ten_rows, tmp_path):
    """Before: a finished run continued with ``--resume`` wrote new weights beside the review rule,
    calibration and scores chosen for the old ones: the inbox decided the new adapter by another
    one's thresholds, and the Eval page showed another adapter's accuracy beside it."""
    out = tmp_path / "runs" / "default"
    adapter = setup(tiny_run(tiny_base_dir, ten_rows, out))
    old_weights = (adapter / "adapter_model.safetensors").read_bytes()
    write_review_rule(adapter, ReviewRule(ReviewThresholds(confidence=0.99, check=0.5), chosen={"rows": 10}))
    (adapter / CALIBRATION_FILE).write_text(json.dumps({"category_bias": {"other": 3.0}, "kept": True}))
    (adapter / layout.EVAL_METRICS).write_text(json.dumps({"val": {"category_accuracy": 0.97, "macro_f1": 0.96}}))

    continued = setup(tiny_run(tiny_base_dir, ten_rows, out, max_steps=4, learning_rate=5e-2, resume=True))

    assert continued == adapter
    assert (adapter / "adapter_model.safetensors").read_bytes() != old_weights
    assert read_metadata(adapter)["hyperparameters"]["max_steps"] == 4
    for stale in (REVIEW_RULE_FILE, CALIBRATION_FILE, layout.EVAL_METRICS):
        assert not (adapter / stale).exists(), stale
    assert read_review_rule(adapter).chosen is None
    [final] = [entry for entry in catalog.list_adapters(tmp_path / "runs", shipped_dir=tmp_path / "none")
               if entry.kind == "final"]
    assert final.eval_metrics == {}
    assert sorted(path.name for path in out.iterdir()) == ["adapter", "checkpoint-2", "checkpoint-4",
                                                           layout.PROGRESS_FILE]  # nothing half-done left
    assert read_category_bias(adapter) == {}
