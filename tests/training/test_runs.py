"""Runs started as detached processes: real tiny trainings, the one-run lock, stopping, listing."""

import dataclasses
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.metadata import SHIPPED_ADAPTERS_DIR
from tests.conftest import REPO_ROOT
from training import catalog, layout, runs, uploads
from training.config import TrainConfig
from training.jobs import JobState
from training.progress import read_events

WAIT_S = 240  # a tiny run takes ~10 s alone; this CPU may be busy with a real training


@pytest.fixture
def runs_root(tmp_path):
    root = tmp_path / "runs"
    yield root
    runs.stop_run(root, grace_s=5)  # never leave a test's process behind


def tiny_config(tiny_base_dir, csv, **overrides):
    values = {"base_model": str(tiny_base_dir), "train_file": str(csv), "val_file": str(csv),
              "out_dir": "tiny", "batch_size": 4, "max_steps": 4, "logging_steps": 1, "eval_steps": 2,
              "save_steps": 2, "learning_rate": 1e-3, "lora_r": 4, "lora_alpha": 8, "threads": 1}
    return TrainConfig(**{**values, **overrides})


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


def test_a_launched_run_trains_detached_in_its_own_folder(tiny_base_dir, ten_rows, runs_root):
    run = runs.launch_run(tiny_config(tiny_base_dir, ten_rows), runs_root, "Tiny test!")

    assert run.name.endswith("-tiny-test") and run.folder.parent == runs_root
    assert run.state == JobState.RUNNING and runs.active_run(runs_root).name == run.name
    process = json.loads((run.folder / layout.JOB_FILE).read_text())
    assert os.getpgid(process["pid"]) == process["pid"]  # a session of its own: outlives the app
    assert yaml.safe_load((run.folder / layout.RUN_CONFIG).read_text())["out_dir"] == str(run.folder)

    wait_for(lambda: runs.active_run(runs_root) is None, "the run to end")
    [done] = runs.list_runs(runs_root)
    assert done.state == JobState.FINISHED, done.error
    assert done.adapter is not None and done.metrics["train_examples"] == 10
    assert [path.name for path in done.checkpoints] == ["checkpoint-2", "checkpoint-4"]
    assert done.config["base_model"] == str(tiny_base_dir) and done.launched_here
    status = runs.run_status(done)
    assert (status.step, status.max_steps, status.fraction) == (4, 4, 1.0)
    assert [step for step, _ in status.losses] == [1, 2, 3, 4]
    assert [step for step, _ in status.eval_losses] == [2, 4]
    assert status.tokens_per_s > 0 and status.elapsed_s > 0
    assert not (runs_root / layout.ACTIVE_RUN_FILE).exists()


