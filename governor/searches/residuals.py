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


def bucket_terms(log_ratio: np.ndarray, run_stock: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """What a bucket's runs say the model misses everywhere (`residual_factor`'s means): the mean log ratio
    measured / predicted over its runs with every knob pinned (over all of them where it has none), and, for each
    knob left stock (`run_stock` (m, s)), the runs with it stock's mean deviation from that, shrunk towards zero by a
    prior weight of one; with, per run, the log ratio these two explain (m,). A governor is not the pin at its mean
    clock the model sees it as: counted in the mean, one run with the bus stock read 56% slower than predicted
    (sm8550's shortest prefill, where the governor runs the bus low) and put every pinned setting of the bucket 9%
    slower than its runs."""
    pinned = np.ones(len(log_ratio), dtype=bool) if run_stock is None else ~run_stock.any(axis=1)
    mean = float(log_ratio[pinned].mean() if pinned.any() else log_ratio.mean())
    if run_stock is None:
        return mean, np.zeros(0), np.full(len(log_ratio), mean)
    offset = (run_stock * (log_ratio - mean)[:, None]).sum(axis=0) / (run_stock.sum(axis=0) + 1.0)  # (s,)
    return mean, offset, mean + run_stock @ offset


def residual_factor(
    weights: np.ndarray, ratio: np.ndarray, grid_stock: np.ndarray | None = None, run_stock: np.ndarray | None = None
) -> np.ndarray:
    """Per grid setting, the factor measured / predicted to apply: the bucket's means (`bucket_terms`: the pinned
    runs' mean log ratio everywhere, a pooled model's bias on this bucket, plus, for each knob left stock
    (`grid_stock` (n, s), `run_stock` (m, s)), what leaving it to its governor does that the model, seeing only its
    mean clock, misses), plus the nearby runs' own deviation from these, weighted by closeness (a measured setting
    gets its measured value back, far ones only the means)."""
    log_ratio = np.log(np.clip(ratio, 1e-9, None))
    stock = grid_stock is not None and run_stock is not None
    mean, offset, at_runs = bucket_terms(log_ratio, run_stock if stock else None)
    base = mean + (grid_stock @ offset if stock else np.zeros(len(weights)))
    local = weights @ (log_ratio - at_runs) / np.maximum(weights.sum(axis=1), 1.0)
    return np.exp(base + local)


def misfits(ratios: list[np.ndarray], prior: float = 1.0, centred: bool = True) -> np.ndarray:
    """Per bucket, how far the model's shape is from its runs (those with every knob pinned, what the model is
    fitted to and predicts; the caller passes those): the spread of their log ratios measured / predicted
    about the bucket's mean ratio (which `residual_factor` corrects everywhere), moderated towards the spread pooled
    over every bucket's runs by `prior` runs' worth of it (empirical Bayes, as for any variance read from a few
    points). A setting the runs do not pin down is uncertain by this much beyond the ensemble's spread. Alone, a
    bucket's two to four runs read anything from 0 to 4% (hexa6 StableLM's shortest prefill: 4.0% from two runs,
    which ended it at stock). Not `centred`: their root mean square (log), a bias counted in."""
    squares, counts = np.zeros(len(ratios)), np.zeros(len(ratios))
    for i, ratio in enumerate(ratios):
        log_ratio = np.log(np.clip(ratio, 1e-9, None))
        centre = log_ratio.mean() if centred and len(ratio) else 0.0
        squares[i], counts[i] = ((log_ratio - centre) ** 2).sum(), len(ratio)
    pooled = squares.sum() / counts.sum() if counts.sum() else 0.0
    return np.sqrt((squares + prior * pooled) / np.maximum(counts + prior, 1e-12))
