"""schedutil (kernel/sched/cpufreq_schedutil.c): frequency from frequency-invariant utilisation.

next_freq = headroom * max_freq * util / max_capacity, the lowest table entry at or above it, changed no
more often than the rate limit. `util` here is already a fraction of the CPU's capacity at max_freq."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tunables:
    headroom: float = 1.25  # 1.25 = the kernel's map_util_freq margin
    rate_limit_s: float = 0.002  # rate_limit_us


def next_freq_hz(util: float, max_freq_hz: int, headroom: float) -> int:
    """The raw request before snapping into the table (the kernel's map_util_freq)."""
    return int(headroom * max_freq_hz * min(util, 1.0))


class Governor:
    kind = "cpu"
    period_s = 0.004  # evaluated on every scheduler tick (HZ=250)

    def __init__(self, tunables: Tunables):
        self.tunables = tunables
        self.last_change_s = -1e9

    def update(self, now_s: float, util: float, cur_hz: int, max_hz: int) -> int | None:
        """Target frequency in Hz, or None while the rate limit holds the current one."""
        if now_s - self.last_change_s < self.tunables.rate_limit_s:
            return None
        target = next_freq_hz(util, max_hz, self.tunables.headroom)
        self.last_change_s = now_s
        return target
