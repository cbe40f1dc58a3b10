"""The phone reboots while the daemon holds pins (the virtual phone's `fusegov emulate` is killed and started
again with the same --data-dir: sysfs starts fresh as after a reboot, /data and the daemon's state file
survive). With the daemon not started the knobs are at the settings found before; restore and start see the
state file is from an earlier boot and write nothing."""

from __future__ import annotations

import pytest

from android.adb import AdbDevice
from android.daemon.config import plan_knobs
from android.daemon.remote import DaemonRemote
from android.knobs import KnobController
from android.probe import probe_device
from governor.plan import load_plan
from tests.daemon.conftest import SPEED, wait_for
from tests.daemon.plans import simple_plan, write_plan
from tests.helpers.adb import free_port, start_emulator, stop_emulator, wait_for_state

pytestmark = pytest.mark.slow

WORKDIR = "/data/local/tmp/fusegov"


def test_reboot_with_the_daemon_not_started_leaves_the_knobs_as_found(adb_server, tmp_path):
    data_dir, port = tmp_path / "data", free_port()
    options = ("--speed", str(SPEED), "--data-dir", str(data_dir))
    phone = start_emulator(adb_server, "pixel7", *options, port=port)
    try:
        device = AdbDevice(phone.serial, adb_port=adb_server.port)
        info = probe_device(device)
        plan = write_plan(tmp_path / "plan.json", simple_plan(info))
        knobs = plan_knobs(load_plan(plan))
        found = KnobController(device, info).snapshot(knobs)
        remote = DaemonRemote(device, WORKDIR)
        remote.deploy([load_plan(plan)])
        pid = remote.start()["pid"]
        remote.hint("prefill", 300)
        wait_for(lambda: remote.status()["pinned_hz"], "the prefill pins")
        assert KnobController(device, info).snapshot(knobs) != found
        device.close()
        phone.proc.kill()  # the battery is pulled: nothing runs its cleanup
        phone.proc.wait()
        adb_server.adb("disconnect", phone.serial)
        phone = start_emulator(adb_server, "pixel7", *options, port=port)
        wait_for_state(adb_server, phone.serial, "device")
        device = AdbDevice(phone.serial, adb_port=adb_server.port)
        controller = KnobController(device, info)
        remote = DaemonRemote(device, WORKDIR)
        status = remote.status()
        assert status["deployed"] and not status["running"] and status["state_file"]  # /data survived
        assert controller.snapshot(knobs) == found  # the reboot reset sysfs; nobody started the daemon
        message = remote.restore()
        assert f"state from pid {pid} is from an earlier boot" in message
        assert not remote.status()["state_file"]
        assert controller.snapshot(knobs) == found
        remote.start()  # the deployed daemon starts again after the reboot and pins on hints
        remote.hint("decode")
        wait_for(lambda: remote.status()["phase"] == "decode", "the decode hint")
        remote.stop()
        assert controller.snapshot(knobs) == found
        device.close()
    finally:
        stop_emulator(phone)
