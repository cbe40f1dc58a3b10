"""`probe` finds every component on the three virtual phones and on a directory laid out like a phone."""

import contextlib
import io
import json
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from android.emulator.profile import load_profile
from android.errors import DevicePathError, ProbeError
from android.local import LocalDevice
from android.probe import probe_device
from android.virtual import VirtualDevice
from tests.helpers.profiles import four_cluster_profile


@pytest.mark.parametrize("name", ["pixel7", "sm8550", "pixel4"])
def test_probe_finds_every_component_of_a_virtual_phone(name):
    profile = load_profile(name)
    info = probe_device(VirtualDevice(name))
    assert info.family == profile.family and info.soc == profile.props["ro.board.platform"]
    assert [c.knob for c in info.clusters] == [c.policy for c in profile.clusters]
    for found, cluster in zip(info.clusters, profile.clusters):
        assert found.table_hz == [o.freq_hz for o in cluster.opps]
        assert found.cpus == list(cluster.cpus) and found.governor == cluster.governor
    assert info.gpu.driver == profile.gpu.driver
    assert info.gpu.control.table_hz == [o.freq_hz for o in profile.gpu.opps]
    assert info.gpu.control.governor == profile.gpu.governor
    mem = {m.knob: m for m in info.memory}
    assert set(mem) == {d.knob for d in profile.devfreq}
    want_mem = next(d for d in profile.devfreq if d.knob == "mem")
    assert mem["mem"].table_hz == [o.freq_hz for o in want_mem.opps]
    assert [(r.channel, r.name) for r in info.rails] == [(r.channel, r.name) for o in profile.odpm for r in o.rails]
    assert [z.type for z in info.zones] == [z.type for z in profile.thermal_zones]
    zones = profile.physics.thermal.zones
    for zone in info.zones:  # the trips a cooling device is bound to (the kernel throttles there), not the others
        config = zones[zone.type]
        switch_on = config.governor == "power_allocator" and len(config.trips) > 1  # it budgets from its first trip
        want = [[t.temp_c, t.hysteresis_c] for i, t in enumerate(config.trips) if t.cooling or (switch_on and i == 0)]
        assert zone.trips == want, zone.type
    assert info.battery is not None
    if name == "pixel7":
        by_name = {r.name: r.component for r in info.rails}
        assert by_name["S2M_VDD_CPUCL2"] == "policy6" and by_name["S2S_VDD_G3D"] == "gpu"
        assert by_name["S1M_VDD_MIF"] == "mem"


@pytest.mark.parametrize("name", ["pixel7", "sm8550", "pixel4", "four clusters"])
def test_probe_maps_each_cpu_zone_to_its_cluster(name, tmp_path):
    """The big or prime cluster's zone goes to the last policy however many clusters there are (a four-cluster
    phone's prime zone was once given to its third policy, which the daemon then guarded instead)."""
    if name == "four clusters":
        name = str(four_cluster_profile(tmp_path / "quad4.json"))
    profile = load_profile(name)
    policies = {c.policy for c in profile.clusters}
    found = {z.type: z.component for z in probe_device(VirtualDevice(name)).zones}
    want = {z.type: z.component for z in profile.thermal_zones if z.component in policies}
    assert want and {t: found[t] for t in want} == want
    assert profile.clusters[-1].policy in want.values()  # the prime zone is among them


