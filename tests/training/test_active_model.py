"""The promoted model's file (data/active_model.json) as whatever is on disk: damaged, naming a
deleted adapter or a folder elsewhere. The default is used and the reason said, never a traceback
and never the file's word taken for an adapter that is not there."""

import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.settings import Settings, load_settings
from model.active import ACTIVE_FILE, ActiveModel, default_choice, promote, read_active
from model.metadata import DEFAULT_ADAPTER

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
                    max_leaves=8)


@pytest.fixture
def desk(tmp_path):
    return Settings(data_dir=tmp_path / "data", runs_dir=tmp_path / "runs")


def promoted_adapter(desk, name="run/checkpoint-4"):
    """An adapter as far as promoting and reading the choice look: its acedesk.json."""
    folder = desk.runs_dir / name
    folder.mkdir(parents=True)
    shutil.copy2(DEFAULT_ADAPTER / "acedesk.json", folder)
    return folder


def write_choice(desk, text):
    desk.data_dir.mkdir(parents=True, exist_ok=True)
    (desk.data_dir / ACTIVE_FILE).write_text(text)


def test_a_promoted_adapter_is_the_inbox_model(desk):
    folder = promoted_adapter(desk)
    chosen = promote(desk.data_dir, folder, runs_dir=desk.runs_dir)
    assert read_active(desk) == ActiveModel(chosen, None)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "cannot be read"),
    ('{"adapter": "', "cannot be read"),
    ("[1, 2]", "holds list"),
    ('{"adapter": 5}', "names no adapter folder"),
    ('{"base_model": "x"}', "names no adapter folder"),
    ('{"adapter": null, "extra": 1}', "names no adapter folder"),
    ('{"adapter": "/etc"}', "outside the shipped adapters and the runs folder"),
])
def test_a_damaged_choice_falls_back_to_the_default_and_says_why(desk, text, reason):
    write_choice(desk, text)
    active = read_active(desk)
    assert active.choice == default_choice(desk)
    assert reason in active.problem and ACTIVE_FILE in active.problem


def test_a_deleted_adapter_is_named_not_loaded(desk):
    folder = promoted_adapter(desk)
    promote(desk.data_dir, folder, runs_dir=desk.runs_dir)
    shutil.rmtree(folder)
    active = read_active(desk)
    assert active.choice == default_choice(desk)
    assert f"names {folder.resolve()}, which is not a complete adapter" in active.problem


def test_a_link_out_of_the_runs_folder_counts_as_outside(desk):
    elsewhere = promoted_adapter(desk, "../elsewhere")
    (desk.runs_dir / "link").symlink_to(elsewhere)
    write_choice(desk, json.dumps({"adapter": str(desk.runs_dir / "link"), "base_model": None}))
    assert "outside the shipped adapters" in read_active(desk).problem


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=JSON)
def test_any_json_in_the_file_is_a_choice_or_a_reason(desk, content):
    write_choice(desk, json.dumps(content))
    active = read_active(desk)
    assert active.choice == default_choice(desk) and active.problem


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=64))
def test_any_bytes_in_the_file_are_a_choice_or_a_reason(desk, data):
    desk.data_dir.mkdir(parents=True, exist_ok=True)
    (desk.data_dir / ACTIVE_FILE).write_bytes(data)
    active = read_active(desk)
    assert active.choice == default_choice(desk) and active.problem


@pytest.mark.parametrize("where", ["../elsewhere", "link", "run/../../elsewhere"])
def test_promote_refuses_a_folder_the_inbox_would_refuse_and_writes_nothing(desk, where):
    """Before, promote wrote any complete adapter's folder, the page announced the promotion, and the
    inbox then refused the file and used the default."""
    elsewhere = promoted_adapter(desk, "../elsewhere")
    (desk.runs_dir / "link").symlink_to(elsewhere)
    folder = desk.runs_dir / where
    with pytest.raises(ValueError, match="outside the shipped adapters and the runs folder") as refused:
        promote(desk.data_dir, folder, runs_dir=desk.runs_dir)
    assert not (desk.data_dir / ACTIVE_FILE).exists()
    write_choice(desk, json.dumps({"adapter": str(folder)}))  # the reader says it in the same words
    assert read_active(desk).problem.endswith(str(refused.value).removeprefix(str(folder)))


def test_promote_checks_against_the_settings_runs_folder_unless_given_one(desk, monkeypatch):
    folder = promoted_adapter(desk)
    monkeypatch.setenv("ACEDESK_RUNS_DIR", str(desk.runs_dir.parent / "other-runs"))
    with pytest.raises(ValueError, match="outside the shipped adapters"):
        promote(desk.data_dir, folder)
    monkeypatch.setenv("ACEDESK_RUNS_DIR", str(desk.runs_dir))
    load_settings.cache_clear()  # settings are read once per process
    assert promote(desk.data_dir, folder).adapter == str(folder.resolve())
