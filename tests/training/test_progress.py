import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training import progress
from training.progress import PROGRESS_FILE, append_event, read_events


def test_events_append_and_a_half_written_line_is_skipped(tmp_path):
    append_event(tmp_path, {"event": "started", "step": 0})
    append_event(tmp_path, {"event": "log", "step": 5, "loss": 1.5})
    with (tmp_path / PROGRESS_FILE).open("a") as handle:
        handle.write('{"event": "log", "st')  # the trainer is mid-write
    events = read_events(tmp_path)
    assert [e["event"] for e in events] == ["started", "log"]
    assert events[1]["loss"] == 1.5 and events[1]["time"] >= events[0]["time"]


def test_no_file_yet_means_no_events(tmp_path):
    assert read_events(tmp_path / "missing") == []


def test_a_file_over_the_read_limit_gives_its_first_and_latest_events_fast(tmp_path):
    """A 500 MB progress file took 46 s and 6 GB to read, on every refresh of the Training page."""
    line = json.dumps({"time": 1.0, "event": "log", "step": 1, "loss": 0.5}) + "\n"
    with (tmp_path / PROGRESS_FILE).open("w") as handle:
        handle.write(json.dumps({"time": 1.0, "event": "started", "step": 0, "max_steps": 9}) + "\n")
        handle.write(line * (3 * progress.READ_LIMIT_BYTES // len(line)))
        handle.write(json.dumps({"time": 2.0, "event": "saved"}) + "\n")
    started = time.perf_counter()
    events = read_events(tmp_path)
    assert time.perf_counter() - started < 5
    assert events[0]["event"] == "started" and events[-1]["event"] == "saved"
    assert len(events) * len(line) < 1.1 * progress.READ_LIMIT_BYTES


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["event", "step", "error"]),
                                st.one_of(st.integers(), st.text(max_size=30))), max_size=40),
       st.booleans(), st.integers(40, 400), st.integers(0, 200))
def test_only_whole_written_events_are_read_first_ones_then_latest_ones(tmp_path_factory, written, mid_write,
                                                                        limit, head):
    """However the limit cuts the file, no piece of a line is read as an event, and what is read is the
    file's first events followed by its latest (all of them while the file is within the limit)."""
    folder = tmp_path_factory.mktemp("run")
    text = "".join(json.dumps(event) + "\n" for event in written) + ('{"step": 12' if mid_write else "")
    (folder / PROGRESS_FILE).write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(progress, "READ_LIMIT_BYTES", limit)
        patch.setattr(progress, "HEAD_BYTES", min(head, limit))
        read = read_events(folder)
    assert any(read[:first] == written[:first] and read[first:] == written[len(written) - len(read) + first:]
               for first in range(len(read) + 1)), (written, read)
    if len(text.encode()) <= limit:
        assert read == written
