"""Goals, as FUSE states them: G1 minimise latency under an energy budget (default: the stock governors'
energy), G2 minimise energy under a latency target (default: the stock governors' TTFT and TPOT).

A `GoalSpec` is what the user asked for; `resolve` turns it into a `Goal` with one limit per phase bucket
once the stock governors have been measured. Goals rank observations: feasible ones by their objective,
infeasible ones after them by how far they miss (so a plan can pick the closest when nothing meets the goal).
Registry: GOALS maps the CLI's `--goal` name to the class.

Runs scatter (lab.Spread), so "meets the budget" is a statement with a confidence: a setting meets the
limit when the one-sided `confidence` bound of its slack is >= 0, i.e. its mean, minus Student's t quantile
times the standard error of the difference between its mean and the limit (the limit's own error counts
when it comes from the stock governors' runs), stays within the limit. More runs of a setting tighten
the bound; `undecided` says when a run more could still change the answer.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from governor.errors import GovernorError
from governor.lab import Observation, Spreads
from governor.phases import PREFILL, PhaseBucket
from governor.space import STOCK

DEFAULT_CONFIDENCE = 0.9


@dataclass(frozen=True)
class Limit:
    """How a limit was given: 'stock', a fraction of stock ('90%'), or absolute values."""

    text: str = "stock"

    @property
    def relative(self) -> bool:
        """Derived from the stock governors' runs (and so as uncertain as their mean)."""
        return self.text == "stock" or self.text.endswith("%")

    def values(self, stock: float, absolute: float | None) -> float:
        if self.text == "stock":
            return stock
        if self.text.endswith("%"):
            return stock * float(self.text[:-1]) / 100.0
        assert absolute is not None
        return absolute


@functools.lru_cache(maxsize=256)
def t_quantile(confidence: float, dof: int) -> float:
    """One-sided Student's t quantile; 0 when nothing is known of the spread (no dof)."""
    if dof < 1:
        return 0.0
    from scipy.stats import t

    return float(t.ppf(confidence, dof))


class Goal:
    name: ClassVar[str]
    objective_field: ClassVar[str]  # "latency_s" | "energy_per_token_j"
    limit_field: ClassVar[str]
    spec_key: ClassVar[str]  # how a plan names the spec and the per-bucket limits
    limits_key: ClassVar[str]

    def __init__(
        self,
        limits: dict[str, float],
        spec: str,
        limit_runs: dict[str, int] | None = None,
        confidence: float = DEFAULT_CONFIDENCE,
        spread: Callable[[], Spreads] = Spreads,
    ):
        """`limit_runs`: per bucket, how many stock runs the limit is the mean of (absent: an exact limit);
        `spread`: the lab's current pooled spread of one run."""
        self.limits, self.spec = limits, spec
        self.limit_runs = limit_runs or {}
        self.confidence, self.spread = confidence, spread

    def objective(self, obs: Observation) -> float:
        return getattr(obs, self.objective_field)

    def margin(self, obs: Observation) -> float:
        """Relative slack of the constraint by the means: >= 0 meets it on average."""
        limit = self.limits[obs.bucket]
        return (limit - getattr(obs, self.limit_field)) / limit

    def _error(self, bucket: str, repeats: int) -> tuple[float, int]:
        """Relative standard error of a pinned setting's margin after `repeats` runs (its mean and the
        limit's, the mean of the stock runs, both scatter) and the degrees of freedom behind it."""
        spreads, runs = self.spread(), self.limit_runs.get(bucket)
        pinned, stock = spreads.pinned.of(self.limit_field), spreads.stock.of(self.limit_field)
        variance = pinned**2 / repeats + (stock**2 / runs if runs else 0.0)
        dofs = [s.dof for s in (spreads.pinned, spreads.stock if runs else spreads.pinned) if s.dof]
        return math.sqrt(variance), min(dofs, default=0)

    def margin_error(self, obs: Observation) -> tuple[float, int]:
        """`_error` of this observation; the stock setting against a limit made of its own runs has none:
        it is its own limit."""
        if self.limit_runs.get(obs.bucket) and obs.setting == STOCK:
            return 0.0, 0
        return self._error(obs.bucket, obs.repeats)

    def required_margin(self, bucket: str, repeats: int) -> float:
        """The mean margin a pinned setting measured `repeats` times needs to be confirmed (feasible)."""
        error, dof = self._error(bucket, repeats)
        return t_quantile(self.confidence, dof) * error

    def bounds(self, obs: Observation) -> tuple[float, float]:
        """Lower and upper `confidence` bounds of the margin."""
        error, dof = self.margin_error(obs)
        half = t_quantile(self.confidence, dof) * error
        margin = self.margin(obs)
        return margin - half, margin + half

    def feasible(self, obs: Observation) -> bool:
        """Meets the limit at the goal's confidence."""
        return self.bounds(obs)[0] >= 0

    def undecided(self, obs: Observation) -> bool:
        """Neither confirmed to meet the limit nor to miss it: another run could decide."""
        low, high = self.bounds(obs)
        return low < 0 <= high

    def rank(self, obs: Observation) -> tuple[int, float]:
        """Sort key: feasible first, by objective; then the rest by how far they miss on average."""
        return (0, self.objective(obs)) if self.feasible(obs) else (1, -self.margin(obs))

    def best(self, observations: list[Observation]) -> Observation:
        return min(observations, key=self.rank)

    def describe(self) -> dict:
        """The goal as a plan records it: the spec and the per-bucket limits under the goal's own key names."""
        return {
            "goal": self.name,
            self.spec_key: self.spec,
            self.limits_key: dict(self.limits),
            "confidence": self.confidence,
        }


