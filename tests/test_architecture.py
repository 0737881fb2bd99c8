"""The rooms of the house: which package may import which (README, "Architecture").

One table, ``MAY_IMPORT``, is the rule; every Python file of every room is checked against it,
every room of the repository must have a rule, and the README's architecture table must say the
same thing (its "may import" column is read and compared).
"""

import ast
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

OURS = ("core", "model", "training", "integrations", "support", "ui", "pages", "dashboard", "club_backend",
        "benchmarks", "demo", "testbed", "tests")
"""Every top-level module of this repository (an import of one of them is "ours")."""

UI_MAY = frozenset({"core", "model", "training", "integrations", "support", "ui"})
MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "model": frozenset({"core"}),
    "training": frozenset({"core", "model"}),
    "integrations": frozenset({"core"}),
    "support": frozenset({"core", "model", "integrations"}),
    "ui": UI_MAY - {"ui"},
    "pages": UI_MAY,
    "dashboard.py": UI_MAY,
    "club_backend": frozenset(),
    "demo": frozenset({"core"}),
    "testbed": frozenset({"core", "model", "integrations", "support", "demo"}),
    "benchmarks": frozenset({"core", "model", "training", "integrations", "support", "testbed"}),
}
"""Which of our rooms each room may import (besides itself). Nothing outside tests/ imports tests."""
STREAMLIT_ROOMS = {"ui", "pages", "dashboard.py"}
"""Only the UI imports streamlit: the workflow runs from cron, training runs headless."""


def imported_modules(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def files_of(room: str):
    return [REPO_ROOT / room] if room.endswith(".py") else sorted((REPO_ROOT / room).rglob("*.py"))


def offences(room: str) -> list[str]:
    own = room.removesuffix(".py")
    allowed = MAY_IMPORT[room] | {own}
    found = []
    for path in files_of(room):
        for name in imported_modules(path):
            ours_but_not_allowed = name in OURS and name not in allowed
            streamlit_outside_ui = name == "streamlit" and room not in STREAMLIT_ROOMS
            if ours_but_not_allowed or streamlit_outside_ui:
                found.append(f"{path.relative_to(REPO_ROOT)} imports {name}")
    return found


@pytest.mark.parametrize("room", sorted(MAY_IMPORT))
def test_a_room_imports_only_what_its_rule_allows(room):
    assert offences(room) == []


def test_every_room_of_the_repository_has_a_rule():
    packages = {path.parent.name for path in REPO_ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages | {"pages", "dashboard.py"} == set(MAY_IMPORT)
    assert {room.removesuffix(".py") for room in MAY_IMPORT} | {"tests"} == set(OURS)


def test_the_readme_table_says_what_the_rules_say():
    readme = (REPO_ROOT / "README.md").read_text()
    rows = {}
    for line in readme.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and (match := re.fullmatch(r"`([\w.]+)/?`", cells[0])):
            rows[match.group(1)] = set(re.findall(r"`(\w+)/?`", cells[2]))
    assert {room: rows.get(room) for room in MAY_IMPORT} == {room: set(allowed) for room, allowed in MAY_IMPORT.items()}


def test_the_check_catches_a_broken_rule(tmp_path, monkeypatch):
    """The rule table is not vacuous: a model module importing support is an offence."""
    monkeypatch.setitem(MAY_IMPORT, "model", frozenset())
    assert any("imports core" in offence for offence in offences("model"))


def test_the_inbox_page_opens_without_importing_torch():
    """torch takes seconds to import: it loads with the model, not with the inbox's first paint."""
    modules = "ui.resources, ui.inbox_actions, ui.inbox_detail, ui.inbox_fetch, ui.inbox_table, ui.inbox_rows"
    code = f"import sys, {modules}; print('torch' in sys.modules, 'transformers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            check=True)
    assert result.stdout.split()[-2:] == ["False", "False"]
