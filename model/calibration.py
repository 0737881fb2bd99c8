"""The category prior correction saved beside an adapter (``calibration.json``).

A LoRA adapter trained on synthetic mail leans towards ``other`` on wording it has not seen.
``python -m training.calibrate`` fits one additive bias per category on the validation split
(never on an evaluation set); inference adds it to the category's first-token scores, so the
decision and its confidence are those of the calibrated distribution. No file: no bias.
"""

from __future__ import annotations

import json
from pathlib import Path

from model.schema import CATEGORIES

CALIBRATION_FILE = "calibration.json"


def read_category_bias(adapter: str | Path) -> dict[str, float]:
    """The adapter's per-category biases, or {} when it has no calibration."""
    path = Path(adapter) / CALIBRATION_FILE
    if not path.exists():
        return {}
    bias = json.loads(path.read_text())["category_bias"]
    unknown = set(bias) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"{path}: unknown categories {sorted(unknown)}")
    return {category: float(value) for category, value in bias.items()}
