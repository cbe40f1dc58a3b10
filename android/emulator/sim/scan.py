"""First-order linear recurrences over a block of simulation steps, solved at once with numpy.

Heat in a thermal node, a sensor's lag and a slowly wandering activity factor all follow
y_k = exp(-rate * dt_k) * y_(k-1) + u_k, with steps of varying length. Written with the running time
T_k = rate * (dt_1 + ... + dt_k), y_k = exp(-T_k) * (y_0 + sum_(j<=k) u_j exp(T_j)): a cumulative sum,
restarted in chunks so that exp(T) stays far from overflow whatever the rates.
"""

from __future__ import annotations

import numpy as np

EXP_SPAN = 50.0  # largest rate * time within one chunk


def decay_scan(
    y0: np.ndarray, dt_s: np.ndarray, rate: np.ndarray, u: np.ndarray, top: float | None = None
) -> np.ndarray:
    """All y_k, shape (steps, columns), of y_k = exp(-rate dt_k) y_(k-1) + u_k for each column.

    y0: (columns,) state before the first step; dt_s: (steps,); rate: (columns,) per second, >= 0;
    u: (steps, columns) input added at each step; top: the largest rate (0 without any), if known."""
    t_end = dt_s.cumsum()  # (ndarray methods: numpy's module functions add a Python-level wrapper)
    if top is None:
        top = float(rate.max(initial=0.0))
    if not len(t_end) or top * float(t_end[-1]) <= EXP_SPAN:
        return _scan(y0, t_end, rate, u)
    cuts = np.searchsorted(t_end, np.arange(1, int(top * t_end[-1] // EXP_SPAN) + 1) * (EXP_SPAN / top))
    parts, start = [], 0
    for stop in [*np.unique(cuts).tolist(), len(t_end)]:
        if stop > start:
            offset = t_end[start - 1] if start else 0.0
            parts.append(_scan(y0, t_end[start:stop] - offset, rate, u[start:stop]))
            y0, start = parts[-1][-1], stop
    return np.vstack(parts)


def _scan(y0: np.ndarray, t_end: np.ndarray, rate: np.ndarray, u: np.ndarray) -> np.ndarray:
    growth = np.exp(np.minimum(t_end[:, None] * rate[None, :], 700.0))  # > EXP_SPAN only for one very long step
    return (y0 + (u * growth).cumsum(axis=0)) / growth


def decay_factor(dt_s: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """exp(-rate dt) per step and column, (steps, columns)."""
    return np.exp(-dt_s[:, None] * rate[None, :])


class DecayScan:
    """decay_scan for fixed rates, plus the per-step shares 1 - exp(-rate dt). Blocks of equal steps (the
    simulation's usual case: every step one tick) reuse their exponentials from a cache."""

    def __init__(self, rate: np.ndarray):
        self.rate = np.asarray(rate, dtype=float)
        self._top = float(self.rate.max(initial=0.0))
        self._equal: dict[tuple[int, float], tuple[np.ndarray, np.ndarray]] = {}

    def _cached(self, dt_s: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(growth exp(rate t_k), settling share per step) for n equal steps, or None."""
        n = len(dt_s)
        if not n:
            return None
        step = float(dt_s[0])
        if dt_s[-1] != step or step * n * self._top > EXP_SPAN:  # (the cheap tests first)
            return None
        if np.maximum.reduce(dt_s) != np.minimum.reduce(dt_s):  # (np.ptp without its Python-level wrapper)
            return None
        found = self._equal.get((n, step))
        if found is None:
            t_end = np.arange(1, n + 1)[:, None] * step
            found = (np.exp(t_end * self.rate[None, :]), -np.expm1(-step * self.rate)[None, :])
            if len(self._equal) < 256:
                self._equal[(n, step)] = found
        return found

    def _share(self, dt_s: np.ndarray) -> np.ndarray:
        return -np.expm1(-dt_s[:, None] * self.rate[None, :])

    def settling(self, dt_s: np.ndarray) -> np.ndarray:
        """The share 1 - exp(-rate dt) of the way to its steady value a lag goes in each step."""
        cached = self._cached(dt_s)
        return cached[1] if cached is not None else self._share(dt_s)

    def run(self, y0: np.ndarray, dt_s: np.ndarray, u: np.ndarray) -> np.ndarray:
        """All y_k of y_k = exp(-rate dt_k) y_(k-1) + u_k, (steps, columns)."""
        return self._run(y0, dt_s, u, self._cached(dt_s))

    def run_held(self, y0: np.ndarray, dt_s: np.ndarray, level: np.ndarray) -> np.ndarray:
        """run() with inputs settling(dt_s) * level: each step goes its share of the way to a level held over
        it (one cache look-up for both)."""
        cached = self._cached(dt_s)
        share = cached[1] if cached is not None else self._share(dt_s)
        return self._run(y0, dt_s, share * level, cached)

    def _run(self, y0: np.ndarray, dt_s: np.ndarray, u: np.ndarray, cached) -> np.ndarray:
        if cached is None:
            return decay_scan(y0, dt_s, self.rate, u, self._top)
        growth = cached[0]
        return (y0 + (u * growth).cumsum(axis=0)) / growth
