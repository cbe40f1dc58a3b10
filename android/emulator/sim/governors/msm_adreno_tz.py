"""msm-adreno-tz (drivers/devfreq/governor_msm_adreno_tz.c): the Adreno GPU's devfreq governor.

Busy and total time accumulate in a bin across polls; nothing is decided while the bin holds less than
FLOOR of total or MIN_BUSY of busy time. More than CEILING of busy time in the bin jumps straight to the
top level (the busy burst); otherwise the TrustZone DCVS routine moves one level up or down by load, and
the bin is emptied. A GPU with no work for kgsl's `idle_timeout_ms` goes to slumber and comes back at
the lowest level. The TrustZone thresholds are not public: `up_threshold` / `down_threshold` are
estimates.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tunables:
    polling_ms: int = field(default=10, metadata={"range": "[1, 1000]"})  # kgsl devfreq polling_ms
    floor_us: int = field(default=5000, metadata={"range": "[0, 1000000]"})  # FLOOR
    min_busy_us: int = field(default=1000, metadata={"range": "[0, 1000000]"})  # MIN_BUSY
    ceiling_us: int = field(default=50000, metadata={"range": "[0, 10000000]"})  # CEILING
    up_threshold: float = field(default=85.0, metadata={"range": "[0, 100]"})  # TrustZone, estimate
    down_threshold: float = field(default=60.0, metadata={"range": "[0, 100]"})  # TrustZone, estimate
    idle_timeout_ms: int = field(default=80, metadata={"range": "[1, 10000]"})  # kgsl idle_timeout


class AdrenoTz:
    kind = "gpu"
    section = "msm-adreno-tz"
    Tunables = Tunables

    def __init__(self, tunables: Tunables) -> None:
        self.tunables = tunables
        self.period_s = tunables.polling_ms / 1000.0
        self.bin_busy_s = 0.0
        self.bin_total_s = 0.0
        self.idle_s = 0.0

    def update(self, obs) -> int | None:
        t = self.tunables
        self.bin_busy_s += obs.busy_s
        self.bin_total_s += obs.total_s
        level, top = obs.level, len(obs.table_hz) - 1
        self.idle_s = self.idle_s + obs.total_s if obs.busy_s <= 0.0 else 0.0
        if self.idle_s * 1000.0 >= t.idle_timeout_ms:  # slumber
            self.bin_busy_s = self.bin_total_s = 0.0
            return obs.table_hz[0]
        if obs.total_s <= 0 or self.bin_total_s * 1e6 < t.floor_us or self.bin_busy_s * 1e6 < t.min_busy_us:
            return None
        if self.bin_busy_s * 1e6 > t.ceiling_us:
            level = top
        else:
            load = 100.0 * self.bin_busy_s / self.bin_total_s
            if load > t.up_threshold:
                level = min(level + 1, top)
            elif load < t.down_threshold:
                level = max(level - 1, 0)
        self.bin_busy_s = self.bin_total_s = 0.0
        return obs.table_hz[level]

    def qos_votes(self, level: int) -> dict[str, int]:
        return {}
