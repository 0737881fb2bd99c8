"""Does the adapted model's own representation of a mail know what its category probability does
not? An experiment on the shipped adapter, not part of triage.

    .venv/bin/python -m training.hidden_state_probe --out runs/hidden-state-probe --per-file 1000

The review rule's two readers, the model's category probability and the TF-IDF category check,
leave confident mistakes on the hand-written dev set: how-to questions about the app, requests
taken back, thank-yous quoting the club's confirmation. Training the adapter on trap rows moved
them but cost ordinary requests (stages 7 and 8, README). A probe does not touch the adapter: a
logistic regression on its hidden states, fitted on the training files (train, the chat rows and
the trap rows, none of them dev, val, test or real-world), read beside the other two.

For each row the prompt is run once, as triage runs it (the shared prefix cached), and two kinds
of state are kept: ``final``, the output layer's input at the prompt's last position, where the
category is decided; and ``mean<k>``, layer k's output averaged over the prompt's own tokens (the
mail and the answer's start; the shared system text is cached and not seen), for each ``--layers``
k. States are saved per file in ``--out`` and reused when the file and adapter are unchanged.

It reports, per kind of state, the probe's category accuracy alone on dev, val, test and the
real-world set, and the review rule with the probe added: the shipped rule (model/review.py on
each evaluation's predictions.csv) plus "review when the probe gives the decided category less than
t", t chosen on dev's even rows (the best ready accuracy keeping 85% of them), reported on the odd
rows and the other sets. ``report.json`` in ``--out`` holds it all.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from model.metadata import DEFAULT_ADAPTER
from model.review import model_review_reasons, read_review_rule
from training.calibrate import prediction_result
from training.evaluate import load_rows, row_email
from training.layout import file_sha256
from training.metrics import ready_metrics

DATA = Path(__file__).resolve().parent / "data"
TRAINING_FILES = (DATA / "train.csv", DATA / "train_chat.csv", DATA / "train_traps.csv")
EVALUATIONS = {
    "dev": (DATA / "dev.csv", Path("runs/eval-dev/predictions.csv")),
    "val": (DATA / "val.csv", Path("runs/eval-val/predictions.csv")),
    "test": (DATA / "test.csv", Path("runs/eval-test/predictions.csv")),
    "realworld": (Path("../shared/benchmarks/realworld/realworld_eval.csv"),
                  Path("runs/eval-realworld/predictions.csv")),
}
"""Each evaluation set and the predictions.csv its ``training.evaluate`` run wrote (the README's
commands), whose decided categories and review reasons the probe is added to."""
PROBE_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
MIN_COVERAGE = 0.85


class StateRecorder:
    """Hooks that keep, for the next forward pass, the output layer's input at the last position
    and the chosen layers' outputs averaged over the positions run."""

    def __init__(self, model, layers: tuple[int, ...]):
        self.states: dict[str, np.ndarray] = {}
        self.layers = layers
        model.get_output_embeddings().register_forward_pre_hook(self._final)
        blocks = _decoder_layers(model)
        for k in layers:
            blocks[k].register_forward_hook(self._mean(f"mean{k}"))

    def _final(self, module, args) -> None:
        self.states["final"] = args[0][0, -1].detach().float().numpy()

    def _mean(self, name: str):
        def record(module, args, output) -> None:
            hidden = output[0] if isinstance(output, tuple) else output
            self.states[name] = hidden[0].detach().float().mean(dim=0).numpy()
        return record


def _decoder_layers(model) -> torch.nn.ModuleList:
    """The transformer blocks of a (possibly peft-wrapped) causal LM."""
    found = [module for name, module in model.named_modules()
             if isinstance(module, torch.nn.ModuleList) and name.endswith("layers")]
    if not found:
        raise ValueError("no decoder layers found in the model")
    return max(found, key=len)


def extract(triager, recorder: StateRecorder, path: Path, limit: int | None, out: Path) -> dict[str, np.ndarray]:
    """Every kind of state for the first ``limit`` rows of ``path`` (cached in ``out``), and the labels."""
    key = hashlib.sha256(f"{file_sha256(path)} {triager.adapter} {limit} {recorder.layers}".encode()).hexdigest()[:16]
    cached = out / f"{path.stem}-{key}.npz"
    if cached.exists():
        with np.load(cached) as arrays:
            return dict(arrays)
    rows = load_rows(path, limit)
    collected: dict[str, list] = {}
    for index, row in enumerate(rows, 1):
        triager.category_scores(row_email(row))  # the prompt's one forward pass, as triage runs it
        for name, state in recorder.states.items():
            collected.setdefault(name, []).append(state)
        if index % 200 == 0:
            print(f"  {path.name}: {index}/{len(rows)}", flush=True)
    arrays = {name: np.stack(states) for name, states in collected.items()}
    arrays["labels"] = np.array([row["category"] for row in rows])
    np.savez_compressed(cached, **arrays)
    return arrays


