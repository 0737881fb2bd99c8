"""Operator corrections as training data: the time split, the guard that keeps the held-out
slice out of training, and a real tiny run on base data + corrections exported from a store of
decided demo tickets, then evaluated on the held-out slice."""

from __future__ import annotations

import time

import pandas as pd
import pandas.io.formats.csvs
import pytest

from core.csv_cells import spreadsheet_cell
from model.metadata import read_metadata
from support.corrections import export_corrections
from support.intake import fetch_eml_dir
from support.states import State
from support.store import TicketStore
from testbed.app import demo_inbox, triage_as_labelled
from training import corrections, layout, runs
from training.config import path_list
from training.dataset import load_csv
from training.eval_jobs import EvalRequest, read_run, start_evaluation
from training.jobs import JobState

WAIT_S = 240  # a tiny run takes ~10 s alone; this CPU may be busy with a real training


def export_of(rows: list[tuple[str, str]], path) -> str:
    """A corrections export with these (body, decided_at) rows."""
    columns = ("sender", "subject", "body", "category", "username", "booking_id", "response", "decided_at")
    frame = pd.DataFrame([("a@example.org", "s", body, "other", "", "", "ok", when) for body, when in rows],
                         columns=columns)
    frame.to_csv(path, index=False)
    return str(path)


def test_the_split_trains_on_the_mail_as_written_not_on_the_exports_spreadsheet_guard(tmp_path):
    bodies = ["=cmd|' /C calc'!A0", "-- \nAnna", "'quoted'", "@team please", "plain", "+48 600", "\tx", "'=1",
              "-1", "a"]
    export = tmp_path / "export.csv"
    pd.DataFrame([{"sender": "a@example.org", "subject": "s", "body": spreadsheet_cell(body), "category": "other",
                   "username": "", "booking_id": "", "response": "ok", "decided_at": f"2026-11-{n + 1:02d}"}
                  for n, body in enumerate(bodies)]).to_csv(export, index=False)
    split = corrections.split_by_time(export, tmp_path / "uploads")
    written = pd.concat([pd.read_csv(split.train, keep_default_na=False, dtype=str),
                         pd.read_csv(split.held_out, keep_default_na=False, dtype=str)])
    assert sorted(written["body"]) == sorted(bodies)


def test_the_newest_fifth_at_least_five_is_held_out_and_never_trained_on(tmp_path):
    rows = [(f"mail {number}", f"2026-11-{number + 1:02d}T10:00:00+00:00") for number in range(29)]
    rows.append(("mail 3", "2026-11-30T09:00:00+00:00"))  # the same mail again, decided last
    split = corrections.split_by_time(export_of(rows[::-1], tmp_path / "export.csv"), tmp_path / "uploads",
                                      stamp="20261201-101500")

    assert (split.held_out.name, split.train.name) == ("corrections-20261201-101500-heldout.csv",
                                                       "corrections-20261201-101500-train.csv")
    held, train = pd.read_csv(split.held_out), pd.read_csv(split.train)
    assert list(held["body"]) == ["mail 24", "mail 25", "mail 26", "mail 27", "mail 28", "mail 3"]
    assert split.held_out_since == "2026-11-25T10:00:00+00:00"
    assert "mail 3" not in set(train["body"]) and split.train_rows == 23 == len(train)
    assert corrections.held_out_count(4) == 4 and corrections.held_out_count(100) == 20

    few = corrections.split_by_time(export_of(rows[:3], tmp_path / "few.csv"), tmp_path / "few")
    assert few.train is None and few.held_out_rows == 3
    with pytest.raises(ValueError, match="no decided tickets"):
        corrections.split_by_time(export_of([], tmp_path / "none.csv"), tmp_path / "none")


def test_a_split_cut_off_while_it_is_written_leaves_no_partial_file(tmp_path, monkeypatch):
    export = export_of([(f"m{n}", f"2026-11-{n + 1:02d}") for n in range(12)], tmp_path / "export.csv")

    def header_then_disk_full(self):  # pandas writes the header, then fails on the rows
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pandas.io.formats.csvs.CSVFormatter, "_save_body", header_then_disk_full)
    with pytest.raises(OSError, match="No space left"):
        corrections.split_by_time(export, layout.uploads_dir(tmp_path), stamp="20261201-101500")
    assert list(layout.uploads_dir(tmp_path).iterdir()) == []  # not a header alone under the file's name


