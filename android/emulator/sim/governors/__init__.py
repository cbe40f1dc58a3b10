"""The stock governors that run inside the virtual phone: one kernel-faithful module per kernel governor.

Every governor implements `Governor`: it is built from its tunables (the profile's `physics.governors`
section named by its class's `section`, with the kernel's tunable names) and `update(observation)` returns
the frequency it asks for (Hz, before the table and the user's limits are applied) or None to keep the
current one. A governor only sees what the kernel gives it, in one small record per kind:

- `CpuObservation` (cpufreq governors, every scheduler tick): PELT utilisation, the busy share of the tick,
  the utilisation clamp of tasks that ran and whether they went to sleep;
- `GpuObservation` (GPU governors, every DVFS period): busy and total time since the last evaluation;
- `BusObservation` (bus-bandwidth governors, every polling period): bytes the bus monitor counted and
  the PM QoS floor other drivers voted for;
- `LatencyObservation` (memlat): per-CPU instructions, memory accesses and stall share.

`REGISTRY` maps a kernel governor name (as `scaling_governor` or devfreq's `governor` shows it) to its
class; the engine builds observations by `kind` and never branches on a governor's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from android.emulator.sim.governors import (
    bw_hwmon,
    mali_quickstep,
    memlat,
    mif_interactive,
    msm_adreno_tz,
    sched_pixel,
    schedutil,
    walt,
)

KNOB_OWN = ("performance", "powersave", "userspace")  # governors the knob implements itself


@dataclass(slots=True)
class CpuObservation:
    """One cpufreq policy at one scheduler update (a tick), from the scheduler's load tracking."""

    now_s: float = 0.0
    dt_s: float = 0.0  # since the previous update
    util: float = 0.0  # PELT util_avg of the busiest CPU: frequency-invariant, fraction of its capacity
    busy_s: float = 0.0  # frequency-invariant busy time of the busiest CPU in dt_s (WALT's window input)
    uclamp_min: float = 0.0  # utilisation clamp of the tasks that ran in dt_s (fraction of capacity)
    ran: bool = False  # a task ran (was enqueued) on the policy in dt_s
    sleeping: bool = True  # at the update every task of the policy is asleep (the last event was a dequeue)
    cur_hz: int = 0
    max_hz: int = 0  # cpuinfo_max_freq: the top of the table
    table_hz: tuple[int, ...] = ()  # ascending


@dataclass(slots=True)
class GpuObservation:
    """The GPU at one DVFS evaluation: what the driver's utilisation metrics accumulated."""

    now_s: float = 0.0
    busy_s: float = 0.0
    total_s: float = 0.0
    level: int = 0  # index of the current frequency in table_hz
    table_hz: tuple[int, ...] = ()  # ascending


@dataclass(slots=True)
class BusObservation:
    """A bus-bandwidth devfreq device at one polling evaluation."""

    now_s: float = 0.0
    window_s: float = 0.0
    bytes: float = 0.0  # traffic its hardware monitor counted in the window
    peak_bytes_per_hz: float = 16.0  # bus peak bandwidth per Hz of this device's frequency
    cur_hz: int = 0
    qos_min_hz: int = 0  # PM QoS minimum voted by other drivers (e.g. the GPU's DVFS table)
    table_hz: tuple[int, ...] = ()


@dataclass(slots=True)
class LatencyObservation:
    """memlat's per-CPU PMU counts over one polling window: (instructions, memory accesses, stall share
    of cycles, core frequency Hz) for each CPU it watches that ran."""

    now_s: float = 0.0
    window_s: float = 0.0
    cores: list[tuple[float, float, float, int]] = field(default_factory=list)
    table_hz: tuple[int, ...] = ()


class Governor(Protocol):
    kind: str  # "cpu", "gpu", "bus" or "latency": which observation it takes
    period_s: float  # how often the kernel evaluates it
    # cpu kind: (lo, hi, lo_from_s) after an update, or None - while the utilisation its request is made from
    # stays in (lo, hi] (before lo_from_s: at most hi) the update would change nothing, so it is not called
    util_band: tuple[float, float, float] | None
    # optional, cpu kind: carry(busy_s, dt_s, ran, uclamp_min, cur_hz) -> bool takes a tick whose update could
    # not change the request (moving only its accumulators, as update would) and returns True; False: call update

    def update(self, observation: Any) -> int | None: ...


REGISTRY: dict[str, type] = {
    "schedutil": schedutil.Schedutil,
    "sched_pixel": sched_pixel.SchedPixel,
    "walt": walt.Walt,
    "quickstep": mali_quickstep.Quickstep,
    "basic": mali_quickstep.Basic,
    "msm-adreno-tz": msm_adreno_tz.AdrenoTz,
    "bw_hwmon": bw_hwmon.BwHwmon,
    "gpubw_mon": bw_hwmon.BwHwmon,  # kgsl's GPU bus monitor runs the same loop on the GPU's traffic
    "bw_vbif": bw_hwmon.BwHwmon,
    "mem_latency": memlat.Memlat,
    "interactive": mif_interactive.Interactive,
}

# profile `physics.governors` section -> tunables record (one section may serve several governors)
TUNABLES: dict[str, type] = {cls.section: cls.Tunables for cls in REGISTRY.values()}


def make_governor(name: str, tunables: dict[str, Any]) -> Governor | None:
    """A fresh governor for kernel governor `name` (None for the ones the knob implements itself)."""
    if name in KNOB_OWN:
        return None
    cls = REGISTRY.get(name)
    if cls is None:
        raise ValueError(f"no simulated governor named {name!r} ({', '.join(sorted(REGISTRY))})")
    return cls(tunables.get(cls.section) or cls.Tunables())
