"""CSVs uploaded on the Training page, kept in the runs folder's ``uploads/`` (training/layout.py)
under their name and content hash:

    problem = upload_problem("members.csv", content)           # None, or why it is no CSV to train on
    path = save_upload(runs_root, "members.csv", content)   # uploads/members-1a2b3c4d.csv
    uploaded_csvs(runs_root)                                 # what training/runs.py offers from there

An upload is written whole or not at all (core/files.py ``write_atomically``): a process killed
while it writes leaves no ``*.csv`` to offer as training data. Kept apart from training/runs.py so
that it loads without torch.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path

from core.files import write_atomically
from training import layout

MAX_UPLOAD_BYTES = 20_000_000
"""Twenty times the whole train split (1.1 MB). Checking a 200 MB CSV held the page for 18 s and
1.3 GB of memory, and a file that size is not a training set typed by hand."""
MAX_COLUMNS = 100
"""A labelled CSV has seven columns and a few optional ones; reading a 0.6 MB header of 100,000
columns held the page for 14 s before it could say that none was the right one."""
_NOT_TEXT = {  # what a file's first bytes give away, in words the person who saved it can act on
    b"PK\x03\x04": "a zip archive (an Excel .xlsx workbook is one)",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
    b"\xff\xfe": "text saved as UTF-16",
    b"\xfe\xff": "text saved as UTF-16",
}


def upload_problem(filename: str, content: bytes | int) -> str | None:
    """Why an upload is no CSV to keep and check, in words; None when it may be. ``content`` may be
    the size alone (Streamlit knows it before the bytes are copied), which is enough to refuse a
    file too large to read."""
    name = shown_name(filename)
    size = content if isinstance(content, int) else len(content)
    if size > MAX_UPLOAD_BYTES:
        return (f"{name} is {size / 1e6:,.1f} MB; an upload may be at most {MAX_UPLOAD_BYTES / 1e6:.0f} MB (the "
                "whole train split is 1.1 MB). Split it or keep fewer rows.")
    if isinstance(content, int):
        return None
    kind = next((kind for magic, kind in _NOT_TEXT.items() if content.startswith(magic)), None)
    if kind is None and b"\x00" in content:
        kind = "binary data or UTF-16 text (it holds NUL bytes)"
    if kind is not None:
        return f"{name} is {kind}, not a CSV: save it as \"CSV UTF-8\" and upload that."
    header = next(csv.reader(io.StringIO(content[:65536].decode("utf-8", "replace"), newline="")), [])
    if len(header) > MAX_COLUMNS:
        return (f"{name} has more than {MAX_COLUMNS} columns; a labelled CSV has about seven (sender, subject, body, "
                "category, username, booking_id, response). Keep those.")
    return None


def save_upload(runs_root: Path, filename: str, content: bytes) -> Path:
    """Keep an uploaded CSV under the runs root; the same content under the same name is stored
    once. A file already there under that name whose bytes are not ``content`` (left truncated by
    an older version that wrote in place) is written again."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).stem)[:60] or "upload"
    digest = hashlib.sha256(content).hexdigest()
    path = layout.uploads_dir(runs_root) / f"{stem}-{digest[:8]}.csv"
    if not _holds(path, digest):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, content)
    return path


def uploaded_csvs(runs_root: Path) -> list[Path]:
    """Every upload kept so far, by name (a write under way is a hidden ``.partial`` file: not one)."""
    return sorted(layout.uploads_dir(runs_root).glob("*.csv"))


def shown_name(filename: str) -> str:
    """A file name fit for a message: no line breaks or bidirectional overrides that could make it
    read as something else, and a line long at most."""
    printable = "".join(char if char.isprintable() else "?" for char in Path(filename).name)
    return printable if len(printable) <= 60 else f"{printable[:57]}..."


def _holds(path: Path, digest: str) -> bool:
    try:
        return layout.file_sha256(path) == digest
    except OSError:  # not there (yet)
        return False
