"""What the Eval page lets people choose, as plain values: the model (adapter + base) and the
labelled data. No streamlit here, so it is unit-tested directly."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from safetensors import SafetensorError, safe_open

from core.settings import PROJECT_ROOT, Settings, public_url
from model.active import ModelChoice
from model.metadata import DEFAULT_BASE_MODEL, outside_homes_problem
from training.catalog import AdapterEntry
from training.config import path_list
from training.data_checks import mail_keys, text_keys
from training.dataset import read_labelled_csv
from training.eval_jobs import EvalRun

NO_ADAPTER = ""
"""The adapter option that means the plain base model."""
DEFAULT_TEST_SPLIT = PROJECT_ROOT / "training" / "data" / "test.csv"
UPLOADS_FOLDER = "uploads"
ADAPTER_CONFIG_MAX_BYTES = 1_000_000
"""A LoRA config is a few hundred bytes; a bigger file is read by no one (the page lists every checkpoint)."""


def plain_base_model(settings: Settings) -> str:
    """The base the app runs without an adapter: the settings' base model, else the packaged default."""
    return settings.base_model or DEFAULT_BASE_MODEL


def base_model_options(entries: list[AdapterEntry], adapter: AdapterEntry | None, plain_base: str) -> list[str]:
    """The chosen adapter's own base first (an adapter only fits the base it was trained on),
    then every other base known here."""
    first = adapter.base_model if adapter else plain_base
    return list(dict.fromkeys([first, plain_base, *(entry.base_model for entry in entries)]))


def choice_for(adapter: AdapterEntry | None, base_model: str, plain_base: str) -> ModelChoice:
    """The ModelChoice to load. Written the way model/active.py writes the inbox's choice
    (the adapter's own base as None, paths resolved), so the same model is cached once."""
    if adapter is None:
        base = base_model or plain_base
        return ModelChoice(None, None if base == DEFAULT_BASE_MODEL else base)  # None: the runtime's default
    own_base = base_model in ("", adapter.base_model)
    return ModelChoice(str(adapter.path.resolve()), None if own_base else base_model)


def adapter_problem(entry: AdapterEntry, runs_dir: Path) -> str | None:
    """Why the page may neither load nor promote a listed adapter; None when it may.

    Only the project's own adapters, wherever a link on the path leads: the inbox refuses a promoted
    folder elsewhere (model/active.py), so the page would announce a promotion that never happens,
    and the chat would load files from anywhere on the server. And only one whose LoRA config and
    weights can be read: a half-written or damaged one would be promoted and fail the inbox's
    every triage."""
    if outside := outside_homes_problem(entry.path, runs_dir):
        return f"it {outside}"
    folder = entry.path.resolve()
    config = folder / "adapter_config.json"
    try:
        if config.stat().st_size > ADAPTER_CONFIG_MAX_BYTES:
            return f"its adapter_config.json is over {ADAPTER_CONFIG_MAX_BYTES // 1_000_000} MB"
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: not UTF-8, not JSON
        return f"its adapter_config.json cannot be read ({error})"
    if not isinstance(settings, dict) or settings.get("peft_type") != "LORA":
        return "its adapter_config.json describes no LoRA adapter"
    try:
        with safe_open(folder / "adapter_model.safetensors", framework="numpy"):
            pass  # the header read whole and checked against the file's size, no weight loaded
    except (OSError, SafetensorError) as error:
        return f"its weights cannot be read ({error})"
    return None


def is_same_choice(first: ModelChoice, second: ModelChoice) -> bool:
    def key(choice: ModelChoice):
        return (str(Path(choice.adapter).resolve()) if choice.adapter else None, choice.base_model, choice.model_url)

    return key(first) == key(second)


