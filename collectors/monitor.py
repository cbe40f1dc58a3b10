"""A lab power monitor on one component's supply, for the in-process virtual phone: what APGPM measured its
ground truth with (REFERENCES.md section 2). It integrates the simulation's per-component power step by
step (a Block observer: the virtual phone's public measurement hook) and reports the mean power of each
sample interval, by the sampler's own timestamps. Phones without ODPM (Snapdragon) have no other GPU power.
"""

from __future__ import annotations

import numpy as np

from collectors.errors import CollectorError


class VirtualRailMonitor:
    """Energy of `components` (e.g. ["gpu"]) over time, on the phone's CLOCK_MONOTONIC (uptime)."""

    def __init__(self, phone, components: list[str]):
        self.phone = phone
        self.components = list(components)
        self.times = [phone.state.uptime_s]
        self.energy = [np.zeros(len(self.components))]
        self._offset = phone.state.uptime_s - phone.now_s

    def __call__(self, block) -> None:
        missing = [c for c in self.components if c not in block.power_w]
        if missing:
            raise CollectorError(f"the virtual phone has no component {missing[0]!r} to monitor")
        watts = np.column_stack([block.power_w[c] for c in self.components])
        steps = np.cumsum(watts * block.dt_s[:, None], axis=0) + self.energy[-1]
        self.times.extend((block.t_end_s + self._offset).tolist())
        self.energy.extend(list(steps))

    def attach(self) -> VirtualRailMonitor:
        self.phone.sim.observers.append(self)
        return self

    def detach(self) -> None:
        if self in self.phone.sim.observers:
            self.phone.sim.observers.remove(self)

    def mean_power(self, t_s: np.ndarray) -> dict[str, np.ndarray]:
        """Mean watts over each interval (t[i-1], t[i]]; the first interval is taken as one period long."""
        times = np.asarray(self.times)
        energy = np.vstack(self.energy)
        t = np.asarray(t_s, dtype=float)
        if len(t) == 0:
            return {c: np.zeros(0) for c in self.components}
        start = np.concatenate([[t[0] - (t[1] - t[0] if len(t) > 1 else 0.01)], t[:-1]])
        out = {}
        for j, component in enumerate(self.components):
            e_end = np.interp(t, times, energy[:, j])
            e_start = np.interp(start, times, energy[:, j])
            with np.errstate(invalid="ignore", divide="ignore"):
                out[component] = (e_end - e_start) / (t - start)
        return out
