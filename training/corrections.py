"""Operator corrections as training data. support/ writes them as a pseudonymised CSV (training
never reads the ticket store); here that file is split by time into the rows a candidate trains on
and the newest ones it never sees, side by side in the runs folder's uploads:

    corrections-20261201-101500-train.csv     # the older decisions: joined to the base training data
    corrections-20261201-101500-heldout.csv   # the newest: for evaluation only (the Eval page)

Held out by time, not at random: the newest decisions are the mail the model meets next, and a
random split would train on one week's near-duplicates and test on the others.

Anyone can send the club mail, so one mail counts once: of the decisions on the same mail (its
subject and new text, whatever its sender, case, spacing, quoted history or ``-- `` signature:
``_mail_keys``) with the same booking, login or member (``_keys``) only the newest is kept, before
the time split. 500 copies of one spam decided as ``other`` are one example, not 500 that outweigh
the base data. A held-out mail's text leaves the training part whatever its decision named, so
nothing held out is ever trained on. (support/corrections.py caps how many examples one sender
gives.)
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
from model.prompt import split_quoted
from model.schema import FIELDS
from training import layout
from training.config import path_list
from training.data_checks import read_labelled_csv

HELD_OUT_SHARE = 0.2
"""The newest fifth of the decisions is held out..."""
MIN_HELD_OUT = 5
"""...and at least this many (all of them while there are fewer)."""
TRAIN_SUFFIX, HELD_OUT_SUFFIX = "-train.csv", "-heldout.csv"
_STEM = re.compile(r"^(corrections-\d{8}-\d{6})-train")
_SIGNATURE_DELIMITER = re.compile(r"^-- ?$", re.MULTILINE)


@dataclass(frozen=True)
class CorrectionsSplit:
    train: Path | None
    """The older rows (None: too few decisions yet, all are held out)."""
    held_out: Path
    train_rows: int
    held_out_rows: int
    held_out_since: str
    """When the oldest held-out decision was made (ISO)."""
    left_out: int = 0
    """Older decisions on a mail decided again later (``_keys``), or sharing a held-out mail's text
    (``_mail_keys``): neither trained on nor held out."""


def held_out_count(rows: int) -> int:
    return min(rows, max(MIN_HELD_OUT, math.ceil(rows * HELD_OUT_SHARE)))


def split_by_time(export: str | Path, folder: str | Path, stamp: str | None = None) -> CorrectionsSplit:
    """Split an export (``python -m support.tickets corrections``) by ``decided_at`` into
    ``corrections-STAMP-train.csv`` and ``-heldout.csv`` in ``folder``, each cell as the mail held
    it (without the export's spreadsheet guard). Raises ValueError when it has no rows."""
    decided = read_labelled_csv(export).map(cell_text).sort_values("decided_at", kind="stable")
    if decided.empty:
        raise ValueError(f"{Path(export).name} has no decided tickets yet")
    frame = decided[~_keys(decided).duplicated(keep="last")]  # the operator's latest word on each mail
    held = frame.tail(held_out_count(len(frame)))
    older = frame.head(len(frame) - len(held))
    train = older[~_mail_keys(older).isin(set(_mail_keys(held)))]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"corrections-{stamp or time.strftime('%Y%m%d-%H%M%S')}"
    held_out_path = folder / f"{stem}{HELD_OUT_SUFFIX}"
    write_atomically(held_out_path, held.to_csv(index=False))  # whole or not at all: others list uploads/
    train_path = None
    if not train.empty:
        train_path = folder / f"{stem}{TRAIN_SUFFIX}"
        write_atomically(train_path, train.to_csv(index=False))
    return CorrectionsSplit(train_path, held_out_path, len(train), len(held), held["decided_at"].iloc[0],
                            len(decided) - len(train) - len(held))


def shared_mails(first: str | Path, second: str | Path) -> int:
    """How many of ``first``'s mails also occur in ``second`` (e.g. corrections in the test split)."""
    return int(_mail_keys(read_labelled_csv(first)).isin(set(_mail_keys(read_labelled_csv(second)))).sum())


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


def _mail_keys(frame: pd.DataFrame) -> pd.Series:
    """The same mail: its subject and new text, whoever sent it, whitespace and case aside, without
    the history it quotes or its ``-- `` signature (a copy from another address, or a reply quoting
    an earlier decision, is the same request)."""
    return frame["subject"].map(_folded) + "\x1f" + frame["body"].map(_request_text)


def _keys(frame: pd.DataFrame) -> pd.Series:
    """The same mail about the same booking, login or member: two members' "could you cancel it
    after all?" under one subject are two examples, each naming its own booking in the quote that
    ``_mail_keys`` leaves out."""
    keys = _mail_keys(frame)
    for field in (name for name in FIELDS if name in frame):
        keys = keys + "\x1f" + frame[field].map(_folded)
    return keys


def _request_text(body) -> str:
    """The body's new text as the model reads it (model/prompt.py: a forward with nothing above it
    is its forwarded text), above any signature, folded."""
    new_text, quoted = split_quoted(str(body))
    return _folded(_SIGNATURE_DELIMITER.split(new_text or quoted)[0])


def _folded(text) -> str:
    return " ".join(str(text).casefold().split())
