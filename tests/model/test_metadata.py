import itertools
import json
import os
import shutil
import threading
from pathlib import Path

import pytest

from model import metadata
from model.metadata import (
    METADATA_FILE,
    REPLACEMENT_JOURNAL,
    finish_replacement,
    read_metadata,
    replace_adapter_files,
    write_metadata,
)


def test_metadata_round_trips_with_versions(tmp_path):
    write_metadata(tmp_path, "gemma-3-270m", "gemma", {"lora_r": 8}, step=10)
    meta = read_metadata(tmp_path)
    assert meta["base_model"] == "gemma-3-270m" and meta["prompt_style"] == "gemma"
    assert meta["hyperparameters"] == {"lora_r": 8} and meta["step"] == 10


def test_an_adapter_for_another_prompt_format_is_refused(tmp_path):
    write_metadata(tmp_path, "x", "plain", {})
    data = json.loads((tmp_path / METADATA_FILE).read_text())
    data["prompt_format_version"] = 999
    (tmp_path / METADATA_FILE).write_text(json.dumps(data))
    with pytest.raises(ValueError, match="retrain"):
        read_metadata(tmp_path)


def test_a_folder_without_metadata_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="finetune_lora"):
        read_metadata(tmp_path)


class Killed(BaseException):
    """The process dying just before a file-system step: nothing after it runs, no cleanup."""


def _old_and_new_adapter(tmp_path):
    folder, new = tmp_path / "shipped", tmp_path / "build"
    folder.mkdir(parents=True)
    new.mkdir(parents=True)
    write_metadata(folder, "old-base", "gemma", {})
    write_metadata(new, "new-base", "gemma", {})
    (folder / "weights").write_text("old weights")
    (new / "weights").write_text("new weights")
    (folder / "scores").write_text("the old adapter's scores")
    return folder, {METADATA_FILE: new / METADATA_FILE, "weights": new / "weights"}


def _killed_at(monkeypatch, step: int):
    """Every copy, rename, write and delete counts as a step; the process dies before ``step``."""
    steps = itertools.count()

    def dies_before(real):
        def wrapped(*args, **kwargs):
            if next(steps) == step:
                raise Killed
            return real(*args, **kwargs)
        return wrapped

    for owner, name in ((shutil, "copy2"), (os, "replace"), (Path, "replace"), (Path, "unlink"),
                        (Path, "write_text")):
        monkeypatch.setattr(owner, name, dies_before(getattr(owner, name)))


def test_replacing_an_adapters_files_leaves_old_or_new_never_a_mix_wherever_the_process_dies(tmp_path, monkeypatch):
    outcomes = []
    for step in itertools.count():
        case = tmp_path / str(step)
        folder, sources = _old_and_new_adapter(case)
        _killed_at(monkeypatch, step)
        try:
            replace_adapter_files(folder, sources, remove=("scores",))
            died = False
        except Killed:
            died = True
        monkeypatch.undo()
        # the next reader of the folder sees one whole adapter (and finishes a decided replacement)
        meta = read_metadata(folder)
        weights = (folder / "weights").read_text()
        if meta["base_model"] == "old-base":
            assert weights == "old weights" and (folder / "scores").exists()
            outcomes.append("old")
        else:
            assert meta["base_model"] == "new-base" and weights == "new weights" and not (folder / "scores").exists()
            outcomes.append("new")
        assert not (folder / REPLACEMENT_JOURNAL).exists()
        if not died:
            break
        # a later replacement over what the dead one left works as on a clean folder
        replace_adapter_files(folder, sources, remove=("scores",))
        assert read_metadata(folder)["base_model"] == "new-base"
    # killed before the journal: the old adapter; after it: the new one; the cut comes once
    assert outcomes[0] == "old" and outcomes[-1] == "new" and len(outcomes) > 5
    assert outcomes == sorted(outcomes, key=["old", "new"].index)


def test_finishing_a_replacement_twice_or_with_none_pending_changes_nothing(tmp_path):
    folder, sources = _old_and_new_adapter(tmp_path)
    replace_adapter_files(folder, sources)
    before = sorted((path.name, path.read_bytes()) for path in folder.iterdir())
    assert not finish_replacement(folder) and not finish_replacement(folder)
    assert sorted((path.name, path.read_bytes()) for path in folder.iterdir()) == before


def test_a_reader_never_finishes_a_replacement_while_a_writer_holds_the_folder(tmp_path):
    """Without the lock, a reader finishing an old journal could rename a writer's half-copied new files."""
    folder, _ = _old_and_new_adapter(tmp_path)
    (folder / REPLACEMENT_JOURNAL).write_text(json.dumps({"replace": ["weights"], "remove": []}))
    (folder / ".weights.new").write_text("a writer's copy, not finished")
    finished = threading.Event()
    with metadata._locked(folder):  # what replace_adapter_files holds from its first copy to its last rename
        reader = threading.Thread(target=lambda: (finish_replacement(folder), finished.set()))
        reader.start()
        assert not finished.wait(0.5)
        (folder / ".weights.new").write_text("new weights")  # the writer's copy, now complete
    assert finished.wait(10)
    reader.join()
    assert (folder / "weights").read_text() == "new weights" and not (folder / REPLACEMENT_JOURNAL).exists()


def test_a_replacement_waits_for_readers_and_readers_wait_for_it(tmp_path):
    folder, sources = _old_and_new_adapter(tmp_path)
    replaced = threading.Event()
    with metadata.reading_adapter(folder):
        writer = threading.Thread(target=lambda: (replace_adapter_files(folder, sources), replaced.set()))
        writer.start()
        assert not replaced.wait(0.5)  # the reader still reads the old adapter whole
        assert (folder / "weights").read_text() == "old weights"
    assert replaced.wait(10)
    writer.join()
    with metadata.reading_adapter(folder):
        assert (folder / "weights").read_text() == "new weights"
    with metadata.reading_adapter(tmp_path / "not-there"), metadata.reading_adapter(None):
        pass  # nothing to hold: the reader itself says what is missing


def test_a_reader_finds_a_journal_left_after_its_first_look_and_finishes_it_without_waiting_on_itself(
        tmp_path, monkeypatch):
    """A writer that died between the reader's finish and its shared lock: the journal is finished,
    not waited on forever (an exclusive lock requested under one's own shared lock never comes)."""
    folder, _ = _old_and_new_adapter(tmp_path)
    looks = itertools.count()
    real_finish = metadata.finish_replacement

    def writer_dies_after_the_first_look(path):
        done = real_finish(path)
        if next(looks) == 0:  # the writer's journal and new file appear right after it
            (folder / ".weights.new").write_text("new weights")
            (folder / REPLACEMENT_JOURNAL).write_text(json.dumps({"replace": ["weights"], "remove": []}))
        return done

    monkeypatch.setattr(metadata, "finish_replacement", writer_dies_after_the_first_look)
    reader = threading.Thread(target=lambda: _read_inside(folder, seen), daemon=True)
    seen: list[str] = []
    reader.start()
    reader.join(10)
    assert not reader.is_alive() and seen == ["new weights"]


def _read_inside(folder, seen):
    with metadata.reading_adapter(folder):
        read_metadata(folder)
        seen.append((folder / "weights").read_text())
