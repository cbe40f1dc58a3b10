"""Runs on the footing of every stock seed: a seed's background moves every pinned setting alike, so its shared effect,
read from the runs that have that seed, puts a run on fewer seeds where it would be on all of them (pure functions;
fusegov's search reads the effects from a bucket's runs of one kind)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.stats import f as f_dist

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
class Trend:
    """How a seed's effect on a run's log paired quantity moves with the run itself, beyond the seed's shared effect:
    (seeds, p) slopes on the run's covariates (`_Group.covariates`: its log paired latency and energy on seed 0, where
    every run has been, and its log clocks), seed 0's zero, over the covariates' range in the runs they were read from
    (`low`, `high`: a run beyond it is taken at its edge, where the runs show the trend) and about their mean there
    (`center`: the trend is nothing for a typical run, so the buckets' shared effects, read net of it, keep their own
    size and tell how far the footing shifts a run; about zero, with log clocks in Hz, they read e^13 on sm8550 and
    every run's footing as unsure as that), the parameters they cost
    (`parameters`; 0 where no trend is used) and the scatter left about them (`variance`, per degree of freedom). A
    GPU's switching activity wanders on a time scale of a fraction of a second, and a run averages it over its own
    duration and power: on sm8550's short prefills (StableLM) the effects of one seed on energy scatter 4% between
    settings of a bucket, 1.6-2.0% about this trend."""

    slopes: np.ndarray
    low: np.ndarray
    high: np.ndarray
    center: np.ndarray
    parameters: int = 0
    variance: float = np.inf

    def of(self, covariates: np.ndarray, n: int) -> np.ndarray:
        """(n,) the trend's part of a run's log ratios on seeds 0..n-1 (none where no trend is used)."""
        if not self.parameters:
            return np.zeros(n)
        return self.slopes[:n] @ (np.clip(covariates, self.low, self.high) - self.center)


def seed_trend(
    log_ratios: list[list[np.ndarray]],
    covariates: list[list[np.ndarray]],
    seeds: int,
    confidence: float,
    columns: list[int] | None = None,
    common: bool = False,
) -> Trend:
    """The slopes of each seed's effect (its log ratio less seed 0's) on the runs' covariates (`columns` of them; all by
    default), common to the buckets (one list of runs per bucket), each bucket keeping its own shared effects: least
    squares per seed over the runs that have it, or one set of slopes for every seed (`common`: a seed's effect is
    read against seed 0's, whose own deviation moves alike in each). Used only where the runs show them: the slopes'
    share of the seeds' scatter (an F test against the shared effects alone) is significant at `confidence`, with at
    least as many degrees of freedom left for the scatter about them as they cost (fitted to sm8550 Qwen 1.5B's
    decode with two left, four slopes took its measured scatter from 0.75% to nothing); else none, and the footing
    is the shared effects'."""
    seen = np.array([z for of_bucket in covariates for z in of_bucket])
    width = seen.shape[1] if seen.ndim == 2 else 0
    none = Trend(np.zeros((seeds, width)), np.zeros(width), np.zeros(width), np.zeros(width))
    used = list(range(width)) if columns is None else columns
    rows = [
        ((b, s), r[s] - r[0], z[used])
        for b, runs in enumerate(log_ratios)
        for r, z in zip(runs, covariates[b])
        for s in range(1, min(len(r), seeds))
    ]
    fits = [[row for row in rows if row[0][1] == s] for s in range(1, seeds)] if not common else [rows]
    slopes, explained, residual, parameters, dof = np.zeros((seeds, width)), 0.0, 0.0, 0, 0
    for i, part in enumerate(fits):
        groups = sorted({g for g, _, _ in part})
        free = len(part) - len(groups) - len(used)
        if free < 1 or not used:
            continue
        y = np.array([d for _, d, _ in part])
        dummies = np.array([[g == c for c in groups] for g, _, _ in part], dtype=float)
        shared = y - dummies @ np.linalg.lstsq(dummies, y, rcond=None)[0]
        design = np.column_stack([dummies, np.array([z for _, _, z in part])])
        fit = np.linalg.lstsq(design, y, rcond=None)[0]
        if common:
            slopes[1:, used] = fit[len(groups) :]
        else:
            slopes[i + 1, used] = fit[len(groups) :]
        left = float(((y - design @ fit) ** 2).sum())
        explained, residual = explained + float((shared**2).sum()) - left, residual + left
        parameters, dof = parameters + len(used), dof + free
    if parameters == 0 or dof < parameters or residual <= 0:
        return none
    if explained / parameters / (residual / dof) <= f_dist.ppf(confidence, parameters, dof):
        return none
    return Trend(slopes, seen.min(axis=0), seen.max(axis=0), seen.mean(axis=0), parameters, residual / dof)


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