def test_one_run_at_a_time_and_stop_ends_it_as_stopped(tiny_base_dir, ten_rows, runs_root):
    slow = runs.launch_run(tiny_config(tiny_base_dir, ten_rows, max_steps=100_000, save_steps=100_000,
                                       eval_steps=100_000), runs_root, "slow")
    with pytest.raises(runs.RunAlreadyActive) as refused:
        runs.launch_run(tiny_config(tiny_base_dir, ten_rows), runs_root, "second")
    assert refused.value.run.name == slow.name
    assert [run.name for run in runs.list_runs(runs_root)] == [slow.name]  # no folder for the refused one

    wait_for(lambda: runs.run_status(slow).losses, "the first logged step")
    running = runs.run_status(runs.active_run(runs_root))
    assert running.max_steps == 100_000 and running.eta_s > 0 and 0 < running.fraction < 1

    stopped = runs.stop_run(runs_root)
    assert stopped.name == slow.name and stopped.state == JobState.STOPPED
    pid = json.loads((slow.folder / layout.JOB_FILE).read_text())["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert read_events(slow.folder)[-1]["event"] == "stopped"
    assert runs.run_status(stopped).state == JobState.STOPPED and runs.run_status(stopped).eta_s is None
    assert runs.active_run(runs_root) is None and runs.stop_run(runs_root) is None


def test_a_lock_left_by_a_dead_process_does_not_block(runs_root):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    folder = runs_root / "20260101-000000-crashed"
    folder.mkdir(parents=True)
    (folder / layout.JOB_FILE).write_text(json.dumps({"pid": dead.pid, "created": 1.0, "started_at": 1.0}))
    (runs_root / layout.ACTIVE_RUN_FILE).write_text(json.dumps({"run": folder.name}))

    assert runs.active_run(runs_root) is None
    assert not (runs_root / layout.ACTIVE_RUN_FILE).exists()
    [crashed] = runs.list_runs(runs_root)
    assert crashed.state == JobState.FAILED and "without saving" in crashed.error


def test_a_reused_pid_is_not_taken_for_the_run(runs_root):
    folder = runs_root / "20260101-000000-old"
    folder.mkdir(parents=True)
    # this test's own pid is alive, but created at another time than the run recorded
    (folder / layout.JOB_FILE).write_text(json.dumps({"pid": os.getpid(), "created": 1.0, "started_at": 1.0}))
    (runs_root / layout.ACTIVE_RUN_FILE).write_text(json.dumps({"run": folder.name}))
    assert runs.active_run(runs_root) is None


def test_a_run_that_cannot_start_is_failed_with_its_error_line(ten_rows, runs_root, tmp_path):
    run = runs.launch_run(tiny_config(tmp_path / "no-such-model", ten_rows), runs_root, "broken")
    wait_for(lambda: runs.active_run(runs_root) is None, "the broken run to end")
    failed = runs.load_run(run.folder)
    assert failed.state == JobState.FAILED
    assert "Traceback" not in failed.error and "no-such-model" in failed.error
    assert "base model" in runs.failure_hint(failed.error)


def test_command_line_runs_are_listed_from_their_files(runs_root):
    finished = runs_root / "default"
    (finished / "adapter").mkdir(parents=True)
    for step in (10, 5):
        (finished / f"checkpoint-{step}").mkdir()
    (finished / "progress.jsonl").write_text(
        '{"time": 100.0, "event": "started", "step": 0, "max_steps": 10}\n'
        '{"time": 160.0, "event": "log", "step": 10, "max_steps": 10, "loss": 0.5, "eta_s": 0.0}\n'
        '{"time": 161.0, "event": "saved", "adapter": "x"}\n')
    (finished / "adapter" / "acedesk.json").write_text(json.dumps({"hyperparameters": {"lora_r": 8}}))
    (finished / "adapter" / "train_metrics.json").write_text(json.dumps({"train_loss": 0.5}))
    abandoned = runs_root / "abandoned"
    abandoned.mkdir()
    (abandoned / "progress.jsonl").write_text('{"time": 50.0, "event": "started", "step": 0, "max_steps": 9}\n{"ti')
    os.utime(abandoned / "progress.jsonl", (50.0, 50.0))
    (runs_root / "eval-test").mkdir()  # an evaluation folder, not a run

    listed = runs.list_runs(runs_root)
    assert [(run.name, run.state) for run in listed] == [("default", "finished"), ("abandoned", "incomplete")]
    assert listed[0].config == {"lora_r": 8} and listed[0].metrics == {"train_loss": 0.5}
    assert [path.name for path in listed[0].checkpoints] == ["checkpoint-5", "checkpoint-10"]
    assert runs.run_status(listed[0]).elapsed_s == 61.0
    assert runs.list_runs(runs_root / "nothing-here") == []


def test_a_run_whose_job_file_cannot_be_read_is_left_out_not_the_list(runs_root, caplog):
    good = runs_root / "default"
    good.mkdir(parents=True)
    (good / "progress.jsonl").write_text('{"time": 100.0, "event": "saved", "adapter": "x"}\n')
    for name, text in (("20261201-101500-no-created", json.dumps({"pid": 4242, "started_at": 5.0})),
                       ("20261201-111500-not-json", "{\"pid\": 4242,"),
                       ("20261201-121500-wrong-types", json.dumps({"pid": 4242, "created": 0, "started_at": "now"}))):
        (runs_root / name).mkdir()
        (runs_root / name / layout.RUN_CONFIG).write_text("lora_r: 8\n")
        (runs_root / name / layout.JOB_FILE).write_text(text)

    with caplog.at_level(logging.WARNING):
        assert [(run.name, run.state) for run in runs.list_runs(runs_root)] == [("default", "finished")]
    assert all(name in caplog.text for name in ("no-created", "not-json", "wrong-types"))
    # the lock of a run whose job.json cannot be read holds no one back
    (runs_root / layout.ACTIVE_RUN_FILE).write_text(json.dumps({"run": "20261201-121500-wrong-types"}))
    assert runs.active_run(runs_root) is None and not (runs_root / layout.ACTIVE_RUN_FILE).exists()


def test_the_eta_counts_down_from_the_last_event(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    written = time.time() - 30
    (folder / "progress.jsonl").write_text(json.dumps(
        {"time": written, "event": "log", "step": 5, "max_steps": 20, "loss": 1.0, "eta_s": 100.0}) + "\n")
    status = runs.run_status(runs.Run(name="run", folder=folder, state=JobState.RUNNING, started_at=written - 10))
    assert 69 <= status.eta_s <= 71 and status.fraction == 0.25


def test_build_config_resolves_project_paths_and_explains_what_is_wrong(tiny_base_dir):
    values = runs.preset_values(runs.CONFIG_DIR / "default.yaml")
    config, problems = runs.build_config(values)
    assert problems == [] and config.train_file == str(REPO_ROOT / "training/data/train.csv")

    config, problems = runs.build_config({**values, "base_model": "/no/such/folder", "lora_dropout": 1.5})
    assert config is None
    assert "/no/such/folder is neither" in problems[0]
    assert "lora_dropout is 1.5; it must be from 0 up to, not including, 1" in problems[1]
    assert "Change it in the form" in problems[1]
    assert runs.build_config({**values, "base_model": str(tiny_base_dir)})[1] == []


def test_a_file_models_are_measured_on_is_refused_as_training_data_however_it_is_typed(tmp_path, monkeypatch):
    realworld = tmp_path / "benchmark" / "realworld_eval.csv"  # a stand-in: the real one may not be beside a clone
    realworld.parent.mkdir()
    realworld.write_text((REPO_ROOT / "training/data/test.csv").read_text())
    monkeypatch.setattr(runs, "REALWORLD_CSV", realworld)
    values = runs.preset_values(runs.CONFIG_DIR / "default.yaml")
    for typed in ("training/data/test.csv", "./training/data/../data/dev.csv", str(REPO_ROOT / "training/data/dev.csv"),
                  str(realworld), f"{tmp_path}/benchmark/../benchmark/realworld_eval.csv"):
        for field in ("train_file", "extra_train_file"):
            config, problems = runs.build_config({**values, field: typed})
            refusal = f"{Path(typed).name} is for measuring models, never for training them. Pick another file."
            assert config is None and problems == [refusal], (field, typed)
    assert runs.build_config({**values, "extra_train_file": "training/data/train.csv"})[1] == []


def test_a_typed_extra_file_holding_test_mails_is_refused_by_its_content(tmp_path):
    """The page checks the training file under Data; a file typed into extra_train_file gets the
    same checks at the start: a renamed, reshuffled copy of test rows must not train."""
    test_rows = pd.read_csv(REPO_ROOT / "training/data/test.csv", dtype=str, keep_default_na=False)
    copy = tmp_path / "more_data.csv"
    test_rows.sample(frac=1, random_state=1).head(30).to_csv(copy, index=False)
    values = runs.preset_values(runs.CONFIG_DIR / "default.yaml")
    config, problems = runs.build_config({**values, "extra_train_file": f"training/data/train_chat.csv,{copy}"})
    assert config is None and len(problems) == 1
    assert "of more_data.csv are emails of test.csv" in problems[0]


def test_the_splits_source_is_not_offered_as_training_data(tmp_path):
    offered = {path.name for path in runs.csv_choices(tmp_path)}
    assert "train.csv" in offered and "handwritten.csv" not in offered
    assert not offered & set(runs.EVALUATION_ONLY)


def test_base_models_the_form_accepts(tiny_base_dir, tmp_path):
    assert runs.base_model_problem("gemma-3-270m") is None
    assert runs.base_model_problem("meta-llama/Llama-3.2-3B") is None  # a hub id: checked when it downloads
    assert runs.base_model_problem(str(tiny_base_dir)) is None
    assert "no config.json" in runs.base_model_problem(str(tmp_path))
    assert "Name a base model" in runs.base_model_problem(" ")


def test_presets_come_typed_with_their_field_help():
    assert runs.presets()[0].name == "default.yaml"
    values = runs.preset_values(runs.CONFIG_DIR / "default.yaml")
    assert values["epochs"] == 1.0 and isinstance(values["epochs"], float)  # YAML says 1
    assert values["max_steps"] == -1 and values["lora_top_layers"] == 12  # default, and the YAML's
    assert "last N transformer layers" in runs.field_help()["lora_top_layers"]


def test_a_broken_preset_is_named(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("lora_r: [8\n")
    with pytest.raises(ValueError, match="broken.yaml is not a valid training config"):
        runs.preset_values(broken)
    broken.write_text("lora_r: eight\n")
    with pytest.raises(ValueError, match="broken.yaml"):
        runs.preset_values(broken)


def test_uploads_are_kept_once_and_offered_with_the_data_folder(runs_root):
    first = uploads.save_upload(runs_root, "my data (v2).csv", b"a,b\n1,2\n")
    assert uploads.save_upload(runs_root, "my data (v2).csv", b"a,b\n1,2\n") == first
    assert first.name.startswith("my_data_v2_-")
    assert uploads.save_upload(runs_root, "my data (v2).csv", b"a,b\n3,4\n") != first
    choices = runs.csv_choices(runs_root)
    assert REPO_ROOT / "training/data/train.csv" in choices and first in choices


def test_durations_read_like_people_say_them():
    assert runs.format_duration(None) == "–"
    assert runs.format_duration(42.4) == "42 s"
    assert runs.format_duration(65) == "1 min 5 s"
    assert runs.format_duration(3725) == "1 h 2 min"


def test_a_run_whose_progress_or_config_cannot_be_read_costs_the_list_nothing(runs_root, caplog):
    """A progress file that is not UTF-8 or is a folder, a time that is no number, a run.yaml that is
    not UTF-8: each took every run's list down (UnicodeDecodeError, IsADirectoryError, TypeError)."""
    good = runs_root / "default"
    good.mkdir(parents=True)
    (good / "progress.jsonl").write_text('{"time": 100.0, "event": "saved", "adapter": "x"}\n')
    for name in ("binary", "folder", "text-time", "binary-yaml"):
        (runs_root / name).mkdir()
    (runs_root / "binary/progress.jsonl").write_bytes(b'\xff\xfe{"time": 1.0, "event": "saved"}\n')
    (runs_root / "folder/progress.jsonl").mkdir()
    (runs_root / "text-time/progress.jsonl").write_text('{"time": "yesterday", "event": "saved"}\n')
    (runs_root / "binary-yaml" / layout.RUN_CONFIG).write_bytes(b"lora_r: \xff\n")

    with caplog.at_level(logging.WARNING):
        listed = {run.name: run for run in runs.list_runs(runs_root)}
    assert set(listed) == {"default", "binary", "folder", "text-time", "binary-yaml"}
    assert listed["default"].state == JobState.FINISHED and listed["binary-yaml"].config == {}
    assert listed["text-time"].started_at is None and "binary" in caplog.text


SHIPPED = REPO_ROOT / "model/adapters/gemma-3-270m-triage"


def copy_adapter(to: Path) -> Path:
    """The shipped adapter's files a run may continue from, copied to ``to``."""
    to.mkdir(parents=True)
    for name in catalog.ADAPTER_FILES:
        shutil.copyfile(SHIPPED / name, to / name)
    return to


def init_problems(values: dict, init_adapter: str, runs_root: Path) -> list[str]:
    config, problems = runs.build_config({**values, "init_adapter": init_adapter}, runs_root)
    assert (config is None) == bool(problems)
    return problems


def test_a_run_continues_only_from_the_projects_adapters_however_the_path_is_written(tmp_path):
    """Any folder holding an adapter_config.json was taken: /tmp/x, ../../somewhere, a link out of runs/."""
    runs_root = tmp_path / "runs"
    values = runs.preset_values(runs.CONFIG_DIR / "default.yaml")
    own = copy_adapter(runs_root / "20260101-000000-stage" / "adapter")
    outside = copy_adapter(tmp_path / "elsewhere" / "adapter")
    (runs_root / "linked").symlink_to(outside.parent)
    for accepted in (str(own), "model/adapters/gemma-3-270m-triage", str(SHIPPED)):
        assert init_problems(values, accepted, runs_root) == [], accepted
    for refused in (str(outside), os.path.relpath(outside, REPO_ROOT), str(runs_root / "linked" / "adapter"),
                    f"{runs_root}/../elsewhere/adapter", "model/adapters/../../training"):
        where = (REPO_ROOT / refused).resolve()  # an absolute path stays itself
        assert init_problems(values, refused, runs_root) == [(
            f"init_adapter {refused} is not one of the project's adapters: it leads to {where}, outside the shipped "
            f"adapters and the runs folder ({SHIPPED_ADAPTERS_DIR}, {runs_root}). Continue from a run's adapter or "
            "checkpoint, or a shipped one.")], refused


def _huge(folder: Path) -> None:
    with (folder / "adapter_config.json").open("r+b") as handle:
        handle.truncate(2 * 1024**3)  # sparse: 2 GB to stat, nothing on disk


CRAFTED = {
    "not JSON": (lambda folder: (folder / "adapter_config.json").write_bytes(b"\xff\xfe{not json"),
                 "cannot be read: its adapter_config.json is no JSON text"),
    "a list": (lambda folder: (folder / "adapter_config.json").write_text("[1, 2]"),
               "cannot be read: its adapter_config.json holds a list, not a JSON object"),
    "2 GB": (_huge, "cannot be read: its adapter_config.json is 2,147,483,648 bytes, far more than an adapter's"),
    "no LoRA": (lambda folder: (folder / "adapter_config.json").write_text('{"peft_type": "NOPE", "r": 8}'),
                "its adapter_config.json describes no LoRA adapter"),
    "rank as text": (lambda folder: (folder / "adapter_config.json").write_text('{"peft_type": "LORA", "r": "8"}'),
                     "its adapter_config.json describes no LoRA adapter"),
    "no weights": (lambda folder: (folder / "adapter_model.safetensors").unlink(),
                   "is not a complete adapter (no adapter_model.safetensors)"),
    "metadata a list": (lambda folder: (folder / "acedesk.json").write_text("[]"),
                        "cannot be read: its acedesk.json holds a list"),
    "another base": (lambda folder: (folder / "acedesk.json").write_text('{"base_model": "meta-llama/Llama-3.2-3B"}'),
                     "was trained on the base model 'meta-llama/Llama-3.2-3B', not 'gemma-3-270m': set the base model"),
}


@pytest.mark.parametrize("craft", CRAFTED)
def test_a_crafted_adapter_in_the_runs_folder_is_a_named_problem_before_anything_starts(tmp_path, craft):
    """Each started a run that failed seconds later with an error that did not name the adapter
    ("TypeError: list indices must be integers", "KeyError: 'NOPE'", "NoMatchingPeftModuleError: ..."),
    or read a 2 GB config whole."""
    runs_root = tmp_path / "runs"
    folder = copy_adapter(runs_root / "20260101-000000-crafted" / "adapter")
    make, problem = CRAFTED[craft]
    make(folder)
    started = time.perf_counter()
    [said] = init_problems(runs.preset_values(runs.CONFIG_DIR / "default.yaml"), str(folder), runs_root)
    assert time.perf_counter() - started < 1.0
    assert said.startswith(f"init_adapter {folder}") and problem in said, said


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.one_of(st.binary(max_size=200), st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["peft_type", "r", "x"]), inner,
                                                                  max_size=3), max_leaves=8).map(
    lambda value: json.dumps(value).encode())))
