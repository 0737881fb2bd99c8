"""Every adapter an experimenter can pick: the shipped ones and, under the runs folder
(training/layout.py), each run's final ``adapter/`` and every intermediate ``checkpoint-N``.

    for entry in list_adapters(settings.runs_dir):
        print(entry.label, entry.path, entry.base_model, entry.step)

Only complete folders are listed (weights, config and ``acedesk.json`` present and readable
by this code): a checkpoint the trainer is still writing shows up on the next look. A loss that
its file does not hold as a number (a damaged or hand-edited file) is left out, never the list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from model.metadata import METADATA_FILE, SHIPPED_ADAPTERS_DIR, outside_adapter_homes, read_metadata
from training import layout

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json", METADATA_FILE)
LOSS_KEYS = ("loss", "train_loss", "eval_loss", "eval_step", "epoch")
"""The values a label or the Eval page formats as numbers."""
HEADLINE_SCORES = ("category_accuracy", "macro_f1")
"""The scores of a data set the Eval page shows for an adapter: a set without them as numbers is left out."""


@dataclass(frozen=True)
class AdapterEntry:
    """One selectable adapter folder."""

    label: str
    """What a person picks from, e.g. ``default / checkpoint-150 · eval loss 0.208``."""
    path: Path
    base_model: str
    """The base it was trained on (its acedesk.json)."""
    kind: str
    """``shipped``, ``final`` (a run's adapter/) or ``checkpoint``."""
    run: str | None = None
    """The run folder's name; None for shipped adapters."""
    step: int | None = None
    """Training step of a checkpoint (None where unknown)."""
    train_metrics: dict = field(default_factory=dict)
    """Losses known for this adapter: ``train_metrics.json``, or a checkpoint's training log at its step."""
    eval_metrics: dict[str, dict] = field(default_factory=dict)
    """Scores stored beside it (``eval_metrics.json``): data set name -> training.evaluate metrics."""
    hyperparameters: dict = field(default_factory=dict)
    """The training configuration (acedesk.json), e.g. its ``train_file``."""
    leads_outside_to: Path | None = None
    """Where a link on its path leads, outside the shipped adapters and the runs folder
    (model/metadata.py ``outside_adapter_homes``); None for the project's own. Such an entry is
    listed only so the pages can say why it is not offered: nothing in it was read (reading an
    adapter finishes its half-done replacement, which renames and deletes files there)."""

    @property
    def name(self) -> str:
        """Short and file-name safe: ``default-checkpoint-150``, ``gemma-3-270m-triage``."""
        return f"{self.run}-{self.path.name}" if self.run else self.path.name


def list_adapters(runs_dir: Path, shipped_dir: Path = SHIPPED_ADAPTERS_DIR) -> list[AdapterEntry]:
    """Shipped adapters first (by name), then the runs, most recently written first; within a
    run the checkpoints by step, then the final adapter."""
    homes = {"runs_dir": runs_dir, "shipped_dir": shipped_dir}
    shipped = [entry for folder in layout.subfolders(shipped_dir) if (entry := _entry(folder, homes, "shipped"))]
    runs = [entries for folder in layout.subfolders(runs_dir) if (entries := _run_entries(folder, homes))]
    runs.sort(key=lambda entries: (-max(layout.modified(entry.path) for entry in entries), entries[0].run))
    return shipped + [entry for entries in runs for entry in entries]


def find_adapter(entries: list[AdapterEntry], path: str | Path | None) -> AdapterEntry | None:
    """The entry for an adapter folder (paths compared resolved); None when not listed."""
    if path is None:
        return None
    wanted = Path(path).resolve()
    return next((entry for entry in entries if entry.path.resolve() == wanted), None)


def _run_entries(run: Path, homes: dict) -> list[AdapterEntry]:
    entries = [_entry(folder, homes, "checkpoint", run.name, step) for step, folder in layout.checkpoints(run)]
    entries.append(_entry(run / layout.FINAL_ADAPTER, homes, "final", run.name))
    return [entry for entry in entries if entry]


def _entry(folder: Path, homes: dict, kind: str, run: str | None = None, step: int | None = None) -> AdapterEntry | None:
    """None for a folder that is not (yet) a complete, readable adapter."""
    if not all((folder / name).is_file() for name in ADAPTER_FILES):
        return None
    if (elsewhere := outside_adapter_homes(folder, **homes)) is not None:
        return AdapterEntry(_label(folder, kind, run, step, {}), folder, "", kind, run, step,
                            leads_outside_to=elsewhere)
    try:
        meta = read_metadata(folder)
    except (OSError, ValueError):  # half-written, or built for another prompt/schema version
        return None
    step = step if step is not None else meta.get("step")
    train_metrics = _numeric_losses(_checkpoint_losses(folder, step) if kind == "checkpoint" else
                                    layout.read_json_object(folder / layout.TRAIN_METRICS))
    eval_metrics = {name: scores for name, scores in layout.read_json_object(folder / layout.EVAL_METRICS).items()
                    if isinstance(scores, dict) and all(layout.finite_number(scores.get(key)) is not None for key in HEADLINE_SCORES)}
    return AdapterEntry(_label(folder, kind, run, step, train_metrics), folder, str(meta["base_model"]), kind, run,
                        step, train_metrics, eval_metrics, meta.get("hyperparameters") or {})


def _label(folder: Path, kind: str, run: str | None, step: int | None, train_metrics: dict) -> str:
    label = f"{folder.name} (shipped)" if kind == "shipped" else f"{run} / {folder.name}"
    if kind == "final":
        label += " (final)"
    if train_metrics.get("eval_loss") is not None:
        label += f" · eval loss {train_metrics['eval_loss']:.3f}"
        if train_metrics.get("eval_step") not in (None, step):  # eval runs less often than saves
            label += f" (step {train_metrics['eval_step']})"
    return label


def _checkpoint_losses(folder: Path, step: int | None) -> dict:
    """The last training and eval loss logged up to the checkpoint's step (trainer_state.json),
    with the step the eval loss was measured at."""
    history = layout.read_json_object(folder / "trainer_state.json").get("log_history")
    losses: dict = {}
    for record in history if isinstance(history, list) else []:
        if not isinstance(record, dict) or not layout.finite_number(record.get("step", 0)) is not None:
            continue
        if step is not None and record.get("step", 0) > step:
            break
        for key in ("loss", "eval_loss", "epoch"):
            if record.get(key) is not None:
                losses[key] = record[key]
        if record.get("eval_loss") is not None:
            losses["eval_step"] = record.get("step")
    return losses


def _numeric_losses(metrics: dict) -> dict:
    """The metrics without a loss (or its step) that is not a number."""
    return {key: value for key, value in metrics.items() if key not in LOSS_KEYS or layout.finite_number(value) is not None}