def _write(root, rel, text):
    path = root / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_phone_tree(root, with_gpu=True):
    """A Tensor-like phone tree written from the kernel formats (not from a profile)."""
    cpufreq = "/sys/devices/system/cpu/cpufreq"
    for policy, cpus, khz in (
        ("policy0", "0 1 2 3", [300000, 1803000]),
        ("policy4", "4 5", [400000, 2253000]),
        ("policy6", "6 7", [500000, 1426000, 2802000]),
    ):
        _write(root, f"{cpufreq}/{policy}/related_cpus", cpus + "\n")
        _write(root, f"{cpufreq}/{policy}/scaling_available_frequencies", "".join(f"{k} " for k in khz) + "\n")
        _write(root, f"{cpufreq}/{policy}/scaling_available_governors", "sched_pixel performance \n")
        _write(root, f"{cpufreq}/{policy}/scaling_governor", "sched_pixel\n")
        for name, value in (("scaling_min_freq", khz[0]), ("scaling_max_freq", khz[-1]), ("scaling_cur_freq", khz[0])):
            _write(root, f"{cpufreq}/{policy}/{name}", f"{value}\n")
    if with_gpu:
        mali = "/sys/devices/platform/1c500000.mali"
        _write(root, f"{mali}/available_frequencies", "996000 885000 750000 603000 302000 151000 \n")
        for name, value in (
            ("cur_freq", "302000"),
            ("scaling_min_freq", "151000"),
            ("scaling_max_freq", "996000"),
            ("governor", "quickstep"),
            ("available_governors", "basic quickstep \n"),
            ("utilization", "12"),
        ):
            _write(root, f"{mali}/{name}", value + "\n")
    mif = "/sys/class/devfreq/17000010.devfreq_mif"
    _write(root, f"{mif}/available_frequencies", "421000 845000 1539000 3172000\n")
    for name, value in (
        ("cur_freq", "845000"),
        ("min_freq", "421000"),
        ("max_freq", "3172000"),
        ("governor", "interactive"),
    ):
        _write(root, f"{mif}/{name}", value + "\n")
    _write(
        root,
        "/sys/bus/iio/devices/iio:device1/energy_value",
        "t=4017\nCH0(T=4017)[S2S_VDD_G3D], 123456\nCH1(T=4017)[S4S_VDD2H_MEM], 789\n",
    )
    _write(root, "/sys/class/power_supply/battery/current_now", "-412000\n")
    _write(root, "/sys/class/power_supply/battery/voltage_now", "4012000\n")
    for i, zone in enumerate(("BIG", "G3D", "battery")):
        _write(root, f"/sys/class/thermal/thermal_zone{i}/type", zone + "\n")
        _write(root, f"/sys/class/thermal/thermal_zone{i}/temp", "35000\n")
    _write(root, "/system/build.prop", "ro.product.model=Pixel 6\nro.board.platform=gs101\n")


def test_probe_finds_components_in_a_directory_tree(tmp_path):
    make_phone_tree(tmp_path)
    info = probe_device(LocalDevice(tmp_path))
    assert (info.model, info.soc, info.family) == ("Pixel 6", "gs101", "tensor")
    assert [c.knob for c in info.clusters] == ["policy0", "policy4", "policy6"]
    assert info.clusters[2].table_hz == [500_000_000, 1_426_000_000, 2_802_000_000]
    assert info.clusters[1].cpus == [4, 5]
    assert info.gpu.driver == "mali" and info.gpu.control.table_hz[-1] == 996_000_000
    assert [m.knob for m in info.memory] == ["mem"] and info.memory[0].table_hz[-1] == 3_172_000_000
    assert [(r.name, r.component) for r in info.rails] == [("S2S_VDD_G3D", "gpu"), ("S4S_VDD2H_MEM", "mem")]
    assert [(z.type, z.component) for z in info.zones] == [("BIG", "policy6"), ("G3D", "gpu"), ("battery", "battery")]
    assert info.battery.current_file.endswith("current_now")


def _zone(root, index, zone_type, trips, bindings=(), policy="step_wise"):
    """A thermal zone as the kernel shows it: passive trips (millidegrees) and one cdevJ_trip_point per binding."""
    zone = f"/sys/class/thermal/thermal_zone{index}"
    for name, value in (("type", zone_type), ("temp", "35000"), ("policy", policy)):
        _write(root, f"{zone}/{name}", value + "\n")
    for k, (temp, hyst) in enumerate(trips):
        for name, value in (("type", "passive"), ("temp", temp), ("hyst", hyst)):
            _write(root, f"{zone}/trip_point_{k}_{name}", f"{value}\n")
    for j, trip in enumerate(bindings):
        _write(root, f"{zone}/cdev{j}_trip_point", f"{trip}\n")


def test_probe_keeps_the_trips_something_throttles_at(tmp_path):
    make_phone_tree(tmp_path)
    _zone(tmp_path, 3, "G3D-ipa", [(70000, 2000), (90000, 5000)], bindings=[1], policy="power_allocator")
    _zone(tmp_path, 4, "skin", [(48000, 2000)], bindings=[0, 0, 0])
    _zone(tmp_path, 7, "die", [(70000, 2000), (90000, 5000)], bindings=[1])
    _zone(tmp_path, 5, "VIRTUAL-SKIN", [(39000, 0), (43000, 1000)], policy="user_space")
    _zone(tmp_path, 6, "pmic", [(100000, 0)])
    trips = {z.type: z.trips for z in probe_device(LocalDevice(tmp_path)).zones}
    assert trips["G3D-ipa"] == [[70.0, 2.0], [90.0, 5.0]]  # power_allocator budgets from its switch-on trip
    assert trips["die"] == [[90.0, 5.0]]  # step_wise: the 70 C trip has no cooling device, it only warns
    assert trips["skin"] == [[48.0, 2.0]]
    assert trips["VIRTUAL-SKIN"] == [[39.0, 0.0], [43.0, 1.0]]  # a user-space daemon acts on every trip
    assert trips["pmic"] == [] and trips["BIG"] == []


