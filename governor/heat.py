"""The runtime's answer to a hot phone: step a plan's phases down to their cooler rungs before the kernel's
cooling devices cap the clocks.

At the same energy per token a faster setting draws more power, and a phone serving requests back to back
heats until a thermal zone reaches a trip; the kernel's thermal governor then caps the clocks one OPP per poll
(step_wise) or by a power budget (power_allocator), whatever the pinned setting, which leaves the phone far from
the efficient settings at the power it can hold. A plan's phases carry cooler rungs (`plan.Rung`: measured
settings that meet the goal at less power), and `HeatSteps` picks a heat level at each phase start, the way
step_wise picks a cooling state at each poll, but on the plan's settings and a hysteresis earlier than the trip:

- one level cooler when a zone that can throttle is within its trip's hysteresis of the trip and warmer than at
  the last phase start;
- one level warmer when every such zone is below that threshold and one is cooler than at the last phase start.

The level dithers between the two rungs whose powers bracket what the phone sustains. A phase with fewer
rungs than the level takes its coolest; level 0 is the plan's own setting. Only zones with a trip that has
cooling devices bound count; each of their trips is a threshold (a power_allocator zone starts throttling at
its first, switch-on trip).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Trip:
    zone: str  # thermal zone type
    temp_c: float
    hysteresis_c: float

    @property
    def threshold_c(self) -> float:
        return self.temp_c - self.hysteresis_c


@dataclass
class HeatSteps:
    trips: tuple[Trip, ...]
    levels: int  # the deepest level (the plan's most cooler rungs in a phase)
    level: int = 0
    last_c: dict[str, float] | None = field(default=None, repr=False)  # zone temperatures at the last update

    def update(self, temps_c: Mapping[str, float]) -> int:
        """The heat level for the phase about to start, from the zones' temperatures now (C, by zone type)."""
        now = {t.zone: float(temps_c[t.zone]) for t in self.trips}
        if self.last_c is not None:
            near = [t for t in self.trips if now[t.zone] >= t.threshold_c]
            if any(now[t.zone] > self.last_c[t.zone] for t in near):
                self.level = min(self.level + 1, self.levels)
            elif not near and any(now[z] < self.last_c[z] for z in now):
                self.level = max(self.level - 1, 0)
        self.last_c = now
        return self.level


def virtual_trips(profile) -> tuple[Trip, ...]:
    """The trips of a virtual phone's zones that can throttle (android.emulator.profile)."""
    zones = profile.physics.thermal.zones
    return tuple(
        Trip(name, trip.temp_c, trip.hysteresis_c)
        for name, zone in zones.items()
        if any(trip.cooling for trip in zone.trips)
        for trip in zone.trips
    )
