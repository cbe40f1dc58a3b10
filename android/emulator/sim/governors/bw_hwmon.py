"""bw_hwmon (drivers/devfreq/governor_bw_hwmon.c): vote memory bandwidth from measured traffic.

Measured MB/s plus a guard band; a rise is taken at once, a fall decays by decay_rate per sample;
the vote rounds up to bw_step and maps to a frequency by io_percent (the share of the bus's peak the
traffic may use). Also serves the GPU bus monitors (gpubw_mon, bw_vbif), which run the same loop on the
GPU's traffic."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Tunables:
    sample_s: float = 0.004
    guard_band_mbps: float = 100.0
    decay_rate_pct: float = 90.0
    bw_step_mbps: float = 190.0
    io_percent: float = 16.0


class Governor:
    kind = "mem"

    def __init__(self, tunables: Tunables, bytes_per_hz: float):
        self.tunables = tunables
        self.period_s = tunables.sample_s
        self.bytes_per_hz = bytes_per_hz
        self.vote_mbps = 0.0

    def update(self, traffic_bytes: float, window_s: float, cur_hz: int, floor_hz: int = 0) -> int:
        t = self.tunables
        measured = traffic_bytes / window_s / 1e6 + t.guard_band_mbps if window_s > 0 else 0.0
        if measured >= self.vote_mbps:
            self.vote_mbps = measured
        else:
            self.vote_mbps = max(measured, self.vote_mbps * t.decay_rate_pct / 100.0)
        vote = math.ceil(self.vote_mbps / t.bw_step_mbps) * t.bw_step_mbps
        # the bus must carry `vote` using io_percent of its peak: peak bytes/s = bytes_per_hz * f
        freq_hz = vote * 1e6 * 100.0 / t.io_percent / self.bytes_per_hz
        return max(int(freq_hz), floor_hz)

    def settled(self) -> bool:
        """Nothing left to decay: with no traffic the vote stays where it is."""
        return self.vote_mbps <= self.tunables.guard_band_mbps
