"""An adapter folder's files as someone with disk access could leave them: a file linked to
elsewhere, a metadata file that is huge, not UTF-8, or a device. Each is refused with its reason
(the catalog leaves it unread, promotion refuses it, the inbox falls back), never read whole or
forever, and a folder outside the homes is refused in the same words everywhere."""

import json
import os
import shutil

import pytest

from core.settings import Settings
from model.active import ACTIVE_FILE, default_choice, promote, read_active
from model.metadata import DEFAULT_ADAPTER, METADATA_FILE, outside_homes_problem, read_metadata
from training.catalog import list_adapters


@pytest.fixture
def desk(tmp_path):
    return Settings(data_dir=tmp_path / "data", runs_dir=tmp_path / "runs")


def run_adapter(desk, name="run/adapter"):
    """A run's adapter as the catalog and the promoted choice look at it (the shipped adapter's files)."""
    folder = desk.runs_dir / name
    folder.mkdir(parents=True)
    for file in ("acedesk.json", "adapter_config.json", "adapter_model.safetensors"):
        shutil.copy2(DEFAULT_ADAPTER / file, folder)
    return folder


def promoted_by_hand(desk, folder):
    """active_model.json naming ``folder``, as promote writes it (or a hand edit after the folder changed)."""
    desk.data_dir.mkdir(parents=True, exist_ok=True)
    (desk.data_dir / ACTIVE_FILE).write_text(json.dumps({"adapter": str(folder.resolve()), "base_model": None}))


def test_a_file_linked_out_of_the_runs_folder_makes_the_adapter_outside(desk, tmp_path):
    """Before: only the folder's own path was followed, so a run folder whose acedesk.json (or weights)
    linked to a file anywhere on the server was listed, promoted and loaded."""
    folder = run_adapter(desk)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.replace(folder / METADATA_FILE, elsewhere / METADATA_FILE)
    (folder / METADATA_FILE).symlink_to(elsewhere / METADATA_FILE)

    reason = outside_homes_problem(folder, desk.runs_dir)
    assert reason.startswith(f"leads to {elsewhere / METADATA_FILE}, outside the shipped adapters and the runs folder")
    [entry] = [entry for entry in list_adapters(desk.runs_dir) if entry.run == "run"]
    assert entry.leads_outside_to == elsewhere / METADATA_FILE and entry.base_model == ""
    with pytest.raises(ValueError, match=f"{folder} leads to {elsewhere / METADATA_FILE}, outside the shipped"):
        promote(desk.data_dir, folder, runs_dir=desk.runs_dir)
    promoted_by_hand(desk, folder)
    active = read_active(desk)
    assert active.choice == default_choice(desk)
    assert f"names {folder.resolve()}, which leads to {elsewhere / METADATA_FILE}, outside the shipped" in active.problem


def test_a_link_to_a_device_is_refused_without_reading_it(desk):
    """Before: acedesk.json linked to /dev/zero was read until memory ran out, by the inbox's every start."""
    folder = run_adapter(desk)
    (folder / METADATA_FILE).unlink()
    (folder / METADATA_FILE).symlink_to("/dev/zero")
    promoted_by_hand(desk, folder)
    active = read_active(desk)
    assert active.choice == default_choice(desk) and "leads to /dev/zero" in active.problem


@pytest.mark.parametrize(("write", "reason"), [
    (lambda path: path.write_text(json.dumps(json.loads(path.read_text())) + " " * 2_000_000), "is over 1,000,000 bytes"),
    (lambda path: path.write_bytes(b'{"base_model": "\xff"}'), "can't decode byte 0xff"),
    (lambda path: (path.unlink(), os.mkfifo(path)), "is not a regular file"),
])
def test_a_huge_undecodable_or_endless_metadata_file_is_a_reason_not_a_read(desk, write, reason):
    """Before: a 2 MB acedesk.json (valid JSON) was read whole on every listing, and a pipe in its place
    blocked the inbox's start for good."""
    folder = run_adapter(desk)
    write(folder / METADATA_FILE)
    with pytest.raises(ValueError, match=reason):
        read_metadata(folder)
    promoted_by_hand(desk, folder)
    active = read_active(desk)
    assert active.choice == default_choice(desk) and reason in active.problem
    assert [entry for entry in list_adapters(desk.runs_dir) if entry.run == "run"] == []
