"""fusegov's residual correction: what a bucket's own runs say the fitted models miss, carried to the settings near
them (measured / predicted, in log-frequency distance), and how far the models' shape is from the runs."""

from __future__ import annotations

import numpy as np

RESIDUAL_WIDTH = 0.2  # log-frequency distance over which a measured residual corrects the model (~20% clock)


def residual_weights(log_grid: np.ndarray, log_measured: np.ndarray) -> np.ndarray:
    """(n, m) Gaussian weights of each measured setting for each grid setting, by log-frequency distance (and
    any further coordinates, in the same units)."""
    distance2 = ((log_grid[:, None, :] - log_measured[None, :, :]) ** 2).sum(axis=2)
    return np.exp(-distance2 / (2.0 * RESIDUAL_WIDTH**2))


def residual_factor(
    weights: np.ndarray, ratio: np.ndarray, grid_stock: np.ndarray | None = None, run_stock: np.ndarray | None = None
) -> np.ndarray:
    """Per grid setting, the factor measured / predicted to apply: the bucket's mean log ratio everywhere
    (a pooled model's bias on this bucket), plus, for each knob left stock (`grid_stock` (n, s), `run_stock`
    (m, s)), the runs with it stock's own mean deviation from that (what leaving it to its governor does that
    the model, seeing only its mean clock, misses; shrunk towards zero by a prior weight of one), plus the nearby
    runs' own deviation from these, weighted by closeness (a measured setting gets its measured value back, far
    ones only the means)."""
    log_ratio = np.log(np.clip(ratio, 1e-9, None))
    base = np.full(len(weights), log_ratio.mean())
    at_runs = np.full(len(log_ratio), log_ratio.mean())
    if grid_stock is not None and run_stock is not None:
        deviation = log_ratio - log_ratio.mean()
        offset = (run_stock * deviation[:, None]).sum(axis=0) / (run_stock.sum(axis=0) + 1.0)  # (s,)
        base = base + grid_stock @ offset
        at_runs = at_runs + run_stock @ offset
    local = weights @ (log_ratio - at_runs) / np.maximum(weights.sum(axis=1), 1.0)
    return np.exp(base + local)


def misfits(ratios: list[np.ndarray], prior: float = 1.0) -> np.ndarray:
    """Per bucket, how far the model's shape is from its runs: the spread of their log ratios measured / predicted
    about the bucket's mean ratio (which `residual_factor` corrects everywhere), moderated towards the spread pooled
    over every bucket's runs by `prior` runs' worth of it (empirical Bayes, as for any variance read from a few
    points). A setting the runs do not pin down is uncertain by this much beyond the ensemble's spread. Alone, a
    bucket's two to four runs read anything from 0 to 4% (hexa6 StableLM's shortest prefill: 4.0% from two runs,
    which ended it at stock)."""
    squares, counts = np.zeros(len(ratios)), np.zeros(len(ratios))
    for i, ratio in enumerate(ratios):
        log_ratio = np.log(np.clip(ratio, 1e-9, None))
        squares[i], counts[i] = ((log_ratio - log_ratio.mean()) ** 2).sum() if len(ratio) else 0.0, len(ratio)
    pooled = squares.sum() / counts.sum() if counts.sum() else 0.0
    return np.sqrt((squares + prior * pooled) / np.maximum(counts + prior, 1e-12))
