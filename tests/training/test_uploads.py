"""Uploaded CSVs (training/uploads.py): kept once per content, and written whole or not at all, so
that no truncated file is reused or offered as training data (training/runs.py ``csv_choices``
offers ``uploaded_csvs``)."""

import hashlib
import os
import signal
import subprocess
import sys
import time

from tests.conftest import REPO_ROOT
from training import layout
from training.uploads import save_upload, uploaded_csvs

CONTENT = b"sender,subject,body,date,category\n" + b'anna@example.org,Cancel,"Please cancel BK-12345",,cancel\n' * 50
# The app process as it saves an upload: training.uploads only (no torch), so it starts in a second.
SAVING = ("import sys; from pathlib import Path; from training.uploads import save_upload; "
          "save_upload(Path(sys.argv[1]), 'members.csv', Path(sys.argv[2]).read_bytes())")


def test_a_truncated_file_under_the_uploads_name_is_written_again(tmp_path):
    name = f"members-{hashlib.sha256(CONTENT).hexdigest()[:8]}.csv"
    truncated = layout.uploads_dir(tmp_path) / name
    truncated.parent.mkdir(parents=True)
    truncated.write_bytes(CONTENT[:100])  # what a process killed while writing in place left

    path = save_upload(tmp_path, "members.csv", CONTENT)
    assert path == truncated and path.read_bytes() == CONTENT
    kept = path.stat().st_ino
    assert save_upload(tmp_path, "members.csv", CONTENT) == path and path.stat().st_ino == kept  # whole: kept
    assert uploaded_csvs(tmp_path) == [path]


def test_an_upload_killed_while_it_is_written_leaves_no_csv_to_offer(tmp_path):
    source = tmp_path / "members.csv"
    source.write_bytes(b"sender,subject,body,date,category\n"
                       + b'anna@example.org,Cancel,"Please cancel BK-12345, thanks",,cancel_booking\n' * 1_200_000)
    content = source.read_bytes()  # ~90 MB: long enough to write that the kill lands in the middle
    root = tmp_path / "runs"
    uploads = layout.uploads_dir(root)
    child = subprocess.Popen([sys.executable, "-c", SAVING, str(root), str(source)], cwd=REPO_ROOT,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        deadline = time.monotonic() + 60
        while not _written_so_far(uploads):
            assert child.poll() is None and time.monotonic() < deadline, "the upload was never being written"
            time.sleep(0.001)
        os.kill(child.pid, signal.SIGKILL)  # the app process dies while writing (restart, out of memory)
    finally:
        child.kill()
        child.wait()
    assert any(size < len(content) for size in _sizes(uploads)), "the kill came after the write: nothing shown"

    assert list(uploads.glob("*.csv")) == [] and uploaded_csvs(root) == []  # nothing half-written to offer
    again = save_upload(root, "members.csv", content)  # the operator uploads the same file again
    assert again.read_bytes() == content and uploaded_csvs(root) == [again]


def _sizes(folder) -> list[int]:
    sizes = []
    try:
        entries = list(folder.iterdir())
    except FileNotFoundError:
        return []
    for entry in entries:
        try:
            sizes.append(entry.stat().st_size)
        except FileNotFoundError:  # renamed while we looked
            continue
    return sizes


def _written_so_far(folder) -> bool:
    return any(_sizes(folder))