def test_any_adapter_config_is_accepted_or_named_never_raised(tmp_path, content):
    runs_root = tmp_path / "runs"
    folder = runs_root / "run" / "adapter"
    if not folder.exists():
        copy_adapter(folder)
    (folder / "adapter_config.json").write_bytes(content)
    problems = init_problems(runs.preset_values(runs.CONFIG_DIR / "default.yaml"), str(folder), runs_root)
    try:
        data = json.loads(content)
    except ValueError:
        data = None
    valid = (isinstance(data, dict) and data.get("peft_type") == "LORA" and type(data.get("r")) is int
             and 0 < data["r"] < 10**300)
    assert problems == [] if valid else len(problems) == 1 and problems[0].startswith(f"init_adapter {folder}")


@settings(max_examples=80, deadline=None)
@given(field=st.sampled_from(["init_adapter", "extra_train_file", "val_file", "base_model"]),
       typed=st.text(max_size=40) | st.sampled_from(["a\x00b", "../../../etc", "~/x", "~nosuchuser/x", "/", "runs/../..",
                                                     ","]))
def test_whatever_is_typed_into_a_path_field_is_accepted_or_named_never_raised(field, typed):
    """A NUL character in init_adapter or extra_train_file (text inputs) raised ValueError out of the page,
    a base model "~nosuchuser/x" RuntimeError."""
    config, problems = runs.build_config({**runs.preset_values(runs.CONFIG_DIR / "default.yaml"), field: typed},
                                         REPO_ROOT / "runs")
    assert (config is None) == bool(problems) and all(isinstance(problem, str) for problem in problems)
    if "\x00" in typed and field != "base_model":
        assert problems == [f"{field} holds a NUL character, which no file name can: type it again."]


