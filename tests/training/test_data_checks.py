"""The checks a CSV passes before a training run starts."""

import pandas as pd
import pytest

from model.schema import CATEGORIES
from tests.conftest import REPO_ROOT
from training.data_checks import check_csv, check_overlap, rows_text


@pytest.fixture
def rows():
    """Twenty real training rows, at least one per category."""
    frame = pd.read_csv(REPO_ROOT / "training/data/train.csv", keep_default_na=False, dtype=str)
    picked = pd.concat([frame[frame["category"] == category].head(4) for category in CATEGORIES])
    return picked.reset_index(drop=True)


def write(frame, tmp_path, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_a_clean_file_passes_with_its_rows_per_category(rows, tmp_path):
    report = check_csv(write(rows, tmp_path))
    assert report.ok and report.errors == [] and report.warnings == []
    assert report.rows == 20
    assert report.category_counts == {category: 4 for category in CATEGORIES}
    assert len(report.preview) == 20


def test_the_shipped_training_split_passes():
    report = check_csv(REPO_ROOT / "training/data/train.csv")
    assert report.ok and report.rows > 3000


def test_missing_columns_are_named_with_what_a_file_needs(rows, tmp_path):
    report = check_csv(write(rows.drop(columns=["category", "response"]), tmp_path))
    assert not report.ok
    assert "lacks the column(s) category, response" in report.errors[0]
    assert "sender, subject, body" in report.errors[0]


def test_unknown_categories_are_errors_naming_rows_and_the_allowed_ones(rows, tmp_path):
    rows.loc[2, "category"] = "refund"
    rows.loc[5, "category"] = ""
    report = check_csv(write(rows, tmp_path))
    assert not report.ok
    assert "rows 3 and 6" in report.errors[0] and "'refund'" in report.errors[0]
    assert "add_user, reset_password" in report.errors[0]
    assert report.category_counts["refund"] == 1


def test_empty_bodies_and_replies_are_warnings(rows, tmp_path):
    rows.loc[0, "body"] = "  "
    rows.loc[3, "response"] = ""
    report = check_csv(write(rows, tmp_path))
    assert report.ok
    assert any("row 1 has an empty body" in warning for warning in report.warnings)
    assert any("row 4 has an empty response" in warning for warning in report.warnings)


def test_duplicates_warn_and_one_email_with_two_labels_is_an_error(rows, tmp_path):
    copy = rows.iloc[[0]].copy()
    copy["body"] = "  " + copy["body"] + "\n"  # whitespace does not make a new email
    relabelled = rows.iloc[[1]].assign(category="other")
    report = check_csv(write(pd.concat([rows, copy, relabelled], ignore_index=True), tmp_path))
    assert not report.ok
    assert any("different categories in rows 2 and 22" in error for error in report.errors)
    assert any("row 21 repeats an earlier email" in warning for warning in report.warnings)


def test_a_category_without_rows_is_a_warning_for_training_only(rows, tmp_path):
    path = write(rows[rows["category"] != "add_user"], tmp_path)
    assert any("No rows of add_user" in warning for warning in check_csv(path, "training").warnings)
    assert check_csv(path, "validation").warnings == []


def test_unreadable_empty_and_missing_files_say_what_to_do(tmp_path):
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x00garbage\x00")
    header_only = tmp_path / "header.csv"
    header_only.write_text("sender,subject,body,category,username,booking_id,response\n")
    assert "could not be read as a CSV" in check_csv(binary).errors[0]
    assert "no rows" in check_csv(header_only).errors[0]
    assert "pick the training data again" in check_csv(tmp_path / "gone.csv").errors[0]


def test_validation_emails_that_are_also_training_emails_are_reported(rows, tmp_path):
    train = write(rows, tmp_path, "train.csv")
    val = write(rows.iloc[[3, 0]], tmp_path, "val.csv")
    assert "2 validation email(s) also appear" in check_overlap(train, val)[0]
    assert check_overlap(train, write(rows.iloc[[]], tmp_path, "empty.csv")) == []


def test_rows_text_counts_from_one_and_shortens_long_lists():
    assert rows_text([0]) == "row 1"
    assert rows_text([0, 4]) == "rows 1 and 5"
    assert rows_text(list(range(9))) == "rows 1, 2, 3, 4, 5 and 4 more"


def test_a_first_row_with_more_cells_than_the_header_is_an_error_not_a_shifted_file(rows, tmp_path):
    """pandas (and datasets, which training reads with) would take the extra cells for an index and
    shift every column; the check said nothing or raised a TypeError."""
    path = write(rows, tmp_path)
    header, rest = path.read_text(encoding="utf-8").split("\n", 1)
    first = ",".join([*rows.iloc[0].map(lambda cell: " ".join(cell.split())), "extra", "cells"])  # on one line
    path.write_text(f"{header}\n{first}\n{rest}", encoding="utf-8")
    report = check_csv(path)
    assert not report.ok and report.errors == [
        ("data.csv could not be read as a CSV (the first row has more cells than the header). Save it as UTF-8 CSV "
         "with a header row, like training/data/train.csv.")]
    assert check_overlap(path, write(rows, tmp_path, "val.csv")) == []


def test_a_column_that_is_there_twice_is_named(rows, tmp_path):
    twice = pd.concat([rows, rows[["category"]].assign(category="other")], axis=1)
    report = check_csv(write(twice, tmp_path))
    assert not report.ok and report.errors == [
        "data.csv has the column(s) category more than once: training would read only the first. Keep one of each."]
