"""Which model the inbox uses: the shipped adapter unless an experimenter promoted another.

The choice is a small JSON file in the app's data folder, so it survives restarts and is
the same for every session and for the worker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.files import write_json_atomically
from core.settings import NO_ADAPTER, Settings
from model.metadata import DEFAULT_ADAPTER, read_metadata

ACTIVE_FILE = "active_model.json"


@dataclass(frozen=True)
class ModelChoice:
    adapter: str | None
    """Adapter folder (with acedesk.json), or None for the plain base model."""
    base_model: str | None = None
    """None = the adapter's own base (from its acedesk.json)."""
    model_url: str | None = None
    """An OpenAI-compatible server that serves ``adapter`` (model/served.py); None = in-process."""


def default_choice(settings: Settings) -> ModelChoice:
    """The settings' adapter and base model (``ACEDESK_ADAPTER=none``: the plain base), else the shipped adapter."""
    adapter = settings.adapter
    if adapter is None:
        adapter = str(DEFAULT_ADAPTER)
    elif adapter.strip().lower() in NO_ADAPTER:
        adapter = None
    return ModelChoice(adapter, settings.base_model)


def active_choice(settings: Settings) -> ModelChoice:
    """The promoted model (data_dir/active_model.json), else the settings' default."""
    path = settings.data_dir / ACTIVE_FILE
    if not path.exists():
        return default_choice(settings)
    return ModelChoice(**json.loads(path.read_text()))


def promote(data_dir: Path, adapter: str | Path, base_model: str | None = None) -> ModelChoice:
    """Make ``adapter`` the inbox's model; checks it is a complete adapter first."""
    read_metadata(adapter)  # raises with a clear message for a folder that is not an AceDesk adapter
    choice = ModelChoice(str(Path(adapter).resolve()), base_model)
    path = Path(data_dir) / ACTIVE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    # the server (model_url) is a setting, never promoted: the file names a local adapter only;
    # written whole or not at all: the worker never reads half a choice
    write_json_atomically(path, {"adapter": choice.adapter, "base_model": choice.base_model})
    return choice
