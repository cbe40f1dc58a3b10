"""The runtime's answer to a hot phone: step a plan's phases down to their cooler rungs before the kernel's
cooling devices cap the clocks.

At the same energy per token a faster setting draws more power, and a phone serving requests back to back
heats until a thermal zone reaches a trip; the kernel's thermal governor then caps the clocks one OPP per poll
(step_wise) or by a power budget (power_allocator), whatever the pinned setting, which leaves the phone far from
the efficient settings at the power it can hold. A plan's phases carry cooler rungs (`plan.Rung`: measured
settings that meet the goal at less power, one per heat level, each level one price of energy for every phase,
so a level cuts heat where it costs the least latency), and `HeatSteps` picks a heat level at each phase start
in proportion to how far the hottest zone is into its trip's hysteresis band: level 0 below the trip less its
hysteresis, the coolest level an eighth of the hysteresis below the trip (`Trip.coolest_c`). The phone then
holds at the warmest level whose power it sustains, near its trip and below it. A phase with fewer rungs than
the level takes its coolest. The trips are those the probe found something throttles at (android.soc.thermal:
a cooling device is bound to it, or power_allocator budgets from it, or a user-space daemon owns the zone).
The rule lives in the on-phone daemon (android/daemon/fusegovd.py, standard library only), which steps
deployed plans the same way.
"""

from __future__ import annotations

from android.daemon.fusegovd import HeatSteps, Trip  # one rule for the daemon on a phone and the host's replay
from android.soc.records import ZoneInfo

__all__ = ["HeatSteps", "Trip", "nearest_trip", "trips_of"]


def trips_of(zones: list[ZoneInfo]) -> tuple[Trip, ...]:
    """The throttling trips `fusegov probe` found on a phone's zones (by zone type)."""
    return tuple(Trip(z.type, temp, hysteresis) for z in zones for temp, hysteresis in z.trips)


def nearest_trip(trips: tuple[Trip, ...], temps_c: dict[str, float]) -> tuple[str, float]:
    """The zone nearest one of its throttling trips and how far below it (C; negative past it): the margin the
    heat levels and the kernel's throttling act on. ("", nan) when no trip's zone is in the reading."""
    margins = [(t.temp_c - float(temps_c[t.zone]), t.zone) for t in trips if t.zone in temps_c]
    if not margins:
        return "", float("nan")
    margin, zone = min(margins)
    return zone, margin
