"""Background jobs (training/jobs.py): a detached process found again by pid and creation time,
stopped with its children, and its failure said in one line."""

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from core.processes import ProcessState, process_state
from tests.conftest import REPO_ROOT
from tests.core.test_processes import AN_HOUR, identity_in_proc
from training import layout
from training.jobs import (
    Job,
    JobState,
    UnreadableJob,
    error_line,
    is_alive,
    job_state,
    read_each,
    read_job,
    start_job,
    stop_job,
)

TRACEBACK = """Loading base model x with adapter (none)
Traceback (most recent call last):
  File "/x/training/evaluate.py", line 1, in <module>
    raise OSError("x")
OSError: x is not a local folder and is not a valid model identifier
"""
PARENT_AND_CHILD = ("import subprocess, sys, time; "
                    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
                    "print(child.pid, flush=True); time.sleep(60)")


def test_a_job_outlives_nothing_it_should_not_and_stops_with_its_children(tmp_path):
    job = start_job([sys.executable, "-c", PARENT_AND_CHILD], tmp_path, "job.log", cwd=tmp_path)
    assert read_job(tmp_path) == job and is_alive(job)
    assert os.getpgid(job.pid) == job.pid  # its own process group: a closed tab or app restart leaves it be
    deadline = time.monotonic() + 30
    while not (tmp_path / "job.log").read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = psutil.Process(int((tmp_path / "job.log").read_text()))
    stopped = stop_job(tmp_path, grace_s=5)
    assert stopped.stop_requested_at and not is_alive(job)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert job_state(read_job(tmp_path), succeeded=False, log=tmp_path / "job.log") == (JobState.STOPPED, None)


def test_a_reused_pid_is_not_the_job(tmp_path):
    me = psutil.Process()
    assert is_alive(Job(me.pid, me.create_time(), time.time()))
    assert not is_alive(Job(me.pid, me.create_time() - 60, time.time()))  # same pid, another process
    assert not is_alive(Job(999_999_999, 0.0, time.time())) and not is_alive(None)


def test_an_ended_child_is_reaped_not_left_a_zombie(tmp_path):
    job = start_job([sys.executable, "-c", "pass"], tmp_path, "job.log", cwd=tmp_path)
    deadline = time.monotonic() + 30
    while is_alive(job) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_alive(job)
    assert not psutil.pid_exists(job.pid) or psutil.Process(job.pid).status() != psutil.STATUS_ZOMBIE


def test_states_and_the_one_line_why(tmp_path):
    log = tmp_path / "job.log"
    log.write_text(TRACEBACK)
    gone = Job(999_999_999, 0.0, time.time())
    assert job_state(gone, succeeded=True, log=log) == (JobState.FINISHED, None)
    assert job_state(gone, succeeded=False, log=log) == (
        JobState.FAILED, "OSError: x is not a local folder and is not a valid model identifier")
    assert job_state(gone, succeeded=False, log=log, failure="its own words") == (JobState.FAILED, "its own words")
    assert job_state(None, succeeded=False, log=log) == (JobState.INCOMPLETE, None)
    log.write_text("\r  1/5\r  2/5\nerror: data.csv: no such file\n")
    assert error_line(log) == "data.csv: no such file"
    log.write_text("Killed\n")
    assert error_line(log) == "Killed"
    assert error_line(tmp_path / "missing.log") is None


def test_a_command_that_does_not_exist_is_an_error_at_once_and_records_no_job(tmp_path):
    with pytest.raises(OSError):
        start_job(["/nonexistent/program"], tmp_path, "job.log", cwd=tmp_path)
    assert read_job(tmp_path) is None


OLD_EVAL_JOB = {"data": "training/data/test.csv", "data_label": "test split", "adapter": "runs/default/adapter",
                "adapter_label": "default / adapter", "base_model": None, "limit": 50, "total_rows": 50,
                "pid": 4242, "started": 1763633410.0, "command": ["python", "-m", "training.evaluate"]}
"""A job.json as start_evaluation wrote it before commit 2a130be."""