def test_a_held_out_file_is_never_offered_nor_accepted_as_training_data(tmp_path, ten_rows):
    uploads = layout.uploads_dir(tmp_path)
    split = corrections.split_by_time(export_of([(f"m{n}", f"2026-11-{n + 1:02d}") for n in range(12)],
                                                tmp_path / "export.csv"), uploads)
    assert split.train in runs.csv_choices(tmp_path) and split.held_out not in runs.csv_choices(tmp_path)
    values = runs.preset_values(runs.CONFIG_DIR / "default.yaml")
    _, problems = runs.build_config({**values, "train_file": str(ten_rows), "extra_train_file": str(split.held_out)})
    assert problems == [f"{split.held_out.name} is for measuring models, never for training them. Pick another file."]

    assert corrections.held_out_for({"extra_train_file": str(split.train)}) == split.held_out
    joined = runs.with_corrections({"extra_train_file": str(ten_rows)}, split)["extra_train_file"]
    assert path_list(joined) == [str(ten_rows), str(split.train)]
    assert corrections.held_out_for({"extra_train_file": joined}) == split.held_out
    assert corrections.held_out_for({"train_file": str(ten_rows)}) is None
    assert corrections.latest_held_out(tmp_path) == split.held_out


def decided_demo_store(tmp_path) -> TicketStore:
    """The demo mailbox triaged with its labels and decided in the store: approvals as proposed,
    machine mail rejected, one category corrected."""
    store = TicketStore(tmp_path / "data" / "acedesk.sqlite3")
    fetch_eml_dir(store, demo_inbox(tmp_path / "mail"))
    triage_as_labelled(store, confidence=0.99)
    for ticket in store.tickets():
        if ticket.machine_mail:
            store.move(ticket.id, State.REJECTED, "operator", reason="machine mail (auto-reply, bounce, newsletter)")
        else:
            fields = {"category": "other"} if ticket.uid == "17-piotr-new-booking-request.eml" else {}
            store.save_approval(ticket.id, {"fields": fields} if fields else {}, None, "operator")
        time.sleep(0.02)
    return store


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def test_a_run_on_base_data_and_corrections_trains_without_the_held_out_slice_and_scores_it(tmp_path, ten_rows,
                                                                                           tiny_base_dir):
    export = tmp_path / "export.csv"
    assert export_corrections(decided_demo_store(tmp_path), export) == 31
    runs_root = tmp_path / "runs"
    split = corrections.split_by_time(export, layout.uploads_dir(runs_root))
    assert (split.train_rows, split.held_out_rows) == (24, 7)

    values = {**runs.preset_values(runs.CONFIG_DIR / "default.yaml"), "base_model": str(tiny_base_dir),
              "train_file": str(ten_rows), "val_file": str(ten_rows), "max_train_samples": 0, "max_steps": 2,
              "batch_size": 4, "logging_steps": 1, "eval_steps": 2, "save_steps": 2, "threads": 1, "lora_r": 4,
              "lora_alpha": 8, "lora_top_layers": 0}
    config, problems = runs.build_config(runs.with_corrections(values, split))
    assert not problems, problems
    run = runs.launch_run(config, runs_root, "with corrections")
    try:
        wait_for(lambda: runs.active_run(runs_root) is None, "the run to end")
    finally:
        runs.stop_run(runs_root, grace_s=5)
    run = runs.load_run(run.folder)
    assert run.state == JobState.FINISHED, run.error
    assert run.metrics["train_examples"] == 10 + 24
    trained = load_csv(run.config["train_file"], extra_path=run.config["extra_train_file"]).to_pandas()
    held = pd.read_csv(split.held_out, keep_default_na=False)
    assert not set(held["body"]) & set(trained["body"])

    held_out = corrections.held_out_for(run.config)
    assert held_out == split.held_out  # the Eval page finds it from the adapter's own record too:
    assert corrections.held_out_for(read_metadata(run.adapter)["hyperparameters"]) == held_out
    request = EvalRequest(held_out, "held-out corrections", str(run.adapter), run.name, str(tiny_base_dir), None, 7)
    evaluation = start_evaluation(request, runs_root)
    wait_for(lambda: read_run(evaluation).state != JobState.RUNNING, "the evaluation to end")
    scored = read_run(evaluation)
    assert scored.state == JobState.FINISHED, scored.message
    assert layout.read_json_object(evaluation / layout.METRICS_FILE)["n"] == 7 == scored.done_rows


def export_from(rows: list[tuple[str, str, str, str]], path) -> str:
    """A corrections export with these (sender, subject, body, decided_at) rows, labelled ``other``."""
    columns = ("sender", "subject", "body", "category", "username", "booking_id", "response", "decided_at")
    pd.DataFrame([(sender, subject, body, "other", "", "", "ok", when) for sender, subject, body, when in rows],
                 columns=columns).to_csv(path, index=False)
    return str(path)


