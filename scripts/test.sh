#!/usr/bin/env bash
# The project's test command: lint, type-check, then the whole test suite (the VM end-to-end
# test included). Run scripts/setup.sh once first (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
ruff check
mypy
python -m pytest "$@"
