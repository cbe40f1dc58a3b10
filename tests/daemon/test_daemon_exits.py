"""The daemon never leaves the phone pinned: for each way it can end, on the virtual phone over real adb,
the knobs end at the settings found before (limits a user set, not the boot defaults)."""

from __future__ import annotations

import json
import signal

import pytest

from android.units import to_native
from governor.plan import load_plan
from tests.daemon.conftest import pinned_values, wait_for
from tests.daemon.plans import phase_setting

pytestmark = pytest.mark.slow


def start_pinned(remote, plan_path, controller, plan_doc, user_limits):
    """Deploy, start, send `prefill 300` and check the plan's long-prompt bucket is pinned (min = max)."""
    remote.deploy([load_plan(plan_path)])
    status = remote.start()
    remote.hint("prefill", 300)
    setting = phase_setting(plan_doc, "prefill")
    wait_for(lambda: remote.status()["pinned_hz"] == setting, "the prefill pins")
    assert pinned_values(controller, sorted(setting)) == {k: (v, v) for k, v in setting.items()}
    found = {s.knob: s for s in user_limits}
    assert all(found[k].max_hz != v or found[k].min_hz != v for k, v in setting.items())  # pinning changed them
    return status["pid"]


def assert_as_found(controller, user_limits):
    assert controller.snapshot([s.knob for s in user_limits]) == user_limits


def state_file(remote) -> dict | None:
    text = remote.device.read_many([remote.path("state.json")])[remote.path("state.json")]
    return json.loads(text) if text else None


def test_normal_stop_restores(remote, plan_path, controller, plan_doc, user_limits):
    start_pinned(remote, plan_path, controller, plan_doc, user_limits)
    message = remote.stop()
    assert "knobs restored" in message
    assert_as_found(controller, user_limits)
    assert state_file(remote) is None
    log = remote.logs()
    assert "exit (signal SIGTERM): knobs restored" in log
    assert not remote.status()["running"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_signal_restores(remote, plan_path, controller, plan_doc, user_limits, sig):
    pid = start_pinned(remote, plan_path, controller, plan_doc, user_limits)
    assert remote.root(f"kill -{sig.name[3:]} {pid}").ok
    wait_for(lambda: not remote.alive(pid), f"the daemon to exit on {sig.name}")
    assert_as_found(controller, user_limits)
    assert state_file(remote) is None
    assert f"exit (signal {sig.name}): knobs restored" in remote.logs()


def test_sigkill_then_restart_restores(remote, plan_path, controller, plan_doc, user_limits, info):
    pid = start_pinned(remote, plan_path, controller, plan_doc, user_limits)
    assert remote.root(f"kill -9 {pid}").ok
    wait_for(lambda: not remote.alive(pid), "the daemon to die")
    status = remote.status()
    assert status["crashed"] and status["state_file"]
    assert controller.snapshot([s.knob for s in user_limits]) != user_limits  # still pinned: nobody restored
    saved = state_file(remote)
    unit = {s.knob: info.knobs[s.knob].unit for s in user_limits}  # the state holds the files' own units
    assert {k: (v["min"], v["max"]) for k, v in saved["knobs"].items()} == {
        s.knob: (to_native(s.min_hz, unit[s.knob]), to_native(s.max_hz, unit[s.knob])) for s in user_limits
    }
    restarted = remote.start()  # the new daemon restores from the state file before anything else
    assert restarted["pid"] != pid and restarted["phase"] == "idle"
    assert_as_found(controller, user_limits)
    assert f"recovery: state from pid {pid} restored and removed" in remote.logs()
    remote.stop()
    assert_as_found(controller, user_limits)


def test_sigkill_then_restore_command(remote, plan_path, controller, plan_doc, user_limits):
    pid = start_pinned(remote, plan_path, controller, plan_doc, user_limits)
    assert remote.root(f"kill -KILL {pid}").ok
    wait_for(lambda: not remote.alive(pid), "the daemon to die")
    assert "fusegov restore" in remote.stop()  # stop sees the dead daemon and says what to run
    message = remote.restore()
    assert f"state from pid {pid} restored and removed" in message
    assert_as_found(controller, user_limits)
    assert state_file(remote) is None
    assert "nothing to restore" in remote.restore()  # a second restore is harmless
    assert_as_found(controller, user_limits)


def test_restore_refused_while_running(remote, plan_path, controller, plan_doc, user_limits):
    from android.daemon.errors import DaemonError

    start_pinned(remote, plan_path, controller, plan_doc, user_limits)
    with pytest.raises(DaemonError, match="stop it instead"):
        remote.restore()
    with pytest.raises(DaemonError, match="already running"):
        remote.start()
    remote.stop()
    assert_as_found(controller, user_limits)


def test_snapdragon_phone_pins_each_phase_and_restores(sm8550, tmp_path):
    """The same daemon on a phone of another family: kgsl's GPU in Hz, a Qualcomm memory bus in MB/s."""
    from android.adb import AdbDevice
    from android.daemon.remote import DaemonRemote
    from android.knobs import KnobController
    from android.probe import probe_device
    from tests.daemon.plans import pinned_knobs, simple_plan, write_plan

    device = AdbDevice(sm8550.serial, adb_port=sm8550.server.port)
    info = probe_device(device)
    plan = simple_plan(info)
    knobs = pinned_knobs(plan)
    controller = KnobController(device, info)
    found = controller.snapshot(knobs)
    remote = DaemonRemote(device, "/data/local/tmp/fg-sm8550")
    try:
        remote.deploy([load_plan(write_plan(tmp_path / "plan.json", plan))])
        remote.start()
        for hint, setting in (
            ((("prefill", 50)), phase_setting(plan, "prefill", 0)),
            (("decode",), phase_setting(plan, "decode")),
        ):
            remote.hint(*hint)
            pins = setting
            wait_for(lambda pins=pins: remote.status()["pinned_hz"] == pins, f"the {hint[0]} pins")
            assert pinned_values(controller, sorted(pins)) == {k: (v, v) for k, v in pins.items()}
        remote.stop()
        assert controller.snapshot(knobs) == found
    finally:
        if remote.running_pid() is not None:
            remote.stop()
        device.close()
