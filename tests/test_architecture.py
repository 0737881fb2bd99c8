"""The rooms of the house (README, Architecture): who may import whom."""

import ast
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

FORBIDDEN = {
    "model": {"streamlit", "training", "integrations", "support", "club_backend"},
    "training": {"streamlit", "integrations", "support", "club_backend"},
    "integrations": {"streamlit", "support", "training", "club_backend"},
    "support": {"streamlit", "training", "club_backend"},
    "club_backend": {"streamlit", "model", "training", "integrations", "support"},
}

# Command-line edges may reach one room further: the triage CLI reads an .eml file.
EDGES = {"model/triage.py": {"integrations"}}


def imported_packages(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_its_room_allows(package):
    offences = [f"{path.relative_to(REPO_ROOT)} imports {name}"
                for path in sorted((REPO_ROOT / package).rglob("*.py"))
                for name in imported_packages(path)
                if name in FORBIDDEN[package] - EDGES.get(str(path.relative_to(REPO_ROOT)), set())]
    assert offences == []


def test_the_inbox_page_opens_without_importing_torch():
    """torch takes seconds to import: it loads with the model, not with the inbox's first paint."""
    modules = "ui.resources, ui.inbox_actions, ui.inbox_detail, ui.inbox_fetch, ui.inbox_table, support.inbox"
    code = f"import sys, {modules}; print('torch' in sys.modules, 'transformers' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            check=True)
    assert result.stdout.split()[-2:] == ["False", "False"]
