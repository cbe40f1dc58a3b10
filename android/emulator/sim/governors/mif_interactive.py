"""Pixel's `interactive` devfreq governor for MIF (and INT/DSU) on Tensor (exynos devfreq).

Every 20 ms it reads the bus utilisation (traffic over the current frequency's peak); above
highspeed_load it jumps to highspeed_freq, otherwise it picks the frequency that would bring the
load to target_load. Requests from other drivers (the GPU DVFS table's mif_min) are a floor."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tunables:
    polling_s: float = 0.02
    target_load_pct: float = 60.0
    highspeed_load_pct: float = 85.0
    highspeed_hz: int = 0  # 0: the top of the table


class Governor:
    kind = "mem"

    def __init__(self, tunables: Tunables, bytes_per_hz: float):
        self.tunables = tunables
        self.period_s = tunables.polling_s
        self.bytes_per_hz = bytes_per_hz

    def update(self, traffic_bytes: float, window_s: float, cur_hz: int, floor_hz: int = 0, top_hz: int = 0) -> int:
        t = self.tunables
        peak = self.bytes_per_hz * cur_hz * window_s
        load_pct = 100.0 * traffic_bytes / peak if peak > 0 else 0.0
        if load_pct >= t.highspeed_load_pct:
            target = t.highspeed_hz or top_hz
        else:
            target = int(cur_hz * load_pct / t.target_load_pct)
        return max(target, floor_hz)

    def settled(self) -> bool:
        return True  # no memory of past windows