def test_an_adapter_that_does_not_fit_the_base_says_so_in_its_hint():
    # the first lines of the errors measured for a crafted rank and for another base's adapter
    for error in ("RuntimeError: Error(s) in loading state_dict for PeftModelForCausalLM:",
                  "peft.utils.error.NoMatchingPeftModuleError: Target modules {'model.layers.9.mlp.up_proj'} not found"):
        assert "init_adapter" in runs.failure_hint(error)
    assert "Check the base model" in runs.failure_hint("OSError: x does not appear to have a file named config.json")


ODD_VALUES = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**400, max_value=10**400), st.floats(),
                       st.text(max_size=10), st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
EVENT_FIELDS = ("step", "max_steps", "loss", "eval_loss", "eta_s", "tokens_per_s", "epoch", "learning_rate", "error")


def is_finite_number(value) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


@settings(max_examples=50, deadline=None)
@given(events=st.lists(st.fixed_dictionaries(
    {"time": st.floats(min_value=0, max_value=2e9),
     "event": st.sampled_from(["log", "eval", "finished", "stopped", "saved", "failed", "started"]) | ODD_VALUES},
    optional=dict.fromkeys(EVENT_FIELDS, ODD_VALUES)), max_size=6),
    metrics=st.dictionaries(st.sampled_from(("train_loss", "eval_loss", "wall_seconds", "train_examples")), ODD_VALUES,
                            max_size=4),
    hyperparameters=ODD_VALUES)
