"""The virtual phone: a profile, a simulated clock, live component state, and the sysfs that shows it.

Everything a user or a tool can observe goes through `fs` (sysfs/procfs paths with kernel formats and
write rules) or `props` (getprop). The physics (android.emulator.sim) moves the state with time; the
layout modules under android.emulator.sysfs render it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from android.emulator.knob import KnobState
from android.emulator.profile import Profile, load_profile
from android.emulator.vfs import SHELL_UID, VirtualFS


@dataclass
class GpuLoad:
    """What the GPU's utilisation files report: the last governor window."""

    busy_s: float = 0.0
    total_s: float = 0.0

    @property
    def busy_pct(self) -> int:
        return int(round(100.0 * self.busy_s / self.total_s)) if self.total_s > 0 else 0


@dataclass
class PhoneState:
    """Live state that the physics updates and sysfs shows."""

    now_s: float = 0.0
    boot_offset_s: float = 37.0  # uptime when the simulation starts
    gpu_load: GpuLoad = field(default_factory=GpuLoad)
    zone_temp_c: dict[str, float] = field(default_factory=dict)
    rail_energy_j: dict[tuple[str, int], float] = field(default_factory=dict)
    battery_current_a: float = 0.35  # discharge, positive
    battery_voltage_v: float = 4.0

    @property
    def uptime_s(self) -> float:
        return self.boot_offset_s + self.now_s


class VirtualPhone:
    """One virtual phone. Thread-safe: every access holds `lock` (the ADB server serves many streams)."""

    def __init__(self, profile: Profile | str, seed: int = 0):
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        self.seed = seed
        self.serial = f"virtual-{self.profile.name}"
        self.props = dict(self.profile.props)
        self.props.setdefault("ro.serialno", self.serial)
        self.knobs = _make_knobs(self.profile)
        self.state = PhoneState(battery_voltage_v=self.profile.battery.voltage_uv / 1e6)
        self.state.zone_temp_c = {z.type: 31.0 for z in self.profile.thermal_zones}
        self.state.rail_energy_j = {(o.iio_name, r.channel): 0.0 for o in self.profile.odpm for r in o.rails}
        self.fs = VirtualFS(self.serial)
        self.lock = self.fs.lock
        _build_sysfs(self)
        from android.emulator.sim.engine import Simulator

        self.sim = Simulator(self)
        self.pmc = self.sim.pmc

    @property
    def now_s(self) -> float:
        return self.state.now_s

    @property
    def gpu(self) -> KnobState:
        return self.knobs["gpu"]

    def advance(self, dt_s: float, settle: bool = True) -> None:
        """Move simulated time forward: workloads progress, governors act, power, heat, counters and
        sensors move (android.emulator.sim). The one public way time moves. `settle=False` leaves the
        physics of the open block for later (`settle`): for a caller that steps often and reads rarely."""
        if dt_s < 0:
            raise ValueError(f"cannot move time backwards ({dt_s} s)")
        with self.lock:
            self.sim.advance(dt_s, settle=settle)

    def settle(self) -> None:
        """Bring power, heat, counters and sensors up to now (after steps taken with settle=False)."""
        with self.lock:
            self.sim.settle()

    def start(self, workload):
        """Run a workload (android.emulator.sim.llm.LlmRequest, .cnn.CnnRuns) from now on; advance()
        progresses it."""
        with self.lock:
            return self.sim.start(workload)

    def __repr__(self) -> str:
        return f"VirtualPhone({self.profile.name!r}, t={self.now_s:.3f}s)"


def _make_knobs(profile: Profile) -> dict[str, KnobState]:
    knobs: dict[str, KnobState] = {}
    for c in profile.clusters:
        knobs[c.policy] = KnobState(c.policy, "cpufreq", c.opps, c.governor, c.available_governors)
    g = profile.gpu
    knobs["gpu"] = KnobState("gpu", g.driver, g.opps, g.governor, g.available_governors)
    for d in profile.devfreq:
        knobs[d.knob] = KnobState(d.knob, "devfreq", d.opps, d.governor, d.available_governors, snap_limits=False)
    return knobs


def _build_sysfs(phone: VirtualPhone) -> None:
    from android.emulator.sysfs import cpufreq, devfreq, gpu_kgsl, gpu_mali, power, system, thermal

    system.build(phone)
    cpufreq.build(phone)
    (gpu_mali if phone.profile.gpu.driver == "mali" else gpu_kgsl).build(phone)
    devfreq.build(phone)
    power.build(phone)
    thermal.build(phone)
    phone.fs.mkdir("/data/local/tmp", mode=0o771, uid=SHELL_UID)
