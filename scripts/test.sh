#!/usr/bin/env bash
# The project's test command: lint, formatting, type-check, then the whole test suite (the VM
# end-to-end test included). Run scripts/setup.sh once first (as root). Arguments go to pytest
# (a folder, a test: bash scripts/test.sh tests/core).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
ruff check
ruff format --check
mypy
python -m pytest "$@"
