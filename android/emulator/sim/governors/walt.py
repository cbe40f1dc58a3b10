"""WALT (Qualcomm's window-assisted load tracking) and its cpufreq governor (waltgov).

The scheduler sums each CPU's busy time, scaled by cur_freq / max_freq, into fixed windows of
`sched_ravg_window_ns`; at a window rollover the last window's sum becomes prev_runnable_sum, and with
predicted load (`pl`) the frequency also covers the task demand predicted from the last
`sched_ravg_hist_size` windows (the larger of the most recent and their mean). waltgov maps that to a
frequency with the 1.25 margin, lifts it to `hispeed_freq_hz` when the load exceeds `hispeed_load` percent
of the current capacity, applies the runnable tasks' uclamp and its up/down rate limits.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from android.emulator.sim.governors.schedutil import HEADROOM, Sugov, resolve_hz


@dataclass(frozen=True)
class Tunables:
    sched_ravg_window_ns: int = field(default=20_000_000, metadata={"range": "[1000000, 100000000]"})
    sched_ravg_hist_size: int = field(default=5, metadata={"range": "[1, 8]"})
    pl: int = field(default=1, metadata={"range": "[0, 1]"})  # predicted load on
    hispeed_load: int = field(default=90, metadata={"range": "[0, 100]"})
    hispeed_freq_hz: int = field(default=0, metadata={"range": "[0, inf)"})  # 0: none
    up_rate_limit_us: int = field(default=0, metadata={"range": "[0, 1000000]"})
    down_rate_limit_us: int = field(default=0, metadata={"range": "[0, 1000000]"})


class Walt(Sugov):
    section = "walt"
    Tunables = Tunables

    def __init__(self, tunables: Tunables) -> None:
        super().__init__(tunables)
        self.window_s = tunables.sched_ravg_window_ns * 1e-9
        self.history: deque[float] = deque(maxlen=tunables.sched_ravg_hist_size)
        self.acc_busy_s = 0.0  # curr_runnable_sum of the open window (invariant seconds)
        self.acc_s = 0.0
        self.prev_busy = 0.0  # prev_runnable_sum / window
        self.predicted = 0.0
        self.up_limit_s = tunables.up_rate_limit_us * 1e-6
        self.down_limit_s = tunables.down_rate_limit_us * 1e-6
        self.clamp_seen: float | None = None  # the runnable tasks' clamp at the last update a task ran
        self.steady_cur_hz = -1  # after an update: the frequency it saw, and whether a tick without / with
        self.steady_idle = self.steady_ran = False  # a task running would ask for the committed frequency

    def update(self, obs) -> int | None:
        acc_busy_s = self.acc_busy_s + obs.busy_s
        acc_s = self.acc_s + obs.dt_s
        if acc_s + 1e-12 >= self.window_s:  # window rollover
            self.prev_busy = prev_busy = acc_busy_s / acc_s
            history = self.history
            history.append(prev_busy)
            mean = sum(history) / len(history)
            self.predicted = mean if mean > prev_busy else prev_busy  # max()
            acc_busy_s = acc_s = 0.0
        self.acc_busy_s, self.acc_s = acc_busy_s, acc_s
        util = self.prev_busy
        if self.tunables.pl and self.predicted > util:  # max(prev_busy, predicted)
            util = self.predicted
        ran = obs.ran
        if ran:
            self.clamp_seen = obs.uclamp_min
        hz = self._request(obs, util, ran, obs.uclamp_min)
        self._commit(obs.now_s, hz)
        # until the window rolls over the load is fixed: the request depends only on whether a task ran
        next_hz = self.next_hz
        self.steady_cur_hz = obs.cur_hz if next_hz else -1
        if ran:
            self.steady_ran = hz == next_hz
            self.steady_idle = self._request(obs, util, False, 0.0) == next_hz
        else:
            clamp = self.clamp_seen
            self.steady_idle = hz == next_hz
            self.steady_ran = clamp is not None and self._request(obs, util, True, clamp) == next_hz
        return next_hz or None

    def _request(self, obs, util: float, ran: bool, uclamp_min: float) -> int:
        """The table frequency asked for at this load (waltgov_next_freq with the clamp of runnable tasks)."""
        t = self.tunables
        if ran and uclamp_min > util:
            util = uclamp_min
        raw = HEADROOM * obs.max_hz * (util if util <= 1.0 else 1.0)  # min(util, 1.0)
        if t.hispeed_freq_hz and obs.cur_hz and util * obs.max_hz > t.hispeed_load / 100.0 * obs.cur_hz:
            raw = max(raw, t.hispeed_freq_hz)
        return resolve_hz(obs.table_hz, raw)

    def carry(self, busy_s: float, dt_s: float, ran: bool, uclamp_min: float, cur_hz: int) -> bool:
        """A scheduler tick that cannot change the request (event-driven evaluation): the window does not
        roll over in it, the frequency is the one of the last update and the request for this tick's
        `ran` (and clamp) is the committed one. Then only the window's sums move, exactly as update() moves
        them, and True is returned; otherwise nothing is touched (the engine calls update)."""
        if cur_hz != self.steady_cur_hz or not (
            (self.steady_ran and uclamp_min == self.clamp_seen) if ran else self.steady_idle
        ):
            return False
        acc_s = self.acc_s + dt_s
        if acc_s + 1e-12 >= self.window_s:
            return False
        self.acc_busy_s += busy_s
        self.acc_s = acc_s
        return True
