"""make adapter (training/build_adapter.py) on the tiny model: stages chained run to run, a
manifest of what went in, a build that resumes, and shipping only by the rule."""

import json

import yaml

from model.metadata import read_metadata
from training.build_adapter import MANIFEST_FILE, Pipeline, build, ships, stage_config


def write_pipeline(folder, tiny_base_dir, ten_rows):
    stage = {"base_model": str(tiny_base_dir), "train_file": str(ten_rows), "val_file": "", "batch_size": 4,
             "max_steps": 2, "logging_steps": 1, "save_steps": 100, "learning_rate": 1e-3, "lora_r": 4,
             "lora_alpha": 8, "threads": 1}
    (folder / "configs").mkdir(parents=True)
    (folder / "configs" / "first.yaml").write_text(yaml.safe_dump(stage))
    (folder / "configs" / "second.yaml").write_text(yaml.safe_dump({**stage, "learning_rate": 5e-4, "seed": 2}))
    (folder / "configs" / "pipelines").mkdir()
    path = folder / "configs" / "pipelines" / "tiny.yaml"
    path.write_text(yaml.safe_dump({"out_dir": str(folder / "build"), "validation_file": str(ten_rows),
                                    "stages": ["../first.yaml", "../second.yaml"]}))
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
    assert (shipped / "adapter_model.safetensors").read_bytes() == (
        tmp_path / "build/stage2-second/adapter/adapter_model.safetensors").read_bytes()

    again = build(pipeline, shipped)  # resumes: nothing is trained twice, and the same adapter is not "better"
    assert not any(stage["trained_in_this_build"] for stage in again["stages"])
    assert again["shipping"]["shipped"] == again["shipping"]["new"] and not again["shipping"]["shipped_now"]


def test_the_rule_ships_only_what_is_strictly_better():
    assert ships(0.9, None) and ships(0.91, 0.9)
    assert not ships(0.9, 0.9) and not ships(0.8, 0.9)


def test_a_set_value_overrides_every_stage_as_its_fields_type(tiny_base_dir, ten_rows, tmp_path):
    pipeline = write_pipeline(tmp_path, tiny_base_dir, ten_rows)
    config = stage_config(pipeline.stages[1], 2, tmp_path / "out", None, {"max_steps": "1", "resume": "false"})
    assert (config.max_steps, config.resume, config.out_dir) == (1, False, str(tmp_path / "out/stage2-second"))
