"""WALT (Qualcomm's window-assisted load tracking) as a cpufreq governor.

CPU demand is busy time per fixed window (20 ms), scaled to max frequency; the prediction is the larger
of the last window and the mean of the recent ones, and the frequency keeps schedutil's headroom."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from android.emulator.sim.governors.schedutil import next_freq_hz


@dataclass(frozen=True)
class Tunables:
    window_s: float = 0.02
    history: int = 5
    headroom: float = 1.25


class Governor:
    kind = "cpu"
    period_s = 0.004

    def __init__(self, tunables: Tunables):
        self.tunables = tunables
        self.windows: deque[float] = deque(maxlen=tunables.history)
        self.acc_util_s = 0.0
        self.acc_s = 0.0
        self.demand = 0.0

    def feed(self, tick_util: float, tick_s: float) -> None:
        """Every scheduler tick: the invariant busy share of the policy's busiest CPU. Closes windows."""
        self.acc_util_s += tick_util * tick_s
        self.acc_s += tick_s
        if self.acc_s + 1e-12 >= self.tunables.window_s:
            self.windows.append(self.acc_util_s / self.acc_s)
            self.acc_util_s = self.acc_s = 0.0
            self.demand = max(self.windows[-1], sum(self.windows) / len(self.windows))

    def update(self, now_s: float, util: float, cur_hz: int, max_hz: int) -> int | None:
        """The frequency for the predicted demand (WALT ignores PELT's `util`)."""
        return next_freq_hz(self.demand, max_hz, self.tunables.headroom)
