"""The scheduler's load tracking that CPU governors read: per-CPU PELT utilisation.

Utilisation is frequency-invariant and kept as a fraction of the CPU's own capacity at its top
frequency: a thread running half the time at half the top clock contributes 0.25. It follows the
running share with PELT's geometric average (32 ms half-life), so it decays while a thread waits on
the GPU."""

from __future__ import annotations

PELT_HALF_LIFE_S = 0.032


class LoadTracker:
    def __init__(self, n_cpus: int):
        self.util = [0.0] * n_cpus
        self._active: set[int] = set()  # CPUs whose utilisation has not decayed to nothing
        self._decay_cache: dict[float, float] = {}

    def update(self, dt_s: float, invariant_run: dict[int, float]) -> None:
        """`invariant_run[cpu]`: share of dt_s the CPU ran, times cur_freq / max_freq."""
        decay = self._decay_cache.get(dt_s)
        if decay is None:
            decay = self._decay_cache[dt_s] = 0.5 ** (dt_s / PELT_HALF_LIFE_S)
            if len(self._decay_cache) > 64:
                self._decay_cache.clear()
        util = self.util
        for cpu in self._active:
            util[cpu] *= decay
        for cpu, run in invariant_run.items():
            util[cpu] += (1.0 - decay) * run
            self._active.add(cpu)
        for cpu in [c for c in self._active if util[c] < 1e-9]:
            util[cpu] = 0.0
            self._active.discard(cpu)
