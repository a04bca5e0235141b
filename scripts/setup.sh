#!/usr/bin/env bash
# Creates .venv and installs the runner (editable): `setup.sh` what running needs (make run),
# `setup.sh dev` the test tools as well (make test, lint, docs, bench).
# Takes a CPU build of torch where one is at hand (a local wheel in $TORCH_WHEEL_DIR, default
# /opt/wheels, or the CPU package index) instead of pulling a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install -q --disable-pip-version-check)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  installed=0
  for wheel in "${TORCH_WHEEL_DIR:-/opt/wheels}"/torch-*+cpu-*.whl; do
    [ -f "$wheel" ] && "${PIP[@]}" "$wheel" 2>/dev/null && installed=1 && break
  done
  [ "$installed" = 1 ] || "${PIP[@]}" "torch>=2.4,<2.15" --index-url https://download.pytorch.org/whl/cpu \
    || "${PIP[@]}" "torch>=2.4,<2.15"
fi
if [ "${1:-}" = dev ]; then
  "${PIP[@]}" -e ".[dev]"
  touch .venv/.installed-dev
else
  "${PIP[@]}" -e ".[korean,llm]"  # every README example runs: Kiwi (stats.morphemes), cl100k_base
fi
touch .venv/.installed
