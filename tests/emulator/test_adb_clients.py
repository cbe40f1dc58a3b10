"""The usual Python ADB clients against `fusegov emulate`: adbutils (through the adb server) and adb_shell
(speaking the device transport directly, no server)."""

from __future__ import annotations

import os

import adbutils
import pytest

from tests.helpers.adb import Emulator

POLICY6 = "/sys/devices/system/cpu/cpufreq/policy6"


@pytest.fixture(scope="module")
def adbutils_device(adb_server, pixel7: Emulator):  # noqa: F811
    client = adbutils.AdbClient(host="127.0.0.1", port=adb_server.port)
    return client.device(serial=pixel7.serial)


def test_adbutils_shell_exit_codes_v1_and_v2(adbutils_device):
    assert adbutils_device.shell("getprop ro.product.model") == "Pixel 7"
    v1 = adbutils_device.shell2("echo hi; false")  # appends '; echo X4EXIT:$?' and parses it
    assert (v1.returncode, v1.output) == (1, "hi\n")
    v2 = adbutils_device.shell2("echo out; echo err >&2; exit 5", v2=True)
    assert (v2.returncode, v2.stdout, v2.stderr) == (5, "out\n", "err\n")
    assert "shell_v2" in adbutils_device.get_features().split(",")


def test_adbutils_push_pull_stat_and_list(adbutils_device):
    data = os.urandom(300_000)
    adbutils_device.sync.push(data, "/data/local/tmp/au.bin")
    assert adbutils_device.sync.read_bytes("/data/local/tmp/au.bin") == data
    assert adbutils_device.sync.stat("/data/local/tmp/au.bin").size == len(data)
    names = {entry.path for entry in adbutils_device.sync.list("/data/local/tmp")}
    assert "au.bin" in names
    assert adbutils_device.sync.read_text(f"{POLICY6}/scaling_available_governors").endswith(" \n")


def test_adb_shell_speaks_the_device_transport(sm8550: Emulator, tmp_path):  # noqa: F811
    from adb_shell.adb_device import AdbDeviceTcp

    device = AdbDeviceTcp("127.0.0.1", sm8550.port, default_transport_timeout_s=10)
    assert device.connect(rsa_keys=None, auth_timeout_s=5)
    try:
        assert device.shell("cat /sys/class/kgsl/kgsl-3d0/gpu_model") == "Adreno740v2\n"
        assert (
            device.shell(
                "su -c 'echo 401000000 > /sys/class/kgsl/kgsl-3d0/max_gpuclk'; cat /sys/class/kgsl/kgsl-3d0/max_gpuclk"
            )
            == "401000000\n"
        )
        assert device.shell("su -c 'echo 719000000 > /sys/class/kgsl/kgsl-3d0/max_gpuclk'; echo $?") == "0\n"
        local = tmp_path / "x.bin"
        local.write_bytes(os.urandom(200_000))
        device.push(str(local), "/data/local/tmp/x.bin")
        device.pull("/data/local/tmp/x.bin", str(tmp_path / "y.bin"))
        assert (tmp_path / "y.bin").read_bytes() == local.read_bytes()
        mode, size, _ = device.stat("/data/local/tmp/x.bin")
        assert size == 200_000 and mode & 0o170000 == 0o100000
    finally:
        device.close()
