"""Restoring pinned knobs on a phone that is hot, partly broken, or told to stop: the user's settings come
back every time, all knobs are tried, and results measured before are not lost."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.profile import BUILTIN_DIR
from android.errors import DeviceError, FusegovError, WriteVerifyError
from android.knobs import KnobController, RestoreError, pinned, thermal_caps
from android.probe import probe_device
from android.virtual import VirtualDevice
from tests.helpers.adb import REPO, Emulator

PINS = {"gpu": 848_000_000, "policy6": 2_850_000_000, "mem": 3_172_000_000, "policy4": 2_348_000_000}
THERMAL = "/sys/class/thermal"


def controller(phone: VirtualPhone | str = "pixel7", device_type=VirtualDevice):
    device = device_type(phone)
    return KnobController(device, probe_device(device)), device


def requests(phone: VirtualPhone) -> dict:
    return {k.name: (k.min_request_hz, k.max_request_hz, k.governor) for k in phone.knobs.values()}


def test_cooling_devices_show_the_thermal_cap_the_kernel_way():
    phone = VirtualPhone("pixel7")
    fs = phone.fs
    types = [fs.read(f"{THERMAL}/cooling_device{i}/type").decode() for i in range(4)]
    assert types == ["thermal-cpufreq-0\n", "thermal-cpufreq-1\n", "thermal-cpufreq-2\n", "thermal-gpufreq-0\n"]
    assert fs.read(f"{THERMAL}/cooling_device2/max_state") == b"17\n"  # 18 OPPs on policy6
    assert fs.read(f"{THERMAL}/cooling_device2/cur_state") == b"0\n"
    phone.knobs["policy6"].thermal_cap_hz = 2_401_000_000
    assert fs.read(f"{THERMAL}/cooling_device2/cur_state") == b"5\n"  # 2850 2802 2704 2630 2507 off the top
    assert fs.read("/sys/devices/system/cpu/cpufreq/policy6/scaling_max_freq") == b"2401000\n"
    fs.write(f"{THERMAL}/cooling_device3/cur_state", b"2", 0)  # root, as a thermal daemon would
    assert phone.knobs["gpu"].thermal_cap_hz == 701_000_000
    with pytest.raises(DeviceError):
        fs.write(f"{THERMAL}/cooling_device3/cur_state", b"99", 0)
    with pytest.raises(DeviceError, match="permission denied"):
        fs.write(f"{THERMAL}/cooling_device3/cur_state", b"0", 2000)


def test_restore_under_a_thermal_cap_puts_back_what_the_user_set():
    phone = VirtualPhone("pixel7")
    knobs, _ = controller(phone)
    before = requests(phone)
    with pinned(knobs, PINS):
        phone.knobs["policy6"].thermal_cap_hz = 500_000_000  # the phone heats up during the run
        phone.knobs["gpu"].thermal_cap_hz = 302_000_000
    assert requests(phone) == before  # every knob, the capped ones included
    assert knobs.limits_hz("policy6") == (500_000_000, 500_000_000)  # effective: the cap still holds
    phone.knobs["policy6"].thermal_cap_hz = 0
    assert knobs.limits_hz("policy6") == (500_000_000, 2_850_000_000)  # cooled: the user's range again


def test_a_pin_attempted_while_throttled_does_not_keep_the_cap_after_cooling():
    phone = VirtualPhone("pixel7")
    phone.knobs["policy6"].thermal_cap_hz = 500_000_000
    knobs, _ = controller(phone)
    saved = knobs.snapshot(["policy6"])
    assert saved[0].max_hz == 2_850_000_000 and saved[0].capped
    with pinned(knobs, {"policy6": 2_850_000_000}):
        assert phone.knobs["policy6"].cur_hz == 500_000_000  # accepted: the cap, not another writer
    phone.knobs["policy6"].thermal_cap_hz = 0
    assert knobs.limits_hz("policy6") == (500_000_000, 2_850_000_000)


def test_a_pin_under_a_cap_is_warned_of_unless_the_caps_are_being_counted(caplog):
    phone = VirtualPhone("pixel7")
    phone.knobs["policy6"].thermal_cap_hz = 500_000_000
    knobs, _ = controller(phone)
    with caplog.at_level(logging.WARNING, logger="fusegov.knobs"):
        knobs.pin("policy6", 2_850_000_000)
        warned = [r.getMessage() for r in caplog.records]
        caplog.clear()
        with thermal_caps() as caps:
            knobs.pin("policy6", 2_802_000_000)
            assert knobs.snapshot(["policy6"])[0].capped
            knobs.pin("gpu", 848_000_000)  # not capped: nothing to count
        assert caplog.records == [] and caps == {"policy6": 2}  # the pin and the snapshot
        knobs.pin("policy6", 2_850_000_000)  # counted only meanwhile
        assert len(caplog.records) == 1
    assert warned == [
        "virtual-pixel7: policy6 asked for 2850 MHz..2850 MHz runs at most 500 MHz while its cooling device throttles it"
    ]


class _StubbornDevice(VirtualDevice):
    """A phone where one file ignores writes (another writer keeps setting it) and one refuses them."""

    ignored = "/sys/devices/system/cpu/cpufreq/policy0/scaling_max_freq"
    refused = "/sys/devices/system/cpu/cpufreq/policy4/scaling_governor"

    def write(self, path: str, value: str) -> None:
        if path == self.ignored:
            return
        if path == self.refused:
            raise DeviceError(f"{self.name}: {path}: I/O error")
        super().write(path, value)


def test_a_write_another_writer_undoes_still_fails_verification():
    knobs, _ = controller(VirtualPhone("pixel7"), _StubbornDevice)
    with pytest.raises(WriteVerifyError, match="no cooling device throttles it"):
        knobs.pin("policy0", 1_197_000_000)


def test_restore_tries_every_knob_and_reports_all_failures():
    phone = VirtualPhone("pixel7")
    knobs, device = controller(phone)
    before = requests(phone)
    with pytest.raises(RestoreError) as caught:
        with pinned(knobs, {"policy4": 1_328_000_000, "gpu": 400_000_000, "mem": 845_000_000}):
            device.__class__ = _StubbornDevice  # the governor file of policy4 breaks while pinned
    assert caught.value.failures[0].startswith("policy4:") and len(caught.value.failures) == 1
    after = requests(phone)
    assert after["gpu"] == before["gpu"] and after["mem"] == before["mem"]


def test_pins_are_checked_against_the_tables_before_anything_is_written():
    phone = VirtualPhone("pixel7")
    knobs, _ = controller(phone)
    before = requests(phone)
    with pytest.raises(FusegovError, match=r"800 MHz is not one of its frequencies \(151 MHz, 202 MHz"):
        with pinned(knobs, {"policy6": 2_850_000_000, "gpu": 800_000_000}):
            pass
    assert requests(phone) == before


def _hot_profile(tmp_path: Path) -> Path:
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    raw["physics"]["thermal"].pop("power_allocator", None)
    for zone in raw["physics"]["thermal"]["zones"].values():
        zone.pop("governor", None)  # step_wise everywhere: one OPP off per poll above the trip
        for i, trip in enumerate(zone.get("trips", [])):
            trip["temp_c"], trip["hysteresis_c"] = 29.0 + i, 1.0  # throttles within the first second of work
    path = tmp_path / "hot-pixel7.json"
    path.write_text(json.dumps(raw))
    return path


def test_a_throttled_run_prints_its_results_and_leaves_every_knob_as_it_was(tmp_path, monkeypatch, capsys):
    """Issue 8's `fusegov run ... --pin <all knobs at their top>` on a phone hot enough to be capped."""
    import android.emulator.phone as phone_module
    from governor.cli import main

    phones: list[VirtualPhone] = []

    class Watched(VirtualPhone):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            phones.append(self)

    monkeypatch.setattr(phone_module, "VirtualPhone", Watched)
    pins = "gpu=848MHz,policy6=2850MHz,mem=3172MHz,policy4=2348MHz,policy0=1803MHz"
    argv = ["run", "--virtual", str(_hot_profile(tmp_path)), "--workload", "llm:tinyllama-1.1b-q4"]
    assert main([*argv, "--prompt", "16", "--decode", "8", "--pin", pins, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["decode_tokens"] == 8 and out["pins_hz"]["policy6"] == 2_850_000_000
    phone = phones[0]
    assert any(k.thermal_cap_hz for k in phone.knobs.values())  # it was throttled when restored
    assert requests(phone) == requests(VirtualPhone("pixel7"))  # and every request is the boot value


STOP_SCRIPT = """
import json, sys, time
from android.knobs import KnobController, pinned
from android.probe import probe_device
{device_setup}
knobs = KnobController(device, probe_device(device))
try:
    with pinned(knobs, {pins!r}):
        print("pinned", json.dumps(knobs.limits_hz("policy6")), flush=True)
        time.sleep(60)
except KeyboardInterrupt as exc:
    print(type(exc).__name__, exc, json.dumps(knobs.limits_hz("policy6")), flush=True)
    sys.exit(3)
"""


def _pin_then_signal(device_setup: str, sig: int, env: dict | None = None) -> list[str]:
    code = STOP_SCRIPT.format(device_setup=textwrap.dedent(device_setup), pins={"policy6": 851_000_000})
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        first = child.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith("pinned [851000000, 851000000]"), child.stderr.read()  # type: ignore[union-attr]
        child.send_signal(sig)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 3, err
    return out.split()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_restore_like_ctrl_c_in_process(sig):
    words = _pin_then_signal("from android.virtual import VirtualDevice\ndevice = VirtualDevice('pixel7')", sig)
    assert words[0] == "Terminated" and words[1] == f"{signal.Signals(sig).name}"
    assert json.loads(" ".join(words[3:])) == [500_000_000, 2_850_000_000]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_restore_a_served_phone(adb_server, pixel7: Emulator, sig):  # noqa: F811
    setup = f"from android.adb import AdbDevice\ndevice = AdbDevice({pixel7.serial!r}, adb_port={adb_server.port})"
    env = {**os.environ, **adb_server.env}
    words = _pin_then_signal(setup, sig, env)
    assert words[0] == "Terminated"
    limits = pixel7.shell("cat /sys/devices/system/cpu/cpufreq/policy6/scaling_min_freq "
                          "/sys/devices/system/cpu/cpufreq/policy6/scaling_max_freq").stdout.split()  # fmt: skip
    assert limits == [b"500000", b"2850000"]


def test_a_signal_during_restore_waits_for_it():
    """SIGTERM arriving while knobs are being put back is held until they all are, then ends the block."""
    phone = VirtualPhone("pixel7")
    knobs, _ = controller(phone)
    before = requests(phone)
    restore = knobs.restore

    def restore_with_a_signal(settings):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.01)  # the handler runs here, inside the restore
        restore(settings)

    knobs.restore = restore_with_a_signal  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt, match="SIGTERM"):
        with pinned(knobs, PINS):
            pass
    assert requests(phone) == before
