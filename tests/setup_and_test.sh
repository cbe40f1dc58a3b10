#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then lint and run the whole suite.
# Python packages go into a virtual environment (.venv, or the one already active), never into the system
# Python (PEP 668). Usage: bash tests/setup_and_test.sh [pytest args...]   e.g.  -m "not slow"
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
apt_install() {
  echo "== installing Debian package(s) $*"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@"
}

# Debian packages: the real adb client/server (tests drive the virtual phone through it), and venv support.
command -v adb >/dev/null 2>&1 || apt_install adb
if [ -n "${VIRTUAL_ENV:-}" ]; then
  PY="$VIRTUAL_ENV/bin/python"
else
  VENV="${FUSEGOV_VENV:-.venv}"
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" 2>/dev/null || { rm -rf "$VENV"; apt_install python3-venv; python3 -m venv "$VENV"; }
  fi
  PY="$VENV/bin/python"
fi

echo "== installing fusegov with its test extras into $("$PY" -c 'import sys; print(sys.prefix)')"
"$PY" -m pip install --quiet --disable-pip-version-check -e '.[test]'

echo "== ruff (lint and format check)"
"$PY" -m ruff check .
"$PY" -m ruff format --check --quiet .

echo "== running the test suite"
"$PY" -m pytest -q "$@"
