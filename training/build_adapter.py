"""Rebuild the shipped adapter from the base model, stage by stage, and ship it only by the rule.

    python -m training.build_adapter --pipeline training/configs/pipelines/shipped_adapter.yaml   # make adapter
    python -m training.build_adapter --pipeline ... --set max_steps=2 --set max_train_samples=16  # a smoke run

A pipeline names stage configs (one TrainConfig YAML each, in training/configs/); every stage
continues the previous stage's adapter (its ``init_adapter``) in a folder of its own under the
pipeline's ``out_dir``. A stage whose adapter is already there is not trained again, and a stage
killed half-way continues from its newest checkpoint, so an interrupted build goes on where it
stopped. A pipeline's ``set:`` overrides fields in every stage (``--set`` on the command line wins
over it). The build writes ``out_dir/manifest.json``: the commit, the sha256 of every data file,
each stage's resolved config, its training metrics and its validation accuracy, and the shipping
decision.

The rule (the pipeline file says it too): the last stage's adapter replaces the shipped one only
if its category accuracy on the validation split is higher than the shipped adapter's on the same
rows. A pipeline that names a ``check_file`` (with ``check_rows: even`` for rows 0, 2, 4, ...)
ships instead only if the accuracy there is higher and the validation accuracy is not lower.
Shipping copies the adapter and the manifest into the shipped folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from core.files import write_json_atomically
from core.settings import PROJECT_ROOT
from model.metadata import ANSWER_TOKENS_FILE, DEFAULT_ADAPTER, METADATA_FILE, replace_adapter_files
from model.review import REVIEW_RULE_FILE
from training import layout
from training.choose_review_rule import RULE_DATA
from training.config import TrainConfig, path_list
from training.runs import preset_values

MANIFEST_FILE = "manifest.json"
SHIPPED_FILES = ("adapter_model.safetensors", "adapter_config.json", METADATA_FILE, ANSWER_TOKENS_FILE,
                 REVIEW_RULE_FILE, layout.TRAIN_METRICS)
_DATA_FIELDS = ("train_file", "extra_train_file", "val_file")


CHECK_ROWS = ("all", "even")


@dataclass(frozen=True)
class Pipeline:
    out_dir: Path
    validation_file: Path
    stages: list[Path]
    """Stage configs, in order (relative to the pipeline file)."""
    overrides: dict = dataclasses.field(default_factory=dict)
    """TrainConfig fields set in every stage (the pipeline's ``set:``)."""
    check_file: Path | None = None
    """Labelled rows the build must also do better on than the shipped adapter (none: validation only)."""
    check_rows: str = "all"
    """Which of check_file's rows count: ``all``, or ``even`` (0, 2, 4, ...: the half that chooses)."""
    rule_file: Path = RULE_DATA
    """Labelled rows whose even half chooses a shipped build's review rule (training/choose_review_rule.py)."""

    @classmethod
    def load(cls, path: Path) -> Pipeline:
        data = yaml.safe_load(Path(path).read_text())
        here = Path(path).resolve().parent
        check_rows = data.get("check_rows", "all")
        if check_rows not in CHECK_ROWS:
            raise ValueError(f"{path}: check_rows must be one of {CHECK_ROWS}, not {check_rows!r}")
        return cls(out_dir=_project_path(data["out_dir"]), validation_file=_project_path(data["validation_file"]),
                   stages=[(here / name).resolve() for name in data["stages"]],
                   overrides={name: str(value) for name, value in (data.get("set") or {}).items()},
                   check_file=_project_path(data["check_file"]) if data.get("check_file") else None,
                   check_rows=check_rows,
                   rule_file=_project_path(data["rule_file"]) if data.get("rule_file") else RULE_DATA)

    def check_rows_file(self) -> Path | None:
        """The rows the check counts, as a CSV in out_dir (the file itself when all rows count)."""
        if self.check_file is None or self.check_rows == "all":
            return self.check_file
        path = self.out_dir / f"check-{self.check_rows}-{self.check_file.name}"
        pd.read_csv(self.check_file, keep_default_na=False).iloc[::2].to_csv(path, index=False)
        return path


@dataclass(frozen=True)
class Scores:
    """An adapter's category accuracy where the rule looks (one forward pass a row)."""

    validation: float
    check: float | None = None


def stage_config(path: Path, number: int, out_dir: Path, previous: Path | None, overrides: dict) -> TrainConfig:
    """A stage's TrainConfig as this build runs it: its own folder, the previous stage's adapter."""
    values = preset_values(path)
    hints = typing.get_type_hints(TrainConfig)
    values.update({name: _typed(value, hints[name]) for name, value in overrides.items()})
    # resume: a stage killed half-way continues from its newest checkpoint (none: from the start)
    values.update(out_dir=str(out_dir / f"stage{number}-{path.stem}"), init_adapter=str(previous) if previous else "",
                  resume=values["resume"] if "resume" in overrides else True)
    for name in _DATA_FIELDS:
        if values.get(name):
            values[name] = ",".join(str(_project_path(part)) for part in path_list(values[name]))
    return TrainConfig(**values)


def build(pipeline: Pipeline, shipped: Path = DEFAULT_ADAPTER, overrides: dict | None = None,
          validation_limit: int | None = None) -> dict:
    """Train every stage not trained yet, measure, decide, ship when the rule says so; returns the manifest."""
    from training.finetune_lora import setup  # torch: only for a build

    pipeline.out_dir.mkdir(parents=True, exist_ok=True)
    overrides = {**pipeline.overrides, **(overrides or {})}
    manifest = {"pipeline": [str(path) for path in pipeline.stages], "started": time.strftime("%Y-%m-%d %H:%M"),
                "commit": git_commit(), "overrides": overrides, "data": {}, "stages": []}
    previous = None
    for number, path in enumerate(pipeline.stages, start=1):
        config = stage_config(path, number, pipeline.out_dir, previous, overrides)
        adapter = Path(config.out_dir) / layout.FINAL_ADAPTER
        trained_now = not (adapter / layout.TRAIN_METRICS).exists()
        if trained_now:
            setup(config)
        manifest["data"].update(data_hashes(config))
        manifest["stages"].append({
            "stage": number, "config_file": str(path), "config": dataclasses.asdict(config),
            "trained_in_this_build": trained_now,
            "train_metrics": layout.read_json_object(adapter / layout.TRAIN_METRICS),
            "validation_accuracy": validation_accuracy(adapter, pipeline.validation_file, validation_limit)})
        write_json_atomically(pipeline.out_dir / MANIFEST_FILE, manifest)
        previous = adapter
    check = pipeline.check_rows_file()
    new = Scores(manifest["stages"][-1]["validation_accuracy"], validation_accuracy(previous, check) if check else None)
    current = Scores(validation_accuracy(shipped, pipeline.validation_file, validation_limit),
                     validation_accuracy(shipped, check) if check else None) if (
        shipped / "adapter_config.json").exists() else None
    manifest["shipping"] = {"rule": RULE_WITH_CHECK if check else RULE,
                            "validation_file": str(pipeline.validation_file), "rows": validation_limit or "all",
                            "new": new.validation, "shipped": current.validation if current else None,
                            "shipped_now": ships(new, current)}
    if check:
        manifest["data"][_shown(str(check))] = layout.file_sha256(check)
        manifest["shipping"].update(check_file=str(pipeline.check_file), check_rows=pipeline.check_rows,
                                    new_check=new.check, shipped_check=current.check if current else None)
    write_json_atomically(pipeline.out_dir / MANIFEST_FILE, manifest)
    if manifest["shipping"]["shipped_now"]:
        # its own review rule, chosen before it decides a single mail (model/review.py)
        manifest["review_rule"] = choose_review_rule(previous, pipeline.rule_file).to_dict()
        write_json_atomically(pipeline.out_dir / MANIFEST_FILE, manifest)
        ship(previous, shipped, pipeline.out_dir / MANIFEST_FILE)  # the manifest just written, decision included
    return manifest


RULE = "ship only if the validation accuracy is higher than the shipped adapter's"
RULE_WITH_CHECK = ("ship only if the accuracy on the check rows is higher than the shipped adapter's "
                   "and the validation accuracy is not lower")


def ships(new: Scores, current: Scores | None) -> bool:
    """The written rule: nothing shipped yet, or strictly better on the validation split; with check
    rows, strictly better on them and not worse on the validation split."""
    if current is None:
        return True
    if new.check is None or current.check is None:
        return new.validation > current.validation
    return new.check > current.check and new.validation >= current.validation


def ship(adapter: Path, shipped: Path, manifest_file: Path) -> None:
    """Put the adapter's files and the build's manifest in the shipped folder, all of them or none
    for any reader even if the build dies half-way (``replace_adapter_files``). Its old scores go:
    they measured another adapter; ``training.evaluate`` measures the new one."""
    replace_adapter_files(shipped, {**{name: adapter / name for name in SHIPPED_FILES}, MANIFEST_FILE: manifest_file},
                          remove=(layout.EVAL_METRICS,))


def choose_review_rule(adapter: Path, data: Path):
    from training.choose_review_rule import setup  # torch: only for a build

    return setup(adapter, data, out_dir=adapter.parent / "review-rule")


def validation_accuracy(adapter: Path, data: Path, limit: int | None = None) -> float:
    """Category accuracy on ``data`` from one forward pass a row (the category's first-token scores)."""
    from training.calibrate import calibrate

    return calibrate(str(adapter), str(data), limit=limit, write=False)["accuracy_before"]


def data_hashes(config: TrainConfig) -> dict[str, str]:
    return {_shown(path): layout.file_sha256(Path(path)) for name in _DATA_FIELDS for path in path_list(getattr(config, name))}


def git_commit() -> str | None:
    """The commit the build ran on (with ``+changes`` when tracked files differ from it)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+changes" if dirty else "")


def _shown(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def _project_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def _typed(text: str, kind: type):
    """A ``--set`` value as its field's type."""
    if kind is bool:
        return text.strip().lower() in ("1", "true", "yes")
    return kind(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, default=PROJECT_ROOT / "training/configs/pipelines/shipped_adapter.yaml")
    parser.add_argument("--shipped", type=Path, default=DEFAULT_ADAPTER, help="the shipped adapter folder")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="override a TrainConfig field in every stage (e.g. max_steps=2 for a smoke run)")
    parser.add_argument("--validation-limit", type=int, default=None, help="only the first N validation rows")
    args = parser.parse_args(argv)
    overrides = dict(item.split("=", 1) for item in args.set)
    manifest = build(Pipeline.load(args.pipeline), args.shipped, overrides, args.validation_limit)
    print(json.dumps(manifest["shipping"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
