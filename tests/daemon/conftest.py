"""Fixtures for the daemon tests: a virtual Pixel 7 of their own served by `fusegov emulate` over Debian's
adb (they pin its knobs, so they never share the session's `pixel7`; package-scoped, so the phone, which
simulates 20x real time even when idle, is stopped once tests/daemon is done), and helpers to read knobs and drive
the daemon."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from android.adb import AdbDevice
from android.daemon.remote import DaemonRemote
from android.knobs import KnobController, KnobSetting
from android.probe import probe_device
from android.soc.records import DeviceInfo
from tests.daemon.plans import pinned_knobs, simple_plan, write_plan
from tests.helpers.adb import AdbServer, Emulator, start_emulator, stop_emulator

SPEED = 20  # simulated seconds per wall-clock second on the daemon tests' phone
MODEL = "tinyllama-1.1b-q4"
MODEL_FILE = f"/data/local/tmp/{MODEL}.gguf"  # the virtual phone's llama-cli takes a file named after a model
WAIT_S = 20.0  # wall-clock bound on any wait for the daemon


@pytest.fixture(scope="package")
def daemon_phone(adb_server: AdbServer, request) -> Emulator:
    emulator = start_emulator(adb_server, "pixel7", "--speed", str(SPEED))
    request.addfinalizer(lambda: stop_emulator(emulator))
    return emulator


@pytest.fixture(scope="package")
def device(daemon_phone: Emulator) -> AdbDevice:
    device = AdbDevice(daemon_phone.serial, adb_port=daemon_phone.server.port)
    yield device
    device.close()


@pytest.fixture(scope="package")
def model_file(device: AdbDevice, tmp_path_factory) -> str:
    """A model file on the phone for its llama-cli (named after the built-in model; its bytes are not read)."""
    local = tmp_path_factory.mktemp("model") / f"{MODEL}.gguf"
    local.write_bytes(b"GGUF")
    device.push(local, MODEL_FILE)
    return MODEL_FILE


@pytest.fixture(scope="package")
def info(device: AdbDevice) -> DeviceInfo:
    return probe_device(device)


@pytest.fixture
def controller(device: AdbDevice, info: DeviceInfo) -> KnobController:
    return KnobController(device, info)


@pytest.fixture
def plan_doc(info: DeviceInfo) -> dict:
    return simple_plan(info)


@pytest.fixture
def plan_path(tmp_path: Path, plan_doc: dict) -> Path:
    return write_plan(tmp_path / "plan.json", plan_doc)


@pytest.fixture
def remote(device: AdbDevice, request) -> DaemonRemote:
    """The daemon in a working directory of this test's own; stopped (and its knobs restored) afterwards."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", request.node.name)[:60]
    remote = DaemonRemote(device, f"/data/local/tmp/fg-{name}")
    device.shell(f"rm -rf {remote.workdir}")
    yield remote
    if remote.running_pid() is not None:
        remote.stop()


@pytest.fixture
def user_limits(controller: KnobController, info: DeviceInfo, plan_doc: dict) -> list[KnobSetting]:
    """Limits a user set before the daemon ran (not the boot defaults): max one level below the top for
    every knob the plan pins. The daemon must put exactly these back. Boot defaults come back afterwards."""
    knobs = pinned_knobs(plan_doc)
    boot = controller.snapshot(knobs)
    for knob in knobs:
        table = sorted(info.knobs[knob].table_hz)
        controller.set_limits(knob, table[1], table[-2])
    yield controller.snapshot(knobs)
    controller.restore(boot)


def wait_for(condition: Callable[[], object], what: str, timeout_s: float = WAIT_S, poll_s: float = 0.05):
    """Poll until `condition()` is truthy (returns it); fails naming `what` after timeout_s of wall time."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


def pinned_values(controller: KnobController, knobs: list[str]) -> dict[str, tuple[int, int]]:
    return {knob: controller.limits_hz(knob) for knob in knobs}
