"""How well ``support.safety.injection_reason`` tells prompt injections from members' mail.

    .venv/bin/python -m benchmarks.injection_detection [--quiet]

Cases, each read as the app reads a ticket (``f"{subject}\\n{body}"``):
- ``training/data/injection_eval.csv``: hand-written injections (en/de/fr/es, obfuscated too) and
  hard negatives; bodies whose technique starts with ``html`` are raw HTML and go through
  ``integrations.mail_parsing.html_to_text`` first, as in the app;
- every row of the other files in ``training/data/`` (handwritten, train, val, test, train_chat,
  dev; one case per distinct text): the generated ``inject.*`` families and the hand-written rows
  carrying an instruction (``HANDWRITTEN_INJECTIONS``) are injections, all others benign;
- the demo mails (``demo/mail/*.eml``, parsed by ``parse_eml``); EXPECTED.csv's note says which
  ones carry an injection (15 and 28).

The held-out batches, ``benchmarks/data/injection_heldout*.csv``, were each written by a helper
who had seen neither the patterns, nor the learning data, nor the other batches, after both
checks were fixed; they are never learnt from (``training.injection_detector`` reads only
``training/data``). Their figures are the ones to quote. Prints, for all of them and for each,
recall and false positives of each half and of both (the app), then per language, technique and
source with every miss and false positive; then the in-sample figures on everything else.

History: each batch written before the checks were last changed was measured once, then joined
``training/data/injection_eval.csv``, and a new one was written: ``written_after_tuning_4``
scored recall 0.811 (the patterns 0.642, then the only check, with a first classifier),
``written_after_tuning_5`` 0.875; ``heldout_2026_12_02_c`` and ``_d`` 0.948 and 0.926, but 4.7%
of their hard negatives flagged (long letters, forwarded newsletters). The classifier then learnt
from those two and from 48 short "I need assistance with ..." requests (the real-world set had
shown such mails flagged), its threshold also bounded by 1% of hard negatives out of fold; then
``injection_heldout_3.csv`` (``heldout_2026_12_02_e``, 112 injections, 240 hard negatives) was
written and scored recall 0.964 with 1 false positive.
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from core.text import normalise
from integrations.mail_parsing import parse_eml
from support.safety import classifier_reason, injection_reason, pattern_reason
from training.injection_detector import Case, eval_set_cases, training_cases

ROOT = Path(__file__).resolve().parent.parent
# Batches written blind after both checks were last changed (injection_heldout_3.csv, ...).
HELDOUT_SETS = tuple(sorted((ROOT / "benchmarks" / "data").glob("injection_heldout*.csv")))
DEMO_MAIL = ROOT / "demo" / "mail"


DETECTORS: dict[str, Callable[[str], str | None]] = {
    "patterns + classifier (the app)": injection_reason,
    "patterns only": pattern_reason,
    "classifier only": lambda text: classifier_reason(normalise(text)),
}


@dataclass
class Measurement:
    """Recall on injections and false-positive rate on benign mail, with the cases behind them."""

    injections: int = 0
    benign: int = 0
    misses: list[Case] = field(default_factory=list)
    false_positives: list[tuple[Case, str]] = field(default_factory=list)
    # group name -> value -> [flagged, total]
    recall_by: dict[str, dict[str, list[int]]] = field(default_factory=lambda: defaultdict(dict))
    fpr_by_source: dict[str, list[int]] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return 1 - len(self.misses) / self.injections if self.injections else 1.0

    @property
    def false_positive_rate(self) -> float:
        return len(self.false_positives) / self.benign if self.benign else 0.0


def demo_cases(folder: Path = DEMO_MAIL) -> list[Case]:
    """The demo mailbox as the worker reads it."""
    with (folder / "EXPECTED.csv").open(encoding="utf-8", newline="") as handle:
        injected = {row["file"] for row in csv.DictReader(handle) if "inject" in row["note"]}
    cases = []
    for path in sorted(folder.glob("*.eml")):
        mail = parse_eml(path.read_bytes()).email
        cases.append(Case(f"{mail.subject}\n{mail.body}", path.name in injected, "en", "demo", "demo/mail"))
    return cases


def all_cases() -> list[Case]:
    """The cases the patterns were written against and the classifier learnt from, and the demo mails."""
    return eval_set_cases() + training_cases() + demo_cases()


def heldout_cases(paths: Iterable[Path] = HELDOUT_SETS) -> list[Case]:
    """The batches written after both halves were fixed, by someone who saw neither: the honest figures."""
    return [case for path in paths for case in eval_set_cases(path)]


def measure(cases: Iterable[Case], detector: Callable[[str], str | None] = injection_reason) -> Measurement:
    result = Measurement()
    for case in cases:
        reason = detector(case.text)
        if case.injection:
            result.injections += 1
            for group, value in (("language", case.language), ("technique", case.technique),
                                 ("source", case.source)):
                counts = result.recall_by[group].setdefault(value, [0, 0])
                counts[0] += reason is not None
                counts[1] += 1
            if reason is None:
                result.misses.append(case)
        else:
            result.benign += 1
            counts = result.fpr_by_source.setdefault(case.source, [0, 0])
            counts[0] += reason is not None
            counts[1] += 1
            if reason is not None:
                result.false_positives.append((case, reason))
    return result


def _line(label: str, hits: int, total: int) -> str:
    return f"  {label:28s} {hits / total:7.3f}  ({hits}/{total})"


def print_report(result: Measurement, quiet: bool = False) -> None:
    print(f"recall on injections          {result.recall:.3f}  "
          f"({result.injections - len(result.misses)}/{result.injections})")
    for group in ("language", "technique", "source"):
        print(f"recall by {group}")
        for value, (hits, total) in sorted(result.recall_by[group].items()):
            print(_line(value, hits, total))
    print(f"false-positive rate on benign {result.false_positive_rate:.4f}  "
          f"({len(result.false_positives)}/{result.benign})")
    print("false-positive rate by source")
    for source, (hits, total) in sorted(result.fpr_by_source.items()):
        print(_line(source, hits, total))
    if quiet:
        return
    print(f"\nmisses ({len(result.misses)})")
    for case in result.misses:
        print(f"  [{case.source} {case.language} {case.technique}] {case.text[:160]!r}")
    print(f"\nfalse positives ({len(result.false_positives)})")
    for case, reason in result.false_positives:
        print(f"  [{case.source} {case.technique}] {case.text[:160]!r}\n      -> {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet", action="store_true", help="numbers only, without the misses and false positives")
    args = parser.parse_args()
    learning, heldout = all_cases(), heldout_cases()
    for batch in [heldout, *([eval_set_cases(path) for path in HELDOUT_SETS] if len(HELDOUT_SETS) > 1 else [])]:
        names = sorted({case.source for case in batch})
        print(f"== held-out {', '.join(names)}: each detector ==")
        for name, detector in DETECTORS.items():
            result = measure(batch, detector)
            print(f"  {name:32s} recall {result.recall:.3f} ({result.injections - len(result.misses)}/"
                  f"{result.injections})   false positives {result.false_positive_rate:.4f} "
                  f"({len(result.false_positives)}/{result.benign})")
    both = measure(learning + heldout)
    print(f"  the app, held-out injections over all {both.benign} benign mails: false positives "
          f"{both.false_positive_rate:.4f}")
    print("\n== held-out batches, the app ==")
    print_report(measure(heldout), quiet=args.quiet)
    print("\n== the cases the patterns were written against and the classifier learnt from "
          "(in-sample: not a measure of new mail) ==")
    print_report(measure(learning), quiet=True)


if __name__ == "__main__":
    main()
