#!/usr/bin/env bash
# Install fusegov into a virtual environment, never into the system Python (PEP 668): the active one
# ($VIRTUAL_ENV), else $FUSEGOV_VENV, else .venv beside this file. On a fresh Debian or Ubuntu it first installs,
# with apt-get (through sudo when not root), what is missing: python3-venv (Debian's python3 has no ensurepip
# without it) and, with --test, Debian's adb (the tests drive the virtual phone through the real adb server).
# Usage: bash install.sh [--test]      --test: also the test extras (pytest, hypothesis, ruff, ...)
# Prints the virtual environment's python as its last line.
set -euo pipefail
cd "$(dirname "$0")"

EXTRAS=""
for arg in "$@"; do
  case "$arg" in
    --test) EXTRAS="[test]" ;;
    *) echo "install.sh: unknown option $arg (use --test)" >&2; exit 2 ;;
  esac
done

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
apt_install() {
  echo "== installing Debian package(s) $* with apt-get" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >&2
}

if [ -n "$EXTRAS" ]; then
  command -v adb >/dev/null 2>&1 || apt_install adb
fi

if [ -n "${VIRTUAL_ENV:-}" ]; then
  PY="$VIRTUAL_ENV/bin/python"
else
  VENV="${FUSEGOV_VENV:-.venv}"
  if ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    # a venv left without pip by an earlier attempt (no ensurepip) is made again
    rm -rf "$VENV"
    python3 -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; apt_install python3-venv; python3 -m venv "$VENV"; }
  fi
  PY="$VENV/bin/python"
fi

echo "== installing fusegov$EXTRAS into $("$PY" -c 'import sys; print(sys.prefix)')" >&2
"$PY" -m pip install --quiet --disable-pip-version-check -e ".$EXTRAS" >&2
echo "$PY"
