"""The Training page's data pickers: a CSV from training/data/ or an upload, checked and previewed
before anything starts (the checks are training/data_checks.py), and the operator's corrections
as a second source: exported pseudonymised from the ticket store, split by time (the newest held
out for the Eval page), checked like any training CSV."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from core.csv_cells import spreadsheet_cell
from support.corrections import MAX_PER_SENDER, export_corrections
from support.store import TicketStore
from training import corrections, data_checks, layout, runs, uploads
from ui.errors import plain

PREVIEW_CELL_CHARS = 500
"""A preview cell's most characters: the whole CSV is checked, but a 10 MB cell would be sent to the
browser on every rerun (every widget change) for a preview nobody reads that far."""


def pick_csv(label: str, key: str, runs_root: Path, default_name: str, optional: bool = False) -> Path | None:
    """A CSV from the list (training/data/ and earlier uploads), or a new upload, which wins."""
    choices = runs.csv_choices(runs_root)
    options = [None, *choices] if optional else choices
    defaults = [path for path in choices if path.name == default_name]
    chosen = st.selectbox(label, options, index=options.index(defaults[0]) if defaults else 0, key=f"{key}_csv",
                          format_func=lambda path: "None: no eval loss" if path is None else runs.display_path(path))
    upload = st.file_uploader(f"…or upload a {label.lower()} CSV", type="csv", key=f"{key}_upload")
    if upload is None:
        return chosen
    # the size first: a file too large is refused before its bytes are copied, written or read
    problem = uploads.upload_problem(upload.name, upload.size)
    content = b"" if problem else upload.getvalue()
    problem = problem or uploads.upload_problem(upload.name, content)
    if problem:
        kept = f"no {label.lower()}" if chosen is None else f"`{runs.display_path(chosen)}` from the list"
        st.error(f"{plain(problem)} The upload is not used: {kept} stays picked.", icon=":material/error:")
    else:
        chosen = uploads.save_upload(runs_root, upload.name, content)
        st.caption(f"Using the upload **{plain(uploads.shown_name(upload.name))}** (kept as `{runs.display_path(chosen)}`, "
                   "so later runs can pick it from the list). Remove it to use the list again.")
    return chosen


def show_checks(path: Path | None, role: str, guard_measured: bool = True) -> data_checks.CsvReport:
    """Errors, warnings, rows per category and a preview of one CSV. Training data may hold no email
    of a file models are measured on, whatever it is called (``guard_measured``)."""
    if path is None:
        report = data_checks.CsvReport(path=f"the {role} data", errors=[f"No {role} CSV yet: upload one."])
    else:
        measured_on = tuple(map(str, runs.measuring_files())) if role == "training" and guard_measured else ()
        report = _checked(str(path), _modified(path), role, measured_on)
    # the checks quote the file's own cells (an unknown category): text, never live markdown
    for error in report.errors:
        st.error(plain(error), icon=":material/error:")
    for warning in report.warnings:
        st.warning(plain(warning), icon=":material/warning:")
    if report.category_counts:
        st.markdown(f"**{report.rows:,} rows**")
        st.dataframe(_category_table(report.category_counts), hide_index=True, width="content")
    if report.preview is not None and not report.preview.empty:
        with st.expander(f"Preview: the first {len(report.preview)} rows"):
            st.dataframe(_previewed(report.preview), hide_index=True)
    return report


# A table's own "Download as CSV" writes its cells as shown, formulas and all (Streamlit escapes
# none), and these cells are the file's: a corrections export's are mail an attacker wrote. So a
# cell a spreadsheet would run is shown as the exports write it, after an apostrophe.
def _category_table(counts: dict[str, int]) -> pd.DataFrame:
    """Rows per category; an unknown category is the file's own cell."""
    return pd.DataFrame({"category": [spreadsheet_cell(category) for category in counts], "rows": list(counts.values())})


def _previewed(preview: pd.DataFrame) -> pd.DataFrame:
    return _shortened(preview).map(spreadsheet_cell)


