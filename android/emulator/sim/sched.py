"""The scheduler's load tracking that CPU governors read: per-CPU PELT utilisation.

Utilisation is frequency-invariant and kept as a fraction of the CPU's own capacity at its top
frequency: a thread running half the time at half the top clock contributes 0.25. It follows the
running share with PELT's geometric average (a 32 ms half-life, 8 ms on kernels booted with
pelt_multiplier=4), so it ramps while a thread runs and decays while it waits on the GPU. Decay is
applied lazily (a CPU's value is brought forward when it runs or is read), so idle CPUs cost nothing."""

from __future__ import annotations

from math import exp, log


class LoadTracker:
    def __init__(self, n_cpus: int, half_life_s: float = 0.032):
        self.half_life_s = half_life_s
        self._rate = log(2.0) / half_life_s
        self._decay = -self._rate  # the exponent's factor per second (-rate, as -rate * t parses)
        self.values = [0.0] * n_cpus  # util at time _at[cpu] (an upper bound of it at any later time)
        self._at = [0.0] * n_cpus
        self._grow: dict[float, float] = {}  # step length -> 1 - decay
        self._last_grow = (-1.0, 0.0)  # the last step length looked up and its growth (most steps are a tick)

    def add(self, cpu: int, end_s: float, dt_s: float, run: float) -> float:
        """The CPU ran `run` (share of the step, times cur_freq / max_freq) in the step ending at end_s.
        Returns its utilisation at end_s."""
        last_dt, grow = self._last_grow
        if dt_s != last_dt:
            grow = self._grow.get(dt_s)
            if grow is None:
                grow = self._grow[dt_s] = 1.0 - exp(-self._rate * dt_s)
                if len(self._grow) > 64:
                    self._grow.clear()
            self._last_grow = (dt_s, grow)
        value = self.values[cpu]
        if value:
            value *= exp(self._decay * (end_s - self._at[cpu]))
        value += grow * run
        self.values[cpu] = value
        self._at[cpu] = end_s
        return value

    def util(self, cpu: int, now_s: float) -> float:
        value = self.values[cpu]
        return value * exp(self._decay * (now_s - self._at[cpu])) if value else 0.0

    def peak(self, cpus, now_s: float, peak: float = 0.0) -> float:
        """The largest of `peak` and the CPUs' utilisation at now_s (a stored value bounds its decayed
        utilisation, so a CPU whose value does not exceed the peak so far is not brought forward)."""
        values = self.values
        for c in cpus:
            value = values[c]
            if value > peak:  # (rare: the rest is looked up only here)
                u = value * exp(self._decay * (now_s - self._at[c]))
                if u > peak:
                    peak = u
        return peak
