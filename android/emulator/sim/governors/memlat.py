"""memlat (drivers/devfreq/governor_memlat.c): vote memory frequency from CPU memory stalls.

Every poll, for each CPU it watches: if the CPU retires at most `ratio_ceil` instructions per memory
access (a memory-bound phase) and stalls at least `stall_floor` percent of its cycles, the CPU's
frequency counts; the device asks for the memory frequency the core-to-device table
(`core_hz` -> `mem_hz`, from the device tree) gives the fastest such CPU.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tunables:
    polling_ms: int = field(default=10, metadata={"range": "[1, 1000]"})
    ratio_ceil: int = field(default=10, metadata={"range": "[1, 10000]"})
    stall_floor: int = field(default=20, metadata={"range": "[0, 100]"})  # percent
    core_hz: tuple[int, ...] = field(default=(), metadata={"range": "[0, inf)"})  # core-dev-table, core side
    mem_hz: tuple[int, ...] = field(default=(), metadata={"range": "[0, inf)"})  # and the memory it votes

    def check(self, profile) -> str:
        if len(self.core_hz) != len(self.mem_hz):
            return "core_hz and mem_hz must have the same length (pairs of the core-to-memory table)"
        if list(self.core_hz) != sorted(self.core_hz):
            return "core_hz must be ascending"
        return ""


class Memlat:
    kind = "latency"
    section = "mem_latency"
    Tunables = Tunables

    def __init__(self, tunables: Tunables) -> None:
        self.tunables = tunables
        self.period_s = tunables.polling_ms / 1000.0

    def update(self, obs) -> int | None:
        t = self.tunables
        fastest = 0
        for instructions, accesses, stall_share, core_hz in obs.cores:
            ratio = instructions / accesses if accesses > 0 else float("inf")
            if ratio <= t.ratio_ceil and 100.0 * stall_share >= t.stall_floor:
                fastest = max(fastest, core_hz)
        if not fastest or not t.core_hz:
            return obs.table_hz[0]
        i = bisect_left(t.core_hz, fastest)
        return t.mem_hz[min(i, len(t.mem_hz) - 1)]
