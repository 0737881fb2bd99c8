"""LoRA fine-tuning of the triage model on a CSV of labelled emails.

    python training/finetune_lora.py --config training/configs/default.yaml
    python training/finetune_lora.py --config training/configs/default.yaml --max_steps 20 --out_dir runs/try
    accelerate launch training/finetune_lora.py --config training/configs/llama-3.2-3b.yaml

The loop itself is transformers' Trainer; this script wires the pieces together: the CSV
(training/dataset.py), the one prompt format (model/prompt.py), peft LoRA, and progress and
metadata files (training/progress.py). The result is ``out_dir/adapter``: LoRA weights plus
``acedesk.json``, which is everything inference needs to rebuild the training prompt, and
``answer_tokens.json``, the tokens its answers use (decoding's shortlist, model/shortlist.py).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from datasets import Dataset
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import Trainer, TrainingArguments, set_seed
from transformers.trainer_utils import get_last_checkpoint

from core.files import write_json_atomically
from model.calibration import CALIBRATION_FILE
from model.loading import load_base_model, load_tokenizer, pick_device, set_threads
from model.metadata import read_answer_tokens, replace_adapter_files, write_answer_tokens, write_metadata
from model.prompt import PromptStyle, style_for
from model.review import REVIEW_RULE_FILE
from training import corrections, data_checks, layout
from training.config import TrainConfig, parse_config, path_list
from training.dataset import (
    LeftPadCollator,
    NoExampleFits,
    answer_only_loss,
    answer_tokens,
    load_csv,
    tokenize,
)
from training.progress import MetadataCallback, ProgressCallback, append_event
from training.runs import measuring_files


def setup(config: TrainConfig) -> Path:
    """Train a LoRA adapter as ``config`` says; returns the folder of the final adapter."""
    set_threads(config.threads)
    set_seed(config.seed)
    out_dir = Path(config.out_dir)
    refuse_an_earlier_run(config)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device()

    refuse_measured_mails(config)
    tokenizer = load_tokenizer(config.base_model, download=True)  # a hub id: its first run fetches it
    style = style_for(tokenizer)
    train, val = fitting_splits(config, tokenizer, style)
    # What the adapter learns to write, and what the one it continues wrote: its decoding's shortlist.
    answers = answer_tokens(train) | set(read_answer_tokens(config.init_adapter) or ())

    # LoRA trains in fp32 weights; on GPU bf16 autocast does the matmuls (mixed precision).
    bf16 = config.dtype == "bfloat16" or (config.dtype == "auto" and device == "cuda")
    model = load_base_model(config.base_model, torch.float32, device, download=True)
    if config.init_adapter:
        model = PeftModel.from_pretrained(model, config.init_adapter, is_trainable=True)
        # its config names the base it was written with, whatever that file says: the new adapter names this run's
        model.peft_config["default"].base_model_name_or_path = model.get_base_model().name_or_path
    else:
        model = get_peft_model(model, lora_config(config, model))

    tokens_seen: list[int] = []
    collate = LeftPadCollator(tokenizer.pad_token_id)

    def collate_and_count(rows):
        batch = collate(rows)
        tokens_seen.append(int(batch["attention_mask"].sum()))
        return batch

    args = TrainingArguments(
        output_dir=str(out_dir),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of all steps
        weight_decay=config.weight_decay,
        lr_scheduler_type="cosine",
        logging_steps=config.logging_steps,
        eval_strategy="steps" if val is not None else "no",
        eval_steps=config.eval_steps,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        bf16=bf16,
        use_cpu=device == "cpu",
        train_sampling_strategy="group_by_length",  # similar lengths share a batch: less padding
        remove_unused_columns=False,
        dataloader_num_workers=0,
        ddp_find_unused_parameters=False,
        report_to="none",
        seed=config.seed,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=val,
        data_collator=collate_and_count,
        compute_loss_func=functools.partial(answer_only_loss, category_weight=config.category_weight),
        callbacks=[ProgressCallback(str(out_dir), tokens_seen), MetadataCallback(config, style.name, answers)],
    )
    resume = get_last_checkpoint(str(out_dir)) if config.resume else None
    started = time.perf_counter()
    try:
        result = trainer.train(resume_from_checkpoint=resume)
    except BaseException as error:  # the page must see a failed run, not a silent stop
        append_event(out_dir, {"event": "failed", "error": f"{type(error).__name__}: {error}"})
        raise
    metrics = {**result.metrics, "train_examples": len(train), "wall_seconds": round(time.perf_counter() - started, 1),
               "device": device, "bf16": bf16, "threads": torch.get_num_threads(), "processes": args.world_size}
    if val is not None:
        metrics.update(final_eval_metrics(trainer))
    adapter_dir = save_adapter(trainer, config, style.name, metrics, answers)
    leave_process_group(trainer)
    return adapter_dir


def leave_process_group(trainer: Trainer, timeout_s: float = 120.0) -> None:
    """Under a multi-process launch, every process waits until the main one has written the
    adapter, then leaves the process group. A process that simply exits tears gloo's threads down
    while the other still talks to it, and aborts ("terminate called without an active exception"):
    the launcher then reports the whole run as failed although the adapter was written.

    Leaving can itself hang now and then (pytorch/pytorch#75097; one full-suite run here had a rank
    blocked after its peer had gone), and the launcher then waits forever. Everything is
    written once the barrier is passed, so a process still leaving after ``timeout_s`` ends at
    once, successfully, without Python's teardown (which is where gloo aborts)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    trainer.accelerator.wait_for_everyone()
    leaving = threading.Thread(target=torch.distributed.destroy_process_group, name="leave-process-group",
                               daemon=True)
    leaving.start()
    leaving.join(timeout_s)
    if leaving.is_alive():
        print(f"warning: leaving the process group took over {timeout_s:.0f} s (pytorch#75097); "
              "the adapter is written, so this process ends now", file=sys.stderr, flush=True)
        sys.stdout.flush()
        os._exit(0)


