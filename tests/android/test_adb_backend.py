"""AdbDevice (android/adb.py) against `fusegov emulate` through a real adb server: the Device interface,
probe through ADB equal to probe in-process, and clear errors for every way a phone can be unreachable."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from android.adb import AdbDevice
from android.errors import (
    ConnectionLostError,
    DeviceError,
    DevicePathError,
    DevicePermissionError,
    InvalidValueError,
    NotRootedError,
)
from tests.helpers.adb import ADB, REPO, Emulator, free_port, start_emulator, stop_emulator, wait_for_state

POLICY6 = "/sys/devices/system/cpu/cpufreq/policy6"


@pytest.fixture(scope="module")
def device(adb_server, pixel7: Emulator):  # noqa: F811
    with AdbDevice(pixel7.serial, adb_port=adb_server.port) as dev:
        yield dev


def test_reads_in_one_round_trip_and_root_only_files_through_su(device):
    paths = [
        f"{POLICY6}/scaling_max_freq",
        f"{POLICY6}/scaling_available_governors",
        "/sys/none",
        f"{POLICY6}/cpuinfo_cur_freq",
    ]
    values = device.read_many(paths)
    assert values[paths[0]] == "2850000\n"
    assert values[paths[1]].endswith(" \n")  # the trailing space of cpufreq lists survives the helper
    assert values["/sys/none"] is None
    assert values[paths[3]] is not None and int(values[paths[3]]) > 0  # mode 0400: read through su
    assert device.read(f"{POLICY6}/related_cpus") == "6 7\n"
    with pytest.raises(DevicePathError):
        device.read("/sys/none")


def test_writes_through_su_and_kernel_errors(device):
    assert device.is_rooted()
    device.write(f"{POLICY6}/scaling_max_freq", "1500000")
    assert device.read(f"{POLICY6}/scaling_max_freq") == "1426000\n"  # caller verifies: clamped
    with pytest.raises(InvalidValueError, match="invalid value 'fast'"):
        device.write(f"{POLICY6}/scaling_max_freq", "fast")
    with pytest.raises(DevicePermissionError):
        device.write(f"{POLICY6}/scaling_cur_freq", "1")
    device.write(f"{POLICY6}/scaling_max_freq", "2850000")
    assert device.read(f"{POLICY6}/scaling_max_freq") == "2850000\n"


def test_listing_props_shell_and_files(device, tmp_path):
    assert device.listdir("/sys/devices/system/cpu/cpufreq") == ["policy0", "policy4", "policy6"]
    assert device.exists(POLICY6) and device.is_dir(POLICY6) and not device.is_dir(f"{POLICY6}/related_cpus")
    assert not device.exists("/sys/none")
    assert device.getprop("ro.board.platform") == "gs201" and device.getprop("no.such.prop") == ""
    result = device.shell("echo out; echo err >&2; exit 3")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "out\n", "err\n")
    local = tmp_path / "f.bin"
    local.write_bytes(os.urandom(70_000))
    device.push(local, "/data/local/tmp/f.bin")
    device.pull("/data/local/tmp/f.bin", tmp_path / "g.bin")
    assert (tmp_path / "g.bin").read_bytes() == local.read_bytes()
    with pytest.raises(DevicePathError):
        device.pull("/data/local/tmp/none.bin", tmp_path / "none.bin")
    with pytest.raises(DevicePermissionError):
        device.push(local, "/system/f.bin")


def _probe(*args: str, env: dict[str, str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "governor.cli", "probe", *args, "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    info.pop("name")  # the device's name: its serial over ADB, 'virtual-<profile>' in-process
    return info


@pytest.mark.parametrize("profile", [pytest.param("sm8550", marks=pytest.mark.slow), "pixel7"])
def test_probe_through_adb_finds_what_probe_finds_in_process(profile, adb_server, request):  # noqa: F811
    emulator: Emulator = request.getfixturevalue(profile)
    over_adb = _probe("--serial", emulator.serial, "--adb-port", str(adb_server.port), env=adb_server.env)
    in_process = _probe("--virtual", profile, env=adb_server.env)
    assert over_adb == in_process


def test_no_server_and_no_device(adb_server):  # noqa: F811
    unused = free_port()
    with pytest.raises(ConnectionLostError, match=f"no adb server on 127.0.0.1:{unused}"):
        AdbDevice("127.0.0.1:5555", adb_port=unused)
    with pytest.raises(DeviceError, match="no device '127.0.0.1:1'.*adb -P .* connect 127.0.0.1:1"):
        AdbDevice("127.0.0.1:1", adb_port=adb_server.port)


def test_unauthorized_phone(adb_server):  # noqa: F811
    emulator = start_emulator(adb_server, "pixel4", "--unauthorized", expect_state="unauthorized")
    try:
        with pytest.raises(ConnectionLostError, match="unauthorized: accept"):
            AdbDevice(emulator.serial, adb_port=adb_server.port)
    finally:
        stop_emulator(emulator)


def test_offline_phone(adb_server):  # noqa: F811
    """A phone that accepts the TCP connection but never answers the handshake is listed 'offline'."""
    silent = socket.create_server(("127.0.0.1", 0))
    serial = f"127.0.0.1:{silent.getsockname()[1]}"
    connecting = subprocess.Popen(
        [ADB, "-P", str(adb_server.port), "connect", serial],
        env=adb_server.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_state(adb_server, serial, "offline")
        with pytest.raises(ConnectionLostError, match="offline: the phone does not answer"):
            AdbDevice(serial, adb_port=adb_server.port)
    finally:
        connecting.kill()
        connecting.wait()
        adb_server.adb("disconnect", serial)
        silent.close()


def test_unrooted_phone(adb_server):  # noqa: F811
    emulator = start_emulator(adb_server, "pixel4", "--no-su")
    try:
        with AdbDevice(emulator.serial, adb_port=adb_server.port) as device:
            assert not device.is_rooted()
            assert device.read("/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq").strip().isdigit()
            with pytest.raises(DevicePermissionError):
                device.read("/sys/devices/system/cpu/cpufreq/policy0/cpuinfo_cur_freq")
            with pytest.raises(NotRootedError, match="gives no root shell"):
                device.write("/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq", "1000000")
            assert emulator.shell("su -c id").returncode == 127
    finally:
        stop_emulator(emulator)


def test_dropped_connection(adb_server):  # noqa: F811
    emulator = start_emulator(adb_server, "pixel4")
    try:
        device = AdbDevice(emulator.serial, adb_port=adb_server.port)
        assert device.getprop("ro.product.model") == "Pixel 4"
        emulator.proc.send_signal(signal.SIGKILL)
        emulator.proc.wait(10)
        with pytest.raises(ConnectionLostError, match=emulator.serial):
            device.read("/proc/uptime")
        with pytest.raises(ConnectionLostError):
            device.shell("true")
    finally:
        stop_emulator(emulator)
