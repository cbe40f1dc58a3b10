"""Pixel's `interactive` devfreq governor for MIF on Tensor (governor_simpleinteractive.c with ALT-DVFS).

The bus performance counters (PPC) give busy and total cycles; every `min_sample_time` they close a
sample whose load is busy / total. The governor keeps the highest load of the last `hold_sample_time`
(a new peak is taken at once; a fall only after the hold expires, and then to the recent maximum) and
asks for max_load * cur_freq / `target_load`, moving at most to half or double the current frequency
per evaluation. A held load above `hispeed_load` jumps to `hispeed_freq_hz` (peak). PM QoS minimums from
other drivers (the GPU DVFS table's per-level MIF vote) are combined as the maximum. The timer fires every
2 x min_sample_time (FUSE saw 20 ms).
"""

from __future__ import annotations

from dataclasses import dataclass, field

LOAD_BUFFER_MAX = 10


@dataclass(frozen=True)
class Tunables:
    min_sample_time: int = field(default=10, metadata={"range": "[1, 1000]"})  # ms
    hold_sample_time: int = field(default=100, metadata={"range": "[0, 10000]"})  # ms
    target_load: int = field(default=40, metadata={"range": "[1, 100]"})  # percent
    hispeed_load: int = field(default=85, metadata={"range": "[1, 100]"})  # percent
    hispeed_freq_hz: int = field(default=0, metadata={"range": "[0, inf)"})  # 0: the top of the table
    tolerance: int = field(default=1, metadata={"range": "[0, 100]"})  # percent


class Interactive:
    kind = "bus"
    section = "interactive"
    Tunables = Tunables

    def __init__(self, tunables: Tunables) -> None:
        self.tunables = tunables
        self.period_s = 2 * tunables.min_sample_time / 1000.0
        self.delta = [0.0] * LOAD_BUFFER_MAX  # ring buffer of samples: duration (ms) and load (%)
        self.load = [0.0] * LOAD_BUFFER_MAX
        self.front = self.rear = 0
        self.busy = self.total = 0.0
        self.min_load = self.max_load = 0.0
        self.max_spent = 0.0
        self.prev_hz = 0
        self.governor_hz = 0

    def update(self, obs) -> int | None:
        """One timer tick: the kernel's load calculation (with the ring buffer and the tunables in locals:
        it runs for every bus device every 20 ms of simulated time, so it is one function), then the
        half/double clamp, hispeed and the PM QoS vote."""
        cur_hz = obs.cur_hz
        total = obs.window_s
        delta_ms = total * 1000.0
        busy = obs.bytes / (obs.peak_bytes_per_hz * cur_hz) if cur_hz else 0.0  # PPC busy vs total cycles
        t = self.tunables
        target = t.target_load
        delta, loads = self.delta, self.load
        if not cur_hz or cur_hz != self.prev_hz:  # the frequency moved: the samples are stale
            self.rear = self.front
            delta[self.front] = 0.0
            self.busy = self.total = 0.0
            self.max_load = target if self.max_load >= target else 0.0
            self.max_spent = 0.0
            self.min_load = target
        hz = None  # the load calculation's result, when a new sample decides it
        if total > 0:
            ptr = front = self.front
            delta[ptr] += delta_ms
            self.max_spent += delta_ms
            self.busy += busy
            self.total += total
            if delta[ptr] > t.min_sample_time:
                front = self.front = (front + 1) % LOAD_BUFFER_MAX
                delta[front] = 0.0
                if front == self.rear:
                    self.rear = (self.rear + 1) % LOAD_BUFFER_MAX
                load = loads[ptr] = 100.0 * self.busy / self.total
                self.busy = self.total = 0.0
                if self.max_load <= load:  # a new peak, taken at once
                    self.min_load = self.max_load = load
                    self.max_spent = 0.0
                    hz = load * cur_hz / target if load != target else float(self.governor_hz)
                elif load < self.min_load:
                    self.min_load = load
                    if load < t.tolerance:
                        self.max_load = load
                        self.max_spent = 0.0
                        hz = 0.0
            hold = t.hold_sample_time
            if hz is None and self.max_spent > hold:  # the held peak expired: take the recent maximum
                spent = 0.0
                if front == ptr:
                    spent += delta[ptr]
                    ptr = (ptr - 1) % LOAD_BUFFER_MAX
                max_load = loads[ptr]
                max_spent = spent
                if loads[ptr] > self.min_load + t.tolerance:
                    min_load = loads[ptr]
                    spent += delta[ptr]
                    ptr = (ptr - 1) % LOAD_BUFFER_MAX
                    rear = self.rear
                    while spent < hold and ptr != rear:
                        sample = loads[ptr]
                        if max_load < sample:
                            max_load = sample
                            max_spent = spent
                        elif min_load > sample:
                            min_load = sample
                        spent += delta[ptr]
                        ptr = (ptr - 1) % LOAD_BUFFER_MAX
                    self.min_load = min_load
                else:
                    self.min_load = loads[ptr]
                self.max_load, self.max_spent = max_load, max_spent
        if hz is None:  # the held load: the last request while a sample is open
            max_load = self.max_load
            hz = float(self.governor_hz) if max_load == target or self.total else max_load * cur_hz / target
        half, double = cur_hz / 2, cur_hz * 2  # at most half or double per evaluation (min(max(hz, half), double))
        if half > hz:
            hz = half
        if double < hz:
            hz = double
        if self.max_load > t.hispeed_load:
            hz = max(hz, t.hispeed_freq_hz or obs.table_hz[-1])
        self.governor_hz = governor_hz = int(hz)
        self.prev_hz = cur_hz
        qos = obs.qos_min_hz
        return governor_hz if governor_hz >= qos else qos  # max()