def _shortened(preview: pd.DataFrame) -> pd.DataFrame:
    """The preview with each text cell cut to ``PREVIEW_CELL_CHARS``, an ellipsis saying where."""
    def cut(value):
        if isinstance(value, str) and len(value) > PREVIEW_CELL_CHARS:
            return value[:PREVIEW_CELL_CHARS - 1] + "…"
        return value
    return preview.map(cut)


def show_overlap(train_path: Path | None, val_path: Path | None) -> None:
    if train_path is None or val_path is None:
        return
    for warning in _overlap(str(train_path), _modified(train_path), str(val_path), _modified(val_path)):
        st.warning(plain(warning), icon=":material/warning:")


# Cached by path and modification time: re-reading 3,000 rows on every rerun (every widget
# change, every refresh of the live progress) would slow the page for nothing.
@st.cache_data(max_entries=32, show_spinner="Checking the CSV...")
def _checked(path: str, modified: float, role: str, measured_on: tuple[str, ...]) -> data_checks.CsvReport:
    return data_checks.check_csv(path, role, measured_on)



@st.cache_data(max_entries=16, show_spinner=False)
def _overlap(train: str, train_modified: float, val: str, val_modified: float) -> list[str]:
    return data_checks.check_overlap(train, val)


def _modified(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0


def _left_out(rows: int) -> str:
    if not rows:
        return ""
    return (f" {rows:,} left out: anyone can mail the club, so a mail counts once (its newest decision), a "
            f"sender at most {MAX_PER_SENDER} times, and a ticket split off another's mail not at all.")


def corrections_source(runs_root: Path, ticket_store: TicketStore, val_path: Path | None
                       ) -> tuple[corrections.CorrectionsSplit | None, data_checks.CsvReport | None]:
    """"Base data + operator corrections": when switched on, the store's decisions exported
    (pseudonymised) into the runs folder's uploads and split by time, with the checks of any
    training CSV and the overlap with validation and test. Returns the split (None: off, or nothing
    to train on yet) and the training part's report."""
    if not st.toggle("Add the operator's corrections", key="with_corrections",
                     help="Every ticket decided in the inbox is a labelled example (approved as the model said, or "
                          "corrected). Names, addresses, phone numbers, usernames and booking numbers are replaced "
                          "by stand-ins; the raw mails stay in the ticket store."):
        return None, None
    count, newest = ticket_store.corrections_version()
    if not count:
        st.info("No decided tickets yet: approve or reject some in the inbox (with ACEDESK_COLLECT_CORRECTIONS "
                "on, the default) and they appear here.")
        return None, None
    split = _exported(str(ticket_store.path), count, newest, str(runs_root))
    st.markdown(f"**{count:,} decided tickets** (pseudonymised): {split.train_rows:,} join the training data; the "
                f"newest {split.held_out_rows:,}, decided since {split.held_out_since[:16].replace('T', ' ')}, are held "
                f"out, never trained on: `{runs.display_path(split.held_out)}`. Score a candidate on them on the Eval "
                "page." + _left_out(count - split.train_rows - split.held_out_rows))
    if split.train is None:
        st.warning(f"Too few decisions to train on yet: the first {corrections.MIN_HELD_OUT} are all held out.",
                   icon=":material/warning:")
        return None, None
    # The club's own mails, not a copied evaluation file: one also in the test split is the warning below.
    report = show_checks(split.train, "training", guard_measured=False)
    show_overlap(split.train, val_path)
    test_split = runs.DATA_DIR / "test.csv"
    if shared := corrections.shared_mails(split.train, test_split):
        st.warning(f"{shared} of the corrections' mails also appear in {test_split.name}: a score there would "
                   "flatter the candidate.", icon=":material/warning:")
    return split, report


@st.cache_data(max_entries=4, show_spinner="Exporting the corrections...")
def _exported(store_path: str, count: int, newest: str, runs_root: str) -> corrections.CorrectionsSplit:
    """One export per state of the corrections (``count`` and ``newest`` are the cache key)."""
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "corrections.csv"
        export_corrections(TicketStore(store_path), export)
        return corrections.split_by_time(export, layout.uploads_dir(Path(runs_root)))
