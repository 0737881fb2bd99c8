import json

import pytest

from model.metadata import METADATA_FILE, read_metadata, write_metadata


def test_metadata_round_trips_with_versions(tmp_path):
    write_metadata(tmp_path, "gemma-3-270m", "gemma", {"lora_r": 8}, step=10)
    meta = read_metadata(tmp_path)
    assert meta["base_model"] == "gemma-3-270m" and meta["prompt_style"] == "gemma"
    assert meta["hyperparameters"] == {"lora_r": 8} and meta["step"] == 10


def test_an_adapter_for_another_prompt_format_is_refused(tmp_path):
    write_metadata(tmp_path, "x", "plain", {})
    data = json.loads((tmp_path / METADATA_FILE).read_text())
    data["prompt_format_version"] = 999
    (tmp_path / METADATA_FILE).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="retrain"):
        read_metadata(tmp_path)


def test_a_folder_without_metadata_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="finetune_lora"):
        read_metadata(tmp_path)
