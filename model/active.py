"""Which model the inbox uses: the shipped adapter unless an experimenter promoted another.

The choice is a small JSON file in the app's data folder, so it survives restarts and is
the same for every session and for the worker.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from model.metadata import DEFAULT_ADAPTER, read_metadata

ACTIVE_FILE = "active_model.json"


@dataclass(frozen=True)
class ModelChoice:
    adapter: str | None
    """Adapter folder (with acedesk.json), or None for the plain base model."""
    base_model: str | None = None
    """None = the adapter's own base (from its acedesk.json)."""


def default_choice() -> ModelChoice:
    """``ACEDESK_ADAPTER`` / ``ACEDESK_BASE_MODEL`` when set (empty adapter = none), else the shipped one."""
    adapter = os.environ.get("ACEDESK_ADAPTER", str(DEFAULT_ADAPTER)) or None
    return ModelChoice(adapter, os.environ.get("ACEDESK_BASE_MODEL") or None)


def active_choice(data_dir: Path) -> ModelChoice:
    path = Path(data_dir) / ACTIVE_FILE
    if not path.exists():
        return default_choice()
    return ModelChoice(**json.loads(path.read_text()))


def promote(data_dir: Path, adapter: str | Path, base_model: str | None = None) -> ModelChoice:
    """Make ``adapter`` the inbox's model; checks it is a complete adapter first."""
    read_metadata(adapter)  # raises with a clear message for a folder that is not an AceDesk adapter
    choice = ModelChoice(str(Path(adapter).resolve()), base_model)
    path = Path(data_dir) / ACTIVE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(choice), indent=2) + "\n")
    temporary.replace(path)  # atomic: the worker never reads half a file
    return choice
