"""The Training page's data pickers: a CSV from training/data/ or an upload, checked and previewed
before anything starts (the checks are training/data_checks.py)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from training import data_checks, runs


def pick_csv(label: str, key: str, runs_root: Path, default_name: str, optional: bool = False) -> Path | None:
    """A CSV from the list (training/data/ and earlier uploads), or a new upload, which wins."""
    choices = runs.csv_choices(runs_root)
    options = [None, *choices] if optional else choices
    defaults = [path for path in choices if path.name == default_name]
    chosen = st.selectbox(label, options, index=options.index(defaults[0]) if defaults else 0, key=f"{key}_csv",
                          format_func=lambda path: "None: no eval loss" if path is None else runs.display_path(path))
    upload = st.file_uploader(f"…or upload a {label.lower()} CSV", type="csv", key=f"{key}_upload")
    if upload is not None:
        chosen = runs.save_upload(runs_root, upload.name, upload.getvalue())
        st.caption(f"Using the upload **{upload.name}** (kept as `{runs.display_path(chosen)}`, so later runs "
                   "can pick it from the list). Remove it to use the list again.")
    return chosen


def show_checks(path: Path | None, role: str) -> data_checks.CsvReport:
    """Errors, warnings, rows per category and a preview of one CSV."""
    if path is None:
        report = data_checks.CsvReport(path=f"the {role} data", errors=[f"No {role} CSV yet: upload one."])
    else:
        report = _checked(str(path), _modified(path), role)
    for error in report.errors:
        st.error(error, icon=":material/error:")
    for warning in report.warnings:
        st.warning(warning, icon=":material/warning:")
    if report.category_counts:
        counts = pd.DataFrame({"category": list(report.category_counts),
                               "rows": list(report.category_counts.values())})
        st.markdown(f"**{report.rows:,} rows**")
        st.dataframe(counts, hide_index=True, width="content")
    if report.preview is not None and not report.preview.empty:
        with st.expander(f"Preview: the first {len(report.preview)} rows"):
            st.dataframe(report.preview, hide_index=True)
    return report


def show_overlap(train_path: Path | None, val_path: Path | None) -> None:
    if train_path is None or val_path is None:
        return
    for warning in _overlap(str(train_path), _modified(train_path), str(val_path), _modified(val_path)):
        st.warning(warning, icon=":material/warning:")


# Cached by path and modification time: re-reading 3,000 rows on every rerun (every widget
# change, every refresh of the live progress) would slow the page for nothing.
@st.cache_data(max_entries=32, show_spinner="Checking the CSV...")
def _checked(path: str, modified: float, role: str) -> data_checks.CsvReport:
    return data_checks.check_csv(path, role)


@st.cache_data(max_entries=16, show_spinner=False)
def _overlap(train: str, train_modified: float, val: str, val_modified: float) -> list[str]:
    return data_checks.check_overlap(train, val)


def _modified(path: Path) -> float:
    return path.stat().st_mtime if path.exists() else 0.0
