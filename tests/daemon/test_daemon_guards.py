"""The daemon's guards on the virtual phone over real adb: the thermal guard (heated by a pinned LLM run),
the watchdog, writes that fail (read-only knob, value the kernel rejects, knob gone), malformed hints and
configurations, and what deploy refuses (no root, no Python)."""

from __future__ import annotations

import copy
import json
import re

import pytest

from android.adb import AdbDevice
from android.daemon.config import GuardOptions, build_config
from android.daemon.errors import DaemonError
from android.daemon.remote import DaemonRemote
from android.units import to_native
from governor.plan import load_plan, plan_from_dict
from tests.daemon.conftest import pinned_values, wait_for
from tests.daemon.plans import phase_setting, with_rungs
from tests.helpers.adb import start_emulator, stop_emulator

pytestmark = pytest.mark.slow


def prefill_setting(plan_doc: dict) -> dict[str, int]:
    return phase_setting(plan_doc, "prefill")


def zone_temps_c(device, info, zones) -> dict[str, float]:
    files = {z.type: z.temp_file for z in info.zones if z.type in zones}
    found = device.read_many(list(files.values()))
    return {zone: int(found[path]) / 1000 for zone, path in files.items()}


def push_text(device, tmp_path, text: str, remote_path: str) -> None:
    local = tmp_path / "upload.txt"
    local.write_text(text)
    device.push(local, remote_path)


def test_thermal_guard_releases_when_hot_and_pins_again_below_the_hysteresis(
    remote, plan_path, plan_doc, controller, user_limits, device, info, tmp_path, model_file
):
    zones = ("BIG", "G3D")  # the zones of the knobs the plan pins
    start_c = max(zone_temps_c(device, info, zones).values())
    # a pinned LLM run heats these zones ~5 C within seconds; the guard must trip, and pin again only once
    # the run has ended and they cooled (stock-governed load alone keeps them ~2-3 C above the start)
    guard = GuardOptions(limit_c=round(start_c + 4.0, 1), hysteresis_c=2.0, period_s=0.5, watchdog_s=600)
    remote.deploy([load_plan(plan_path)], guard)
    remote.start()
    remote.hint("prefill", 300)
    setting = prefill_setting(plan_doc)
    wait_for(lambda: remote.status()["pinned_hz"] == setting, "the prefill pins")
    push_text(device, tmp_path, " ".join(["word"] * 300), "/data/local/tmp/prompt300.txt")
    load = device.shell(
        f"llama-cli -m {model_file} -f /data/local/tmp/prompt300.txt -n 1500 --no-display-prompt "
        "> /dev/null 2>&1 & echo $!"
    )
    load_pid = int(load.stdout.split()[-1])
    for _ in range(5):  # look at the knobs between two status reads that both say "released, still hot"
        hot = wait_for(lambda: (s := remote.status())["thermal"]["state"] == "hot" and s, "the guard to trip")
        knobs = controller.snapshot([s.knob for s in user_limits])
        still = remote.status()
        if still["thermal"]["state"] == "hot" and still["thermal"]["resumes"] == hot["thermal"]["resumes"]:
            break
    else:
        pytest.fail("the guard kept pinning again under load")
    assert max(hot["thermal"]["temps_c"].values()) >= guard.limit_c
    assert hot["pinned_hz"] == {} and hot["failed"] == {} and hot["phase"] == "prefill"
    assert knobs == user_limits  # the found settings (the stock governors) while hot
    assert device.shell(f"kill {load_pid}").ok  # the run ends, the phone cools
    status = wait_for(
        lambda: (s := remote.status())["thermal"]["state"] == "ok" and s["pinned_hz"] and s, "the phone to cool"
    )
    assert max(status["thermal"]["temps_c"].values()) < guard.limit_c - guard.hysteresis_c
    assert status["pinned_hz"] == setting and status["thermal"]["resumes"] >= 1
    assert pinned_values(controller, sorted(setting)) == {k: (v, v) for k, v in setting.items()}
    log = remote.logs()
    assert "knobs returned to the found settings" in log and "prefill<=512 pinned again" in log
    remote.stop()
    assert controller.snapshot([s.knob for s in user_limits]) == user_limits