def test_probe_without_any_binding_keeps_every_passive_trip(tmp_path):
    """A copy of sysfs without the cdevJ files cannot tell which trips throttle: all of them count."""
    make_phone_tree(tmp_path)
    _zone(tmp_path, 3, "G3D-ipa", [(70000, 2000), (90000, 5000)], policy="power_allocator")
    trips = {z.type: z.trips for z in probe_device(LocalDevice(tmp_path)).zones}
    assert trips["G3D-ipa"] == [[70.0, 2.0], [90.0, 5.0]]


SYSFS_TEXT = st.one_of(
    st.sampled_from(["passive", "critical", "-1", "0", "1", "step_wise", "user_space", "power_allocator", ""]),
    st.integers(-(2**40), 2**40).map(str),
    st.text(max_size=12),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(SYSFS_TEXT, SYSFS_TEXT, SYSFS_TEXT, SYSFS_TEXT), min_size=1, max_size=4), SYSFS_TEXT)
def test_probe_reads_any_trip_and_binding_files_without_failing(files, policy):
    """Whatever a zone's trip, hysteresis, binding and policy files hold, probe keeps what parses as a trip."""
    with tempfile.TemporaryDirectory() as root:
        make_phone_tree(Path(root))
        zone = "/sys/class/thermal/thermal_zone3"
        for name, text in (("type", "skin"), ("temp", "35000"), ("policy", policy)):
            _write(Path(root), f"{zone}/{name}", text.replace("\x00", "") + "\n")
        for k, (kind, temp, hyst, binding) in enumerate(files):
            for name, text in (("type", kind), ("temp", temp), ("hyst", hyst)):
                _write(Path(root), f"{zone}/trip_point_{k}_{name}", text.replace("\x00", "") + "\n")
            _write(Path(root), f"{zone}/cdev{k}_trip_point", binding.replace("\x00", "") + "\n")
        trips = {z.type: z.trips for z in probe_device(LocalDevice(Path(root))).zones}["skin"]
    assert all(len(t) == 2 and all(isinstance(v, float) for v in t) for t in trips)
    assert len(trips) <= sum(kind.strip() == "passive" for kind, *_ in files)


def test_probe_without_a_gpu_says_where_it_looked(tmp_path):
    make_phone_tree(tmp_path, with_gpu=False)
    with pytest.raises(ProbeError, match="no GPU found.*kgsl.*Mali"):
        probe_device(LocalDevice(tmp_path))


def test_local_device_on_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(DevicePathError, match="not a directory"):
        LocalDevice(tmp_path / "absent")


def _fusegov(*args):
    """The `fusegov` entry point in this process (tests/test_cli.py runs it as a program): exit status and output."""
    from governor.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["fusegov", *args], code, out.getvalue(), err.getvalue())


def test_probe_cli_summary_and_json(tmp_path):
    out = _fusegov("probe", "--virtual", "pixel7")
    assert out.returncode == 0, out.stderr
    assert "policy6" in out.stdout and "Mali-G710" in out.stdout and "S2S_VDD_G3D" in out.stdout
    data = json.loads(_fusegov("probe", "--virtual", "sm8550", "--json").stdout)
    assert data["gpu"]["driver"] == "kgsl" and [c["knob"] for c in data["clusters"]] == [
        "policy0",
        "policy3",
        "policy7",
    ]
    make_phone_tree(tmp_path)
    tree = json.loads(_fusegov("probe", "--root", str(tmp_path), "--json").stdout)
    assert tree["soc"] == "gs101"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--virtual", "pixel99"], "unknown profile 'pixel99'"),
        (["--root", "/nonexistent/tree"], "not a directory"),
    ],
)
def test_probe_cli_errors_are_clear(args, message):
    out = _fusegov("probe", *args)
    assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr
