"""Pixel's Mali DVFS governors, `basic` and `quickstep` (pixel_gpu_dvfs_governor.c).

Every DVFS period the driver's utilisation (busy / total time) is compared with the current level's band
from the device tree's DVFS table (`util_min` / `util_max`, percent). Above `util_max` the GPU clocks up:
`quickstep` moves `step_up_val` levels at once when the utilisation is closer to 100 than to util_max
(and halves the new level's hysteresis), otherwise one level. Below `util_min` it clocks down one level
after `hysteresis` consecutive periods; inside the band the hysteresis count restarts. After the GPU has
been idle for `clockdown_hysteresis_ms` the clockdown worker drops it to the lowest level.

Each level also carries PM QoS votes the driver places when it sets the level (gpu_dvfs_qos_set): the
memory interface minimum `mif_min_hz` is a *vote* that the MIF governor combines with its own decision
(the maximum wins); it is not the memory governor's decision. Tables here are indexed from the lowest
frequency up (the kernel's level 0 is the highest).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tunables:
    util_min: tuple[float, ...] = field(metadata={"range": "[0, 100]"})  # "down util" per level, %
    util_max: tuple[float, ...] = field(metadata={"range": "[0, 100]"})  # "up util" per level, %
    hysteresis: tuple[int, ...] = field(metadata={"range": "[1, 100]"})  # periods below util_min
    mif_min_hz: tuple[int, ...] = field(metadata={"range": "[0, inf)"})  # QoS vote on MIF per level
    step_up_val: int = field(default=2, metadata={"range": "[1, 4]"})  # gpu_dvfs_step_up_val
    dvfs_period_ms: int = field(default=20, metadata={"range": "[1, 1000]"})
    clockdown_hysteresis_ms: int = field(default=50, metadata={"range": "[0, 10000]"})

    def check(self, profile) -> str:
        n = len(profile.gpu.opps)
        for name in ("util_min", "util_max", "hysteresis", "mif_min_hz"):
            if len(getattr(self, name)) != n:
                return f"{name} must have one entry per GPU OPP ({n}), has {len(getattr(self, name))}"
        if any(lo > hi for lo, hi in zip(self.util_min, self.util_max)):
            return "util_min must not exceed util_max at any level"
        return ""


class Basic:
    """`basic`: one level up above util_max, one down after the hysteresis below util_min."""

    kind = "gpu"
    section = "quickstep"  # both read the same DVFS table
    Tunables = Tunables
    step_up = 1

    def __init__(self, tunables: Tunables) -> None:
        self.tunables = tunables
        self.period_s = tunables.dvfs_period_ms / 1000.0
        self.delay = 0
        self.idle_s = 0.0

    def update(self, obs) -> int | None:
        t = self.tunables
        level, top = obs.level, len(obs.table_hz) - 1
        if obs.busy_s <= 0.0:  # powered off: the clockdown worker resets the level after a while
            self.idle_s += obs.total_s
            if self.idle_s * 1000.0 >= t.clockdown_hysteresis_ms:
                self.delay = t.hysteresis[0]
                return obs.table_hz[0]
        else:
            self.idle_s = 0.0
        util = int(100.0 * obs.busy_s / obs.total_s) if obs.total_s > 0 else 0  # the driver's integer %
        if level < top and util > t.util_max[level]:
            step = self.step_up
            if step > 1 and level + step <= top and util > (100 + t.util_max[level]) // 2:
                level += step
                self.delay = t.hysteresis[level] // 2
            else:
                level += 1
                self.delay = t.hysteresis[level]
        elif level > 0 and util < t.util_min[level]:
            self.delay -= 1
            if self.delay <= 0:
                level -= 1
                self.delay = t.hysteresis[level]
        else:
            self.delay = t.hysteresis[level]
        return obs.table_hz[level]

    def qos_votes(self, level: int) -> dict[str, int]:
        """PM QoS minimums the driver requests for `level` (knob -> Hz)."""
        return {"mem": int(self.tunables.mif_min_hz[level])}


class Quickstep(Basic):
    """`quickstep`: like basic, but jumps `step_up_val` levels when far above the band."""

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.step_up = tunables.step_up_val
