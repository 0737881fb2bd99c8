"""Evaluation jobs started and watched through their folders (training/eval_jobs.py)."""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from training import eval_jobs, layout
from training.choose_review_rule import CHOICE_FILE
from training.data_checks import distinct_mails
from training.eval_jobs import (
    EvalRequest,
    JobAlreadyRunning,
    count_predictions,
    latest_rule_choice,
    list_runs,
    read_run,
    running_job,
    start_evaluation,
    start_rule_choice,
    stop_evaluation,
)
from training.jobs import JobState

TRACEBACK = """Loading base model x with adapter (none)
Traceback (most recent call last):
  File "/x/training/evaluate.py", line 1, in <module>
    raise OSError("x")
OSError: x is not a local folder and is not a valid model identifier
"""


def job_folder(runs, name, pid=0, created=0.0, started=None, stop_requested_at=None):
    folder = layout.evals_root(runs) / name
    folder.mkdir(parents=True)
    extra = {"adapter_label": "tiny / checkpoint-2", "data_label": "five.csv", "total_rows": 5}
    (folder / layout.JOB_FILE).write_text(json.dumps({
        "pid": pid or 999_999_999, "created": created, "started_at": started or time.time(), "command": [],
        "stop_requested_at": stop_requested_at, "extra": extra}))
    return folder


