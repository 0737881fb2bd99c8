"""Which model the inbox uses: the shipped adapter unless an experimenter promoted another.

The choice is a small JSON file in the app's data folder, so it survives restarts and is
the same for every session and for the worker. A file that cannot be used (damaged, its adapter
deleted, a folder outside the adapters' folders) is never a traceback and never silently another
model: ``read_active`` falls back to the default and says why, for the pages to show.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from core.files import write_json_atomically
from core.settings import NO_ADAPTER, Settings, load_settings
from model.metadata import DEFAULT_ADAPTER, outside_homes_problem, read_metadata

ACTIVE_FILE = "active_model.json"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelChoice:
    adapter: str | None
    """Adapter folder (with acedesk.json), or None for the plain base model."""
    base_model: str | None = None
    """None = the adapter's own base (from its acedesk.json)."""
    model_url: str | None = None
    """An OpenAI-compatible server that serves ``adapter`` (model/served.py); None = in-process."""


@dataclass(frozen=True)
class ActiveModel:
    choice: ModelChoice
    problem: str | None = None
    """Why the promoted model is not used and ``choice`` is the default instead; None when it is used
    (or none was promoted)."""


def default_choice(settings: Settings) -> ModelChoice:
    """The settings' adapter and base model (``ACEDESK_ADAPTER=none``: the plain base), else the shipped adapter."""
    adapter = settings.adapter
    if adapter is None:
        adapter = str(DEFAULT_ADAPTER)
    elif adapter.strip().lower() in NO_ADAPTER:
        adapter = None
    return ModelChoice(adapter, settings.base_model)


def read_active(settings: Settings) -> ActiveModel:
    """The promoted model (data_dir/active_model.json), else the settings' default; with the reason
    when a promoted one exists but cannot be used."""
    path = Path(settings.data_dir) / ACTIVE_FILE
    try:
        choice = _promoted(path, settings)
    except FileNotFoundError:
        return ActiveModel(default_choice(settings))
    except _Unusable as problem:
        return ActiveModel(default_choice(settings), f"{path} {problem}")
    return ActiveModel(choice)


def active_choice(settings: Settings) -> ModelChoice:
    """The model the inbox uses (``read_active``); a promoted one that cannot be used is logged."""
    active = read_active(settings)
    if active.problem:
        log.warning("the promoted model is not used, the default is: %s", active.problem)
    return active.choice


def promote(data_dir: Path, adapter: str | Path, base_model: str | None = None, *,
            runs_dir: Path | None = None) -> ModelChoice:
    """Make ``adapter`` the inbox's model; checks first that ``read_active`` will use it: one of
    the project's adapters (``runs_dir``: the settings' unless given) and complete. ValueError if not."""
    if problem := outside_homes_problem(adapter, load_settings().runs_dir if runs_dir is None else runs_dir):
        raise ValueError(f"{adapter} {problem}")  # written, it would be refused and the default used
    read_metadata(adapter)  # raises with a clear message for a folder that is not an AceDesk adapter
    choice = ModelChoice(str(Path(adapter).resolve()), base_model)
    path = Path(data_dir) / ACTIVE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    # the server (model_url) is a setting, never promoted: the file names a local adapter only;
    # written whole or not at all: the worker never reads half a choice
    write_json_atomically(path, {"adapter": choice.adapter, "base_model": choice.base_model})
    return choice


class _Unusable(Exception):
    """The promoted choice cannot be used; the message says why, after the file's path."""


def _promoted(path: Path, settings: Settings) -> ModelChoice:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as error:  # ValueError: not UTF-8, not JSON
        raise _Unusable(f"cannot be read ({error})") from None
    if not isinstance(data, dict):
        raise _Unusable(f"holds {type(data).__name__}, not the object promote writes")
    adapter, base_model = data.get("adapter"), data.get("base_model")
    # promote writes an adapter's folder: the plain base model is never promoted
    if not isinstance(adapter, str) or not adapter.strip() or "\0" in adapter:
        raise _Unusable(f"names no adapter folder (adapter is {adapter!r})")
    if base_model is not None and not isinstance(base_model, str):
        raise _Unusable(f"names no base model (base_model is {base_model!r})")
    if problem := outside_homes_problem(adapter, settings.runs_dir):
        raise _Unusable(f"names {adapter}, which {problem}")
    folder = Path(adapter).resolve()  # links and .. resolved: where it really is
    try:
        read_metadata(folder)
    except (OSError, ValueError) as error:
        raise _Unusable(f"names {adapter}, which is not a complete adapter (deleted or damaged?): {error}") from None
    # the file's model_url, if any, is ignored: a server is a setting, never promoted
    return ModelChoice(adapter, base_model)

