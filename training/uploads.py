"""CSVs uploaded on the Training page, kept in the runs folder's ``uploads/`` (training/layout.py)
under their name and content hash:

    path = save_upload(runs_root, "members.csv", content)   # uploads/members-1a2b3c4d.csv
    uploaded_csvs(runs_root)                                 # what training/runs.py offers from there

An upload is written whole or not at all (core/files.py ``write_atomically``): a process killed
while it writes leaves no ``*.csv`` to offer as training data. Kept apart from training/runs.py so
that it loads without torch.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from core.files import write_atomically
from training import layout


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


def _holds(path: Path, digest: str) -> bool:
    try:
        return layout.file_sha256(path) == digest
    except OSError:  # not there (yet)
        return False