def test_the_daemon_steps_to_cooler_rungs_while_a_zone_heats_near_its_trip_and_back_as_it_cools(
    remote, plan_doc, controller, user_limits, device, info, tmp_path, model_file
):
    plan = plan_from_dict(with_rungs(plan_doc, info, (400, 302), 471))
    zones = ("BIG", "G3D")
    start_c = max(zone_temps_c(device, info, zones).values())
    guard = GuardOptions(limit_c=start_c + 40.0, watchdog_s=600)  # the guard stays out of the way
    remote.deploy([plan], guard)
    # trips a little above the zones' temperature now, as the probe would find them (the phone's own are at
    # 70-90 C on these zones, 48 C on the board, which a test cannot wait for)
    config = build_config([plan], info, guard)
    files = {z.type: z.temp_file for z in info.zones}
    config["heat"]["trips"] = [
        {"zone": zone, "temp_file": files[zone], "temp_c": round(start_c + 2.5, 1), "hysteresis_c": 1.0}
        for zone in zones
    ]
    push_text(device, tmp_path, json.dumps(config), remote.path("config.json"))
    remote.start()
    decode = [phase_setting(plan.to_dict(), "decode")] + [
        {k: v for k, v in r.setting.items() if v is not None} for r in plan.phase("decode").cooler
    ]
    remote.hint("decode")
    wait_for(lambda: remote.status()["pinned_hz"] == decode[0], "the decode pins")
    push_text(device, tmp_path, " ".join(["word"] * 300), "/data/local/tmp/prompt300.txt")
    load = device.shell(
        f"llama-cli -m {model_file} -f /data/local/tmp/prompt300.txt -n 1500 --no-display-prompt "
        "> /dev/null 2>&1 & echo $!"
    )
    load_pid = int(load.stdout.split()[-1])

    def at_level(level: int):
        def check():
            remote.hint("prefill", 300)  # each phase change is a step: a repeated hint only keeps alive
            remote.hint("decode")
            status = remote.status()
            return status["heat"]["level"] == level and status

        return check

    hot = wait_for(at_level(2), "the heat level to reach the coolest rung")
    assert hot["pinned_hz"] == decode[2] and hot["setting"] == "decode cooler 2"
    assert device.shell(f"kill {load_pid}").ok  # the run ends, the phone cools
    cool = wait_for(at_level(0), "the heat level to come back as the zones cool")
    assert cool["pinned_hz"] == decode[0] and cool["setting"] == "decode"
    # each move is where the hottest zone stood in its trip's band (the log names it and its temperature): a
    # cooler level only above the threshold (the trip less its hysteresis), level 0 only at or below it
    steps = re.findall(r"heat: level (\d) -> (\d) of 2 \((\S+) ([\d.]+) C\)", remote.logs())
    threshold = round(start_c + 2.5, 1) - 1.0
    cooler = [float(t) for before, after, _, t in steps if int(after) > int(before)]
    back = [float(t) for _, after, _, t in steps if int(after) == 0]
    assert cooler and back and min(cooler) >= threshold - 0.05 and max(back) <= threshold + 0.05
    remote.stop()
    assert controller.snapshot([s.knob for s in user_limits]) == user_limits


def test_watchdog_releases_pins_when_hints_stop_and_keepalives_hold_them(
    remote, plan_path, plan_doc, controller, user_limits, device
):
    watchdog_s = 60.0  # simulated: 3 s of wall time at SPEED 20, ample for `fusegov hint` on a busy host

    def uptime_s() -> float:
        return float(device.read("/proc/uptime").split()[0])

    remote.deploy([load_plan(plan_path)], GuardOptions(watchdog_s=watchdog_s))
    remote.start()
    setting = prefill_setting(plan_doc)
    remote.hint("prefill", 300)
    first = uptime_s()
    while uptime_s() - first < 1.5 * watchdog_s:  # repeating the hint keeps the pins past the watchdog
        remote.hint("prefill", 300)
        status = remote.status()
        assert status["pinned_hz"] == setting and status["watchdog"]["releases"] == 0
    status = wait_for(lambda: (s := remote.status())["watchdog"]["releases"] == 1 and s, "the watchdog")
    assert status["phase"] == "idle" and status["setting"] == "idle (watchdog)" and status["pinned_hz"] == {}
    assert controller.snapshot([s.knob for s in user_limits]) == user_limits
    assert "watchdog: no hint for 6" in remote.logs()
    remote.hint("decode")  # a new hint pins again
    wait_for(lambda: remote.status()["phase"] == "decode", "the decode hint")
    remote.stop()
    assert controller.snapshot([s.knob for s in user_limits]) == user_limits