def refuse_an_earlier_run(config: TrainConfig) -> None:
    """Ends a new run (not ``resume``), before it writes anything, whose ``out_dir`` holds another
    run's adapter, checkpoints or progress: the same config run twice (``runs/default``) replaced
    the earlier adapter, wrote its own checkpoint-N over the earlier ones beside those it did not
    reach, and appended a second curve to the earlier progress, one run to every page. The page's
    runs each get a folder of their own (training/runs.py ``launch_run``)."""
    out_dir = Path(config.out_dir)
    if config.resume or not is_main_process():  # other processes of one launch find the main one's files
        return
    found = [name for name in (layout.FINAL_ADAPTER, layout.PROGRESS_FILE) if (out_dir / name).exists()]
    found += [folder.name for _, folder in layout.checkpoints(out_dir)]
    if found:
        raise SystemExit(f"error: {out_dir} already holds a run ({', '.join(found[:4])}): a new run there would "
                         "replace its adapter and checkpoints. Name another out_dir (--out_dir runs/NEW-NAME), "
                         "or continue that run with --resume true.")


def refuse_measured_mails(config: TrainConfig) -> None:
    """Ends the run, before any model loads, when its training data holds mails of a file models
    are measured on, however copied (the Training page checks the same before it launches a run):
    a model trained on them would be measured on what it learnt. The corrections' own split is
    the club's mail, whose overlap with the test split the page shows as a warning."""
    problems = [problem for path in [config.train_file, *path_list(config.extra_train_file)]
                if not corrections.is_corrections_train(path)
                for problem in data_checks.measured_mails(path, measuring_files())]
    if problems:
        raise SystemExit("error: " + " ".join(problems))


