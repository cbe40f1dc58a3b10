"""fusegov's models of latency and energy per token over pinned settings, fitted from measurements.

Physics, not curve fitting, so a handful of runs is enough and a model learnt on one bucket helps the next:
- Time: a phase is work done by each component at its own clock, plus a fixed part:
  latency = theta_0 + sum_k theta_k x_k, x_k = f_k,max / f_k (theta >= 0, non-negative least squares), plus,
  for a GPU and its memory bus, kernels that run at the slower of their compute and their DRAM traffic
  (a roofline: the two overlap): sum_a theta_a max(x_gpu, a x_mem) / max(1, a) over a spread of balances a
  between them (ROOFLINE_BALANCES), mixed as the fit finds. Without these, lowering either clock alone slows a
  decode by more than its share of the time (sm8550: GPU 0.74 and memory 0.61 of the time, by the runs) and
  no sum of shares fits it: the misfit (8.7%) hid every gain along the CPU. Prefill buckets share one
  model whose work grows with the prompt: theta = a + b L + c L^2 (weights once per batch, attention ~ L^2);
  a bucket's own runs rescale each part of its latency and set its fixed time (`bucket_scales`) where that function
  misses its balance.
- Energy per token: switching energy of each component's work, with energy per cycle rising with the clock
  (voltage), plus static and clock power over the time taken, e.g.
  e = sum_k (theta_k / N) (c_k0 + c_k2 x_k^2) + (t / N)(p_0 + sum_k p_k x_k^2), x_k = f_k / f_k,max.
  A device's voltage curves are unknown (probe does not see them), so an ensemble of such forms (ENERGY_FORMS:
  which powers of x_k the work and time terms carry; SPREAD_FORMS: clocks gated while waiting, counted in the
  spread only) is fitted by non-negative least squares, ridge-regularised (`fit_energy`); their spread is the model's
  uncertainty, which the search uses to decide what is still worth a run.
Fitted on the pinned runs of a group; predictions are vectorised over every candidate setting at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls

RIDGE = 1e-6
# the DRAM-to-compute balances of the roofline terms: at a, a kernel is bound by both at clocks with
# x_mem = x_gpu / a (a < 1: compute-bound at the top clocks, a > 1: memory-bound)
ROOFLINE_BALANCES = (0.5, 0.71, 1.0, 1.41, 2.0)
# the roofline terms are fitted only where the sum of shares misfits the runs by more than ROOFLINE_MISFIT (relative
# RMS) and they at least halve that: where the sum fits (hexa6, whose runtime waits for every matrix product, so
# nothing overlaps), their freedom only bent the pooled prefill model between runs (a G2 pick 1.8% costlier than
# FUSE's). (Left out one at a time, runs of a design that moves each knob alone cannot tell the forms apart.)
ROOFLINE_MISFIT = 0.01
ROOFLINE_GAIN = 0.5
# (powers of x_k on each component's work per token, powers of x_k on the time per token; 0 alone = constant)
ENERGY_FORMS = (
    ((0, 2), (0, 2)),  # energy per cycle ~ V^2 ~ quadratic; static + clock power ~ quadratic
    ((2,), (0, 2)),
    ((0, 2), (0, 1)),
    ((0, 2), (0, 2, 3)),  # clock power V^2 f ~ cubic
    ((0, 1), (0, 2)),  # energy per cycle ~ linear (flat voltage curves)
)
# Alternatives that widen the ensemble's spread (the search's uncertainty, the chance a setting meets a limit) but
# not its expectation. Clocks gated while a component waits: no clock power over the whole time, only static
# power. Every form of ENERGY_FORMS charges a longer phase at a fast clock's power, so memory lowered under a GPU
# prefill (the GPU waits longer, cheaply) read ~9% costlier than measured on sm8550 and was never tried. The runs
# cannot tell the two kinds apart (each fits them to <0.5%); in the expectation as well, this form cost up to 3.6%
# of decode energy in G2 (sm8550, Qwen 1.5B), where it drew the search towards CPU levels that save less.
SPREAD_FORMS = (((0, 2), (0,)),)
SHARE_PRIOR = 0.01  # runs' worth of the pooled model's shares against one bucket's own runs (`bucket_scales`)
FORMS = ENERGY_FORMS + SPREAD_FORMS


@dataclass
class GroupData:
    """Pinned observations of one group: frequencies (n, k); bucket length L (n,); tokens per latency N (n,)
    (prompt tokens for a prefill's TTFT, 1 for TPOT or a CNN inference); latency; energy per token."""

    freq_hz: np.ndarray
    length: np.ndarray
    tokens: np.ndarray
    latency_s: np.ndarray
    energy_j: np.ndarray


def roofline_pair(roles: list[str]) -> tuple[int, int] | None:
    """The columns of the GPU and its memory bus among knobs of these roles (`time_features`' roofline terms);
    None without both."""
    return (roles.index("gpu"), roles.index("mem")) if "gpu" in roles and "mem" in roles else None


def time_features(
    freq_hz: np.ndarray, fmax_hz: np.ndarray, scale: np.ndarray | None, roofline: tuple[int, int] | None = None
) -> np.ndarray:
    """Columns [1, x_k..., roofline terms] (x_k = fmax/f_k; `roofline`: the GPU's and its memory's columns, one
    term per balance of ROOFLINE_BALANCES) for one bucket, times [1, s, s^2] (s = L / L_max) when buckets are
    pooled."""
    x = fmax_hz / freq_hz
    columns = [np.ones(len(freq_hz)), x]
    if roofline is not None:
        gpu, mem = x[:, roofline[0]], x[:, roofline[1]]
        columns += [np.maximum(gpu, a * mem)[:, None] / max(1.0, a) for a in ROOFLINE_BALANCES]
    base = np.column_stack(columns)
    if scale is None:
        return base
    return np.column_stack([base, base * scale[:, None], base * (scale**2)[:, None]])


def fit_time(features: np.ndarray, latency_s: np.ndarray) -> tuple[np.ndarray, float]:
    """The non-negative least-squares fit of latency on `features` and its root mean square relative error."""
    coef, _ = nnls(features, latency_s)
    return coef, float(np.sqrt(((features @ coef / latency_s - 1.0) ** 2).mean()))


def fit_energy(features: np.ndarray, energy_j: np.ndarray) -> np.ndarray:
    """Non-negative coefficients of energy per token on `features`, ridge-regularised (RIDGE x the mean squared
    column norm). Every coefficient is an energy per cycle or a power, so none is negative. Unconstrained, the
    collinear columns of a handful of runs fitted large coefficients of both signs that cancel at the runs: on
    sm8550's short prefills (StableLM, G2) memory lowered from 4263 to 1707 MHz read 4% costlier where it saves 11%,
    and no search went there."""
    width = features.shape[1]
    scale = np.sqrt(RIDGE * (features**2).sum() / width)
    coef, _ = nnls(np.vstack([features, scale * np.eye(width)]), np.concatenate([energy_j, np.zeros(width)]))
    return coef


@dataclass(frozen=True)
class BucketScales:
    """What one bucket's own runs make of the pooled model's time parts (`Surrogate.bucket_scales`)."""

    fixed_s: float  # the bucket's fixed time
    factors: np.ndarray  # (w - 1,) a factor on each other part: each knob's work over its clock, the roofline terms

    def latency(self, parts: np.ndarray) -> np.ndarray:
        """(n,) the latency of rows of `Surrogate.time_parts`."""
        return self.fixed_s + parts[:, 1:] @ self.factors


class Surrogate:
    """Latency and energy-per-token model of one group of buckets."""

    def __init__(self, fmax_hz: np.ndarray, pooled: bool, roofline: tuple[int, int] | None = None):
        self.fmax_hz, self.pooled, self.roofline = np.asarray(fmax_hz, dtype=float), pooled, roofline

    def _scale(self, length: np.ndarray) -> np.ndarray | None:
        return length / self.length_max_ if self.pooled else None

    def _coefficients(self, length: np.ndarray) -> np.ndarray:
        """(n, w) per row, the fitted coefficient of each time column (`time_features` of one bucket) at its
        bucket's length."""
        coef = self.time_coef_
        if not self.pooled:
            return np.tile(coef, (len(length), 1))
        width = len(coef) // 3
        scale = self._scale(length)[:, None]
        return coef[:width] + coef[width : 2 * width] * scale + coef[2 * width :] * scale**2

    def _work(self, length: np.ndarray) -> np.ndarray:
        """Per row, the fitted (theta_0, theta_k...) of its bucket: (n, 1 + k), with each roofline term's work
        split into the GPU's and its memory's own (their times at the top clocks: theta_a / max(1, a) and
        a theta_a / max(1, a)), as each kernel spends its cycles and its bytes whichever of them binds."""
        work = self._coefficients(length)
        k = len(self.fmax_hz)
        if self.roofline_ is None:
            return work
        balance = np.array(ROOFLINE_BALANCES)
        terms = work[:, 1 + k :]
        work = work[:, : 1 + k].copy()
        work[:, 1 + self.roofline_[0]] += terms @ (1.0 / np.maximum(1.0, balance))
        work[:, 1 + self.roofline_[1]] += terms @ (balance / np.maximum(1.0, balance))
        return work

    def _energy_features(self, form, freq_hz, length, tokens, latency_s) -> np.ndarray:
        work_powers, time_powers = form
        work = self._work(length)[:, 1:] / tokens[:, None]
        x = freq_hz / self.fmax_hz
        time = (latency_s / tokens)[:, None]
        columns = [work * x**p for p in work_powers]
        columns += [time if p == 0 else time * x**p for p in time_powers]
        return np.column_stack(columns)

    def fit(self, data: GroupData) -> Surrogate:
        self.length_max_ = float(data.length.max())
        scale = self._scale(data.length)
        self.roofline_ = None
        self.time_coef_, misfit = fit_time(time_features(data.freq_hz, self.fmax_hz, scale), data.latency_s)
        if self.roofline is not None and misfit > ROOFLINE_MISFIT:
            features = time_features(data.freq_hz, self.fmax_hz, scale, self.roofline)
            coef, error = fit_time(features, data.latency_s)
            if error < ROOFLINE_GAIN * misfit:
                self.roofline_, self.time_coef_ = self.roofline, coef
        self.energy_coef_ = [
            fit_energy(
                self._energy_features(form, data.freq_hz, data.length, data.tokens, data.latency_s), data.energy_j
            )
            for form in FORMS
        ]
        return self

    @staticmethod
    def expected(energies: np.ndarray) -> np.ndarray:
        """The expected energy per token of `predict`'s rows: the mean over ENERGY_FORMS (SPREAD_FORMS only widen
        the spread)."""
        return energies[: len(ENERGY_FORMS)].mean(axis=0)

    def time_parts(self, freq_hz: np.ndarray, length: float) -> np.ndarray:
        """(n, w) each time column's part of the latency of every row of `freq_hz` on a bucket of this length (the
        fixed part, each knob's work over its clock, the roofline terms): their sum is the latency."""
        lengths = np.full(len(freq_hz), float(length))
        return time_features(freq_hz, self.fmax_hz, None, self.roofline_) * self._coefficients(lengths)

    def bucket_scales(self, freq_hz: np.ndarray, length: float, latency_s: np.ndarray) -> BucketScales:
        """The bucket's own fixed time and a factor on each other time part (`time_parts`) that fit one bucket's runs:
        non-negative least squares in relative error, each held to the pooled model's (the fixed time as pooled, each
        factor at 1) by SHARE_PRIOR runs' worth of its mean part. The pooled model's shares are one function of the
        prompt length for every bucket, and where that misses a bucket's balance (hexa6's shortest prefill: the CPU's
        share read 6x the measured; its latency shape 1.2% off with every setting run, where the bucket's own fit is
        exact), the bucket's runs say how; where they do not move a part, it stays the pooled model's. The fixed time
        is fitted as a time, not a factor: NNLS gives time that no run ties to a clock to whichever column matches it
        at the runs, and where the pooled fit put none in the fixed part (hexa6 TinyLlama: all of it in the CPU's,
        which the runs lowered only alongside the GPU), no factor could give the bucket any, and its CPU share stayed
        at 14% where the truth is 3% (G1 pick 2.2% slower than the oracle's)."""
        parts = self.time_parts(freq_hz, length)
        unit = 1.0 / float(np.mean(1.0 / latency_s))  # the fixed time's unit: its share then averages its value
        pooled_fixed = parts[0, 0] / unit
        parts[:, 0] = unit
        parts /= latency_s[:, None]
        held = parts.mean(axis=0)
        prior = np.diag(np.sqrt(SHARE_PRIOR) * held)
        target = np.concatenate([[pooled_fixed], np.ones(len(held) - 1)])
        fitted, _ = nnls(np.vstack([parts, prior]), np.concatenate([np.ones(len(parts)), prior @ target]))
        return BucketScales(float(fitted[0] * unit), fitted[1:])

    def predict(
        self, freq_hz: np.ndarray, length: float, tokens: float, scales: BucketScales | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Latency (n,) and energy per token (forms, n) of every row of `freq_hz` (n, k) on a bucket of this
        length, the latency as the bucket's own runs make of its time parts (`bucket_scales`) if given: one energy row
        per form of FORMS (the first len(ENERGY_FORMS) make the expectation, `expected`). The energy stays the pooled
        fit's: scaling its work and time terms as well came out alike over the 18 cases of bench_governor's oracle part
        (mean gap to the oracle 0.656% vs 0.658%), with 7 cells over 2% instead of 5; a bucket's own runs correct its
        energy (fusegov's residual correction) as before."""
        n = len(freq_hz)
        lengths, counts = np.full(n, float(length)), np.full(n, float(tokens))
        parts = self.time_parts(freq_hz, length)
        pooled = parts.sum(axis=1)
        energy = np.array(
            [
                self._energy_features(form, freq_hz, lengths, counts, pooled) @ coef
                for form, coef in zip(FORMS, self.energy_coef_)
            ]
        )
        return (pooled if scales is None else scales.latency(parts)), energy
