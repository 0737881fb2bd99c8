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
