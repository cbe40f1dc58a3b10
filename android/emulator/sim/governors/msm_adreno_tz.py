"""msm-adreno-tz (drivers/devfreq/governor_msm_adreno_tz.c): the Adreno GPU's devfreq governor.

Busy and total time accumulate in a bin; windows under 5 ms of total or 1 ms of busy time are ignored;
busy time above the burst threshold in one bin jumps straight to the top level; otherwise the
TrustZone policy moves one level up or down by load against its up/down thresholds."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tunables:
    polling_s: float = 0.01  # kgsl's devfreq polling interval
    min_total_s: float = 0.005  # FLOOR
    min_busy_s: float = 0.001  # MIN_BUSY
    burst_busy_s: float = 0.05  # CEILING
    up_load_pct: float = 85.0  # the TrustZone policy's thresholds (not public: estimates)
    down_load_pct: float = 60.0


class Governor:
    kind = "gpu"

    def __init__(self, tunables: Tunables):
        self.tunables = tunables
        self.period_s = tunables.polling_s
        self.bin_busy_s = 0.0
        self.bin_total_s = 0.0

    def update(self, busy_s: float, total_s: float, level: int, n_levels: int) -> int:
        """The new level index (ascending table) after one polling period."""
        t = self.tunables
        self.bin_busy_s += busy_s
        self.bin_total_s += total_s
        if total_s <= 0 or self.bin_total_s < t.min_total_s or self.bin_busy_s < t.min_busy_s:
            return level
        if self.bin_busy_s > t.burst_busy_s:
            level = n_levels - 1
        else:
            load = 100.0 * self.bin_busy_s / self.bin_total_s
            if load > t.up_load_pct:
                level = min(level + 1, n_levels - 1)
            elif load < t.down_load_pct:
                level = max(level - 1, 0)
        self.bin_busy_s = self.bin_total_s = 0.0
        return level

    def mem_floor_hz(self, level: int) -> int:
        return 0