def test_a_progress_or_metrics_file_of_odd_values_costs_only_those_values(events, metrics, hyperparameters):
    """A step stored as "12", null or a list, a loss that is text, a time that is not a number: run_status,
    the table's figures and the hint broke on each (TypeError, OverflowError, AttributeError)."""
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "odd"
        (folder / "adapter").mkdir(parents=True)
        (folder / layout.PROGRESS_FILE).write_text("".join(json.dumps(event) + "\n" for event in events))
        (folder / "adapter" / layout.TRAIN_METRICS).write_text(json.dumps(metrics))
        (folder / "adapter" / "acedesk.json").write_text(json.dumps({"hyperparameters": hyperparameters}))
        [run] = runs.list_runs(Path(temporary))
        assert isinstance(run.config, dict) and isinstance(runs.failure_hint(run.error), str)
        assert all(is_finite_number(run.metrics[name]) for name in ("train_loss", "eval_loss", "wall_seconds") if name in run.metrics)
        runs.format_duration(run.metrics.get("wall_seconds"))
        for state in JobState:
            status = runs.run_status(dataclasses.replace(run, state=state))
            assert type(status.step) is int and status.step >= 0 and 0.0 <= status.fraction <= 1.0
            assert all(type(step) is int and math.isfinite(loss) for step, loss in status.losses + status.eval_losses)
            assert status.max_steps is None or (type(status.max_steps) is int and status.max_steps > 0)
            for figure in (status.tokens_per_s, status.epoch, status.learning_rate, status.eta_s, status.elapsed_s):
                assert figure is None or math.isfinite(figure)
            runs.format_duration(status.eta_s), runs.format_duration(status.elapsed_s)


