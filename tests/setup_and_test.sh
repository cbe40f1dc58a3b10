#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run the whole suite.
# Usage: bash tests/setup_and_test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

# Debian packages: the real adb client/server (tests drive the virtual phone through it).
if ! command -v adb >/dev/null 2>&1; then
  echo "== installing Debian package adb"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq adb
fi

echo "== installing fusegov with its test extras"
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'

echo "== running the test suite"
python3 -m pytest -q "$@"
