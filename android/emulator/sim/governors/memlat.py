"""memlat (drivers/devfreq/governor_memlat.c): vote memory frequency from CPU memory stalls.

For each CPU: if instructions per memory access are at most ratio_ceil (a memory-bound phase) and the
stall share is at least stall_floor, vote the CPU's frequency mapped through the core-to-memory table;
the device takes the highest vote."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tunables:
    polling_s: float = 0.01
    ratio_ceil: float = 10.0
    stall_floor_pct: float = 20.0
    mem_per_core_hz: float = 0.8  # the core->memory table as a slope: memory Hz per core Hz


class Governor:
    kind = "memlat"

    def __init__(self, tunables: Tunables):
        self.tunables = tunables
        self.period_s = tunables.polling_s

    def update(self, votes: list[tuple[float, float, int]]) -> int:
        """votes: per CPU (instructions per memory access, stall %, core frequency Hz)."""
        t = self.tunables
        best = 0
        for ratio, stall_pct, core_hz in votes:
            if ratio <= t.ratio_ceil and stall_pct >= t.stall_floor_pct:
                best = max(best, int(core_hz * t.mem_per_core_hz))
        return best

    def settled(self) -> bool:
        return True
