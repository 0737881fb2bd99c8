"""Helpers shared by the benchmarks: sample emails and result files."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pandas as pd

from core.mail import Email

RESULTS = Path(__file__).resolve().parent / "results"


def sample_emails(n: int, path: str = "training/data/test.csv", seed: int = 0) -> list[Email]:
    rows = pd.read_csv(path, keep_default_na=False).sample(n=n, random_state=seed)
    return [Email(r.sender, r.subject, r.body) for r in rows.itertuples()]


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(name: str, data: dict) -> Path:
    """Print a benchmark's results, one per line, and save them to benchmarks/results/NAME.json."""
    for key, value in data.items():
        print(f"{key:34s} {value}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
