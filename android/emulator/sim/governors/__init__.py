"""The stock governors that run inside the virtual phone, one small module per kernel governor.

`TUNABLES` maps a profile's `physics.governors` section names to each governor's tunables;
`make_governor` builds the governor a knob's current kernel governor name stands for (None for the
ones the knob itself implements: performance, powersave, userspace)."""

from __future__ import annotations

from typing import Any

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

TUNABLES: dict[str, type] = {
    "schedutil": schedutil.Tunables,
    "sched_pixel": sched_pixel.Tunables,
    "walt": walt.Tunables,
    "quickstep": mali_quickstep.Tunables,  # the DVFS table, shared by `basic` and `quickstep`
    "msm-adreno-tz": msm_adreno_tz.Tunables,
    "bw_hwmon": bw_hwmon.Tunables,
    "mem_latency": memlat.Tunables,
    "interactive": mif_interactive.Tunables,
}

KNOB_OWN = ("performance", "powersave", "userspace")


def make_governor(name: str, tunables: dict[str, Any], bytes_per_hz: float) -> Any | None:
    """A fresh governor for kernel governor `name`; None when the knob needs no governor model."""
    if name in KNOB_OWN:
        return None
    if name == "schedutil":
        return schedutil.Governor(tunables["schedutil"])
    if name == "sched_pixel":
        return sched_pixel.Governor(tunables["sched_pixel"])
    if name == "walt":
        return walt.Governor(tunables["walt"])
    if name in ("quickstep", "basic"):
        return mali_quickstep.Governor(tunables["quickstep"], quick=name == "quickstep")
    if name == "msm-adreno-tz":
        return msm_adreno_tz.Governor(tunables["msm-adreno-tz"])
    if name in ("bw_hwmon", "gpubw_mon", "bw_vbif"):
        return bw_hwmon.Governor(tunables["bw_hwmon"], bytes_per_hz)
    if name == "mem_latency":
        return memlat.Governor(tunables["mem_latency"])
    if name == "interactive":
        return mif_interactive.Governor(tunables["interactive"], bytes_per_hz)
    raise ValueError(f"no simulated governor named {name!r}")
