"""Uploaded CSVs (training/uploads.py): kept once per content, and written whole or not at all, so
that no truncated file is reused or offered as training data (training/runs.py ``csv_choices``
offers ``uploaded_csvs``)."""

import hashlib
import os
import signal
import subprocess
import sys
import time
import zipfile
from io import BytesIO

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import REPO_ROOT
from training import layout
from training.uploads import MAX_UPLOAD_BYTES, save_upload, upload_problem, uploaded_csvs

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


def _zipped(content: bytes) -> bytes:
    archive = BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("members.csv", content)
    return archive.getvalue()


def test_a_file_that_is_no_utf8_csv_is_refused_in_words_before_it_is_kept_or_read():
    """Before: a 200 MB upload was written and read (18 s, 1.3 GB), a 100,000-column header took 14 s
    to be read, and an .xlsx renamed .csv or UTF-16 text ended in a codec error's words."""
    assert upload_problem("members.csv", CONTENT) is None
    assert "is 200.0 MB; an upload may be at most 20 MB" in upload_problem("big.csv", 200_000_000)
    assert upload_problem("big.csv", MAX_UPLOAD_BYTES) is None  # the size alone: the bytes are not needed
    assert "is a zip archive (an Excel .xlsx workbook is one), not a CSV" in upload_problem("a.csv", _zipped(CONTENT))
    assert "is text saved as UTF-16" in upload_problem("a.csv", CONTENT.decode().encode("utf-16"))
    assert "holds NUL bytes" in upload_problem("a.csv", CONTENT[:90] + b"\x00" + CONTENT[90:])
    wide = (",".join(f"c{index}" for index in range(100_000)) + "\n").encode()
    assert "has more than 100 columns" in upload_problem("wide.csv", wide)


def test_a_name_that_would_read_as_something_else_is_shown_plainly_and_kept_inside_uploads(tmp_path):
    problem = upload_problem("../../etc/evil\u202ecod\nx.csv", 10**9)
    assert problem.startswith("evil?cod?x.csv is ") and "\u202e" not in problem and "\n" not in problem
    kept = save_upload(tmp_path, "../../etc/x\n.csv", CONTENT)
    assert kept.parent == layout.uploads_dir(tmp_path) and kept.name.startswith("x_-")


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=80), content=st.binary(max_size=2000) | st.integers(min_value=0, max_value=10**12))
def test_any_upload_is_accepted_or_refused_in_one_plain_line(name, content):
    problem = upload_problem(name, content)
    assert problem is None or (problem.isprintable() and len(problem) < 400)
