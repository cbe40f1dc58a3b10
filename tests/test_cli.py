"""The `fusegov` entry point: every command has a --help, and registration imports nothing heavy (so --help is
instant; `python -X importtime -m governor.cli --help` shows what it loads)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from governor.cli import build_parser

HEAVY = ("numpy", "pandas", "sklearn", "scipy", "pyarrow", "onnx", "matplotlib")


def _commands() -> list[str]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    return sorted(subparsers.choices)


def test_registration_imports_nothing_heavy():
    code = (
        "import sys; from governor.cli import build_parser; build_parser(); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"building the parser imported {out.stdout.strip()}"


@pytest.mark.parametrize("command", [None, *_commands()])
def test_every_command_explains_itself(command):
    argv = [sys.executable, "-m", "governor.cli", *([command] if command else []), "--help"]
    out = subprocess.run(argv, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: fusegov")
    assert len(out.stdout.splitlines()) > 3