def test_a_lock_naming_no_folder_of_the_root_is_cleared_not_raised(runs_root):
    """{"run": 5} or null took the Training page down (TypeError); "../x" or "/x" pointed outside the root."""
    runs_root.mkdir()
    elsewhere = runs_root.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / layout.JOB_FILE).write_text(json.dumps({"pid": os.getpid(), "created": psutil.Process().create_time(),
                                                         "started_at": 1.0}))
    for name in (5, None, ["x"], "", ".", "..", "../elsewhere", str(elsewhere)):
        (runs_root / layout.ACTIVE_RUN_FILE).write_text(json.dumps({"run": name}))
        assert runs.active_run(runs_root) is None, name
        assert not (runs_root / layout.ACTIVE_RUN_FILE).exists()


def test_a_preset_with_an_unknown_setting_or_a_value_of_another_kind_is_named(tmp_path):
    """A typo ("learning_rte") trained silently with the default; `lora_r: true` became rank 1 and
    `lora_r: 8.7` rank 8; a dtype the form does not offer, .nan, .inf or a number beyond a browser's
    took the Training page down."""
    preset = tmp_path / "mine.yaml"
    for text, named in (("learning_rte: 0.1\n", "unknown setting 'learning_rte'"),
                        ("learning_rte:\n", "unknown setting 'learning_rte'"),
                        ("lora_r: true\n", "lora_r is True, not a whole number"),
                        ("lora_r: 8.7\n", "lora_r is 8.7, not a whole number"),
                        ("dtype: float16\n", "dtype is 'float16', not one of auto, float32, bfloat16"),
                        ("epochs: .nan\n", "epochs is nan, not a finite number"),
                        ("learning_rate: .inf\n", "learning_rate is inf, not a finite number"),
                        ("max_steps: 99999999999999999999\n", "max_steps is 99999999999999999999, not a whole number"),
                        ("target_modules: [q_proj, v_proj]\n", "target_modules is ['q_proj', 'v_proj'], not text"),
                        ("- lora_r\n", "a list, not settings by name")):
        preset.write_text(text)
        with pytest.raises(ValueError, match="mine.yaml is not a valid training config") as refused:
            runs.preset_values(preset)
        assert named in str(refused.value), text
    preset.write_bytes(b"seed: 1 # \xff\n")
    with pytest.raises(ValueError, match="mine.yaml is not a valid training config"):
        runs.preset_values(preset)
    with pytest.raises(ValueError, match="gone.yaml is not a valid training config"):
        runs.preset_values(tmp_path / "gone.yaml")
    preset.write_text("learning_rate: 1e-3\nlora_r: '4'\nepochs: 2\nextra_train_file:\n")
    assert {name: runs.preset_values(preset)[name] for name in ("learning_rate", "lora_r", "epochs")} == {
        "learning_rate": 0.001, "lora_r": 4, "epochs": 2.0}


