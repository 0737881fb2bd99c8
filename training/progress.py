"""Training progress for people and pages: a JSONL file the Training page polls, and the
metadata inference needs, written beside every checkpoint."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from pathlib import Path

from transformers import TrainerCallback

from model.metadata import write_answer_tokens, write_metadata
from training.layout import PROGRESS_FILE


def append_event(out_dir: str | Path, event: dict) -> None:
    """One JSON object a line; appending keeps history across resumes."""
    path = Path(out_dir) / PROGRESS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(json.dumps({"time": round(time.time(), 3), **event}) + "\n")


READ_LIMIT_BYTES = 4_000_000
"""The most of a progress file read, for ~25,000 events: the page reads it on every refresh, and a
500 MB file (a long run logging every step, or a file grown by hand) took 46 s and 6 GB to read whole."""
HEAD_BYTES = 250_000
"""Of those, read from its start: the run's first events (started, dropped); the rest are its latest."""


def read_events(out_dir: str | Path) -> list[dict]:
    """The events so far: all of them, or of a file over READ_LIMIT_BYTES its first and its latest,
    whole lines only. A half-written last line (the run is writing) is skipped."""
    path = Path(out_dir) / PROGRESS_FILE
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size <= READ_LIMIT_BYTES:
                text = handle.read(READ_LIMIT_BYTES)
            else:
                head = handle.read(HEAD_BYTES)
                handle.seek(size - (READ_LIMIT_BYTES - HEAD_BYTES) - 1)  # from the byte before: does a line start?
                tail = handle.read(READ_LIMIT_BYTES - HEAD_BYTES + 1)
                latest = tail[tail.find(b"\n") + 1:] if b"\n" in tail else b""
                text = head[:head.rfind(b"\n") + 1] + latest
    except FileNotFoundError:
        return []
    events = []
    for line in text.decode("utf-8").splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


class ProgressCallback(TrainerCallback):
    """Writes step, loss, eval loss, learning rate, epoch, tokens/s and ETA on every log."""

    def __init__(self, out_dir: str, tokens_per_step: list[int]):
        self.out_dir = out_dir
        self.tokens_per_step = tokens_per_step  # filled by the collator wrapper
        self.started = time.perf_counter()
        self.first_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()
        self.first_step = state.global_step  # a resumed run measures its own speed
        if state.is_world_process_zero:
            append_event(self.out_dir, {"event": "started", "step": state.global_step,
                                        "max_steps": state.max_steps})

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        elapsed = time.perf_counter() - self.started
        done = max(state.global_step - self.first_step, 1)
        seconds_per_step = elapsed / done
        event = {
            "event": "eval" if "eval_loss" in logs else "log",
            "step": state.global_step,
            "max_steps": state.max_steps,
            "epoch": round(state.epoch or 0.0, 4),
            "loss": logs.get("loss"),
            "eval_loss": logs.get("eval_loss"),
            "learning_rate": logs.get("learning_rate"),
            "tokens_per_s": round(sum(self.tokens_per_step) / elapsed, 1) if elapsed else None,
            "eta_s": round(seconds_per_step * (state.max_steps - state.global_step), 1),
        }
        append_event(self.out_dir, event)

    def on_train_end(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            append_event(self.out_dir, {"event": "finished", "step": state.global_step,
                                        "seconds": round(time.perf_counter() - self.started, 1)})


class MetadataCallback(TrainerCallback):
    """Saves ``acedesk.json`` and the answer tokens into every ``checkpoint-N`` so each one is
    usable for inference."""

    def __init__(self, config, prompt_style: str, answer_tokens: set[int] | None = None):
        self.config = config
        self.prompt_style = prompt_style
        self.answer_tokens = answer_tokens

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if folder.exists():
            write_metadata(folder, self.config.base_model, self.prompt_style, asdict(self.config),
                           step=state.global_step)
            if self.answer_tokens:
                write_answer_tokens(folder, self.answer_tokens)