def test_a_job_file_from_before_2a130be_is_read_with_its_request_as_extra(tmp_path):
    (tmp_path / layout.JOB_FILE).write_text(json.dumps(OLD_EVAL_JOB))
    job = read_job(tmp_path)
    assert (job.pid, job.started_at, job.command) == (4242, 1763633410.0, ["python", "-m", "training.evaluate"])
    assert job.created == job.started_at  # taken right after the start: a reused pid is not taken for it
    assert job.extra == {name: value for name, value in OLD_EVAL_JOB.items() if name not in ("pid", "started", "command")}
    assert job.stop_requested_at is None
    (tmp_path / "stopped").write_text("2025-11-20 10:11:00\n")  # how a stop was recorded then
    os.utime(tmp_path / "stopped", (1763633460.0, 1763633460.0))
    assert read_job(tmp_path).stop_requested_at == 1763633460.0


GOOD = {"pid": 999_999_999, "created": 1.0, "started_at": 2.0, "command": ["x"], "stop_requested_at": None,
        "extra": {"total_rows": 5}}


@pytest.mark.parametrize("text", [
    "{\"pid\": 12, \"crea", "[1, 2]", "null", "",
    json.dumps({**GOOD, "pid": "12"}), json.dumps({**GOOD, "pid": -3}), json.dumps({**GOOD, "pid": True}),
    json.dumps({**GOOD, "created": "yesterday"}), json.dumps({"pid": 12, "created": 1.0}),
    json.dumps({**GOOD, "command": "python -m x"}), json.dumps({**GOOD, "extra": ["a"]}),
    json.dumps({**GOOD, "stop_requested_at": "now"}), json.dumps({"pid": 12, "command": []}),
    json.dumps({**GOOD, "process_identity": 5}),
])
def test_a_job_file_that_cannot_be_read_says_so_and_costs_a_listing_only_its_folder(tmp_path, caplog, text):
    bad, good = tmp_path / "bad", tmp_path / "good"
    for folder, content in ((bad, text), (good, json.dumps(GOOD))):
        folder.mkdir()
        (folder / layout.JOB_FILE).write_text(content)
    with pytest.raises(UnreadableJob, match="job.json"):
        read_job(bad)
    with caplog.at_level(logging.WARNING, logger="training.jobs"):
        assert read_each([bad, good, tmp_path / "none"], read_job) == [Job(999_999_999, 1.0, 2.0, ["x"],
                                                                           extra={"total_rows": 5})]
    assert [record.levelname for record in caplog.records] == ["WARNING"] and str(bad) in caplog.text


def test_a_folder_without_a_job_or_with_no_pid_has_none(tmp_path):
    assert read_job(tmp_path) is None
    (tmp_path / layout.JOB_FILE).write_text(json.dumps({**GOOD, "pid": None}))
    assert read_job(tmp_path) is None


