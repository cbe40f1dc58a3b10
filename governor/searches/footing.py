"""Runs on the footing of every stock seed: a seed's background moves every pinned setting alike, so its shared effect,
read from the runs that have that seed, puts a run on fewer seeds where it would be on all of them (pure functions;
fusegov's search reads the effects from a bucket's runs of one kind)."""

from __future__ import annotations

import numpy as np


def seed_effects(log_ratios: list[np.ndarray], seeds: int, fallback: np.ndarray | None = None) -> np.ndarray:
    """(seeds,) what each seed does to every pinned setting's log paired latency alike, relative to seed 0 (which
    every run has), from the runs that have that seed: a seed's background moves all pinned settings by one factor
    (to ~1e-5 on sm8550's prefill), so its effect is seen on any repeated run. A seed no run has: `fallback`'s
    effect (none by default)."""
    sums, counts = np.zeros(seeds), np.zeros(seeds)
    for log_ratio in log_ratios:
        n = min(len(log_ratio), seeds)
        sums[1:n] += log_ratio[1:n] - log_ratio[0]
        counts[1:n] += 1
    effects = sums / np.maximum(counts, 1)
    return effects if fallback is None else np.where(counts > 0, effects, fallback)


def on_footing(log_ratio: np.ndarray, effects: np.ndarray) -> float:
    """A run's mean log paired latency as if it had run on every seed: its own seeds' effects taken out, the mean
    effect of all seeds put in. A setting run once, on seed 0, otherwise read slower or faster than one run on
    every seed by seed 0's effect (~1% on sm8550's prefill), and the search compared the two on unequal footing."""
    n = min(len(log_ratio), len(effects))
    return float(log_ratio[:n].mean() + footing_shift(effects, n))


def footing_shift(effects: np.ndarray, n: int) -> float:
    """What `on_footing` adds to the mean log ratio of a run on seeds 0..n-1: all seeds' mean effect less its own."""
    return float(effects.mean() - effects[: min(n, len(effects))].mean())


def seed_residuals(log_ratios: list[np.ndarray], effects: np.ndarray) -> tuple[float, int]:
    """What `seed_effects` leaves unexplained in the runs it was estimated from: the sum of squares of each run's
    log ratios, its seeds' effects taken out, about their mean, and its degrees of freedom (each run's repeats
    less one, less the effects estimated: one per seed beyond seed 0 that any run has)."""
    if not log_ratios:
        return 0.0, 0
    total, dof = 0.0, 0
    for log_ratio in log_ratios:
        residual = log_ratio[: len(effects)] - effects[: len(log_ratio)]
        total += float(((residual - residual.mean()) ** 2).sum())
        dof += len(residual) - 1
    return total, dof - (min(max(len(r) for r in log_ratios), len(effects)) - 1)
