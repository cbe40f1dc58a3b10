"""Goals, as FUSE states them: G1 minimise latency under an energy budget (default: the stock governors'
energy), G2 minimise energy under a latency target (default: the stock governors' TTFT and TPOT).

A `GoalSpec` is what the user asked for; `resolve` turns it into a `Goal` with one limit per phase bucket
once the stock governors have been measured. Goals rank observations: feasible ones by their objective,
infeasible ones after them by how far they miss (so a plan can pick the closest when nothing meets the goal).
Registry: GOALS maps the CLI's `--goal` name to the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from governor.errors import GovernorError
from governor.lab import Observation
from governor.phases import PREFILL, PhaseBucket


@dataclass(frozen=True)
class Limit:
    """How a limit was given: 'stock', a fraction of stock ('90%'), or absolute values."""

    text: str = "stock"

    def values(self, stock: float, absolute: float | None) -> float:
        if self.text == "stock":
            return stock
        if self.text.endswith("%"):
            return stock * float(self.text[:-1]) / 100.0
        assert absolute is not None
        return absolute


class Goal:
    name: ClassVar[str]
    objective_field: ClassVar[str]  # "latency_s" | "energy_per_token_j"
    limit_field: ClassVar[str]

    def __init__(self, limits: dict[str, float], spec: str):
        self.limits, self.spec = limits, spec

    def objective(self, obs: Observation) -> float:
        return getattr(obs, self.objective_field)

    def margin(self, obs: Observation) -> float:
        """Relative slack of the constraint: >= 0 meets it."""
        limit = self.limits[obs.bucket]
        return (limit - getattr(obs, self.limit_field)) / limit

    def feasible(self, obs: Observation) -> bool:
        return self.margin(obs) >= 0

    def rank(self, obs: Observation) -> tuple[int, float]:
        """Sort key: feasible first, by objective; then the rest by how far they miss."""
        return (0, self.objective(obs)) if self.feasible(obs) else (1, -self.margin(obs))

    def best(self, observations: list[Observation]) -> Observation:
        return min(observations, key=self.rank)

    def describe(self) -> dict:
        raise NotImplementedError


class MinLatency(Goal):
    """G1: minimise latency (TTFT per prefill bucket, TPOT for decode) under an energy-per-token budget."""

    name = "latency"
    objective_field = "latency_s"
    limit_field = "energy_per_token_j"

    def describe(self) -> dict:
        return {"goal": self.name, "budget": self.spec, "energy_budget_j": dict(self.limits)}


class MinEnergy(Goal):
    """G2: minimise energy per token under a latency target (TTFT per prefill bucket, TPOT for decode)."""

    name = "energy"
    objective_field = "energy_per_token_j"
    limit_field = "latency_s"

    def describe(self) -> dict:
        return {"goal": self.name, "target": self.spec, "latency_target_s": dict(self.limits)}


GOALS: dict[str, type[Goal]] = {cls.name: cls for cls in (MinLatency, MinEnergy)}


@dataclass(frozen=True)
class GoalSpec:
    """--goal latency [--budget stock|JOULES|P%] or --goal energy [--target stock|TTFT,TPOT|P%]."""

    goal: str = "latency"
    limit: str = "stock"

    def __post_init__(self) -> None:
        if self.goal not in GOALS:
            raise GovernorError(f"unknown --goal {self.goal!r}: use {' or '.join(GOALS)}")
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

    def resolve(self, buckets: list[PhaseBucket], stock: dict[str, Observation]) -> Goal:
        cls = GOALS[self.goal]
        prefill_abs, other_abs = self._parse()
        limit = Limit(self.limit.strip())
        limits = {}
        for bucket in buckets:
            stock_value = getattr(stock[bucket.name], cls.limit_field)
            absolute = prefill_abs if bucket.kind == PREFILL else other_abs
            limits[bucket.name] = limit.values(stock_value, absolute)
        return cls(limits, self.limit.strip())
