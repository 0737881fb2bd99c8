import json
import threading

import pytest

from core.files import write_atomically, write_json_atomically


def test_a_file_is_replaced_whole_and_nothing_is_left_beside_it(tmp_path):
    path = tmp_path / "state.json"
    write_json_atomically(path, {"step": 1})
    write_json_atomically(path, {"step": 2, "folder": tmp_path})  # default=str: paths are written as text
    assert json.loads(path.read_text()) == {"step": 2, "folder": str(tmp_path)}
    write_atomically(tmp_path / "message.eml", b"Subject: hi\r\n\r\nbody", durable=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["message.eml", "state.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial_one(tmp_path):
    path = tmp_path / "state.json"
    write_json_atomically(path, {"step": 1})
    with pytest.raises(TypeError):
        write_atomically(path, {"not": "text"})  # the write itself fails, after the partial file exists
    assert json.loads(path.read_text()) == {"step": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_writers_racing_on_one_file_leave_one_of_their_files_whole(tmp_path):
    path = tmp_path / "job.json"
    texts = [json.dumps({"writer": n, "padding": "x" * 200_000}) for n in range(8)]
    threads = [threading.Thread(target=lambda text=text: [write_atomically(path, text) for _ in range(20)])
               for text in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.read_text() in texts  # never two writers' bytes mixed in one file
    assert [p.name for p in tmp_path.iterdir()] == ["job.json"]
