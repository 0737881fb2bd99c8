"""An evaluation's CSV is checked as the Training page checks one (training/data_checks.py): the Eval
page, ``load_rows`` and ``python -m training.evaluate`` refuse a messy file in the same one sentence,
never in a library's words, and read no more than ``MAX_ROWS`` rows."""

import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import REPO_ROOT
from tests.training.test_data_checks_hostile import JARGON, messes_said, spreadsheet_saved
from training.data_checks import MAX_ROWS
from training.evaluate import DataError, load_rows

TOO_MANY_ROWS = f"has more than {MAX_ROWS:,} rows; a labelled CSV is a few thousand"
MESSES = messes_said("the evaluation")  # how a spreadsheet left the file, and the sentence that says so


def messy_csv(how: str) -> bytes:
    """Ten labelled rows of the train split, saved the way ``how`` names."""
    rows = pd.read_csv(REPO_ROOT / "training/data/train.csv", keep_default_na=False, dtype=str).head(10)
    return spreadsheet_saved(rows, how)


def too_many_rows_csv() -> bytes:
    header = "sender,subject,body,category,username,booking_id\n"
    return (header + "".join(f"a@x.org,s{index},b{index},other,,\n" for index in range(MAX_ROWS + 1))).encode()


@pytest.mark.parametrize(("how", "said"), MESSES, ids=[how for how, _ in MESSES])
def test_a_messy_csv_is_refused_in_the_training_checks_sentence(tmp_path, how, said):
    """Before: "cannot read as CSV ('utf-8' codec can't decode byte 0xe9…)", "missing required column(s):
    category" beside a 'Category ' column, and 'category' beside 'category ' was evaluated."""
    path = tmp_path / "labels.csv"
    path.write_bytes(messy_csv(how))
    with pytest.raises(DataError) as refused:
        load_rows(path)
    assert str(refused.value).startswith("labels.csv ") and said in str(refused.value)
    assert not any(word in str(refused.value) for word in JARGON)


def test_more_rows_than_the_checks_allow_are_refused_even_with_a_limit(tmp_path):
    """Before: any number of rows was read whole and evaluated (1,000,000 rows: hours, and held in memory)."""
    path = tmp_path / "huge.csv"
    path.write_bytes(too_many_rows_csv())
    for limit in (None, 10):
        with pytest.raises(DataError, match=f"^huge.csv {TOO_MANY_ROWS}"):
            load_rows(path, limit)


def test_guard_the_project_files_read_as_before(tmp_path):
    """Guard (held before): a good file's rows are the ones pandas reads, every cell a string, none NaN."""
    path = REPO_ROOT / "training/data/second_requests.csv"
    assert load_rows(path) == pd.read_csv(path, keep_default_na=False, dtype=str).to_dict(orient="records")
    assert len(load_rows(path, 3)) == 3


@pytest.mark.parametrize(("how", "said"), [mess for mess in MESSES
                                           if mess[0] in ("latin-1", "semicolons", "cased column")],
                         ids=("latin-1", "semicolons", "cased column"))
def test_the_command_says_the_same_sentence_and_exits_without_a_traceback(tiny_base_dir, tmp_path, how, said):
    path = tmp_path / "bad.csv"
    path.write_bytes(messy_csv(how))
    done = subprocess.run([sys.executable, "-m", "training.evaluate", "--data", str(path), "--out",
                           str(tmp_path / "out"), "--adapter", "none", "--base-model", str(tiny_base_dir),
                           "--skip-base-baseline"], check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: bad.csv {said}") and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()
