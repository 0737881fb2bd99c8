#!/usr/bin/env bash
# Build llama-cpp-python (with its OpenAI-compatible server) from source once per machine and
# install it into a virtualenv:
#
#     bash scripts/build-llama-cpp.sh [VENV]        # VENV defaults to .venv
#
# Why from source: PyPI ships llama-cpp-python as an sdist only. Why these flags: the default
# build is -march=native, and on a Sapphire Rapids CPU its AMX kernel crashes on the first
# Q4_K_M matmul (llama.cpp issue #20824); a native build is also not portable to the AMD EPYC
# machines CI may run on (no AVX-512). So: AVX2/FMA/F16C/BMI2, no AVX-512, no AMX, no CUDA, and
# ggml's own thread pool instead of OpenMP (libgomp's spinning threads fight the other work on
# two cores, and torch brings its own libgomp).
#
# The wheel (~4 min to build on 2 cores) and the llama.cpp conversion scripts of the same sdist
# (model/export_adapter.py needs convert_lora_to_gguf.py) are cached outside the repository in
# ${ACEDESK_CACHE_DIR:-~/.cache/acedesk}: a second run, or a run for another venv, takes seconds.
set -euo pipefail

VERSION=0.3.36
VENV=${1:-.venv}
PY=$VENV/bin/python
CACHE=${ACEDESK_CACHE_DIR:-$HOME/.cache/acedesk}
WHEELS=$CACHE/wheels
SCRIPTS=$CACHE/llama.cpp-$VERSION
CMAKE_FLAGS="-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=OFF -DGGML_CPU_ALL_VARIANTS=OFF \
-DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
-DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF \
-DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_BLAS=OFF -DGGML_OPENMP=OFF -DLLAVA_BUILD=OFF"
# A wheel built with other flags is rebuilt: the flags are recorded beside it.
FLAGS_FILE=$WHEELS/llama_cpp_python-$VERSION.cmake-args

if [[ ! -x $PY ]]; then
    echo "no virtualenv at $VENV (run 'make setup' first)" >&2
    exit 1
fi
mkdir -p "$WHEELS"
exec 9>"$WHEELS/.llama-cpp.lock"
flock 9  # two builds at once (two venvs, two terminals) would each take the two cores for minutes

find_wheel() { compgen -G "$WHEELS/llama_cpp_python-$VERSION-*.whl" | head -n 1 || true; }

wheel=$(find_wheel)
if [[ -z $wheel || ! -f $SCRIPTS/convert_lora_to_gguf.py || "$(cat "$FLAGS_FILE" 2>/dev/null)" != "$CMAKE_FLAGS" ]]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    start=$SECONDS
    echo "llama-cpp-python $VERSION: downloading the sdist"
    "$PY" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$work"
    sdist=$work/llama_cpp_python-$VERSION.tar.gz

    # The conversion scripts, their model definitions (conversion/) and the gguf-py they were
    # written against (the scripts put it first on sys.path; the venv's gguf stays untouched).
    src=llama_cpp_python-$VERSION/vendor/llama.cpp
    tar -xzf "$sdist" -C "$work" "$src/convert_lora_to_gguf.py" "$src/convert_hf_to_gguf.py" \
        "$src/conversion" "$src/gguf-py" "$src/LICENSE"
    rm -rf "$SCRIPTS" "$SCRIPTS.partial"
    mv "$work/$src" "$SCRIPTS.partial"
    mv "$SCRIPTS.partial" "$SCRIPTS"

    if [[ -z $wheel || "$(cat "$FLAGS_FILE" 2>/dev/null)" != "$CMAKE_FLAGS" ]]; then
        rm -f "$WHEELS"/llama_cpp_python-"$VERSION"-*.whl
        log=$WHEELS/llama_cpp_python-$VERSION.build.log
        echo "llama-cpp-python $VERSION: building the wheel (portable CPU flags; log: $log)"
        if ! CMAKE_ARGS="$CMAKE_FLAGS" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
                "$PY" -m pip wheel -v --no-deps "$sdist" -w "$work/wheel" >"$log" 2>&1; then
            tail -n 40 "$log" >&2
            echo "llama-cpp-python build failed (full log: $log)" >&2
            exit 1
        fi
        mv "$work"/wheel/llama_cpp_python-"$VERSION"-*.whl "$WHEELS/"
        echo "$CMAKE_FLAGS" >"$FLAGS_FILE"
        wheel=$(find_wheel)
    fi
    echo "llama-cpp-python $VERSION: built in $((SECONDS - start)) s -> $wheel"
fi

# Installed already (same version, server extras importable)? Then nothing to do.
if "$PY" - "$VERSION" <<'EOF' 2>/dev/null; then
import importlib.metadata, sys
assert importlib.metadata.version("llama_cpp_python") == sys.argv[1]
import sse_starlette, starlette_context, pydantic_settings  # noqa: F401  (the [server] extra)
EOF
    echo "llama-cpp-python $VERSION already installed in $VENV"
else
    "$PY" -m pip install --quiet "${wheel}[server]"
    echo "llama-cpp-python $VERSION installed in $VENV from $wheel"
fi
echo "conversion scripts: $SCRIPTS"
