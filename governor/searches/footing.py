"""Runs on the footing of every stock seed: a seed's background moves every pinned setting alike, so its shared effect,
read from the runs that have that seed, puts a run on fewer seeds where it would be on all of them (pure functions;
fusegov's search reads the effects from a bucket's runs of one kind)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from governor.goals import t_quantile


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


@dataclass(frozen=True)
class Lent:
    """What the other buckets of a phase (the lenders) measured a seed to do to their pinned runs, put on one bucket's
    stock runs: (lenders, seeds) log paired effects. A seed's background moves a pinned run alike in every bucket of a
    phase where its stock governors answer it alike (pixel7 TinyLlama's prefill: the unpaired latency effects of four
    buckets agree to 2e-4); energy's differ by ~0.5% on hexa6 and pixel4, by 3-10% on sm8550."""

    each: np.ndarray
    confidence: float

    def shifts(self, n: int) -> np.ndarray:
        return np.array([footing_shift(lent, n) for lent in self.each])

    @cached_property
    def borrowed(self) -> bool:
        """Their mean is a better guess than none: its error bound at the goal's confidence (their scatter, from
        as few lenders as there are) is under the shift it makes. On sm8550, with none, a bucket's footing went 4%
        the other way (Qwen 1.5B's prefill<=512 ended at stock)."""
        if len(self.each) < 2:
            return False
        shifts = self.shifts(1)
        return t_quantile(self.confidence, len(shifts) - 1) * self._scatter(shifts, shifts.mean()) < abs(shifts.mean())

    @property
    def effects(self) -> np.ndarray:
        """(seeds,) the effects a run is put on the footing by: their mean where `borrowed`, else none (zeros)."""
        return self.each.mean(axis=0) if self.borrowed else np.zeros(self.each.shape[1])

    def reach(self, n: int) -> float:
        """The largest shift a lender's effects make for a run on n seeds: how unsure a footing is where there is no
        scatter to judge the lenders by (one lender), or none of their mean is used for a governed run."""
        return float(np.abs(self.shifts(n)).max())

    def shift_error(self, n: int) -> tuple[float, int]:
        """How far the shift `effects` make for a run on n seeds may be from the bucket's own, as another bucket's
        would be (their scatter about it, with one lender's share for the mean's own error), and its degrees of
        freedom."""
        shifts = self.shifts(n)
        return self._scatter(shifts, float(footing_shift(self.effects, n))), len(shifts) - 1

    @staticmethod
    def _scatter(shifts: np.ndarray, about: float) -> float:
        return float(np.sqrt(((shifts - about) ** 2).sum() / (len(shifts) - 1) * (1.0 + 1.0 / len(shifts))))
