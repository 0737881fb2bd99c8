"""The generated training set: deterministic, large enough, leak-free and consistent with its labels."""

import csv
import os
import random
import re
import subprocess
import sys
import time

import pytest

from model.replies import render_reply
from model.schema import CATEGORIES, FIELDS, normalize_booking_id
from tests.conftest import REPO_ROOT
from training import generate_data as gd


@pytest.fixture(scope="module")
def rows():
    return gd.build_rows()


@pytest.fixture(scope="module")
def written_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    gd.main(["--out", str(out)])
    return out


def read_rows(path):
    return list(csv.DictReader(path.open(encoding="utf-8")))


@pytest.fixture(scope="module")
def written(written_dir):
    return {name: read_rows(written_dir / f"{name}.csv") for name in ("train", "val", "test")}


@pytest.fixture(scope="module")
def chat_extra(written_dir):
    return read_rows(written_dir / "train_chat.csv")


def text_of(row):
    return f"{row['subject']}\n{row['body']}"


def test_same_seed_gives_identical_files(tmp_path):
    for run in ("a", "b"):
        gd.main(["--n", "300", "--seed", "7", "--out", str(tmp_path / run)])
    for name in ("train.csv", "val.csv", "test.csv", "train_chat.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_other_seed_gives_other_data(tmp_path):
    gd.main(["--n", "200", "--seed", "1", "--out", str(tmp_path / "a")])
    gd.main(["--n", "200", "--seed", "2", "--out", str(tmp_path / "b")])
    assert (tmp_path / "a" / "train.csv").read_bytes() != (tmp_path / "b" / "train.csv").read_bytes()


def test_columns_and_size(written):
    header = list(written["train"][0])
    assert tuple(header) == gd.COLUMNS
    assert sum(len(split) for split in written.values()) >= 3000


def test_split_proportions_and_categories(written):
    total = sum(len(split) for split in written.values())
    assert 0.80 < len(written["train"]) / total < 0.90
    for name, split in written.items():
        assert {row["category"] for row in split} == set(CATEGORIES), name


def test_category_and_language_mix(rows):
    share = {c: sum(r["category"] == c for r in rows) / len(rows) for c in CATEGORIES}
    assert 0.25 < share["other"] < 0.36
    for category in CATEGORIES[:4]:
        assert 0.13 < share[category] < 0.21
    langs = {r["lang"] for r in rows}
    assert langs == {"en", "de", "fr", "es"}
    non_english = sum(r["lang"] != "en" for r in rows) / len(rows)
    assert 0.08 < non_english < 0.16


def test_chat_extra_rows_are_new_train_split_chat_messages_with_typos(written, chat_extra):
    assert len(chat_extra) == gd.CHAT_EXTRA
    assert {row["category"] for row in chat_extra} == set(CATEGORIES)
    assert all(row["lang"] == "en" and "chat" in row["family"] and gd.split_of(row) == "train" for row in chat_extra)
    assert not {gd.text_key(row) for row in chat_extra} & {gd.text_key(row) for split in written.values() for row in split}
    assert all(row["response"] == render_reply(row["category"], {f: row[f] for f in FIELDS if row[f]},
                                               row["sender"], "en") for row in chat_extra)


def test_every_extra_chat_row_has_a_typo():
    text = "please cancel my court reservation friday"  # no doubled letters: every typo shows
    long_words = {word for word in text.split() if len(word) > 3}
    for seed in range(50):
        assert long_words - set(gd.chatify(random.Random(seed), text, gd.CHAT_EXTRA_TYPOS).split())


def test_no_text_crosses_splits(written):
    keys = {name: {gd.text_key(row) for row in split} for name, split in written.items()}
    assert not keys["train"] & keys["val"]
    assert not keys["train"] & keys["test"]
    assert not keys["val"] & keys["test"]
    for name, split in written.items():
        assert len(keys[name]) == len(split), f"duplicates inside {name}"


def test_fields_stand_verbatim_in_the_mail(rows):
    for row in rows:
        text = text_of(row)
        for name in ("username", "member_name", "member_email", "new_date", "new_time", "new_court"):
            assert not row[name] or row[name] in text, (name, row[name], text)


def test_booking_ids_are_normalised_and_stated(rows):
    for row in (r for r in rows if r["booking_id"]):
        assert normalize_booking_id(row["booking_id"]) == row["booking_id"]
        needle = row["booking_id"].removeprefix("BK-")
        assert needle in text_of(row), (row["booking_id"], text_of(row))
    assert sum(bool(r["booking_id"]) for r in rows if r["category"] == "other") > 20  # ids in "other" too


def test_fields_only_where_the_category_carries_them(rows):
    for row in rows:
        if row["category"] != "add_user":
            assert not row["member_name"] and not row["member_email"], row
        if row["category"] != "modify_booking":
            assert not (row["new_date"] or row["new_time"] or row["new_court"]), row


def test_response_is_the_rendered_reply(rows):
    for row in rows:
        fields = {name: row[name] for name in FIELDS if row[name]}
        assert row["response"] == render_reply(row["category"], fields, row["sender"], row["lang"])


def test_injected_values_are_not_extracted(rows):
    injected = [r for r in rows if r.get("_injection")]
    assert len(injected) > 50
    for row in injected:
        for name in FIELDS:
            if row[name]:
                needle = row[name][3:] if name == "booking_id" and row[name].startswith("BK-") else row[name]
                assert needle not in row["_injection"], (name, row[name], row["_injection"])
    for value in (*gd.INJECTED_USERS, *gd.INJECTED_EMAILS):
        assert not any(value in (r["username"], r["member_email"]) for r in rows)


def test_variety(rows):
    families = {r["family"] for r in rows}
    assert {"handwritten", "cancel.injury.en", "other.bounce.en", "two.withdrawn.en"} <= families
    chat = sum(".chat." in r["family"] or "-chat." in r["family"] for r in rows) / len(rows)
    assert 0.25 < chat < 0.5  # generic chat families are weighted up (see GENERIC_WEIGHT)
    assert sum(r["family"].startswith("two.") for r in rows) > 50
    assert sum("\n> " in r["body"] for r in rows) > 100  # quoted history
    assert any(r["subject"].startswith("Fwd:") for r in rows)
    assert any("<" not in r["sender"] for r in rows) and any("<" in r["sender"] for r in rows)
    long_bodies = [r for r in rows if len(r["body"].split()) > 80]
    assert 20 < len(long_bodies) < len(rows) * 0.1
    assert max(len(r["body"].split()) for r in rows) <= 260


def test_dates_are_rfc2822(rows):
    pattern = re.compile(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$")
    assert all(pattern.match(row["date"]) for row in rows if row["family"] != "handwritten")


def test_handwritten_rows_are_merged(rows):
    handwritten = [r for r in rows if r["family"] == "handwritten"]
    assert len(handwritten) >= 70
    assert all(r["response"] for r in handwritten)


class Unprintable:
    """A cell whose text cannot be made: the writer fails after the rows before it."""

    def __str__(self):
        raise RuntimeError("cannot write this cell")


def test_a_write_failing_midway_leaves_the_old_file(tmp_path, rows):
    path = tmp_path / "train.csv"
    gd.write_split(path, rows[:10])
    old = path.read_bytes()
    with pytest.raises(RuntimeError, match="cannot write this cell"):
        gd.write_split(path, rows[:200] + [{**rows[200], "subject": Unprintable()}])
    assert path.read_bytes() == old  # not 200 rows that the next run would read as the whole split
    assert [item.name for item in tmp_path.iterdir()] == ["train.csv"]


KILLED_WRITER = """
import sys
from pathlib import Path
from training import generate_data as gd
rows = gd.build_rows(n=300) * 60
print("writing", flush=True)
gd.write_split(Path(sys.argv[1]), rows)
"""


def test_a_writer_killed_midway_leaves_the_old_or_the_whole_file(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("sender,subject\nold,file\n", encoding="utf-8")
    old = path.read_bytes()
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE,
                              cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert writer.stdout.readline() == b"writing\n"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and writer.poll() is None:
        # kill as soon as anything is written: the file itself (old code) or a partial one beside it
        if path.read_bytes() != old or len(list(tmp_path.iterdir())) > 1:
            break
        time.sleep(0.001)
    writer.kill()
    writer.wait()
    whole = tmp_path / "whole.csv"
    gd.write_split(whole, gd.build_rows(n=300) * 60)
    assert path.read_bytes() in (old, whole.read_bytes())
