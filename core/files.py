"""Writing a file that other processes read while it changes: the old file or the whole new one,
never half of it.

Used for job and run state, build manifests, the promoted model's choice, what is saved beside an
adapter (metadata, answer tokens, calibration, review rule, training metrics), evaluation metrics,
the outbox's messages and the demo mailbox. (Folders written whole, the converted base model and a
GGUF export, rename a finished folder or file of their own: model/loading.py, model/export_adapter.py.)
"""

from __future__ import annotations

import errno
import json
import os
import stat
import uuid
from pathlib import Path


def write_atomically(path: str | Path, data: str | bytes, *, durable: bool = False) -> Path:
    """Write ``data`` into a hidden file beside ``path``, then rename it over ``path`` (atomic within
    a file system). A process killed on the way leaves the old file; a failed write leaves nothing
    behind. ``durable`` also flushes the data to disk before the rename (a message in the outbox must
    survive a power cut, not only a crash). The hidden name ends in ``.partial``, so a reader that
    lists ``*.eml`` or ``*.json`` never picks it up."""
    path = Path(path)
    # unique per writer: two threads or processes writing the same file never share a partial one
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        with partial.open("wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return path


def write_json_atomically(path: str | Path, data) -> Path:
    """``data`` as indented JSON (``default=str`` for paths and dates), written by ``write_atomically``."""
    return write_atomically(path, json.dumps(data, indent=2, default=str) + "\n")


def read_small_file(path: str | Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, never reading more than one past it;
    OSError for anything else. A pipe in a file's place would wait forever for a writer (so it is
    opened without waiting and never read), a device such as /dev/zero never ends, and a huge file
    would be read whole on every refresh."""
    handle = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(handle, "rb") as opened:
        if not stat.S_ISREG(os.fstat(opened.fileno()).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        data = opened.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"over {limit:,} bytes", str(path))
    return data
