"""Training throughput of AceDesk's LoRA recipe vs the pad-to-512, full-prompt-loss recipe.

    python -m benchmarks.training_speed [--steps 3]

Both recipes run forward + backward + optimizer step on the same training rows with the
default base model on this machine, one after the other in this run. Tokens/s counts the
real (non-padding) tokens of the examples, so the ratio is how much faster an epoch goes.

- AceDesk: batches padded to their own longest row, logits (and loss) on the answer only,
  LoRA on the top 12 of 18 layers (training/configs/default.yaml);
- optionally (``--with-bf16``) the same with bf16 autocast, to pick the CPU dtype by measurement;
- baseline: every row padded to 512, loss on every token, LoRA on all layers.
"""

from __future__ import annotations

import argparse
import time

import torch
from peft import get_peft_model

from benchmarks.common import report
from model.loading import load_base_model, load_tokenizer
from model.prompt import style_for
from training.config import TrainConfig
from training.dataset import IGNORE_INDEX, LeftPadCollator, answer_only_loss, load_csv, tokenize
from training.finetune_lora import lora_config


def pad_to_512_batch(rows: list[dict], pad_id: int) -> dict:
    ids = [row["input_ids"] + [pad_id] * (512 - len(row["input_ids"])) for row in rows]
    mask = [[1] * len(row["input_ids"]) + [0] * (512 - len(row["input_ids"])) for row in rows]
    labels = [[t if m else IGNORE_INDEX for t, m in zip(r, k, strict=True)] for r, k in zip(ids, mask, strict=True)]
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": torch.tensor(labels)}


def tokens_per_second(model, batches, loss_fn, bf16: bool = False) -> float:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    tokens, seconds = 0, 0.0
    for index, batch in enumerate(batches):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model, dict(batch))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if index:  # the first step pays one-off allocation costs
            seconds += time.perf_counter() - started
            tokens += int(batch["attention_mask"].sum())
    return tokens / seconds


def ours_loss(model, batch):
    labels = batch.pop("labels")
    return answer_only_loss(model(**batch), labels)


def baseline_loss(model, batch):
    return model(**batch).loss


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per recipe (one more warms up)")
    # 2, not the training batch of 8: the pad-to-512 baseline's full-vocabulary logits would need ~9 GB
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--with-bf16", action="store_true", help="also time bf16 autocast (slow on CPUs without bf16)")
    args = parser.parse_args(argv)
    config = TrainConfig(lora_top_layers=12)
    tokenizer = load_tokenizer(config.base_model, download=True)
    rows = tokenize(load_csv(config.train_file, (args.steps + 1) * args.batch_size, seed=1), tokenizer,
                    style_for(tokenizer), 512).to_list()
    chunks = [rows[i : i + args.batch_size] for i in range(0, len(rows), args.batch_size)]
    collate = LeftPadCollator(tokenizer.pad_token_id)

    results = {}
    for name, top, make_batch, loss_fn, bf16 in (
        ("acedesk", 12, collate, ours_loss, False),
        ("acedesk_bf16_autocast", 12, collate, ours_loss, True),  # the CPU dtype choice, measured
        ("pad512_full_loss", 0, lambda r: pad_to_512_batch(r, tokenizer.pad_token_id), baseline_loss, False),
    ):
        if bf16 and not args.with_bf16:
            continue
        model = load_base_model(config.base_model, torch.float32, "cpu", download=True)
        model = get_peft_model(model, lora_config(TrainConfig(lora_top_layers=top), model)).train()
        batches = [make_batch(c) for c in chunks]
        results[f"{name}_tokens_per_s"] = round(tokens_per_second(model, batches, loss_fn, bf16), 1)
        del model
    results["speedup"] = round(results["acedesk_tokens_per_s"] / results["pad512_full_loss_tokens_per_s"], 2)
    results["torch_threads"] = torch.get_num_threads()
    report("training_speed", results)
    return results


if __name__ == "__main__":
    main()
