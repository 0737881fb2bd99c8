"""Rebuild the shipped adapter from the base model, stage by stage, and ship it only by the rule.

    python -m training.build_adapter --pipeline training/configs/pipelines/shipped_adapter.yaml   # make adapter
    python -m training.build_adapter --pipeline ... --set max_steps=2 --set max_train_samples=16  # a smoke run

A pipeline names stage configs (one TrainConfig YAML each, in training/configs/); every stage
continues the previous stage's adapter (its ``init_adapter``) in a folder of its own under the
pipeline's ``out_dir``. A stage whose adapter is already there is not trained again, so an
interrupted build goes on where it stopped. The build writes ``out_dir/manifest.json``: the
commit, the sha256 of every data file, each stage's resolved config, its training metrics and its
validation accuracy, and the shipping decision.

The rule (the pipeline file says it too): the last stage's adapter replaces the shipped one only
if its category accuracy on the validation split is higher than the shipped adapter's on the same
rows. Shipping copies the adapter and the manifest into the shipped folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import time
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml

from core.settings import PROJECT_ROOT
from model.metadata import DEFAULT_ADAPTER, METADATA_FILE
from training import layout
from training.config import TrainConfig, path_list
from training.runs import preset_values

MANIFEST_FILE = "manifest.json"
SHIPPED_FILES = ("adapter_model.safetensors", "adapter_config.json", METADATA_FILE, layout.TRAIN_METRICS)
_DATA_FIELDS = ("train_file", "extra_train_file", "val_file")


@dataclass(frozen=True)
class Pipeline:
    out_dir: Path
    validation_file: Path
    stages: list[Path]
    """Stage configs, in order (relative to the pipeline file)."""

    @classmethod
    def load(cls, path: Path) -> Pipeline:
        data = yaml.safe_load(Path(path).read_text())
        here = Path(path).resolve().parent
        return cls(out_dir=_project_path(data["out_dir"]), validation_file=_project_path(data["validation_file"]),
                   stages=[(here / name).resolve() for name in data["stages"]])


def stage_config(path: Path, number: int, out_dir: Path, previous: Path | None, overrides: dict) -> TrainConfig:
    """A stage's TrainConfig as this build runs it: its own folder, the previous stage's adapter."""
    values = preset_values(path)
    hints = typing.get_type_hints(TrainConfig)
    values.update({name: _typed(value, hints[name]) for name, value in overrides.items()})
    values.update(out_dir=str(out_dir / f"stage{number}-{path.stem}"), init_adapter=str(previous) if previous else "")
    for name in _DATA_FIELDS:
        if values.get(name):
            values[name] = ",".join(str(_project_path(part)) for part in path_list(values[name]))
    return TrainConfig(**values)


def build(pipeline: Pipeline, shipped: Path = DEFAULT_ADAPTER, overrides: dict | None = None,
          validation_limit: int | None = None) -> dict:
    """Train every stage not trained yet, measure, decide, ship when the rule says so; returns the manifest."""
    from training.finetune_lora import setup  # torch: only for a build

    pipeline.out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"pipeline": [str(path) for path in pipeline.stages], "started": time.strftime("%Y-%m-%d %H:%M"),
                "commit": git_commit(), "data": {}, "stages": []}
    previous = None
    for number, path in enumerate(pipeline.stages, start=1):
        config = stage_config(path, number, pipeline.out_dir, previous, overrides or {})
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
        layout.write_json_atomically(pipeline.out_dir / MANIFEST_FILE, manifest)
        previous = adapter
    new = manifest["stages"][-1]["validation_accuracy"]
    current = validation_accuracy(shipped, pipeline.validation_file, validation_limit) if (
        shipped / "adapter_config.json").exists() else None
    manifest["shipping"] = {"rule": "ship only if the validation accuracy is higher than the shipped adapter's",
                            "validation_file": str(pipeline.validation_file), "rows": validation_limit or "all",
                            "new": new, "shipped": current, "shipped_now": ships(new, current)}
    layout.write_json_atomically(pipeline.out_dir / MANIFEST_FILE, manifest)
    if manifest["shipping"]["shipped_now"]:
        ship(previous, shipped, manifest)
    return manifest


def ships(new: float, current: float | None) -> bool:
    """The written rule: strictly better on the validation split, or nothing shipped yet."""
    return current is None or new > current


def ship(adapter: Path, shipped: Path, manifest: dict) -> None:
    """Copy the adapter's files and the manifest over the shipped folder (its old scores go: they
    measured another adapter; ``training.evaluate`` measures the new one)."""
    shipped.mkdir(parents=True, exist_ok=True)
    for name in SHIPPED_FILES:
        shutil.copy2(adapter / name, shipped / name)
    (shipped / layout.EVAL_METRICS).unlink(missing_ok=True)
    layout.write_json_atomically(shipped / MANIFEST_FILE, manifest)


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