def fitting_splits(config: TrainConfig, tokenizer, style: PromptStyle) -> tuple[Dataset, Dataset | None]:
    """The training and validation examples that fit ``max_length``, before any model loads. Rows
    left out are said once, in the log and the progress file; a split with none left ends the run
    with a sentence (the Trainer would end it later with a library error)."""
    try:
        rows = load_csv(config.train_file, config.max_train_samples, config.seed, config.extra_train_file)
        train = tokenize(rows, tokenizer, style, config.max_length, "training")
        say_dropped(config, "training", len(rows), len(train))
        val = None
        if config.val_file:
            rows = load_csv(config.val_file, config.max_eval_samples, config.seed)
            val = tokenize(rows, tokenizer, style, config.max_length, "validation")
            say_dropped(config, "validation", len(rows), len(val))
    except NoExampleFits as error:
        if is_main_process():
            append_event(config.out_dir, {"event": "failed", "error": str(error)})
        raise SystemExit(f"error: {error}") from None
    return train, val


def say_dropped(config: TrainConfig, split: str, rows: int, kept: int) -> None:
    if kept == rows or not is_main_process():
        return
    message = f"{rows - kept} of {rows} {split} examples are longer than max_length {config.max_length} and are left out"
    print(f"note: {message}", file=sys.stderr, flush=True)
    append_event(config.out_dir, {"event": "dropped", "split": split, "dropped": rows - kept, "rows": rows,
                                  "max_length": config.max_length, "message": message})


def is_main_process() -> bool:
    """Before the Trainer exists: under ``accelerate launch`` every process runs this script, and
    only the first should write what the run says once."""
    return os.environ.get("RANK", "0") == "0"


def final_eval_metrics(trainer: Trainer) -> dict:
    """The validation scores of the final weights: the trainer's own evaluation at the last step
    when it made one (eval_steps divides max_steps), else one evaluation now, never both."""
    last_step = trainer.state.global_step
    logged = [record for record in trainer.state.log_history
              if record.get("step") == last_step and "eval_loss" in record]
    if logged:
        return {key: value for key, value in logged[-1].items() if key.startswith("eval_")}
    return trainer.evaluate()


def lora_config(config: TrainConfig, model) -> LoraConfig:
    target = config.target_modules
    if config.lora_top_layers:
        target = top_layer_linears(model, config.lora_top_layers)
    return LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=target, task_type="CAUSAL_LM",
    )


def top_layer_linears(model, top: int) -> list[str]:
    """Full names of the linear layers inside the last ``top`` transformer blocks."""
    first = model.config.num_hidden_layers - top
    names = []
    for name, module in model.named_modules():
        match = re.search(r"\.layers\.(\d+)\.", name)
        if isinstance(module, torch.nn.Linear) and match and int(match.group(1)) >= first:
            names.append(name)
    return names


MEASURED_BESIDE_ADAPTER = (REVIEW_RULE_FILE, CALIBRATION_FILE, layout.EVAL_METRICS)
"""Files chosen or measured on an adapter's answers: a continued run's new weights are not those."""


def save_adapter(trainer: Trainer, config: TrainConfig, style_name: str, metrics: dict,
                 answers: set[int]) -> Path:
    """``out_dir/adapter``, written beside it first and then put in place whole (a continued run
    replaces the adapter a page or the inbox may be reading), without what measured the one it replaces."""
    adapter_dir = Path(config.out_dir) / layout.FINAL_ADAPTER
    if trainer.is_world_process_zero():
        staging = Path(tempfile.mkdtemp(prefix=".adapter-", dir=config.out_dir))
        try:
            trainer.model.save_pretrained(staging)
            write_metadata(staging, config.base_model, style_name, asdict(config))
            write_answer_tokens(staging, answers)
            write_json_atomically(staging / layout.TRAIN_METRICS, metrics)
            # last: its presence is what marks the adapter complete (build_adapter)
            names = sorted((path.name for path in staging.iterdir()), key=lambda name: name == layout.TRAIN_METRICS)
            replace_adapter_files(adapter_dir, {name: staging / name for name in names},
                                  remove=MEASURED_BESIDE_ADAPTER)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        append_event(config.out_dir, {"event": "saved", "adapter": str(adapter_dir)})
    return adapter_dir


if __name__ == "__main__":
    setup(parse_config())
