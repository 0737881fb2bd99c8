"""The spreadsheet guard of exported cells: no exported cell starts a formula, and taking the
guard off gives back exactly the text that was written."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.csv_cells import FORMULA_STARTS, cell_text, spreadsheet_cell


@given(st.text())
def test_no_cell_starts_a_formula_and_the_text_comes_back_exactly(text):
    cell = spreadsheet_cell(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell_text(cell) == text


def test_plain_text_and_non_text_are_written_as_they_are():
    assert spreadsheet_cell("Hello, please cancel BK-48213") == "Hello, please cancel BK-48213"
    assert spreadsheet_cell(None) is None and cell_text(3) == 3
    assert spreadsheet_cell("=HYPERLINK(\"http://evil.example\")") == "'=HYPERLINK(\"http://evil.example\")"
    assert spreadsheet_cell("'quoted") == "''quoted"
