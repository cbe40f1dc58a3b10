#!/usr/bin/env bash
# The README's test command, and what CI runs (.ci/run): install fusegov with its test extras into a virtual
# environment (install.sh --test: .venv or the active one, never the system Python; python3-venv and adb from
# apt-get when missing), then lint (ruff check, ruff format --check) and run the whole test suite.
# The suite runs in one pytest-xdist worker per core, a module at a time, the adb modules on one of them
# (tests/conftest.py); `-n 0` runs it in this process.
# Usage: bash tests/setup_and_test.sh [pytest args...]   e.g.  -m "not slow"  (the fast tier)
set -euo pipefail
cd "$(dirname "$0")/.."

PY="$(bash install.sh --test | tail -n 1)"

echo "== ruff (lint and format check)"
"$PY" -m ruff check .
"$PY" -m ruff format --check --quiet .

echo "== running the test suite"
"$PY" -m pytest -q -n auto "$@"