def test_failing_writes_are_logged_and_the_other_knobs_still_pinned(
    remote, plan_path, plan_doc, controller, user_limits, device, info, tmp_path
):
    plan = load_plan(plan_path)
    remote.deploy([plan])
    config = build_config([plan], info)
    little = info.clusters[1]  # a second CPU policy whose max file the config points at a read-only file
    config["knobs"][little.knob] = {
        "directory": little.directory,
        "min_file": little.min_file,
        "max_file": "cpuinfo_max_freq",  # read-only: writing it fails (EACCES), as a locked knob does
        "governor_file": little.governor_file,
        "unit": little.unit,
        "table": sorted(to_native(f, little.unit) for f in little.table_hz),
    }
    config["knobs"]["ghost"] = {  # a devfreq device that is gone (its directory no longer exists)
        "directory": "/sys/class/devfreq/ghost.devfreq",
        "min_file": "min_freq",
        "max_file": "max_freq",
        "governor_file": "governor",
        "unit": "khz",
        "table": [100000, 200000],
    }
    gpu_native = sorted(config["knobs"]["gpu"]["table"])
    rejected = (gpu_native[-1] + gpu_native[-2]) // 2  # not an OPP: Mali refuses it (EINVAL)
    config["knobs"]["gpu"]["table"] = sorted([*gpu_native, rejected])
    bucket = config["plans"][plan.model]["prefill"][-1]["setting"]
    bucket.update({"gpu": rejected, little.knob: to_native(sorted(little.table_hz)[-3], little.unit), "ghost": 200000})
    push_text(device, tmp_path, json.dumps(config), remote.path("config.json"))
    little_before = controller.snapshot([little.knob])
    remote.start()
    remote.hint("prefill", 300)
    status = wait_for(lambda: (s := remote.status())["hints_received"] == 1 and s, "the hint")
    assert set(status["failed"]) == {"gpu", little.knob, "ghost"}
    assert "EINVAL" in status["failed"]["gpu"] and "not writable" in status["failed"][little.knob]
    assert "could not be read at start" in status["failed"]["ghost"]
    good = {k: v for k, v in prefill_setting(plan_doc).items() if k != "gpu"}
    assert status["pinned_hz"] == good
    assert pinned_values(controller, sorted(good)) == {k: (v, v) for k, v in good.items()}
    log = remote.logs()
    assert "snapshot ghost failed" in log and "gpu pin" in log and "(carrying on)" in log
    assert "knob file calls: one batch per phase change (os.file_batch)" in log  # the failures came in one batch
    remote.stop()
    assert controller.snapshot([s.knob for s in user_limits]) == user_limits
    assert controller.snapshot([little.knob]) == little_before


def test_malformed_hints_change_nothing(remote, plan_path, plan_doc, controller, user_limits):
    remote.deploy([load_plan(plan_path)])
    remote.start()
    remote.hint("prefill", 300)
    setting = prefill_setting(plan_doc)
    wait_for(lambda: remote.status()["pinned_hz"] == setting, "the prefill pins")
    before = controller.snapshot(sorted(setting))
    garbage = ["warp 9", "prefill x12", "decode model=gpt-9", "idle now", "prefill " + "9" * 300]
    fifo = remote.path("hints")
    assert remote.root("; ".join(f"echo '{line}' > {fifo}" for line in garbage)).ok
    status = wait_for(lambda: (s := remote.status())["hints_rejected"] == len(garbage) and s, "the rejections")
    assert status["phase"] == "prefill" and status["pinned_hz"] == setting
    assert controller.snapshot(sorted(setting)) == before
    assert remote.logs().count("(nothing changed)") == len(garbage)
    remote.hint("decode")  # the daemon still takes good hints
    wait_for(lambda: remote.status()["phase"] == "decode", "the decode hint")
    remote.stop()
    assert controller.snapshot([s.knob for s in user_limits]) == user_limits


def test_malformed_configuration_is_refused_and_nothing_written(
    remote, plan_path, controller, user_limits, device, info, tmp_path
):
    plan = load_plan(plan_path)
    remote.deploy([plan])
    config = copy.deepcopy(build_config([plan], info))
    config["plans"][plan.model]["decode"]["gpu"] = 7  # not in the table
    push_text(device, tmp_path, json.dumps(config), remote.path("config.json"))
    with pytest.raises(DaemonError, match=r"bad configuration: plans\..*decode\.gpu: 7 is not in the knob's table"):
        remote.start()
    assert controller.snapshot([s.knob for s in user_limits]) == user_limits
    assert not remote.status()["state_file"]


def test_deploy_refuses_a_plan_for_another_phone_and_a_missing_python(remote, tmp_path):
    from android.probe import probe_device
    from android.virtual import VirtualDevice
    from tests.daemon.plans import simple_plan, write_plan

    other = write_plan(tmp_path / "sm8550.json", simple_plan(probe_device(VirtualDevice("sm8550"))))
    with pytest.raises(DaemonError, match="plan was made for virtual-sm8550 .kalama."):
        remote.deploy([load_plan(other)])
    assert not remote.device.exists(remote.workdir)  # refused before anything was pushed
    mine = write_plan(tmp_path / "pixel7.json", simple_plan(probe_device(remote.device)))
    with pytest.raises(DaemonError, match="--python /data/local/tmp/py/bin/python3: no executable file there"):
        remote.deploy([load_plan(mine)], python="/data/local/tmp/py/bin/python3")


def test_deploy_on_a_phone_without_root_says_so(adb_server, tmp_path):
    emulator = start_emulator(adb_server, "pixel7", "--no-su")
    try:
        device = AdbDevice(emulator.serial, adb_port=adb_server.port)
        from android.probe import probe_device
        from tests.daemon.plans import simple_plan, write_plan

        plan = write_plan(tmp_path / "plan.json", simple_plan(probe_device(device)))
        with pytest.raises(DaemonError, match="no root shell.*Magisk"):
            DaemonRemote(device).deploy([load_plan(plan)])
        device.close()
    finally:
        stop_emulator(emulator)
