"""make adapter (training/build_adapter.py) on the tiny model: stages chained run to run, a
manifest of what went in, a build that resumes (a stage killed half-way from its checkpoint), and
shipping only by the rule."""

import json

import pandas as pd
import yaml

from model.metadata import read_metadata
from model.review import read_review_rule
from training.build_adapter import MANIFEST_FILE, Pipeline, Scores, build, ships, stage_config
from training.progress import read_events


def write_pipeline(folder, tiny_base_dir, ten_rows, **pipeline_fields):
    stage = {"base_model": str(tiny_base_dir), "train_file": str(ten_rows), "val_file": "", "batch_size": 4,
             "max_steps": 2, "logging_steps": 1, "save_steps": 100, "learning_rate": 1e-3, "lora_r": 4,
             "lora_alpha": 8, "threads": 1}
    (folder / "configs").mkdir(parents=True)
    (folder / "configs" / "first.yaml").write_text(yaml.safe_dump(stage))
    (folder / "configs" / "second.yaml").write_text(yaml.safe_dump({**stage, "learning_rate": 5e-4, "seed": 2}))
    (folder / "configs" / "pipelines").mkdir()
    path = folder / "configs" / "pipelines" / "tiny.yaml"
    path.write_text(yaml.safe_dump({"out_dir": str(folder / "build"), "validation_file": str(ten_rows),
                                    "rule_file": str(ten_rows), "stages": ["../first.yaml", "../second.yaml"],
                                    **pipeline_fields}))
    return Pipeline.load(path)


def test_stages_chain_and_the_manifest_says_what_went_in(tiny_base_dir, ten_rows, tmp_path):
    pipeline = write_pipeline(tmp_path, tiny_base_dir, ten_rows)
    shipped = tmp_path / "shipped"
    manifest = build(pipeline, shipped)

    first, second = manifest["stages"]
    first_adapter = tmp_path / "build/stage1-first/adapter"
    assert first["config"]["init_adapter"] == "" and second["config"]["init_adapter"] == str(first_adapter)
    assert read_metadata(tmp_path / "build/stage2-second/adapter")["hyperparameters"]["init_adapter"] == str(
        first_adapter)
    assert list(manifest["data"].values()) and all(len(digest) == 64 for digest in manifest["data"].values())
    assert 0.0 <= second["validation_accuracy"] <= 1.0 and second["train_metrics"]["train_examples"] == 10
    assert manifest["commit"] and first["trained_in_this_build"]
    # nothing was shipped before: the build is shipped, with its manifest
    assert manifest["shipping"]["shipped_now"] and manifest["shipping"]["shipped"] is None
    assert json.loads((shipped / MANIFEST_FILE).read_text())["stages"][1]["config"]["learning_rate"] == 5e-4
    # the weights, decoding's shortlist and the review rule chosen for this adapter on the rule file's even rows
    for name in ("adapter_model.safetensors", "answer_tokens.json", "review_rule.json"):
        assert (shipped / name).read_bytes() == (tmp_path / "build/stage2-second/adapter" / name).read_bytes()
    assert read_review_rule(shipped).to_dict() == manifest["review_rule"]
    assert manifest["review_rule"]["chosen"]["on"].endswith("even rows (0, 2, 4, ...: 5 rows)")
    # shipped through the journal (model/metadata.replace_adapter_files): nothing of it is left behind
    assert not [path.name for path in shipped.iterdir() if path.name.startswith(".")]

    again = build(pipeline, shipped)  # resumes: nothing is trained twice, and the same adapter is not "better"
    assert not any(stage["trained_in_this_build"] for stage in again["stages"])
    assert again["shipping"]["shipped"] == again["shipping"]["new"] and not again["shipping"]["shipped_now"]


def test_the_rule_ships_only_what_is_strictly_better():
    assert ships(Scores(0.9), None) and ships(Scores(0.91), Scores(0.9))
    assert not ships(Scores(0.9), Scores(0.9)) and not ships(Scores(0.8), Scores(0.9))


def test_with_check_rows_the_rule_wants_them_better_and_validation_not_worse():
    assert ships(Scores(0.9, check=0.85), Scores(0.9, check=0.84))
    assert not ships(Scores(0.95, check=0.84), Scores(0.9, check=0.84))  # validation alone is not enough
    assert not ships(Scores(0.89, check=0.99), Scores(0.9, check=0.84))  # nor the check at validation's cost


def test_a_stage_killed_half_way_goes_on_from_its_checkpoint(tiny_base_dir, ten_rows, tmp_path):
    pipeline = write_pipeline(tmp_path, tiny_base_dir, ten_rows, set={"max_steps": 3, "save_steps": 1})
    build(pipeline, tmp_path / "shipped")
    stage = tmp_path / "build/stage2-second"
    # as if killed after saving step 2's checkpoint: no step-3 checkpoint, no final adapter
    for folder in (stage / "adapter", stage / "checkpoint-3"):
        for path in sorted(folder.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        folder.rmdir()

    manifest = build(pipeline, tmp_path / "shipped")
    assert [entry["trained_in_this_build"] for entry in manifest["stages"]] == [False, True]
    starts = [event["step"] for event in read_events(stage) if event["event"] == "started"]
    assert starts == [0, 2]  # the second run began at the checkpoint, not at step 0
    assert [event["step"] for event in read_events(stage) if event["event"] == "finished"][-1] == 3
    assert (stage / "adapter/adapter_model.safetensors").exists()


def test_a_pipeline_with_check_rows_measures_them_and_records_the_rule(tiny_base_dir, ten_rows, tmp_path):
    pipeline = write_pipeline(tmp_path, tiny_base_dir, ten_rows, check_file=str(ten_rows), check_rows="even")
    shipped = tmp_path / "shipped"
    build(pipeline, shipped)  # nothing shipped yet: this build is
    again = build(pipeline, shipped)
    shipping = again["shipping"]
    assert "check rows" in shipping["rule"] and shipping["check_rows"] == "even"
    assert shipping["new_check"] == shipping["shipped_check"] and not shipping["shipped_now"]
    even = pd.read_csv(tmp_path / "build" / f"check-even-{ten_rows.name}", keep_default_na=False)
    assert even.equals(pd.read_csv(ten_rows, keep_default_na=False).iloc[::2].reset_index(drop=True))


def test_a_set_value_overrides_every_stage_as_its_fields_type(tiny_base_dir, ten_rows, tmp_path):
    pipeline = write_pipeline(tmp_path, tiny_base_dir, ten_rows)
    config = stage_config(pipeline.stages[1], 2, tmp_path / "out", None, {"max_steps": "1", "resume": "false"})
    assert (config.max_steps, config.resume, config.out_dir) == (1, False, str(tmp_path / "out/stage2-second"))


def test_the_pipelines_set_reaches_every_stage_and_the_command_line_wins(tiny_base_dir, ten_rows, tmp_path):
    pipeline = write_pipeline(tmp_path, tiny_base_dir, ten_rows, set={"save_steps": 7, "max_steps": 5})
    assert pipeline.overrides == {"save_steps": "7", "max_steps": "5"}
    config = stage_config(pipeline.stages[0], 1, tmp_path / "out", None, {**pipeline.overrides, "max_steps": "1"})
    assert (config.save_steps, config.max_steps, config.resume) == (7, 1, True)