def test_every_shipped_preset_loads_under_the_stricter_reading():
    for preset in runs.presets():
        runs.preset_values(preset)


STAND_IN = "import time\nprint('training (stand-in)', flush=True)\ntime.sleep(120)\n"
"""What launch_run starts in the lock's tests instead of training/finetune_lora.py: a process that
runs until it is stopped, without the cost of a training."""


@pytest.fixture
def stand_in_training(tmp_path, monkeypatch):
    script = tmp_path / "stand_in_training.py"
    script.write_text(STAND_IN)
    monkeypatch.setattr(runs, "TRAIN_SCRIPT", script)
    return TrainConfig(train_file=str(REPO_ROOT / "training/data/train.csv"), val_file="", out_dir="stand-in")


def test_deleting_the_running_runs_folder_keeps_the_lock_and_stop_still_ends_its_process(stand_in_training, runs_root):
    """rm -rf of the active run's folder released the lock: a second run started beside the first
    (two trainings sharing the CPU), and Stop could no longer reach the first."""
    first = runs.launch_run(stand_in_training, runs_root, "first")
    pid = json.loads((first.folder / layout.JOB_FILE).read_text())["pid"]
    shutil.rmtree(first.folder)

    active = runs.active_run(runs_root)
    assert active is not None and active.name == first.name
    assert active.state == JobState.RUNNING and active.folder_deleted
    with pytest.raises(runs.RunAlreadyActive):
        runs.launch_run(stand_in_training, runs_root, "second")
    assert [path.name for path in runs_root.iterdir() if path.is_dir()] == []  # no second run folder

    stopped = runs.stop_run(runs_root, grace_s=5)
    assert stopped.name == first.name and stopped.state == JobState.STOPPED
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert runs.active_run(runs_root) is None and not first.folder.exists()  # not brought back by the stop
    runs.launch_run(stand_in_training, runs_root, "second")  # the lock went with the process


def test_a_run_whose_folder_is_there_is_not_read_as_deleted(stand_in_training, runs_root):
    run = runs.launch_run(stand_in_training, runs_root, "kept")
    assert not run.folder_deleted and not runs.active_run(runs_root).folder_deleted
    runs.stop_run(runs_root, grace_s=5)
    assert not runs.load_run(run.folder).folder_deleted


