#!/usr/bin/env bash
# Install torch, then gp-core in editable mode with its book and test extras.
#
# The environment is, in this order: the interpreter in PYTHON, the active
# virtual environment (VIRTUAL_ENV), the active conda environment
# (CONDA_PREFIX), or .venv in the repository, created with `python3 -m venv`
# when missing. The Makefile makes the same choice.
#
# Torch is installed first because PyPI's Linux wheel of torch is the CUDA
# build, several GB with its nvidia-* dependencies, and a CPU machine must not
# download it. An environment where torch already imports keeps its torch.
#
# Variables:
#   PYTHON           interpreter of the environment to install into
#   TORCH_VERSION    torch release to install when torch is missing (default 2.13.0)
#   TORCH_CPU_INDEX  package index of the CPU builds of torch
set -euo pipefail

TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
TORCH_CPU_INDEX="${TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

if [[ -n "${PYTHON:-}" ]]; then
    if ! python="$(command -v "$PYTHON")"; then
        echo "setup: PYTHON=$PYTHON was not found; set PYTHON to a Python 3.10+ interpreter or unset it." >&2
        exit 1
    fi
    environment="$python"
elif [[ -n "${VIRTUAL_ENV:-}" ]]; then
    python="$VIRTUAL_ENV/bin/python"
    environment="the active virtual environment $VIRTUAL_ENV"
elif [[ -n "${CONDA_PREFIX:-}" ]]; then
    python="$CONDA_PREFIX/bin/python"
    environment="the active conda environment $CONDA_PREFIX"
else
    python="$repo_root/.venv/bin/python"
    environment="$repo_root/.venv"
    if [[ ! -x "$python" ]]; then
        python3 -m venv "$repo_root/.venv"
        environment="$repo_root/.venv (new, from $(python3 --version 2>&1))"
    fi
fi

if ! "$python" -c "import sys" 2>/dev/null; then
    echo "setup: $python failed to run; repair or remove that environment, or choose another with PYTHON=..." >&2
    exit 1
fi

pip_install=("$python" -m pip install --quiet)

if torch_found="$("$python" -c "import torch; print(torch.__version__)" 2>/dev/null)"; then
    torch_action="kept torch $torch_found"
elif nvidia-smi -L >/dev/null 2>&1; then
    "${pip_install[@]}" "torch==$TORCH_VERSION"
    torch_action="installed torch $TORCH_VERSION from PyPI, the CUDA build, because nvidia-smi found a GPU"
elif "${pip_install[@]}" --no-index --no-deps "torch==$TORCH_VERSION" 2>/dev/null; then
    # The local wheel came through pip's configured find-links. Its
    # dependencies (sympy, networkx, ...) are small and come from the usual
    # index, and the installed torch already satisfies torch==VERSION, so pip
    # does not download another torch.
    "${pip_install[@]}" "torch==$TORCH_VERSION"
    torch_action="installed torch $TORCH_VERSION from a local wheel"
else
    "${pip_install[@]}" --index-url "$TORCH_CPU_INDEX" "torch==$TORCH_VERSION"
    torch_action="installed torch $TORCH_VERSION, the CPU build from $TORCH_CPU_INDEX"
fi

"${pip_install[@]}" -e ".[book,test]"

# MathJax, require.js and the ipywidgets manager for pages that work offline.
"$python" "$repo_root/scripts/fetch_web_assets.py"

echo "setup: environment $environment; $torch_action."
echo "setup: installed gp-core from $repo_root in editable mode with the book and test extras."