def describe_choice(choice: ModelChoice, entry: AdapterEntry | None) -> str:
    """``default / checkpoint-150`` (+ `` on <base>`` when not its own base), or the plain base."""
    if choice.model_url:
        return f"the model server {public_url(choice.model_url)}"
    if choice.adapter is None:
        return f"plain base model {choice.base_model or DEFAULT_BASE_MODEL}"
    name = entry.label.split(" · ")[0] if entry else choice.adapter
    return f"{name} on {choice.base_model}" if choice.base_model else name


def adapter_test_split(adapter: AdapterEntry | None) -> Path:
    """The test split written beside the adapter's training file (generate_data writes
    train/val/test together), else the project's own."""
    train_file = (adapter.hyperparameters.get("train_file") if adapter else None) or ""
    if train_file:
        path = Path(train_file)
        candidate = (path if path.is_absolute() else PROJECT_ROOT / path).with_name("test.csv")
        if candidate.is_file():
            return candidate
    return DEFAULT_TEST_SPLIT


def trained_mails(rows: list[dict[str, str]], adapter: AdapterEntry | None) -> tuple[int, list[str]]:
    """How many of ``rows`` are mails ``adapter`` was trained on, and the names of the training files
    they come from. A model scores well on what it learnt, so such figures measure no model: the
    page says so. Mails match however copied, by the identity the training checks use (renamed,
    reshuffled, re-spaced, re-cased: training/data_checks.py)."""
    config = adapter.hyperparameters if adapter else {}
    train_files = [*path_list(str(config.get("train_file") or "")), *path_list(str(config.get("extra_train_file") or ""))]
    if not rows or not train_files:
        return 0, []
    keys = mail_keys(rows)
    seen, sources = [False] * len(keys), []
    for train_file in train_files:
        path = Path(train_file) if Path(train_file).is_absolute() else PROJECT_ROOT / train_file
        try:
            trained = set(text_keys(read_labelled_csv(path))) - {""}
        except (OSError, ValueError, KeyError, UnicodeDecodeError):  # gone since, or no subject/body: nothing known
            continue
        hits = [key in trained for key in keys]
        if any(hits):
            sources.append(path.name)
            seen = [before or hit for before, hit in zip(seen, hits, strict=True)]
    return sum(seen), sources


def is_evaluation_of(run: EvalRun, choice: ModelChoice) -> bool:
    """Whether ``run`` evaluated the model ``choice`` names: the same adapter folder (links followed),
    base model and source (the model server or a loaded model)."""
    def adapter(path: str | None) -> str | None:
        return str(Path(path).resolve()) if path else None

    return ((adapter(run.adapter), run.base_model, run.served)
            == (adapter(choice.adapter), choice.base_model, bool(choice.model_url)))


def data_folders(settings: Settings) -> tuple[Path, ...]:
    """Where a CSV typed on the Eval page may come from: the project's data, the app's data and
    the runs folder (evaluations, uploads, held-out corrections). Nothing else on the server."""
    return (PROJECT_ROOT / "training" / "data", Path(settings.data_dir), Path(settings.runs_dir))


def server_csv(typed: str, folders: tuple[Path, ...]) -> tuple[Path | None, str | None]:
    """The typed path as a CSV inside ``folders`` (relative paths are the project's), or why not."""
    if not typed.strip():
        return None, "Type the path of a CSV file first."
    path = Path(typed.strip())
    resolved = (path if path.is_absolute() else PROJECT_ROOT / path).resolve()  # links and .. resolved first
    if resolved.suffix.lower() != ".csv":
        return None, f"{typed} is not a .csv file."
    if not any(resolved.is_relative_to(folder.resolve()) for folder in folders):
        shown = ", ".join(str(folder) for folder in folders)
        return None, f"Only CSV files in the data folders can be evaluated ({shown}); {typed} is elsewhere."
    return resolved, None


def upload_path(evals_folder: Path, file_name: str) -> Path:
    """Where an uploaded CSV is kept (its evaluation's metrics point to it)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(file_name).name).strip("._") or "upload.csv"
    return Path(evals_folder) / UPLOADS_FOLDER / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}"
