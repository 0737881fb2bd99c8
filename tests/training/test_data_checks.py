"""The checks a CSV passes before a training run starts."""

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as hst

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


MEASURED = [REPO_ROOT / "training/data" / name for name in ("test.csv", "dev.csv", "second_requests.csv",
                                                               "injection_eval.csv")]


@pytest.fixture(scope="module")
def test_split():
    return pd.read_csv(REPO_ROOT / "training/data/test.csv", keep_default_na=False, dtype=str)


def test_a_copy_of_the_test_split_is_refused_however_it_is_ordered_encoded_spaced_or_cased(test_split, tmp_path):
    """The page refused training/data/test.csv by its path only: the same rows uploaded under another
    name, shuffled, upper-cased, re-spaced and saved with a BOM and CRLF passed every check and trained."""
    copy = test_split.sample(frac=1, random_state=3).assign(
        subject=lambda frame: frame["subject"].str.upper(),
        body=lambda frame: frame["body"].str.replace(" ", "  \t").str.swapcase() + "\n")
    path = tmp_path / "members.csv"
    path.write_bytes(copy.to_csv(index=False, lineterminator="\r\n").encode("utf-8-sig"))

    report = check_csv(path, measured_on=MEASURED)
    assert not report.ok and report.errors == [
        ("rows 1, 2, 3, 4, 5 and 295 more of members.csv are emails of test.csv, which models are measured on: a model "
         "trained on them would be measured on what it learnt. Remove them or pick another file.")]
    assert report.category_counts and report.preview is not None  # still shown, so the person sees which file it is


def test_a_few_evaluation_rows_among_training_rows_are_named_by_row_and_file(rows, test_split, tmp_path):
    dev = pd.read_csv(REPO_ROOT / "training/data/dev.csv", keep_default_na=False, dtype=str)
    mixed = pd.concat([rows, test_split.iloc[[7]], rows.head(2), dev.iloc[[0]]], ignore_index=True)
    report = check_csv(write(mixed, tmp_path), measured_on=MEASURED)
    assert [error.split(",")[0] for error in report.errors] == [
        "row 21 of data.csv is an email of test.csv", "row 24 of data.csv is an email of dev.csv"]
    assert check_csv(write(mixed, tmp_path), role="validation").ok  # no files given: nothing measured against


@pytest.mark.parametrize("name", ["train.csv", "val.csv", "train_chat.csv", "train_traps.csv"])
def test_the_shipped_training_files_hold_no_evaluation_email(name):
    assert check_csv(REPO_ROOT / "training/data" / name, measured_on=MEASURED).errors == []


def test_the_hand_written_source_rows_are_refused_as_they_include_test_split_rows():
    """handwritten.csv is merged into every split by training.generate_data: 20 of its mails are test rows."""
    [error] = check_csv(REPO_ROOT / "training/data/handwritten.csv", measured_on=MEASURED).errors
    assert error.startswith("rows ") and "and 15 more of handwritten.csv are emails of test.csv" in error


def test_a_measuring_file_that_is_absent_or_unreadable_measures_nothing(rows, tmp_path):
    unreadable = tmp_path / "broken.csv"
    unreadable.write_bytes(b"\xff\xfe\x00garbage")
    assert check_csv(write(rows, tmp_path), measured_on=[tmp_path / "absent.csv", unreadable]).ok


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picked=hst.lists(hst.integers(0, 299), min_size=1, max_size=6, unique=True),
       respace=hst.sampled_from(["  ", "\n", "\t", " \u00a0"]), recase=hst.sampled_from([str.upper, str.lower, str.title]))
@example(picked=[16], respace="  ", recase=str.upper)  # "Grüße" upper-cased is "GRÜSSE": lowered, no longer the same
def test_any_evaluation_row_respaced_or_recased_is_found(rows, test_split, tmp_path, picked, respace, recase):
    copied = test_split.iloc[picked].assign(subject=lambda frame: frame["subject"].map(recase),
                                            body=lambda frame: frame["body"].map(lambda body: recase(body).replace(" ", respace)))
    report = check_csv(write(pd.concat([rows, copied], ignore_index=True), tmp_path), measured_on=MEASURED[:1])
    assert len(report.errors) == 1 and rows_text(list(range(20, 20 + len(picked)))) in report.errors[0]
