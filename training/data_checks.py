"""Checks on a labelled CSV before a training run starts, in words the person who picked it can act on.

Errors are what would crash the run or teach the model something invalid (missing columns,
unknown categories, one email labelled two ways, emails of a file models are measured on);
warnings are what makes a run worse without stopping it (empty bodies or replies, duplicates,
a category with no rows, the same email in training and validation). Rows are counted from 1, header excluded.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from model.schema import CATEGORIES
from training.dataset import REQUIRED_COLUMNS, TooManyRows, read_labelled_csv
from training.generate_data import text_key

PREVIEW_ROWS = 20
MAX_ROWS = 100_000
"""Rows a checked CSV may hold: thirty times the train split (3,195). Checking a 20 MB upload of
1,000,000 one-word rows took 13.6 s and 1.1 GB on every new upload, and a run would have started
on them; a file this long is no hand-made training set. The checks read no further than this."""
_PARSER_PROBLEMS = (  # pandas' words for a broken CSV, in the words of the person who saved it
    (re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)"),
     "line {1} has {2} cells where the header has {0}: a cell holding a comma must be in double quotes"),
    (re.compile(r"EOF inside string starting at row (\d+)"),
     "a double quote opened in row {0} is never closed"),
    (re.compile(r"No columns to parse from file"), "it is empty: not even a header row"),
)
_OTHER_SEPARATORS = {";": "semicolons", "\t": "tabs"}
_UNDECODED = re.compile("[\udc80-\udcff]")  # a byte that is no UTF-8, as surrogateescape keeps it
_EMAIL_KEY = ("sender", "subject", "body")  # what makes two rows the same email


@dataclass
class CsvReport:
    """What a CSV holds and what is wrong with it."""

    path: str
    rows: int = 0
    category_counts: dict[str, int] = field(default_factory=dict)
    """Rows per category: the five known ones always (0 when absent), unknown ones too."""
    errors: list[str] = field(default_factory=list)
    """Training must not start while there are any."""
    warnings: list[str] = field(default_factory=list)
    preview: pd.DataFrame | None = field(default=None, repr=False)
    """The first rows, as read."""

    @property
    def ok(self) -> bool:
        return not self.errors


def check_csv(path: str | Path, role: str = "training", measured_on: Iterable[str | Path] = ()) -> CsvReport:
    """Check one CSV; ``role`` ("training" or "validation") only changes the wording and which
    gaps matter (a validation file may lack a category). ``measured_on``: the files models are
    measured on, whose emails a training file may not hold, however the copy is ordered, encoded,
    spaced or cased (the splits' own identity, training/generate_data.py ``text_key``)."""
    report = CsvReport(path=str(path))
    name = Path(path).name
    frame, problem = read_problem(path, role)
    if problem:
        report.errors.append(problem)
        return report
    report.rows = len(frame)
    report.preview = frame.head(PREVIEW_ROWS)
    problems = column_problems(frame, path, role)
    if problems:
        report.errors.extend(problems)
        return report
    if frame.empty:
        report.errors.append(f"{name} has a header but no rows: add labelled emails.")
        return report
    report.category_counts = category_counts(frame)
    _check_categories(frame, report, role)
    _check_empty_cells(frame, report)
    _check_duplicates(frame, report)
    _check_measured_emails(frame, report, measured_on)
    return report


def read_problem(path: str | Path, role: str = "training") -> tuple[pd.DataFrame | None, str | None]:
    """The labelled CSV at ``path`` as training reads it (at most ``MAX_ROWS`` rows), or None and the one
    sentence that says why it cannot be read: gone, too long, or no CSV (its encoding, separator, a
    spreadsheet's ``sep=`` line, an open quote). ``role`` names the data in that sentence."""
    name = Path(path).name
    try:
        return _read(path), None
    except FileNotFoundError:
        return None, f"{name} does not exist any more: pick the {role} data again."
    except TooManyRows:
        return None, (f"{name} has more than {MAX_ROWS:,} rows; a {role} CSV is a few thousand "
                      "(training/data/train.csv has 3,195). Keep fewer rows.")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as error:
        return None, _unreadable(path, _unreadable_reason(path, error))


def column_problems(frame: pd.DataFrame, path: str | Path, role: str = "training",
                    required: tuple[str, ...] = REQUIRED_COLUMNS, reader: str = "training") -> list[str]:
    """Why ``frame`` (``read_problem``'s) lacks the ``required`` columns ``reader`` reads by their exact
    names, a sentence each; [] when it has them: one repeated, spelled another way ("Category "), beside
    a misspelled copy, cut by another separator, or missing."""
    name = Path(path).name
    repeated = [column for column in required if f"{column}.1" in frame.columns]  # pandas' name for a repeat
    if repeated:
        return [(f"{name} has the column(s) {', '.join(repeated)} more than once: {reader} would read only "
                 "the first. Keep one of each.")]
    misnamed = _misnamed_columns(frame, name, required, reader)
    if misnamed:
        return misnamed
    missing = [column for column in required if column not in frame.columns]
    if missing and (separator := _header_problem(path)):
        return [_unreadable(path, separator)]
    if missing:
        return [(f"{name} lacks the column(s) {', '.join(missing)}. A {role} CSV needs "
                 f"{', '.join(required)} (see training/data/train.csv).")]
    return []


def category_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = {category: 0 for category in CATEGORIES}
    counts.update(frame["category"].str.strip().value_counts().to_dict())
    return {category: int(count) for category, count in counts.items()}


def check_overlap(train_path: str | Path, val_path: str | Path) -> list[str]:
    """Warnings when validation emails also occur in the training data (the eval loss would flatter)."""
    try:
        train, val = _read(train_path), _read(val_path)
    except (OSError, ValueError, UnicodeDecodeError):  # check_csv reports unreadable files already
        return []
    if not set(_EMAIL_KEY) <= set(train.columns) & set(val.columns):
        return []
    seen = set(_email_keys(train))
    shared = [index for index, key in enumerate(_email_keys(val)) if key in seen]
    if not shared:
        return []
    return [(f"{len(shared)} validation email(s) also appear in the training data ({rows_text(shared)} of "
             f"{Path(val_path).name}): the eval loss will look better than the model is. Use a "
             "validation file without them.")]


def rows_text(indices: list[int], shown: int = 5) -> str:
    """``[2, 8]`` (0-based) -> "rows 3 and 9"; long lists end in "and N more"."""
    numbers = [str(index + 1) for index in indices]
    if len(numbers) == 1:
        return f"row {numbers[0]}"
    if len(numbers) <= shown:
        return f"rows {', '.join(numbers[:-1])} and {numbers[-1]}"
    return f"rows {', '.join(numbers[:shown])} and {len(numbers) - shown} more"


def _check_categories(frame: pd.DataFrame, report: CsvReport, role: str) -> None:
    categories = frame["category"].str.strip()
    unknown = categories[~categories.isin(CATEGORIES)]
    if not unknown.empty:
        names = ", ".join(sorted({repr(value) for value in unknown}))
        # never taken as meant: the model learns the category exactly as the row spells it
        respelled = sorted({f"{value!r} is {as_named(value)}" for value in unknown if as_named(value) in CATEGORIES})
        hint = f" Categories are written in lower case with underscores: {', '.join(respelled)}." if respelled else ""
        report.errors.append(f"{rows_text(list(unknown.index))} {_verb(unknown, 'has', 'have')} a category the model does not know "
                             f"({names}). Use one of {', '.join(CATEGORIES)}; see model/schema.py for "
                             f"which one fits.{hint}")
    absent = [category for category in CATEGORIES if report.category_counts.get(category, 0) == 0]
    if absent and role == "training":
        report.warnings.append(f"No rows of {', '.join(absent)}: the model will not learn to recognise "
                               f"{'it' if len(absent) == 1 else 'them'}. Add examples.")


def _check_empty_cells(frame: pd.DataFrame, report: CsvReport) -> None:
    empty_bodies = list(frame.index[frame["body"].str.strip() == ""])
    if empty_bodies:
        report.warnings.append(f"{rows_text(empty_bodies)} {_verb(empty_bodies, 'has', 'have')} an empty body: the model learns those "
                               "from the subject alone. Fill the body in or remove the rows.")
    empty_replies = list(frame.index[frame["response"].str.strip() == ""])
    if empty_replies:
        report.warnings.append(f"{rows_text(empty_replies)} {_verb(empty_replies, 'has', 'have')} an empty response: the model learns to "
                               "propose no reply for them. Write the reply the club would send.")


def _check_duplicates(frame: pd.DataFrame, report: CsvReport) -> None:
    keys = pd.Series(_email_keys(frame), index=frame.index)
    repeated = keys.duplicated(keep=False)
    if not repeated.any():
        return
    labels_per_email = frame[repeated].groupby(keys[repeated])["category"].nunique()
    conflicting = keys[repeated & keys.isin(labels_per_email[labels_per_email > 1].index)]
    if not conflicting.empty:
        report.errors.append(f"The same email has different categories in {rows_text(list(conflicting.index))}:"
                             " the model cannot learn both. Keep the right label and remove the others.")
    copies = list(frame.index[keys.duplicated() & ~keys.isin(conflicting)])
    if copies:
        report.warnings.append(f"{rows_text(copies)} {_verb(copies, 'repeats', 'repeat')} an earlier email: duplicates count those emails "
                               "more than the rest. Remove them unless that is intended.")


def measured_mails(path: str | Path, measured_on: Iterable[str | Path]) -> list[str]:
    """The mails of the CSV at ``path`` that are mails of a file models are measured on, in words
    (one line per such file); [] when none, or when the CSV cannot be read (its checks say so)."""
    try:
        frame = _read(path)
    except (OSError, ValueError, UnicodeDecodeError):
        return []
    if not {"subject", "body"} <= set(frame.columns):
        return []
    report = CsvReport(path=str(path))
    _check_measured_emails(frame, report, measured_on)
    return report.errors


def _check_measured_emails(frame: pd.DataFrame, report: CsvReport, measured_on: Iterable[str | Path]) -> None:
    keys = pd.Series(text_keys(frame), index=frame.index)
    for measuring in measured_on:
        measured = _measured_keys(Path(measuring))
        shared = list(keys.index[keys.isin(measured)])
        if shared:
            report.errors.append(f"{rows_text(shared)} of {Path(report.path).name} {_verb(shared, 'is an email', 'are emails')} "
                                 f"of {Path(measuring).name}, which models are measured on: a model trained on "
                                 f"{_verb(shared, 'it', 'them')} would be measured on what it learnt. Remove "
                                 f"{_verb(shared, 'it', 'them')} or pick another file.")


def _measured_keys(path: Path) -> set[str]:
    try:
        frame = _read(path)
    except (OSError, ValueError, UnicodeDecodeError):  # not in this workplace (the real-world set), or unreadable
        return set()
    if not {"subject", "body"} <= set(frame.columns):
        return set()
    return set(text_keys(frame)) - {""}  # an email with neither subject nor body is no one's in particular


def text_keys(frame: pd.DataFrame) -> list[str]:
    # The splits' identity, case-folded first: an upper-cased copy of "Grüße" reads "grüsse" lowered
    return [text_key({"subject": subject.casefold(), "body": body.casefold()})
            for subject, body in zip(frame["subject"], frame["body"], strict=True)]


def mail_keys(rows: list[dict[str, str]]) -> list[str]:
    """``text_keys`` of rows as ``training.evaluate.load_rows`` gives them."""
    return text_keys(pd.DataFrame(rows, columns=["subject", "body"]).fillna("")) if rows else []


def distinct_mails(rows: list[dict[str, str]]) -> int:
    """How many different mails ``rows`` are: a file of one mail copied N times scores that mail N
    times, which its figures do not show (the Eval page and metrics.json say it)."""
    return len(set(mail_keys(rows)))


def _verb(rows, singular: str, plural: str) -> str:
    return singular if len(rows) == 1 else plural


def _email_keys(frame: pd.DataFrame) -> list[tuple[str, ...]]:
    # Whitespace differences do not make a new email.
    return [tuple(" ".join(str(value).split()).lower() for value in row)
            for row in frame[list(_EMAIL_KEY)].itertuples(index=False)]


def as_named(text: str) -> str:
    """``text`` spelled as the project names columns and categories: "Booking ID " -> "booking_id"."""
    return re.sub(r"[\s-]+", "_", str(text).strip()).casefold()


def _read(path: str | Path) -> pd.DataFrame:
    return read_labelled_csv(path, max_rows=MAX_ROWS)


def _misnamed_columns(frame: pd.DataFrame, name: str, required: tuple[str, ...], reader: str) -> list[str]:
    """A needed column spelled another way ("Category ", "Booking ID"): ``reader`` reads a column by
    its exact name, so it would miss it, or read the other one where both are there."""
    problems = []
    for column in frame.columns:
        wanted = as_named(column)
        if column == wanted or wanted not in required:
            continue
        if wanted in frame.columns:
            problems.append(f"{name} has both the column {wanted} and {column!r}: {reader} would read only {wanted}. "
                            f"Keep one of them, named {wanted}.")
        else:
            problems.append(f"{name} has a column {column!r} where {reader} reads one named exactly {wanted}: "
                            f"rename it {wanted}.")
    return problems


def _unreadable(path: str | Path, reason: str) -> str:
    return (f"{Path(path).name} could not be read as a CSV ({reason}). Save it as UTF-8 CSV with a header row, like "
            "training/data/train.csv.")


def _unreadable_reason(path: str | Path, error: Exception) -> str:
    header = _header_problem(path)
    if isinstance(error, UnicodeDecodeError):  # a spreadsheet's separator and its encoding often come together
        return "; ".join(filter(None, [header, _not_utf8(path)]))
    if header:
        return header
    for pattern, words in _PARSER_PROBLEMS:
        if match := pattern.search(str(error)):
            return words.format(*match.groups())
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _header_problem(path: str | Path) -> str | None:
    """What a spreadsheet's own kind of CSV shows in the first line: another separator, or its
    ``sep=`` note above the header."""
    try:
        with Path(path).open("rb") as handle:
            first = handle.readline(65536).decode("utf-8", "replace").removeprefix("\ufeff").strip()
    except OSError:
        return None
    if first.casefold().startswith("sep="):
        return f"its first line, {first[:20]!r}, is a spreadsheet's note, not the header: delete that line"
    separators = [words for separator, words in _OTHER_SEPARATORS.items() if separator in first]
    if "," not in first and separators:
        return f"its cells are separated by {separators[0]}, not commas"
    return None


def _not_utf8(path: str | Path) -> str:
    """Which row stops being UTF-8 (its bytes kept as lone surrogates to find it)."""
    try:
        with Path(path).open(encoding="utf-8", errors="surrogateescape", newline="") as handle:
            for number, cells in enumerate(csv.reader(handle)):
                if any(_UNDECODED.search(cell) for cell in cells):
                    where = f"row {number}" if number else "the header"
                    return (f"it is not UTF-8 text: {where} holds a character saved in another encoding, as a "
                            "spreadsheet's plain \"CSV\" saves é or ’")
    except (OSError, csv.Error):  # gone since pandas read it, or a cell over the csv module's limit
        pass
    return "it is not UTF-8 text"