class MinLatency(Goal):
    """G1: minimise latency (TTFT per prefill bucket, TPOT for decode) under an energy-per-token budget."""

    name = "latency"
    objective_field = "latency_s"
    limit_field = "energy_per_token_j"
    spec_key, limits_key = "budget", "energy_budget_j"


class MinEnergy(Goal):
    """G2: minimise energy per token under a latency target (TTFT per prefill bucket, TPOT for decode)."""

    name = "energy"
    objective_field = "energy_per_token_j"
    limit_field = "latency_s"
    spec_key, limits_key = "target", "latency_target_s"


GOALS: dict[str, type[Goal]] = {cls.name: cls for cls in (MinLatency, MinEnergy)}


@dataclass(frozen=True)
class GoalSpec:
    """--goal latency [--budget stock|JOULES|P%] or --goal energy [--target stock|TTFT,TPOT|P%]."""

    goal: str = "latency"
    limit: str = "stock"
    confidence: float = DEFAULT_CONFIDENCE

    def __post_init__(self) -> None:
        if self.goal not in GOALS:
            raise GovernorError(f"unknown --goal {self.goal!r}: use {' or '.join(GOALS)}")
        if not 0.5 <= self.confidence < 1.0:
            raise GovernorError(f"bad --confidence {self.confidence!r}: a probability in [0.5, 1), e.g. 0.9")
        self._parse()

    def _parse(self) -> tuple[float | None, float | None]:
        """Absolute limits: (per prefill bucket, decode) for a target, (one J/token for all) for a budget."""
        text = self.limit.strip()
        option = "--budget" if self.goal == "latency" else "--target"
        if text == "stock":
            return None, None
        if text.endswith("%"):
            try:
                share = float(text[:-1])
            except ValueError:
                share = -1.0
            if not share > 0:
                raise GovernorError(f"bad {option} {text!r}: a percentage of stock must be positive, e.g. 90%")
            return None, None
        parts = text.split(",")
        try:
            values = [float(p) for p in parts]
        except ValueError:
            values = []
        if self.goal == "latency":
            if len(values) != 1 or not values[0] > 0:
                raise GovernorError(f"bad --budget {text!r}: use stock, P% of stock, or joules per token (e.g. 0.35)")
            return values[0], values[0]
        if len(values) != 2 or not all(v > 0 for v in values):
            raise GovernorError(f"bad --target {text!r}: use stock, P% of stock, or TTFT,TPOT in seconds (e.g. 8,0.15)")
        return values[0], values[1]

    def resolve(
        self, buckets: list[PhaseBucket], stock: dict[str, Observation], spread: Callable[[], Spreads] = Spreads
    ) -> Goal:
        cls = GOALS[self.goal]
        prefill_abs, other_abs = self._parse()
        limit = Limit(self.limit.strip())
        limits, runs = {}, {}
        for bucket in buckets:
            stock_value = getattr(stock[bucket.name], cls.limit_field)
            absolute = prefill_abs if bucket.kind == PREFILL else other_abs
            limits[bucket.name] = limit.values(stock_value, absolute)
            if limit.relative:
                runs[bucket.name] = stock[bucket.name].repeats
        return cls(limits, self.limit.strip(), runs, self.confidence, spread)
