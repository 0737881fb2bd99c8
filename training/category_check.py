"""Train the category check, the review rule's second reader: TF-IDF n-grams and a logistic regression.

    .venv/bin/python -m training.category_check            # writes model/category_check/

The recipe is the TF-IDF baseline's (``training.baselines.build_pipeline``); what differs is what it
learns from: every file the adapter's stages train on (the train split, the typo'd chat rows and the
trap rows: thank-yous quoting the club's confirmation, how-to questions, withdrawn requests and their
counterparts that are requests), never val, test, dev or the real-world set. It reads the subject
and the new text only (``model.category_check.check_text``): read whole, the club's quoted answer
decided thank-yous ("your booking has been moved" → modify). Alone, on the same rows, reading the
new text gives dev 0.839 (whole mail 0.787), real-world 0.870 (0.865), test 0.973 (0.977). Where the language model
and the check disagree, one of them is wrong; ``model/review.py`` sends the mail to review when the
check gives the model's category less than ``ReviewThresholds.check``, a threshold chosen with the
confidence threshold on dev's even rows (``python -m training.calibrate --review-threshold``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from model.category_check import ARTIFACT_DIR, WEIGHTS_FILE, CategoryCheck, check_text
from model.ngrams import blocks_of
from training.baselines import train_tfidf_baseline
from training.layout import file_sha256

DATA = Path(__file__).resolve().parent / "data"
TRAINING_FILES = (DATA / "train.csv", DATA / "train_chat.csv", DATA / "train_traps.csv")


def setup(files: tuple[Path, ...] = TRAINING_FILES, out_dir: Path = ARTIFACT_DIR) -> dict:
    """Fit the check on ``files`` and write it to ``out_dir``; returns what ``check.json`` records."""
    pipeline = train_tfidf_baseline(*files, text_of=check_text)
    classifier = pipeline.named_steps["classifier"]
    check = CategoryCheck(blocks_of(pipeline), tuple(str(c) for c in classifier.classes_), classifier.coef_.T.copy(),
                          classifier.intercept_.copy())
    root = DATA.parent.parent
    metadata = {
        "command": "python -m training.category_check",
        "recipe": "training.baselines.build_pipeline",
        "reads": "model.category_check.check_text: the subject and the new text, not the quoted history",
        "trained_on": {str(path.relative_to(root) if path.is_relative_to(root) else path): file_sha256(path)
                       for path in files},
    }
    check.save(out_dir, metadata)
    return metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out_dir", type=Path, default=ARTIFACT_DIR)
    parser.add_argument("--files", type=Path, nargs="+", default=list(TRAINING_FILES), help="labelled training CSVs")
    args = parser.parse_args()
    metadata = setup(tuple(args.files), args.out_dir)
    print(json.dumps(metadata, indent=2))
    print(f"wrote {args.out_dir / WEIGHTS_FILE}")


if __name__ == "__main__":
    main()
