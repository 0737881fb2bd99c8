"""What inference needs, saved beside every adapter and checkpoint (``acedesk.json``):
the base model, the prompt style and format version, the output schema version and the
training hyperparameters. Inference rebuilds exactly the prompt the adapter learned. Beside it,
``answer_tokens.json``: the tokens the adapter's training answers hold."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from pathlib import Path

from core.files import read_small_file, write_atomically, write_json_atomically
from core.settings import load_settings
from model.prompt import PROMPT_FORMAT_VERSION
from model.schema import SCHEMA_VERSION

METADATA_FILE = "acedesk.json"
ANSWER_TOKENS_FILE = "answer_tokens.json"
"""Beside an adapter: the token ids of every answer it was trained on, the vocabulary its decoding
scores (model/shortlist.py)."""

DEFAULT_BASE_MODEL = "gemma-3-270m"
"""Name of the packaged default base (model/loading.py converts it); any other value is a Hugging
Face id or a local folder."""


def default_base_folder() -> Path:
    """Where model/loading.py converts the packaged base to (the cache, outside the clone); read
    here, without torch, by whoever needs only its files (the served client's tokenizer)."""
    return load_settings().cache_dir / DEFAULT_BASE_MODEL


DEFAULT_ADAPTER = Path(__file__).resolve().parent / "adapters" / "gemma-3-270m-triage"
"""The adapter shipped with the project: what the inbox uses until another is promoted."""
SHIPPED_ADAPTERS_DIR = DEFAULT_ADAPTER.parent


def adapter_homes(runs_dir: str | Path, shipped_dir: str | Path = SHIPPED_ADAPTERS_DIR) -> tuple[Path, Path]:
    """The only folders an adapter is listed, loaded, continued from or promoted under: the shipped
    adapters and the runs folder. Anything else on the server is no adapter of the project's."""
    return Path(shipped_dir), Path(runs_dir)


def outside_adapter_homes(folder: str | Path, runs_dir: str | Path,
                          shipped_dir: str | Path = SHIPPED_ADAPTERS_DIR) -> Path | None:
    """Where ``folder``, or a file in it, really is (links and .. followed) when that is outside
    ``adapter_homes``; None when all of it is inside. A link in the runs folder to elsewhere counts as
    elsewhere: whoever could place the link could otherwise have any folder or file on the server
    (``/dev/zero`` as acedesk.json, another adapter's weights) loaded or written to."""
    homes = [home.resolve() for home in adapter_homes(runs_dir, shipped_dir)]
    resolved = Path(folder).resolve()
    try:
        files = sorted(resolved.iterdir()) if resolved.is_dir() else []
    except OSError:
        files = []  # unreadable: nothing in it is read either
    for path in [resolved, *(entry.resolve() for entry in files)]:
        if not any(path.is_relative_to(home) for home in homes):
            return path
    return None


def outside_homes_problem(folder: str | Path, runs_dir: str | Path,
                          shipped_dir: str | Path = SHIPPED_ADAPTERS_DIR) -> str | None:
    """Why ``folder`` is no adapter of the project's, in the words every refusal uses (promotion, the
    inbox's reading, the Training page's init_adapter); None when it is one."""
    if (elsewhere := outside_adapter_homes(folder, runs_dir, shipped_dir)) is None:
        return None
    return (f"leads to {elsewhere}, outside the shipped adapters and the runs folder "
            f"({', '.join(str(home) for home in adapter_homes(runs_dir, shipped_dir))})")


ADAPTER_JSON_LIMIT = 1_000_000
"""Bytes: an adapter's acedesk.json is about 1 KB; one far larger is not read (a listing reads every
adapter's on each refresh)."""


REPLACEMENT_JOURNAL = ".replacing.json"
"""In an adapter folder while its files are being replaced (a build shipping into it): the names
whose complete new versions wait beside them, and the names to delete. Its presence means the
replacement is decided; whoever reads the folder next finishes it (``finish_replacement``)."""


def write_metadata(folder: str | Path, base_model: str, prompt_style: str, hyperparameters: dict,
                   **extra) -> Path:
    path = Path(folder) / METADATA_FILE
    data = {
        "base_model": base_model,
        "prompt_style": prompt_style,
        "prompt_format_version": PROMPT_FORMAT_VERSION,
        "schema_version": SCHEMA_VERSION,
        "hyperparameters": hyperparameters,
        **extra,
    }
    return write_json_atomically(path, data)  # a reader never takes half of it for the adapter's format


def replace_adapter_files(folder: str | Path, sources: dict[str, Path], remove: tuple[str, ...] = ()) -> None:
    """Put ``sources`` (name in the folder: file to copy) into ``folder`` and delete ``remove``, so
    that no reader ever loads a mix of old and new files, even if this process dies at any point.

    The new files are copied under hidden names first; a process killed then leaves the old adapter
    whole. Then the journal is written (one rename), and from then on the replacement is decided:
    each name is renamed over the old file, and a process killed half-way leaves the journal, so
    the next ``read_metadata`` of the folder finishes it. Renames within a folder are atomic."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder):
        _finish(folder)  # an earlier replacement killed half-way is finished first
        for name, source in sources.items():
            shutil.copy2(source, folder / _waiting(name))
        write_json_atomically(folder / REPLACEMENT_JOURNAL, {"replace": list(sources), "remove": list(remove)})
        _finish(folder)


def finish_replacement(folder: str | Path) -> bool:
    """Finish a replacement whose journal is in ``folder`` (True), or do nothing (False). Safe to
    run twice or from two processes at once: a new file already renamed is simply not there."""
    folder = Path(folder)
    if not (folder / REPLACEMENT_JOURNAL).exists():
        return False  # the usual case, and without the lock: readers never wait on each other
    with _locked(folder):  # never between a writer's copies and its journal
        return _finish(folder)


@contextlib.contextmanager
def reading_adapter(folder: str | Path | None):
    """Hold ``folder`` still while its files are read one after another (weights, metadata, review
    rule, answer tokens: all of one adapter, never some from before a ship and some from after).
    Readers share the lock; a replacement waits for them, and they for it. None, or a folder that
    is not there: nothing to hold (the reader then says what is missing)."""
    if folder is None or not Path(folder).is_dir():
        yield
        return
    folder = Path(folder)
    while True:
        finish_replacement(folder)  # before the shared lock: finishing needs the folder to itself
        with _locked(folder, fcntl.LOCK_SH):
            # a writer that died between our finish and our lock left a journal; finishing it under
            # our own shared lock would wait for ourselves, so let go and finish it first
            if not (folder / REPLACEMENT_JOURNAL).exists():  # none can appear while we hold it
                yield
                return


@contextlib.contextmanager
def _locked(folder: Path, kind: int = fcntl.LOCK_EX):
    """The folder's own lock (flock on its descriptor: no lock file left in an adapter folder)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, kind)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock


def _finish(folder: Path) -> bool:
    journal = folder / REPLACEMENT_JOURNAL
    try:
        plan = json.loads(journal.read_text())
    except FileNotFoundError:
        return False
    for name in plan["replace"]:
        try:
            os.replace(folder / _waiting(name), folder / name)
        except FileNotFoundError:
            pass  # renamed already, by an earlier try or by another process
    for name in plan["remove"]:
        (folder / name).unlink(missing_ok=True)
    journal.unlink(missing_ok=True)
    return True


def _waiting(name: str) -> str:
    return f".{name}.new"


def read_metadata(folder: str | Path) -> dict:
    """Read and check an adapter's metadata; a clear error when it was built for another format.
    A replacement of the folder's files killed half-way is finished first (``replace_adapter_files``)."""
    finish_replacement(folder)
    path = Path(folder) / METADATA_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: {folder} was not written by training/finetune_lora.py")
    data = json.loads(_small_file_text(path))
    if not isinstance(data, dict):
        # a damaged file, like one of another version: ValueError, which every reader catches
        raise ValueError(f"{path} holds {type(data).__name__}, not the object training writes")  # noqa: TRY004
    if data.get("prompt_format_version") != PROMPT_FORMAT_VERSION:
        raise ValueError(
            f"adapter {folder} uses prompt format {data.get('prompt_format_version')}, "
            f"this code builds format {PROMPT_FORMAT_VERSION}: retrain it"
        )
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"adapter {folder} uses output schema {data.get('schema_version')}, "
                         f"this code expects {SCHEMA_VERSION}: retrain it")
    return data


def _small_file_text(path: Path) -> str:
    """The text of a regular file of at most ADAPTER_JSON_LIMIT bytes (``core.files.read_small_file``);
    ValueError for anything else, which every reader of an adapter's metadata catches (a device or a
    pipe would be read forever or waited on)."""
    try:
        data = read_small_file(path, ADAPTER_JSON_LIMIT)
    except OSError as error:
        raise ValueError(f"{path} is {error.strerror}, not an adapter's metadata") from error
    return data.decode("utf-8")  # UnicodeDecodeError is a ValueError, which every reader catches


def write_answer_tokens(folder: str | Path, token_ids) -> Path:
    path = Path(folder) / ANSWER_TOKENS_FILE
    ids = sorted({int(token) for token in token_ids})
    return write_atomically(path, json.dumps({"count": len(ids), "token_ids": ids}, separators=(",", ":")) + "\n")


def read_answer_tokens(folder: str | Path | None) -> list[int] | None:
    """The adapter's answer tokens, or None where it has none (decoding scores the whole vocabulary)."""
    path = Path(folder) / ANSWER_TOKENS_FILE if folder else None
    if path is None or not path.exists():
        return None
    return [int(token) for token in json.loads(path.read_text())["token_ids"]]
