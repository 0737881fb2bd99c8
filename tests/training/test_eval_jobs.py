"""Evaluation processes started and watched through their folders."""

import json
import subprocess
import sys
import time

from training import eval_jobs
from training.eval_jobs import (
    FAILED,
    FINISHED,
    JOB_FILE,
    METRICS_FILE,
    PREDICTIONS_FILE,
    RUNNING,
    STOPPED,
    EvalRequest,
    count_predictions,
    failure_reason,
    list_runs,
    read_run,
    start_evaluation,
    stop_evaluation,
)

TRACEBACK = """Loading base model x with adapter (none)
Traceback (most recent call last):
  File "/x/training/evaluate.py", line 1, in <module>
    raise OSError("x")
OSError: x is not a local folder and is not a valid model identifier
"""


def job_folder(runs, name, pid=0, started=None, **job):
    folder = eval_jobs.evals_root(runs) / name
    folder.mkdir(parents=True)
    (folder / JOB_FILE).write_text(json.dumps({"adapter_label": "tiny / checkpoint-2", "data_label": "five.csv",
                                               "total_rows": 5, "started": started or time.time(), "pid": pid,
                                               **job}))
    return folder


def wait_for(condition, seconds=60):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def test_failure_reason_is_one_line_never_the_traceback():
    assert failure_reason(TRACEBACK) == "OSError: x is not a local folder and is not a valid model identifier"
    assert failure_reason("\r  1/5\r  2/5\nerror: data.csv: no such file\n") == "data.csv: no such file"
    assert failure_reason("Killed\n") == "Killed"
    assert "without writing metrics.json" in failure_reason("")


def test_progress_counts_rows_with_line_breaks_inside(tmp_path):
    assert count_predictions(tmp_path) == 0
    (tmp_path / PREDICTIONS_FILE).write_text('sender,body\na,"two\nlines"\nb,one\n')
    assert count_predictions(tmp_path) == 2


def test_states_from_the_folder(tmp_path):
    finished = job_folder(tmp_path, "1-finished", started=1_700_000_001)
    (finished / METRICS_FILE).write_text(json.dumps({"n": 5}))
    failed = job_folder(tmp_path, "2-failed", started=1_700_000_002)
    (failed / eval_jobs.LOG_FILE).write_text(TRACEBACK)
    (failed / PREDICTIONS_FILE).write_text("sender\na\nb\n")
    stopped = job_folder(tmp_path, "3-stopped", started=1_700_000_003)
    (stopped / eval_jobs.STOPPED_FILE).write_text("now")
    command_line = tmp_path / "eval-test"  # python -m training.evaluate --out runs/eval-test
    command_line.mkdir()
    (command_line / METRICS_FILE).write_text(json.dumps({"n": 7, "config": {
        "data": "training/data/test.csv", "adapter": "/x/model/adapters/club-triage"}}))
    (tmp_path / "some-run").mkdir()  # a training run: not an evaluation

    runs = {run.folder.name: run for run in list_runs(tmp_path)}
    assert list(runs) == ["eval-test", "3-stopped", "2-failed", "1-finished"]  # newest first
    assert (runs["1-finished"].state, runs["1-finished"].done_rows) == (FINISHED, 5)
    assert (runs["2-failed"].state, runs["2-failed"].done_rows) == (FAILED, 2)
    assert runs["2-failed"].message.startswith("OSError: x is not a local folder")
    assert runs["3-stopped"].state == STOPPED
    assert (runs["eval-test"].state, runs["eval-test"].adapter_label, runs["eval-test"].data_label) == (
        FINISHED, "adapters / club-triage", "test.csv")
    assert runs["1-finished"].title.startswith("tiny / checkpoint-2 on five.csv (5 rows, 2023-11-")


def test_a_running_process_is_recognised_by_its_folder_and_can_be_stopped(tmp_path):
    folder = eval_jobs.evals_root(tmp_path) / "running"
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(folder.resolve())])
    try:
        job_folder(tmp_path, "running", pid=process.pid)
        deadline = time.monotonic() + 10  # a loaded machine may take a moment to show the new process
        while (run := read_run(folder)).state != RUNNING and time.monotonic() < deadline:
            time.sleep(0.1)
        assert run.state == RUNNING
        stop_evaluation(run)
        assert process.wait(timeout=10) != 0
        assert read_run(folder).state == STOPPED
        other = job_folder(tmp_path, "not-this-one", pid=process.pid)  # a pid alone proves nothing
        (other / eval_jobs.LOG_FILE).write_text("")
        assert read_run(other).state == FAILED
    finally:
        process.kill()
        process.wait()


def test_a_started_evaluation_that_cannot_read_its_data_fails_with_the_reason(tmp_path):
    request = EvalRequest(tmp_path / "missing.csv", "missing.csv", None, "plain base model", None, 5, 5)
    folder = start_evaluation(request, tmp_path)
    assert folder.parent == eval_jobs.evals_root(tmp_path) and folder.name.endswith("-plain-base-model-missing-csv")
    job = json.loads((folder / JOB_FILE).read_text())
    assert job["command"][-4:] == ["", "--skip-base-baseline", "--limit", "5"]
    assert wait_for(lambda: read_run(folder).state != RUNNING)
    run = read_run(folder)
    assert run.state == FAILED and run.message.endswith("missing.csv: no such file")
