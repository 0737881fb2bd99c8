"""The runs folder's small JSON files (metrics, train metrics, job and lock files) read as what a
crash, a hand edit or someone with write access may leave in their place: a pipe, a device, a huge
or deeply nested file. Each costs only that file's figures, at once (training/layout.py
``read_json_object``, ``read_small_file``)."""

import json
import os
import resource
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from training import layout

# Reads in a process of its own, with little memory and a deadline: what hangs or eats memory there
# fails the test instead of the test run.
READING = "import sys; from training import layout; print(layout.read_json_object(sys.argv[1]))"
MEMORY_BYTES = 3 << 30


def _read_elsewhere(path) -> str:
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    try:
        done = subprocess.run([sys.executable, "-c", READING, str(path)], cwd=REPO_ROOT, capture_output=True,
                              check=False, text=True, timeout=60, preexec_fn=limit_memory,
                              env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    except subprocess.TimeoutExpired:
        pytest.fail(f"reading {path.name} did not end within 60 s")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_a_pipe_in_place_of_metrics_json_is_no_metrics_and_never_waited_on(tmp_path):
    """Before: reading it waited for a writer for ever, holding the Eval page's list of runs."""
    metrics = tmp_path / layout.METRICS_FILE
    os.mkfifo(metrics)
    assert _read_elsewhere(metrics) == "{}"


def test_a_device_in_place_of_metrics_json_is_no_metrics_and_never_read(tmp_path):
    """Before: /dev/zero linked in its place was read until memory ran out (a MemoryError traceback)."""
    metrics = tmp_path / layout.METRICS_FILE
    metrics.symlink_to("/dev/zero")
    assert _read_elsewhere(metrics) == "{}"


def test_nested_and_oversized_files_are_no_object_and_a_normal_one_is_read(tmp_path):
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 100_000)
    assert layout.read_json_object(nested) == {}  # before: RecursionError through the page listing runs
    oversized = tmp_path / "oversized.json"
    oversized.write_text(json.dumps({"accuracy": 0.9, "padding": "x" * layout.JSON_FILE_LIMIT}))
    assert layout.read_json_object(oversized) == {}  # before: read and parsed whole on every refresh
    normal = tmp_path / layout.METRICS_FILE
    normal.write_text(json.dumps({"accuracy": 0.9}))
    assert layout.read_json_object(normal) == {"accuracy": 0.9}
    assert layout.read_json_object(tmp_path) == {}  # a folder in a file's place
    assert layout.read_json_object(tmp_path / "absent.json") == {}


def test_read_small_file_refuses_what_is_no_small_regular_file_as_an_os_error(tmp_path):
    """Guard: the bounded reader names why, as an OSError every caller already treats as unreadable."""
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(OSError, match="not a regular file"):
        layout.read_small_file(pipe)
    big = tmp_path / "big.json"
    big.write_bytes(b"0" * 11)
    with pytest.raises(OSError, match="over 10 bytes"):
        layout.read_small_file(big, limit=10)
    assert layout.read_small_file(big, limit=11) == b"0" * 11
