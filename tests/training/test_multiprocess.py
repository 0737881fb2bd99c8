"""Multi-process training with the standard launcher (issue 15): ``accelerate launch --multi_gpu
--num_processes 2`` runs training/finetune_lora.py as two processes (torchrun) which, with no GPU,
train on the CPU over gloo (accelerate 1.15's ``--cpu`` flag starts one process: its multi-CPU
mode needs MPI). The adapter it writes loads, and the progress (the loss curve) is written once,
not once per process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from core.mail import Email
from model.inference import load_triager
from model.schema import CATEGORIES
from tests.conftest import REPO_ROOT
from tests.fixtures import free_port
from training.progress import read_events


def test_two_processes_train_one_adapter_and_write_one_loss_curve(tiny_base_dir, ten_rows, tmp_path):
    out = tmp_path / "run"
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "base_model": str(tiny_base_dir), "train_file": str(ten_rows), "val_file": str(ten_rows),
        "out_dir": str(out), "batch_size": 2, "max_steps": 4, "logging_steps": 1, "eval_steps": 2, "save_steps": 2,
        "learning_rate": 1e-3, "lora_r": 4, "lora_alpha": 8, "threads": 1}))
    accelerate = Path(sys.executable).with_name("accelerate")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launched = subprocess.run(
        [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--main_process_port",
         str(free_port()), "--mixed_precision", "no", "--dynamo_backend", "no", "training/finetune_lora.py",
         "--config", str(config)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert launched.returncode == 0, launched.stderr[-3000:]

    events = read_events(out)
    logged = [event["step"] for event in events if event["event"] == "log" and event.get("loss") is not None]
    assert logged == [1, 2, 3, 4]  # once per step: only the main process writes
    assert [event["event"] for event in events].count("saved") == 1
    assert [event["event"] for event in events].count("started") == 1
    assert json.loads((out / "adapter" / "train_metrics.json").read_text())["processes"] == 2
    result = load_triager(str(tiny_base_dir), out / "adapter").triage(Email("a@example.org", "Cancel", "BK-12345"))
    assert result.category in CATEGORIES


def test_a_process_that_cannot_leave_the_group_ends_successfully_once_its_work_is_written(tmp_path):
    """The bound on pytorch#75097: a rank whose destroy_process_group never returns ends with 0
    after the timeout instead of keeping the launcher waiting, its output flushed. Only the
    process-group calls are replaced."""
    script = tmp_path / "stuck.py"
    script.write_text(
        "import threading, types, torch\n"
        "from training.finetune_lora import leave_process_group\n"
        "torch.distributed.is_initialized = lambda: True\n"
        "torch.distributed.destroy_process_group = threading.Event().wait  # never returns\n"
        "waits = types.SimpleNamespace(wait_for_everyone=lambda: print('barrier passed'))\n"
        "trainer = types.SimpleNamespace(accelerator=waits)\n"
        "leave_process_group(trainer, timeout_s=1.0)\n"
        "raise SystemExit(3)  # not reached: the process ended in leave_process_group\n")
    ended = subprocess.run([sys.executable, str(script)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, check=False)
    assert ended.returncode == 0, ended.stderr[-2000:]
    assert ended.stdout == "barrier passed\n"  # the barrier first, and stdout flushed before the exit
    assert "pytorch#75097" in ended.stderr and "the adapter is written" in ended.stderr