def _ready(frame: pd.DataFrame, probe: np.ndarray, threshold: float) -> dict:
    """The ready metrics of predictions ``frame`` under the shipped rule plus the probe at ``threshold``."""
    shipped = read_review_rule(DEFAULT_ADAPTER).thresholds
    review = [bool(model_review_reasons(prediction_result(row), shipped)) or p < threshold
              for row, p in zip(frame.to_dict(orient="records"), probe, strict=True)]
    metrics = ready_metrics(list(frame["category"]), list(frame["pred_category"]), review)
    return {key: round(value, 4) if isinstance(value, float) else value for key, value in metrics.items()}


def setup(out: Path = Path("runs/hidden-state-probe"), per_file: int | None = 1000,
          layers: tuple[int, ...] = (4, 8, 12, 16), adapter: Path = DEFAULT_ADAPTER) -> dict:
    """Extract, fit one probe per kind of state, and report (see the module docstring)."""
    from model.inference import load_triager  # deferred: torch and the model load only when run

    out.mkdir(parents=True, exist_ok=True)
    triager = load_triager(adapter=adapter)
    recorder = StateRecorder(triager.model, layers)
    training = [extract(triager, recorder, path, per_file, out) for path in TRAINING_FILES]
    evaluations = {name: (extract(triager, recorder, data, None, out), predictions)
                   for name, (data, predictions) in EVALUATIONS.items() if data.exists() and predictions.exists()}
    labels = np.concatenate([arrays["labels"] for arrays in training])
    report: dict = {"adapter": str(adapter), "per_file": per_file, "training_rows": len(labels), "kinds": {}}
    for kind in [name for name in training[0] if name != "labels"]:
        probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=3000))
        probe.fit(np.concatenate([arrays[kind] for arrays in training]), labels)
        classes = list(probe.classes_)
        result: dict = {}
        frames = {}
        for name, (arrays, predictions) in evaluations.items():
            frame = pd.read_csv(predictions, keep_default_na=False, dtype=str)
            if list(frame["category"]) != list(arrays["labels"]):
                raise ValueError(f"{predictions} does not hold the rows of {name} in order")
            probabilities = probe.predict_proba(arrays[kind])
            decided = np.array([probabilities[i, classes.index(c)] for i, c in enumerate(frame["pred_category"])])
            frames[name] = (frame, decided)
            result[name] = {"probe_accuracy": round(float((probe.predict(arrays[kind]) == arrays["labels"]).mean()), 4),
                            "shipped_rule": _ready(frame, decided, 0.0)}
        if "dev" in frames:
            frame, decided = frames["dev"]
            even = [(t, _ready(frame.iloc[0::2], decided[0::2], t)) for t in PROBE_GRID]
            kept = [(t, m) for t, m in even if m["ready_coverage"] >= MIN_COVERAGE] or even[:1]
            threshold = max(kept, key=lambda item: (item[1]["ready_accuracy"] or 0, item[1]["ready_coverage"]))[0]
            result["chosen_on_dev_even"] = threshold
            for name, (frame, decided) in frames.items():
                rows = slice(1, None, 2) if name == "dev" else slice(None)
                result[name]["with_probe"] = _ready(frame.iloc[rows], decided[rows], threshold)
                if name == "dev":
                    result[name]["shipped_rule_odd"] = _ready(frame.iloc[rows], decided[rows], 0.0)
        report["kinds"][kind] = result
        print(kind, json.dumps(result), flush=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/hidden-state-probe"))
    parser.add_argument("--per-file", type=int, default=1000,
                        help="the first N rows of each training file (they are shuffled); 0: all")
    parser.add_argument("--layers", type=int, nargs="*", default=[4, 8, 12, 16],
                        help="layers whose mean state is probed besides the final one")
    parser.add_argument("--adapter", type=Path, default=DEFAULT_ADAPTER)
    args = parser.parse_args()
    setup(args.out, args.per_file or None, tuple(args.layers), args.adapter)


if __name__ == "__main__":
    main()
