"""Pixel's Mali DVFS governors (`basic` and `quickstep`, gpu_dvfs_governor.c).

Every DVFS period the GPU's utilisation is compared with the current level's band from the device
tree's DVFS table: above util_max clock up (quickstep jumps two levels when util is above the midpoint
of util_max and 100), below util_min clock down one level after `hysteresis` periods. Each level also
asks the memory interface for a floor (the table's mif_min), which is how a high GPU level holds MIF high.
Tables here are indexed from the lowest frequency up."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tunables:
    util_min_pct: tuple[float, ...]
    util_max_pct: tuple[float, ...]
    hysteresis: tuple[int, ...]  # periods below util_min before stepping down
    mif_min_hz: tuple[int, ...]  # memory floor requested at each level (0: none)
    period_s: float = 0.02  # dvfs_period

    def check(self, profile) -> str:
        n = len(profile.gpu.opps)
        for name in ("util_min_pct", "util_max_pct", "hysteresis", "mif_min_hz"):
            if len(getattr(self, name)) != n:
                return f"{name} must have one entry per GPU OPP ({n}), has {len(getattr(self, name))}"
        if any(lo > hi for lo, hi in zip(self.util_min_pct, self.util_max_pct)):
            return "util_min_pct must not exceed util_max_pct at any level"
        return ""


class Governor:
    kind = "gpu"

    def __init__(self, tunables: Tunables, quick: bool = True):
        self.tunables = tunables
        self.quick = quick
        self.period_s = tunables.period_s
        self.delay = 0

    def update(self, busy_s: float, total_s: float, level: int, n_levels: int) -> int:
        """The new level index (ascending table) from one period's busy/total time."""
        t = self.tunables
        util = 100.0 * busy_s / total_s if total_s > 0 else 0.0
        top = n_levels - 1
        if level < top and util > t.util_max_pct[level]:
            if self.quick and level <= top - 2 and util > (100.0 + t.util_max_pct[level]) / 2:
                level += 2
                self.delay = t.hysteresis[level] // 2
            else:
                level += 1
                self.delay = t.hysteresis[level]
        elif level > 0 and util < t.util_min_pct[level]:
            self.delay -= 1
            if self.delay <= 0:
                level -= 1
                self.delay = t.hysteresis[level]
        else:
            self.delay = t.hysteresis[level]
        return level

    def mem_floor_hz(self, level: int) -> int:
        return int(self.tunables.mif_min_hz[level])
