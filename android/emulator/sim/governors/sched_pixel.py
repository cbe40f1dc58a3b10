"""Pixel's sched_pixel cpufreq governor (EAS): schedutil's mapping with Pixel's tunables.

Differences from mainline schedutil: separate up/down rate limits and a utilisation clamp floor for the
foreground task group (uclamp.min), which keeps a mostly waiting inference thread from sinking to the
lowest OPP (FUSE saw EAS hold ~907-1131 MHz in decode, alternating between two levels)."""

from __future__ import annotations

from dataclasses import dataclass

from android.emulator.sim.governors.schedutil import next_freq_hz


@dataclass(frozen=True)
class Tunables:
    headroom: float = 1.25
    up_rate_limit_s: float = 0.0005
    down_rate_limit_s: float = 0.02
    uclamp_min: float = 0.0  # floor on the foreground task's util, fraction of max capacity


class Governor:
    kind = "cpu"
    period_s = 0.004

    def __init__(self, tunables: Tunables):
        self.tunables = tunables
        self.last_change_s = -1e9

    def update(self, now_s: float, util: float, cur_hz: int, max_hz: int, foreground: bool = False) -> int | None:
        """Target frequency in Hz, or None while the rate limit for that direction holds."""
        t = self.tunables
        effective = max(util, t.uclamp_min) if foreground else util
        target = next_freq_hz(effective, max_hz, t.headroom)
        limit = t.up_rate_limit_s if target > cur_hz else t.down_rate_limit_s
        if now_s - self.last_change_s < limit:
            return None
        if target != cur_hz:
            self.last_change_s = now_s
        return target
