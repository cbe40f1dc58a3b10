"""Shared fixtures. Tests that need ../shared skip with a reason when it is absent; the ADB fixtures start
Debian's adb server and `fusegov emulate` once per session (tests/helpers/adb.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.adb import REGISTRY, AdbServer, Emulator

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared data directory {SHARED} is absent (CI provides ../shared beside the checkout)")
    return SHARED


@pytest.fixture(scope="session")
def adb_server(request, tmp_path_factory) -> AdbServer:
    return REGISTRY.adb_server(request, tmp_path_factory.mktemp("adb"))


@pytest.fixture(scope="session")
def pixel7(adb_server) -> Emulator:
    return REGISTRY.emulator(adb_server, "pixel7")


@pytest.fixture(scope="session")
def sm8550(adb_server) -> Emulator:
    return REGISTRY.emulator(adb_server, "sm8550")
