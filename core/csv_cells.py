"""CSV cells a spreadsheet shows as text, and back.

The corrections export carries mail text an attacker wrote. A cell that starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is a formula to a spreadsheet (OWASP, "CSV injection"),
so such a cell is written after an apostrophe, which spreadsheets show as text and hide. A cell
that already starts with an apostrophe gets one more, so that ``cell_text`` gives back exactly
what was written: training reads the text the mail held, not the export's guard.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula."""
GUARD = "'"


def spreadsheet_cell(value):
    """``value`` as a spreadsheet shows it as text (non-text values as they are)."""
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, GUARD)):
        return GUARD + value
    return value


def cell_text(value):
    """What ``spreadsheet_cell`` was given."""
    if isinstance(value, str) and value.startswith(GUARD):
        return value[len(GUARD):]
    return value
