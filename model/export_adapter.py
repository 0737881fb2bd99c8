"""Export a LoRA adapter for a model server.

    # llama.cpp (llama-cpp-python's server, or llama.cpp's own llama-server --lora FILE):
    python -m model.export_adapter --adapter model/adapters/gemma-3-270m-triage --format gguf --out DIR
    # vLLM (vllm serve BASE --enable-lora --max-lora-rank 8 --lora-modules NAME=DIR,
    # NAME = model.served.served_model_name(DIR), the name ServedTriager asks for):
    python -m model.export_adapter --adapter model/adapters/gemma-3-270m-triage --format peft --out DIR

``gguf`` writes ``DIR/<adapter>-lora-<outtype>.gguf`` with llama.cpp's own
``convert_lora_to_gguf.py``: the one converter that knows how llama.cpp names and permutes
every architecture's tensors. The script comes from the llama-cpp-python sdist that
``make llama-cpp`` (scripts/build-llama-cpp.sh) builds, kept in the cache beside the wheel so
the converter and the server that loads its output are the same llama.cpp. It reads only the
base model's config from the converted folder (model/loading.py), never its weights. f32 is
the default: the adapter is 5 MB, and f16 would round the weights the adapter was trained as.

``peft`` copies what vLLM's LoRA loader reads: ``adapter_config.json`` (r, lora_alpha,
target_modules; vLLM refuses DoRA, biases, ``modules_to_save`` and r above
``--max-lora-rank``, default 16) and ``adapter_model.safetensors``, with
``base_model_name_or_path`` pointing at the base folder that ``vllm serve`` loads instead of a
path on the training machine; plus ``acedesk.json`` (and ``calibration.json`` and
``answer_tokens.json`` and ``review_rule.json`` where there are), so model/served.py rebuilds the
training prompt, calibration and review rule from the exported folder.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Literal

from model.calibration import CALIBRATION_FILE
from model.metadata import ANSWER_TOKENS_FILE, DEFAULT_ADAPTER, METADATA_FILE, read_metadata, reading_adapter
from model.review import REVIEW_RULE_FILE

LLAMA_CPP_VERSION = "0.3.36"
"""The llama-cpp-python release scripts/build-llama-cpp.sh builds; its conversion scripts match it."""

Format = Literal["gguf", "peft"]
PEFT_FILES = ("adapter_config.json", "adapter_model.safetensors")


def llama_cpp_scripts() -> Path:
    """The llama.cpp conversion scripts kept by scripts/build-llama-cpp.sh."""
    from model.loading import cache_dir

    folder = cache_dir() / f"llama.cpp-{LLAMA_CPP_VERSION}"
    if not (folder / "convert_lora_to_gguf.py").exists():
        raise FileNotFoundError(f"llama.cpp's convert_lora_to_gguf.py is not in {folder}: run `make llama-cpp` "
                                "(scripts/build-llama-cpp.sh) once on this machine")
    return folder


def export_adapter(adapter: str | Path, fmt: Format, out: str | Path, outtype: str = "f32") -> Path:
    """Write ``adapter`` for a model server into ``out``; return the GGUF file or the peft folder."""
    from model.loading import resolve_base  # torch and transformers: only once an export runs

    adapter, out = Path(adapter), Path(out)
    meta = read_metadata(adapter)  # also refuses an adapter of another prompt or schema version
    if fmt not in ("gguf", "peft"):
        raise ValueError(f"unknown format {fmt!r}: gguf or peft")
    if fmt == "gguf" and outtype not in ("f32", "f16"):
        raise ValueError(f"outtype {outtype!r}: f32 or f16")
    scripts = llama_cpp_scripts() if fmt == "gguf" else None  # before the base's one-off conversion
    base = resolve_base(meta["base_model"])
    out.mkdir(parents=True, exist_ok=True)
    if scripts is None:
        with reading_adapter(adapter):  # every file from one ship of the folder
            optional = [name for name in (CALIBRATION_FILE, ANSWER_TOKENS_FILE, REVIEW_RULE_FILE)
                        if (adapter / name).exists()]
            for name in (*PEFT_FILES, METADATA_FILE, *optional):
                shutil.copy2(adapter / name, out / name)
        config = json.loads((out / "adapter_config.json").read_text())
        config["base_model_name_or_path"] = base
        (out / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n")
        return out
    target = out / f"{adapter.resolve().name}-lora-{outtype}.gguf"
    partial = target.with_name(target.name + ".partial")
    base_args = ["--base", base] if Path(base).is_dir() else ["--base-model-id", base]
    command = [sys.executable, str(scripts / "convert_lora_to_gguf.py"), *base_args,
               "--outtype", outtype, "--outfile", str(partial), str(adapter)]
    # The converter imports the gguf-py beside it (the venv's gguf 0.19.0 lacks its newer constants).
    env = {key: value for key, value in os.environ.items() if key != "NO_LOCAL_GGUF"}
    with reading_adapter(adapter):  # the converter reads the folder: no ship in the meantime
        done = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    if done.returncode != 0 or not partial.exists():
        raise RuntimeError(f"convert_lora_to_gguf.py failed ({done.returncode}):\n{done.stderr[-3000:]}")
    partial.replace(target)  # a crash mid-conversion never leaves a file the server would load
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", type=Path, default=DEFAULT_ADAPTER, help="the peft adapter folder")
    parser.add_argument("--format", choices=("gguf", "peft"), required=True,
                        help="gguf for llama.cpp, peft for vLLM's --lora-modules")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--outtype", choices=("f32", "f16"), default="f32", help="GGUF tensor type")
    args = parser.parse_args(argv)
    try:
        print(export_adapter(args.adapter, args.format, args.out, args.outtype))
    except (FileNotFoundError, RuntimeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