def wait_for(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def test_progress_counts_rows_with_line_breaks_inside(tmp_path):
    assert count_predictions(tmp_path) == 0
    (tmp_path / layout.PREDICTIONS_FILE).write_text('sender,body\na,"two\nlines"\nb,one\n')
    assert count_predictions(tmp_path) == 2


def test_states_from_the_folder(tmp_path):
    finished = job_folder(tmp_path, "1-finished", started=1_700_000_001)
    (finished / layout.METRICS_FILE).write_text(json.dumps({"n": 5}))
    failed = job_folder(tmp_path, "2-failed", started=1_700_000_002)
    (failed / layout.EVAL_LOG).write_text(TRACEBACK)
    (failed / layout.PREDICTIONS_FILE).write_text("sender\na\nb\n")
    job_folder(tmp_path, "3-stopped", started=1_700_000_003, stop_requested_at=1_700_000_004)
    command_line = tmp_path / "eval-test"  # python -m training.evaluate --out runs/eval-test
    command_line.mkdir()
    (command_line / layout.METRICS_FILE).write_text(json.dumps({"n": 7, "config": {
        "data": "training/data/test.csv", "adapter": "/x/model/adapters/club-triage"}}))
    (tmp_path / "some-run").mkdir()  # a training run: not an evaluation

    runs = {run.folder.name: run for run in list_runs(tmp_path)}
    assert list(runs) == ["eval-test", "3-stopped", "2-failed", "1-finished"]  # newest first
    assert (runs["1-finished"].state, runs["1-finished"].done_rows) == (JobState.FINISHED, 5)
    assert (runs["2-failed"].state, runs["2-failed"].done_rows) == (JobState.FAILED, 2)
    assert runs["2-failed"].message.startswith("OSError: x is not a local folder")
    assert runs["3-stopped"].state == JobState.STOPPED
    assert (runs["eval-test"].state, runs["eval-test"].adapter_label, runs["eval-test"].data_label) == (
        JobState.FINISHED, "adapters / club-triage", "test.csv")
    assert runs["1-finished"].title.startswith("tiny / checkpoint-2 on five.csv (5 rows, 2023-11-")


def test_a_running_process_is_recognised_by_pid_and_creation_time_and_can_be_stopped(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        created = psutil.Process(process.pid).create_time()
        folder = job_folder(tmp_path, "running", pid=process.pid, created=created)
        assert read_run(folder).state == JobState.RUNNING
        stop_evaluation(read_run(folder))
        process.wait(timeout=10)  # ended well before its 60 s sleep (its status was reaped by the check)
        assert read_run(folder).state == JobState.STOPPED
        other = job_folder(tmp_path, "not-this-one", pid=process.pid, created=created - 100)
        assert read_run(other).state == JobState.FAILED  # the same pid, another process: not ours
    finally:
        process.kill()
        process.wait()


def test_a_started_evaluation_that_cannot_read_its_data_fails_with_the_reason(tmp_path):
    request = EvalRequest(tmp_path / "missing.csv", "missing.csv", None, "plain base model", None, 5, 5)
    folder = start_evaluation(request, tmp_path)
    assert folder.parent == layout.evals_root(tmp_path) and folder.name.endswith("-plain-base-model-missing-csv")
    job = json.loads((folder / layout.JOB_FILE).read_text())
    assert job["command"][-4:] == ["", "--skip-base-baseline", "--limit", "5"]
    assert wait_for(lambda: read_run(folder).state != JobState.RUNNING)
    run = read_run(folder)
    assert run.state == JobState.FAILED and run.message.endswith("missing.csv: no such file")


def rule_job(runs, name, adapter, finished):
    folder = layout.review_rules_root(runs) / name
    folder.mkdir(parents=True)
    (folder / layout.JOB_FILE).write_text(json.dumps({
        "pid": 999_999_999, "created": 0.0, "started_at": time.time(), "command": [],
        "extra": {"adapter": str(adapter.resolve()), "total_rows": 249}}))
    if finished:
        (folder / CHOICE_FILE).write_text("{}")
    return folder


def test_the_newest_rule_choice_of_the_adapter_asked_about_is_found(tmp_path):
    runs, first, second = tmp_path / "runs", tmp_path / "a/adapter", tmp_path / "b/adapter"
    assert latest_rule_choice(first, runs) is None  # none started yet
    rule_job(runs, "20261206-100000-a", first, finished=False)
    rule_job(runs, "20261206-110000-a", first, finished=True)
    rule_job(runs, "20261206-120000-b", second, finished=False)
    newest = latest_rule_choice(first, runs)
    assert newest.folder.name == "20261206-110000-a" and newest.state == JobState.FINISHED
    assert newest.total_rows == 249 and newest.done_rows == 0
    died = latest_rule_choice(second, runs)  # its process is gone and it wrote no choice
    assert died.state == JobState.FAILED


def old_job_folder(runs, name, **request):
    """An evaluation folder as start_evaluation wrote it before commit 2a130be: the request's fields,
    "pid", "started" and "command" at the top level of job.json."""
    folder = layout.evals_root(runs) / name
    folder.mkdir(parents=True)
    (folder / layout.JOB_FILE).write_text(json.dumps({
        "data": "training/data/test.csv", "data_label": "test split", "adapter": "runs/default/adapter",
        "adapter_label": "default / adapter", "base_model": None, "limit": 50, "total_rows": 50,
        "pid": 999_999_999, "started": 1_763_633_410.0, "command": ["python", "-m", "training.evaluate"],
        **request}))
    return folder


def test_an_evaluation_from_before_2a130be_is_listed_with_its_labels(tmp_path):
    finished = old_job_folder(tmp_path, "20251120-101010-default-adapter-test-split")
    (finished / layout.METRICS_FILE).write_text(json.dumps({"n": 50}))
    stopped = old_job_folder(tmp_path, "20251120-111010-default-adapter-real", data_label="realworld_eval.csv",
                             started=1_763_637_010.0)
    (stopped / "stopped").write_text("2025-11-20 11:11:00\n")  # the stop record of that time
    (stopped / layout.PREDICTIONS_FILE).write_text("sender\na\nb\n")
    job_folder(tmp_path, "20261201-101010-new", started=1_764_583_810)

    runs = {run.folder.name: run for run in list_runs(tmp_path)}
    assert list(runs) == ["20261201-101010-new", stopped.name, finished.name]  # newest first
    assert (runs[finished.name].adapter_label, runs[finished.name].data_label) == ("default / adapter", "test split")
    assert (runs[finished.name].state, runs[finished.name].done_rows, runs[finished.name].total_rows) == (
        JobState.FINISHED, 50, 50)
    assert runs[finished.name].started == 1_763_633_410.0
    assert runs[finished.name].title.startswith("default / adapter on test split (50 rows, 2025-11-")
    assert (runs[stopped.name].state, runs[stopped.name].done_rows) == (JobState.STOPPED, 2)
    assert runs[stopped.name].data_label == "realworld_eval.csv"


def test_a_run_keeps_its_distinct_mails_and_the_model_it_evaluated(tmp_path):
    """The page says "N rows are M distinct mails" beside a run's figures and opens the chosen model's runs."""
    counted = old_job_folder(tmp_path, "counted", distinct_rows=3, base_model="some-base",
                             model_url="http://server.example")
    before = old_job_folder(tmp_path, "before")  # written before the mails were counted
    hand_edited = old_job_folder(tmp_path, "hand-edited", distinct_rows="3", adapter=["x"])
    for folder in (counted, before, hand_edited):
        (folder / layout.METRICS_FILE).write_text(json.dumps({"n": 50}))
    runs = {run.folder.name: run for run in list_runs(tmp_path)}
    assert (runs["counted"].distinct_rows, runs["counted"].adapter, runs["counted"].base_model,
            runs["counted"].served) == (3, "runs/default/adapter", "some-base", True)
    assert (runs["before"].distinct_rows, runs["before"].served) == (None, False)
    assert (runs["hand-edited"].distinct_rows, runs["hand-edited"].adapter) == (None, None)


def test_a_command_line_evaluation_keeps_its_distinct_mails_too(tmp_path):
    """``python -m training.evaluate`` writes ``distinct_rows`` into metrics.json (training/data_checks.distinct_mails)."""
    rows = [{"subject": "Cancel", "body": "Please cancel BK-54321"}] * 6 + [{"subject": "", "body": "reset pls"}]
    for name, distinct in (("eval-repeated", distinct_mails(rows)), ("eval-before", None), ("eval-edited", "2")):
        folder = tmp_path / name
        folder.mkdir()
        metrics = {"n": 7, "config": {"data": "x.csv", "adapter": None}}
        (folder / layout.METRICS_FILE).write_text(json.dumps(
            metrics if distinct is None else {**metrics, "distinct_rows": distinct}))
    runs = {run.folder.name: run for run in list_runs(tmp_path)}
    assert (runs["eval-repeated"].distinct_rows, runs["eval-before"].distinct_rows,
            runs["eval-edited"].distinct_rows) == (2, None, None)


def test_an_unreadable_job_file_costs_the_lists_only_its_folder(tmp_path, caplog):
    job_folder(tmp_path, "1-good", started=1_700_000_001)
    for name, text in (("2-not-json", '{"pid": 12, "crea'), ("3-not-an-object", "[]"),
                       ("4-wrong-types", json.dumps({"pid": "12", "created": 0, "started_at": "today"})),
                       ("5-no-start", json.dumps({"pid": 12, "data_label": "x"}))):
        folder = layout.evals_root(tmp_path) / name
        folder.mkdir(parents=True)
        (folder / layout.JOB_FILE).write_text(text)
    rows = job_folder(tmp_path, "6-bad-row-count", started=1_700_000_006)
    job = json.loads((rows / layout.JOB_FILE).read_text())
    (rows / layout.JOB_FILE).write_text(json.dumps({**job, "extra": {**job["extra"], "total_rows": "many"}}))

    with caplog.at_level(logging.WARNING):
        assert [run.folder.name for run in list_runs(tmp_path)] == ["1-good"]
    left_out = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(left_out) == 5 and all(
        any(name in message for message in left_out)
        for name in ("2-not-json", "3-not-an-object", "4-wrong-types", "5-no-start", "6-bad-row-count"))


def test_an_unreadable_rule_choice_is_passed_over(tmp_path, caplog):
    runs, adapter = tmp_path / "runs", tmp_path / "a/adapter"
    rule_job(runs, "20261206-100000-a", adapter, finished=True)
    broken = layout.review_rules_root(runs) / "20261206-110000-a"
    broken.mkdir()
    (broken / layout.JOB_FILE).write_text(json.dumps({"pid": 12, "created": "x", "started_at": 1.0}))
    with caplog.at_level(logging.WARNING):
        assert latest_rule_choice(adapter, runs).folder.name == "20261206-100000-a"
    assert broken.name in caplog.text


def test_a_metrics_file_that_does_not_hold_what_evaluate_writes_costs_the_list_nothing(tmp_path):
    """A count that is no whole number, a config that is no object or an adapter that is no path took
    every evaluation's list down (ValueError, AttributeError, TypeError)."""
    finished = job_folder(tmp_path, "1-finished", started=1_700_000_001)
    (finished / layout.METRICS_FILE).write_text(json.dumps({"n": "five"}))
    for name, metrics in (("eval-text-count", {"n": "seven", "config": {"data": "test.csv"}}),
                          ("eval-text-config", {"n": 3, "config": "test.csv"}),
                          ("eval-number-adapter", {"n": 3, "config": {"data": ["x"], "adapter": 5}})):
        (tmp_path / name).mkdir()
        (tmp_path / name / layout.METRICS_FILE).write_text(json.dumps(metrics))

    runs = {run.folder.name: run for run in list_runs(tmp_path)}
    assert set(runs) == {"1-finished", "eval-text-count", "eval-number-adapter"}
    assert (runs["1-finished"].state, runs["1-finished"].done_rows) == (JobState.FINISHED, 5)
    assert runs["eval-text-count"].done_rows == 0 and runs["eval-number-adapter"].adapter_label == " / 5"


def test_one_evaluation_or_rule_choice_at_a_time_even_from_two_tabs_at_once(tmp_path):
    """Each job loads a model and triages on the inbox's CPU: before, every click (any tab) started
    another process, and two starts within a second with the same labels said "File exists: check that
    the runs folder is writable"."""
    request = EvalRequest(tmp_path / "missing.csv", "missing.csv", None, "plain base model", None, 5, 5)
    barrier, started, refused = threading.Barrier(2), [], []

    def start_in_a_tab():
        barrier.wait()
        try:
            started.append(start_evaluation(request, tmp_path))
        except JobAlreadyRunning as busy:
            refused.append(str(busy))

    tabs = [threading.Thread(target=start_in_a_tab) for _ in range(2)]
    for tab in tabs:
        tab.start()
    for tab in tabs:
        tab.join()
    try:
        assert len(started) == 1 and len(refused) == 1
        assert refused[0].startswith("the evaluation of plain base model on missing.csv (5 rows, ")
        assert refused[0].endswith("is still running")
        assert running_job(tmp_path) is not None
        with pytest.raises(JobAlreadyRunning):
            start_rule_choice(tmp_path / "some/adapter", tmp_path)
        assert [run.folder for run in list_runs(tmp_path)] == started  # no folder for what was refused
    finally:
        os.kill(json.loads((started[0] / layout.JOB_FILE).read_text())["pid"], signal.SIGKILL)
    assert wait_for(lambda: read_run(started[0]).state != JobState.RUNNING)
    killed = read_run(started[0])
    assert killed.state == JobState.FAILED and killed.message.startswith("the process ")  # ended, or killed by SIGKILL
    again = start_evaluation(request, tmp_path)  # a killed job blocks nothing, and keeps its own folder
    assert again != started[0] and again.name.startswith(started[0].name[:8])
    assert wait_for(lambda: read_run(again).state != JobState.RUNNING)


def test_the_same_labels_within_one_second_get_folders_of_their_own(tmp_path, monkeypatch):
    monkeypatch.setattr(eval_jobs.time, "strftime", lambda pattern, *when: "20261207-100000")
    request = EvalRequest(tmp_path / "missing.csv", "missing.csv", None, "plain base model", None, 5, 5)
    first = start_evaluation(request, tmp_path)
    assert wait_for(lambda: read_run(first).state != JobState.RUNNING)
    second = start_evaluation(request, tmp_path)
    assert (first.name, second.name) == ("20261207-100000-plain-base-model-missing-csv",
                                         "20261207-100000-plain-base-model-missing-csv-2")
    assert wait_for(lambda: read_run(second).state != JobState.RUNNING)