def test_a_run_killed_for_memory_says_so_and_the_hint_is_about_memory(stand_in_training, runs_root):
    run = runs.launch_run(stand_in_training, runs_root, "oom")
    wait_for(lambda: (run.folder / layout.RUN_LOG).read_text(), "the stand-in's first line")
    os.kill(json.loads((run.folder / layout.JOB_FILE).read_text())["pid"], 9)
    wait_for(lambda: runs.active_run(runs_root) is None, "the lock to go with the killed process")
    failed = runs.load_run(run.folder)
    assert failed.state == JobState.FAILED and "SIGKILL" in failed.error
    assert "memory" in runs.failure_hint(failed.error)


def test_a_run_killed_for_memory_says_so_to_an_app_started_after_it(stand_in_training, runs_root):
    """Only the app process that reaps a killed run learns the signal: a restarted app read the same
    run as failed with its last line of output ("training (stand-in)") and the generic hint."""
    run = runs.launch_run(stand_in_training, runs_root, "oom")
    wait_for(lambda: (run.folder / layout.RUN_LOG).read_text(), "the stand-in's first line")
    os.kill(json.loads((run.folder / layout.JOB_FILE).read_text())["pid"], 9)
    wait_for(lambda: runs.active_run(runs_root) is None, "the lock to go with the killed process")
    read_afresh = ("import sys; from pathlib import Path; from training import runs; run = runs.load_run(Path(sys.argv[1])); "
                   "print(run.state); print(run.error); print(runs.failure_hint(run.error))")
    restarted = subprocess.run([sys.executable, "-c", read_afresh, str(run.folder)], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True, timeout=120)
    state, error, hint = restarted.stdout.splitlines()
    assert state == "failed" and "killed by SIGKILL" in error and "memory" in hint, restarted.stdout


def test_a_run_killed_for_memory_after_the_app_that_launched_it_ended_says_so(stand_in_training, runs_root):
    """The app restarted during a run, then the system killed the run for memory: no app process
    was its parent to learn the signal, and the run read as failed with its last line of output
    ("training (stand-in)") and the generic hint."""
    launch_and_leave = ("import sys, yaml; from pathlib import Path; from training import runs; "
                        "from training.config import TrainConfig; runs.TRAIN_SCRIPT = Path(sys.argv[1]); "
                        "print(runs.launch_run(TrainConfig(**yaml.safe_load(sys.argv[2])), Path(sys.argv[3]), 'oom').folder)")
    launched = subprocess.run([sys.executable, "-c", launch_and_leave, str(runs.TRAIN_SCRIPT),
                               yaml.safe_dump(dataclasses.asdict(stand_in_training)), str(runs_root)],
                              cwd=REPO_ROOT, capture_output=True, text=True, check=True, timeout=120)
    folder = Path(launched.stdout.strip())
    wait_for(lambda: (folder / layout.RUN_LOG).read_text(), "the stand-in's first line")
    job = json.loads((folder / layout.JOB_FILE).read_text())
    recorded = psutil.Process(job["pid"])
    training = next(process for process in [recorded, *recorded.children(recursive=True)]
                    if process.cmdline() == job["command"])
    training.kill()
    wait_for(lambda: runs.active_run(runs_root) is None, "the lock to go with the killed run")
    failed = runs.load_run(folder)
    assert failed.state == JobState.FAILED and "killed by SIGKILL" in failed.error, failed.error
    assert "memory" in runs.failure_hint(failed.error)


@pytest.mark.timeout(60)  # the failure this guards against is a hang
def test_guard_a_pipe_in_place_of_an_adapters_files_is_refused_not_waited_on(tmp_path):
    # a guard: the completeness check (is_file) refuses a pipe before any read, and the bounded reader
    # behind it (layout.read_small_file) would too
    runs_root = tmp_path / "runs"
    values = runs.preset_values(runs.CONFIG_DIR / "default.yaml")
    for name in ("adapter_config.json", "acedesk.json"):
        adapter = copy_adapter(runs_root / f"piped-{name}" / "adapter")
        (adapter / name).unlink()
        os.mkfifo(adapter / name)
        [problem] = init_problems(values, str(adapter), runs_root)
        assert name in problem, problem
