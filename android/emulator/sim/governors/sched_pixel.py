"""Pixel's sched_pixel cpufreq governor (vendor sched, kernel 5.10 on gs101/gs201): schedutil with Pixel's
tunables.

Differences from mainline schedutil: separate rate limits for raising and lowering the frequency
(`up_rate_limit_us`, `down_rate_limit_us`, sysfs `policyN/sched_pixel/`) and a per-CPU capacity margin
(`dvfs_headroom`) in place of the fixed 1.25. The utilisation clamp of runnable tasks (the foreground
group's uclamp.min, physics.sched.uclamp_min) is applied as in schedutil: it lifts the request while the
inference thread is runnable and is released when it sleeps on the GPU.

With a short up limit and a long down limit this gives what FUSE measured in decode: each wake-up asks
for the clamped level at once, the long down limit holds it through most GPU waits, and the level the
PELT utilisation asks for wins only at the waits that come after the down limit expired, so the clock
alternates between two levels whose mix follows the load (REFERENCES.md 1: ~907-1131 MHz effective).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from android.emulator.sim.governors.schedutil import Sugov


@dataclass(frozen=True)
class Tunables:
    up_rate_limit_us: int = field(default=500, metadata={"range": "[0, 1000000]"})
    down_rate_limit_us: int = field(default=20000, metadata={"range": "[0, 1000000]"})
    dvfs_headroom: float = field(default=1.25, metadata={"range": "[1, 2]"})  # capacity margin, 1280/1024


class SchedPixel(Sugov):
    section = "sched_pixel"
    Tunables = Tunables

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.headroom = tunables.dvfs_headroom
        self.up_limit_s = tunables.up_rate_limit_us * 1e-6
        self.down_limit_s = tunables.down_rate_limit_us * 1e-6
