"""Operator corrections as training data. support/ writes them as a pseudonymised CSV (training
never reads the ticket store); here that file is split by time into the rows a candidate trains on
and the newest ones it never sees, side by side in the runs folder's uploads:

    corrections-20261201-101500-train.csv     # the older decisions: joined to the base training data
    corrections-20261201-101500-heldout.csv   # the newest: for evaluation only (the Eval page)

Held out by time, not at random: the newest decisions are the mail the model meets next, and a
random split would train on one week's near-duplicates and test on the others. A held-out mail
whose text also occurs among the older rows leaves the training part, so nothing held out is
ever trained on.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.csv_cells import cell_text
from core.files import write_atomically
from training import layout
from training.config import path_list
from training.data_checks import read_labelled_csv

HELD_OUT_SHARE = 0.2
"""The newest fifth of the decisions is held out..."""
MIN_HELD_OUT = 5
"""...and at least this many (all of them while there are fewer)."""
TRAIN_SUFFIX, HELD_OUT_SUFFIX = "-train.csv", "-heldout.csv"
_STEM = re.compile(r"^(corrections-\d{8}-\d{6})-train")
_EMAIL_KEY = ("sender", "subject", "body")


@dataclass(frozen=True)
class CorrectionsSplit:
    train: Path | None
    """The older rows (None: too few decisions yet, all are held out)."""
    held_out: Path
    train_rows: int
    held_out_rows: int
    held_out_since: str
    """When the oldest held-out decision was made (ISO)."""


def held_out_count(rows: int) -> int:
    return min(rows, max(MIN_HELD_OUT, math.ceil(rows * HELD_OUT_SHARE)))


def split_by_time(export: str | Path, folder: str | Path, stamp: str | None = None) -> CorrectionsSplit:
    """Split an export (``python -m support.tickets corrections``) by ``decided_at`` into
    ``corrections-STAMP-train.csv`` and ``-heldout.csv`` in ``folder``, each cell as the mail held
    it (without the export's spreadsheet guard). Raises ValueError when it has no rows."""
    frame = read_labelled_csv(export).map(cell_text).sort_values("decided_at", kind="stable")
    if frame.empty:
        raise ValueError(f"{Path(export).name} has no decided tickets yet")
    held = frame.tail(held_out_count(len(frame)))
    older = frame.head(len(frame) - len(held))
    train = older[~_keys(older).isin(set(_keys(held)))]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"corrections-{stamp or time.strftime('%Y%m%d-%H%M%S')}"
    held_out_path = folder / f"{stem}{HELD_OUT_SUFFIX}"
    write_atomically(held_out_path, held.to_csv(index=False))  # whole or not at all: others list uploads/
    train_path = None
    if not train.empty:
        train_path = folder / f"{stem}{TRAIN_SUFFIX}"
        write_atomically(train_path, train.to_csv(index=False))
    return CorrectionsSplit(train_path, held_out_path, len(train), len(held), held["decided_at"].iloc[0])


def shared_mails(first: str | Path, second: str | Path) -> int:
    """How many of ``first``'s mails also occur in ``second`` (e.g. corrections in the test split)."""
    return int(_keys(read_labelled_csv(first)).isin(set(_keys(read_labelled_csv(second)))).sum())


def is_held_out(path: str | Path) -> bool:
    """A held-out corrections file: evaluation only, never training data."""
    name = Path(path).name
    return name.startswith("corrections-") and name.endswith(HELD_OUT_SUFFIX)


def is_corrections_train(path: str | Path) -> bool:
    """The training part of a corrections split (``split_by_time``)."""
    return bool(_STEM.match(Path(path).name))


def held_out_for(config: dict) -> Path | None:
    """The held-out corrections written with the corrections a run trained on (its config's
    ``extra_train_file`` or ``train_file``: an adapter's ``hyperparameters``, a run's run.yaml), or
    None when it trained on none."""
    for train_file in [*path_list(config.get("extra_train_file") or ""), *path_list(config.get("train_file") or "")]:
        if match := _STEM.match(Path(train_file).name):
            candidate = Path(train_file).with_name(f"{match.group(1)}{HELD_OUT_SUFFIX}")
            if candidate.is_file():
                return candidate
    return None


def latest_held_out(runs_root: Path) -> Path | None:
    """The newest held-out corrections under the runs folder (to score a model that trained on
    none, such as the shipped adapter, on the same rows as a candidate)."""
    found = sorted(layout.uploads_dir(runs_root).glob(f"corrections-*{HELD_OUT_SUFFIX}"))
    return found[-1] if found else None


def _keys(frame: pd.DataFrame) -> pd.Series:
    """The same mail, whitespace and case aside."""
    columns = [frame[column].map(lambda text: " ".join(str(text).split()).lower()) for column in _EMAIL_KEY]
    return columns[0] + "\x1f" + columns[1] + "\x1f" + columns[2]
