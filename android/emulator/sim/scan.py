"""First-order linear recurrences over a block of simulation steps, solved at once with numpy.

Heat in a thermal node, a sensor's lag and a slowly wandering activity factor all follow
y_k = exp(-rate * dt_k) * y_(k-1) + u_k, with steps of varying length. Written with the running time
T_k = rate * (dt_1 + ... + dt_k), y_k = exp(-T_k) * (y_0 + sum_(j<=k) u_j exp(T_j)): a cumulative sum,
restarted in chunks so that exp(T) stays far from overflow whatever the rates.
"""

from __future__ import annotations

import numpy as np

EXP_SPAN = 50.0  # largest rate * time within one chunk


def decay_scan(y0: np.ndarray, dt_s: np.ndarray, rate: np.ndarray, u: np.ndarray) -> np.ndarray:
    """All y_k, shape (steps, columns), of y_k = exp(-rate dt_k) y_(k-1) + u_k for each column.

    y0: (columns,) state before the first step; dt_s: (steps,); rate: (columns,) per second, >= 0;
    u: (steps, columns) input added at each step."""
    t_end = np.cumsum(dt_s)
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
    return (y0 + np.cumsum(u * growth, axis=0)) / growth


def decay_factor(dt_s: np.ndarray, rate: np.ndarray) -> np.ndarray:
    """exp(-rate dt) per step and column, (steps, columns)."""
    return np.exp(-dt_s[:, None] * rate[None, :])