def test_a_flood_of_one_mail_is_trained_on_once_whatever_its_spacing_case_or_sender(tmp_path):
    """500 copies of one spam, sent from many addresses, in other case and spacing, all decided:
    the split keeps the newest copy only, so they cannot outweigh the base data's rows."""
    genuine = [(f"m{n}@example.org", "Booking", f"Please cancel booking BK-{10000 + n}", f"2026-11-01T{n:02d}:00")
               for n in range(20)]
    spam = "Claim your prize now at http://prize.example"
    flood = [(f"win{n}@prize.example", "You WON" if n % 2 else "you won", spam.upper() if n % 3 else f"  {spam}\n",
              f"2026-11-02T{n // 60:02d}:{n % 60:02d}") for n in range(500)]
    split = corrections.split_by_time(export_from(genuine + flood, tmp_path / "export.csv"), tmp_path / "uploads")
    written = pd.concat([pd.read_csv(split.train, keep_default_na=False),
                         pd.read_csv(split.held_out, keep_default_na=False)])
    assert sum("prize" in body.lower() for body in written["body"]) == 1
    assert split.train_rows + split.held_out_rows == 21 and split.left_out == 499


def test_a_held_out_mail_leaves_training_with_its_quote_signature_sender_or_case_changed(tmp_path):
    held_text = "Please move my lesson to Friday 10:00"
    variants = [held_text.upper(), f"{held_text}\n\n-- \nAnna Berg\nTennis fan since 1999",
                f"{held_text}\n\nOn Mon, 1 Dec 2026, Club <info@club.example> wrote:\n> Your lesson is on Monday",
                f"  {held_text}  "]
    older = [(f"other{n}@example.org", "Lesson", body, f"2026-11-0{n + 1}") for n, body in enumerate(variants)]
    others = [(f"m{n}@example.org", "Question", f"question number {n}", f"2026-11-1{n}") for n in range(5)]
    newest = [("anna@example.org", "lesson", held_text, "2026-11-30")]
    split = corrections.split_by_time(export_from(older + others + newest, tmp_path / "export.csv"),
                                      tmp_path / "uploads")
    held = pd.read_csv(split.held_out, keep_default_na=False)
    assert held_text in set(held["body"])
    trained = pd.read_csv(split.train, keep_default_na=False) if split.train else pd.DataFrame({"body": []})
    assert not [body for body in trained["body"] if "move my lesson" in body.lower()]


def test_two_members_sending_the_same_words_about_their_own_bookings_are_two_examples(tmp_path):
    """train_traps.csv writes such replies: "could you cancel it after all?" under the same subject,
    each member's booking only in the quote below it. The same new text, but not the same mail:
    before, only the newest member's decision was kept and the others left out."""
    text = "Actually, could you cancel it after all? my partner is ill."
    replies = [(f"{name}@example.net", "Re: Booking cancelled", f"{text}\n\n> Hi {name}, your booking {booking} was moved",
                "cancel_booking", booking, f"2026-11-0{day}")
               for day, (name, booking) in enumerate([("jonas", "BK-76728"), ("yara", "BK-16648"), ("anna", "BK-70623")],
                                                     start=1)]
    spam = [(f"win{n}@prize.example", "You won", "Claim your prize", "other", "", f"2026-11-1{n}") for n in range(3)]
    columns = ("sender", "subject", "body", "category", "booking_id", "decided_at")
    export = tmp_path / "export.csv"
    pd.DataFrame(replies + spam, columns=columns).assign(username="", response="ok").to_csv(export, index=False)
    split = corrections.split_by_time(export, tmp_path / "uploads")
    assert split.left_out == 2  # the spam's copies: the same mail
    written = pd.concat([pd.read_csv(path, keep_default_na=False) for path in (split.train, split.held_out) if path])
    assert sorted(written.loc[written["category"] == "cancel_booking", "booking_id"]) == ["BK-16648", "BK-70623",
                                                                                         "BK-76728"]


def test_a_held_out_mail_decided_earlier_with_other_fields_is_not_trained_on(tmp_path):
    """The same mail decided twice (the operator corrected its booking the second time) is two
    examples by its fields, but its text is the held-out one's: the older decision leaves training."""
    rows = [(f"m{day}@example.net", f"Request {day}", f"Please cancel my booking, number {day}.", "cancel_booking",
             f"BK-1000{day}", f"2026-11-{day:02d}") for day in range(1, 11)]
    rows.insert(0, ("m10@example.net", "Request 10", "Please cancel my booking, number 10.", "cancel_booking",
                    "BK-99999", "2026-10-31"))  # the newest mail, decided first with another booking
    export = tmp_path / "export.csv"
    columns = ("sender", "subject", "body", "category", "booking_id", "decided_at")
    pd.DataFrame(rows, columns=columns).assign(username="", response="ok").to_csv(export, index=False)
    split = corrections.split_by_time(export, tmp_path / "uploads")
    train = pd.read_csv(split.train, keep_default_na=False)
    assert "BK-99999" not in set(train["booking_id"]) and (split.train_rows, split.held_out_rows) == (5, 5)
    assert split.left_out == 1
