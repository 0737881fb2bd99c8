"""job.json's two writers (training/jobs.py): a run's end (its recorder, or the app process that
reaped it) and a Stop, written at the same moment, each keep the other's field. Each read job.json,
then wrote it back with its own field: a Stop clicked as the run ended lost how it ended, or the
run's end lost the stop (then it read "failed" instead of "stopped")."""

import dataclasses
import json
import multiprocessing

from training import layout
from training.jobs import Job, _record_end, read_job, stop_job

ROUNDS = 150
WRITERS = (("stop", None), ("stop", None), ("end", {"exit_code": 0}), ("end", {"exit_code": 0}),
           ("end", {"killed_by_signal": 9}), ("end", {"killed_by_signal": 9}))
"""Several of each kind: a Stop from two sessions, the recorder's exit code and a reaper's signal."""
ENDED = Job(999_999_999, 1.0, 2.0, ["x"])
"""No process has this pid: a Stop records its request and has nothing to signal."""


def write_in_each_round(kind: str, end: dict | None, folders: list, barrier) -> None:
    for folder in folders:
        barrier.wait(timeout=60)  # every writer at the same folder at once
        if kind == "stop":
            stop_job(folder, grace_s=0)
        else:  # as the recorder does: read its job, add how it ended
            _record_end(folder, read_job(folder), end)


def test_a_stop_and_a_runs_end_written_at_once_both_stay_in_job_json(tmp_path):
    folders = [tmp_path / str(round_) for round_ in range(ROUNDS)]
    for folder in folders:
        folder.mkdir()
        (folder / layout.JOB_FILE).write_text(json.dumps(dataclasses.asdict(ENDED)))
    spawn = multiprocessing.get_context("spawn")  # not fork: this pytest process may hold threads
    barrier = spawn.Barrier(len(WRITERS))
    writers = [spawn.Process(target=write_in_each_round, args=(kind, end, folders, barrier)) for kind, end in WRITERS]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=300)
    assert [writer.exitcode for writer in writers] == [0] * len(WRITERS)
    recorded = [json.loads((folder / layout.JOB_FILE).read_text()) for folder in folders]
    lost = [round_ for round_, data in enumerate(recorded) if data.get("stop_requested_at") is None
            or data.get("exit_code") != 0 or data.get("killed_by_signal") != 9]
    assert not lost, f"a field lost in {len(lost)} of {ROUNDS} rounds, e.g. {recorded[lost[0]]}"