def test_a_job_that_ended_before_its_creation_time_was_read_never_owns_its_pid_again(tmp_path):
    """start_job records created=0 when the process was gone at once; an unrelated process that is
    given the pid later was taken for the job: shown running, holding the one-run lock, and ended
    by Stop (SIGTERM to its process group)."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        recorded = Job(bystander.pid, 0.0, time.time() - 3600)
        (tmp_path / layout.JOB_FILE).write_text(json.dumps(dataclasses.asdict(recorded)))
        assert not is_alive(read_job(tmp_path))
        assert job_state(read_job(tmp_path), succeeded=False, log=tmp_path / "job.log")[0] == JobState.FAILED
        stop_job(tmp_path, grace_s=1)
        assert bystander.poll() is None  # untouched
    finally:
        bystander.kill()
        bystander.wait()


SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.mark.parametrize("offset_s", [-60.0, -1.5, -0.7, -0.2, 0.0, 0.2, 0.7, 5.0])
def test_whether_a_job_runs_is_core_processes_answer_for_its_pid_and_creation_time(offset_s):
    """One definition of "this pid is still the process we started" (core/processes.py, also the
    worker heartbeat's and the ticket leases'): jobs had their own, which disagreed with it for a
    creation time recorded 0.5 to 1 s off."""
    bystander = subprocess.Popen(SLEEPER, start_new_session=True)  # not started by start_job: not ours to reap
    try:
        created = psutil.Process(bystander.pid).create_time()
        recorded = Job(bystander.pid, created + offset_s, time.time())
        expected = process_state(f"{socket.gethostname()}:{bystander.pid}", recorded.created) is ProcessState.RUNS
        assert is_alive(recorded) is expected
        assert expected is (offset_s > -1)  # a process created more than a second after the record is another
    finally:
        bystander.kill()
        bystander.wait()


def test_a_recycled_pid_of_our_own_child_is_not_the_job_nor_reaped_for_it(tmp_path):
    """A job recorded earlier (another app process, before a restart) whose pid the system has given
    to a job this process started since: the newer child runs, the old job does not."""
    newer = start_job(SLEEPER, tmp_path, "job.log", cwd=tmp_path)
    try:
        older = Job(newer.pid, newer.created - 30, newer.started_at - 30)
        assert not is_alive(older) and is_alive(newer)
        (tmp_path / "old").mkdir()
        (tmp_path / "old" / layout.JOB_FILE).write_text(json.dumps(dataclasses.asdict(older)))
        assert job_state(read_job(tmp_path / "old"), succeeded=False, log=tmp_path / "job.log")[0] == JobState.FAILED
        stop_job(tmp_path / "old", grace_s=1)
        assert is_alive(newer) and psutil.Process(newer.pid).status() != psutil.STATUS_ZOMBIE  # untouched
    finally:
        stop_job(tmp_path, grace_s=5)
    assert not is_alive(newer)


def test_a_job_whose_folder_was_deleted_is_stopped_from_the_record_kept_elsewhere(tmp_path):
    """rm -rf of a job's folder while it runs: the process goes on; stop_job with the job recorded
    elsewhere (the runs' lock) still ends it, and does not bring the folder back."""
    folder = tmp_path / "run"
    folder.mkdir()
    job = start_job(SLEEPER, folder, "job.log", cwd=tmp_path)
    shutil.rmtree(folder)
    assert is_alive(job) and stop_job(folder, grace_s=1) is None  # the folder alone names nothing to stop
    stopped = stop_job(folder, grace_s=5, job=job)
    assert stopped.stop_requested_at and not is_alive(job) and not folder.exists()


@pytest.mark.parametrize(("signum", "said"), [(signal.SIGKILL, "killed by SIGKILL: the system does so when memory runs out"),
                                              (signal.SIGSEGV, "killed by SIGSEGV")])
def test_a_job_ended_by_a_signal_says_so_not_its_last_line_of_output(tmp_path, signum, said):
    """A training killed by the out-of-memory killer failed with its last progress line as the why
    ("{'loss': 2.0, 'epoch': 0.19}"), and the page's hint could not tell it was memory."""
    job = start_job([sys.executable, "-c", "import time\nprint({'loss': 2.0}, flush=True)\ntime.sleep(60)"],
                    tmp_path, "job.log", cwd=tmp_path)
    deadline = time.monotonic() + 30
    while not (tmp_path / "job.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(job.pid, signum)
    while is_alive(job) and time.monotonic() < deadline:
        time.sleep(0.05)
    state, why = job_state(job, succeeded=False, log=tmp_path / "job.log")
    assert state == JobState.FAILED and said in why


def test_the_signal_that_ended_a_job_is_kept_in_its_folder_for_later_readers(tmp_path):
    """A later reader (an app restarted) found only the last line of output: the signal is known only
    to the process that reaped the job, so it is written into job.json."""
    job = start_job(SLEEPER, tmp_path, "job.log", cwd=tmp_path)
    os.kill(job.pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while is_alive(job) and time.monotonic() < deadline:
        time.sleep(0.05)
    recorded = read_job(tmp_path)
    assert recorded.killed_by_signal == signal.SIGKILL and recorded.pid == job.pid
    assert json.loads((tmp_path / layout.JOB_FILE).read_text())["command"] == SLEEPER  # the rest kept
    state, why = job_state(recorded, succeeded=False, log=tmp_path / "job.log")
    assert state == JobState.FAILED and "killed by SIGKILL" in why


@pytest.mark.parametrize("killed", ["the recorded process", "its command"])
def test_a_signal_is_not_recorded_into_a_job_file_that_now_records_another_job(tmp_path, killed):
    job = start_job(SLEEPER, tmp_path, "job.log", cwd=tmp_path)
    other = {"pid": 1, "created": 1.0, "started_at": 1.0}
    (tmp_path / layout.JOB_FILE).write_text(json.dumps(other))  # a new job started in the same folder
    os.kill(job.pid if killed == "the recorded process" else the_command(job, SLEEPER).pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while is_alive(job) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert json.loads((tmp_path / layout.JOB_FILE).read_text()) == other


@pytest.mark.parametrize("value", ["9", 0, -9, 9.5, True, [9]])
def test_a_recorded_signal_that_is_no_signal_number_makes_the_job_file_unreadable_not_a_crash(tmp_path, value):
    (tmp_path / layout.JOB_FILE).write_text(json.dumps({"pid": 5, "created": 1.0, "started_at": 1.0,
                                                          "killed_by_signal": value}))
    with pytest.raises(UnreadableJob, match="killed_by_signal"):
        read_job(tmp_path)


START_AND_LEAVE = ("import sys; from pathlib import Path; from training.jobs import start_job; "
                   "start_job(sys.argv[2:], Path(sys.argv[1]), 'job.log', cwd=Path(sys.argv[1]))")
"""An app process that starts a job and ends: the job's exit status goes to no process of the app."""


def start_in_an_app_that_ends(folder, command):
    subprocess.run([sys.executable, "-c", START_AND_LEAVE, str(folder), *command], cwd=REPO_ROOT, check=True,
                   timeout=60)
    return read_job(folder)


def the_command(job, command):
    """The process running ``command`` among the job's (the job's own, or one it started)."""
    recorded = psutil.Process(job.pid)
    return next(process for process in [recorded, *recorded.children(recursive=True)] if process.cmdline() == command)


def has_ended(process):
    """Ended, or ended and not yet collected by its parent (the system's init for an orphan)."""
    return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE


def wait_until_ended(job):
    deadline = time.monotonic() + 30
    while is_alive(job) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_alive(job)


def test_a_command_killed_after_the_app_that_started_it_ended_says_it_was_killed(tmp_path):
    """A training the out-of-memory killer ended while the app was restarted read as failed with
    its log's last line (here none: "the process ended without writing its result"): no process
    of the app was its parent, so none learnt the signal."""
    job = start_in_an_app_that_ends(tmp_path, SLEEPER)
    the_command(job, SLEEPER).kill()
    wait_until_ended(job)
    assert read_job(tmp_path).killed_by_signal == signal.SIGKILL
    state, why = job_state(read_job(tmp_path), succeeded=False, log=tmp_path / "job.log")
    assert state == JobState.FAILED and "killed by SIGKILL: the system does so when memory runs out" in why


def test_an_exit_code_without_a_word_of_output_is_said_to_a_later_reader(tmp_path):
    command = [sys.executable, "-c", "import time; time.sleep(0.5); raise SystemExit(3)"]
    job = start_in_an_app_that_ends(tmp_path, command)
    wait_until_ended(job)
    assert read_job(tmp_path).exit_code == 3
    assert job_state(read_job(tmp_path), succeeded=False, log=tmp_path / "job.log", no_result="no adapter") == (
        JobState.FAILED, "no adapter: it exited with status 3")


def test_a_job_that_ends_well_records_exit_code_0_and_reads_finished(tmp_path):
    job = start_job([sys.executable, "-c", "print('done')"], tmp_path, "job.log", cwd=tmp_path)
    wait_until_ended(job)
    assert read_job(tmp_path).exit_code == 0 and read_job(tmp_path).killed_by_signal is None
    assert job_state(read_job(tmp_path), succeeded=True, log=tmp_path / "job.log") == (JobState.FINISHED, None)
    assert (tmp_path / "job.log").read_text() == "done\n"


def test_stopping_a_job_another_app_process_started_ends_the_command_and_reads_stopped(tmp_path):
    """Guard: the command runs under a recorder since; Stop (its process group) ends both."""
    job = start_in_an_app_that_ends(tmp_path, SLEEPER)
    command = the_command(job, SLEEPER)
    stop_job(tmp_path, grace_s=5)
    assert not is_alive(job) and has_ended(command)
    assert job_state(read_job(tmp_path), succeeded=False, log=tmp_path / "job.log") == (JobState.STOPPED, None)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_recorded_pid_ends_the_command_too(tmp_path, signum):
    """Guard: ``kill`` of job.json's pid (the recorder) must not leave the command running unseen,
    holding the one-run lock's memory and CPU with nothing to stop it."""
    job = start_job(SLEEPER, tmp_path, "job.log", cwd=tmp_path)
    command = the_command(job, SLEEPER)
    os.kill(job.pid, signum)
    wait_until_ended(job)
    command_gone = time.monotonic() + 10
    while not has_ended(command) and time.monotonic() < command_gone:
        time.sleep(0.05)
    assert has_ended(command)
    assert read_job(tmp_path).killed_by_signal == signum


@pytest.mark.timeout(60)  # the failure this guards against is a hang
def test_a_pipe_in_place_of_job_json_is_an_unreadable_job_not_a_wait(tmp_path):
    # read_text waited for a writer: every page listing runs or evaluations hung on it
    os.mkfifo(tmp_path / "job.json")
    with pytest.raises(UnreadableJob, match="not a regular file"):
        read_job(tmp_path)


# -- the wall clock stepped while a job runs: psutil's creation time moves with it --------------------
WAITS_FOR_GO = "import pathlib, sys, time\nwhile not pathlib.Path('go').exists(): time.sleep(0.05)\nsys.exit(3)"


def recorded_before_a_forward_step(folder) -> Job:
    """The folder's job as the clock now reads it after a step of an hour forward: psutil says its
    process was created an hour after the creation time job.json holds."""
    data = json.loads((folder / layout.JOB_FILE).read_text())
    (folder / layout.JOB_FILE).write_text(json.dumps({**data, "created": data["created"] - AN_HOUR}))
    return read_job(folder)


def test_a_job_records_its_process_identity_and_an_older_job_file_reads_without_it(tmp_path):
    job = start_job(SLEEPER, tmp_path, "job.log", cwd=tmp_path)
    try:
        boot_id, start_ticks = identity_in_proc(job.pid)
        assert read_job(tmp_path).process_identity == f"{boot_id}:{start_ticks}"
    finally:
        stop_job(tmp_path, grace_s=5)
    (tmp_path / layout.JOB_FILE).write_text(json.dumps(GOOD))
    assert read_job(tmp_path).process_identity is None


def test_a_running_job_reads_running_after_the_clock_stepped_forward(tmp_path):
    """The Training page showed a running run as ended, and a second one could be started beside it."""
    job = start_job(SLEEPER, tmp_path, "job.log", cwd=tmp_path)
    try:
        stepped = recorded_before_a_forward_step(tmp_path)
        assert is_alive(stepped)
        assert job_state(stepped, succeeded=False, log=tmp_path / "job.log") == (JobState.RUNNING, None)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(job.pid, signal.SIGKILL)
        wait_until_ended(job)


def test_a_run_that_ends_after_the_clock_stepped_forward_still_records_how(tmp_path):
    """Its recorder took job.json for another process's and wrote no exit code."""
    job = start_job([sys.executable, "-c", WAITS_FOR_GO], tmp_path, "job.log", cwd=tmp_path)
    recorded_before_a_forward_step(tmp_path)
    (tmp_path / "go").touch()
    wait_until_ended(job)
    assert read_job(tmp_path).exit_code == 3


def test_a_job_of_another_boot_or_of_a_pid_recycled_since_is_not_running():
    me = psutil.Process()
    boot_id, start_ticks = identity_in_proc(me.pid)
    created = me.create_time()
    assert not is_alive(Job(me.pid, created, time.time(), process_identity=f"{uuid.uuid4()}:{start_ticks}"))
    # after a step back the younger holder of the pid reads as created before the older one's record
    earlier_holder = Job(me.pid, created + AN_HOUR, time.time(), process_identity=f"{boot_id}:{start_ticks - 1}")
    assert not is_alive(earlier_holder)
    assert is_alive(Job(me.pid, created - AN_HOUR, time.time(), process_identity=f"{boot_id}:{start_ticks}"))
