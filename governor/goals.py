"""Goals, as FUSE states them: G1 minimise latency under an energy budget (default: the stock governors'
energy), G2 minimise energy under a latency target (default: the stock governors' TTFT and TPOT).

A `GoalSpec` is what the user asked for; `resolve` turns it into a `Goal` with one limit per phase bucket
once the stock governors have been measured. Goals rank observations: feasible ones by their objective,
infeasible ones after them by how far they miss (so a plan can pick the closest when nothing meets the goal).
Registry: GOALS maps the CLI's `--goal` name to the class.

One rule judges every setting, in every search, the oracle and the benchmarks (`Goal.ratios`): paired
comparison with common random numbers. Run k of any setting uses seed k, as run k of the stock governors
does, so both meet the same background and noise; the run of a setting at repeat k is compared with the
stock run at the same repeat k (energy_k / (share x stock_energy_k) for a budget given relative to stock;
value_k / limit for an absolute one), and a setting meets the limit when the mean of its paired ratios over
the repeats it has is <= 1. The oracle, one run per setting, so compares each with stock's repeat-0 run. The
objective is ranked the same way (`Goal.score`: the mean paired ratio to stock), so a setting run once is
never flattered against one run three times by a seed that happens to run fast.

Runs still scatter once paired, so `undecided` says when a run more could change the answer: a setting's
margin (1 - mean paired ratio) has a one-sided `confidence` bound (Student's t times the pooled spread of
one paired ratio over the root of its repeats, `Goal.spread`); a setting whose bound straddles the limit is
repeated (lab.Lab.decide) up to the lab's most repeats, and the mean then decides.

Evaluation (`Judge`): a search, and most of all the oracle (the best of thousands of settings), chooses on the
stock runs' seeds, so a choice judged on those seeds is judged where it was selected for its luck (the oracle's
picks sat 0.01-0.2% inside the budget while a 3-seed mean energy scatters ~1.7%). The judge runs every policy's
choice alike on the seeds searched on and on HELD_OUT_SEEDS further seeds that no search has seen, stock included
(same rule, paired with stock's runs of those seeds), and reports both.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from governor.errors import GovernorError
from governor.lab import Observation
from governor.phases import PREFILL, PhaseBucket
from governor.space import STOCK

DEFAULT_CONFIDENCE = 0.9
# fresh seeds every choice is judged on besides the searched ones (`Judge`): on three, one bucket's mean paired energy
# scatters ~2.5% on sm8550's shortest prefills, and a 2% bar judged the seeds, not the choices (the oracle's pick of
# sm8550 StableLM's prefill<=9 read 1.8% costlier than fusegov's on seeds 3-5, 0.4% cheaper on twenty)
HELD_OUT_SEEDS = 12


@dataclass(frozen=True)
class Limit:
    """How a limit was given: 'stock', a fraction of stock ('90%'), or absolute values."""

    text: str = "stock"

    @property
    def relative(self) -> bool:
        """Derived from the stock governors' runs (and so as uncertain as their mean)."""
        return self.text == "stock" or self.text.endswith("%")

    @property
    def share(self) -> float | None:
        """The limit as a share of stock; None for an absolute limit."""
        if self.text == "stock":
            return 1.0
        return float(self.text[:-1]) / 100.0 if self.text.endswith("%") else None

    def values(self, stock: float, absolute: float | None) -> float:
        if self.relative:
            return stock * self.share
        assert absolute is not None
        return absolute


@functools.lru_cache(maxsize=256)
def t_quantile(confidence: float, dof: int) -> float:
    """One-sided Student's t quantile; 0 when nothing is known of the spread (no dof)."""
    if dof < 1:
        return 0.0
    from scipy.stats import t

    return float(t.ppf(confidence, dof))


@dataclass(frozen=True)
class PairedSpread:
    """Relative spread of one paired ratio (sample std / mean), pooled over pinned settings run more than once,
    for the limit's and the objective's quantity, with its degrees of freedom."""

    limit: float = 0.0
    objective: float = 0.0
    dof: int = 0


def _pooled(groups: list[np.ndarray]) -> tuple[float, int]:
    """Pooled relative spread of groups of ratios: sqrt(sum((n-1) s^2/m^2) / sum(n-1))."""
    groups = [g for g in groups if len(g) > 1]
    dof = sum(len(g) - 1 for g in groups)
    if not dof:
        return 0.0, 0
    total = sum(float(np.var(g, ddof=1)) / float(np.mean(g)) ** 2 * (len(g) - 1) for g in groups)
    return math.sqrt(total / dof), dof


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
        stock: dict[str, Observation],
        share: float | None = 1.0,
        confidence: float = DEFAULT_CONFIDENCE,
        runs: Callable[[], list[Observation]] | None = None,
        count: Callable[[], int] | None = None,
    ):
        """`limits`: the nominal limit per bucket (a prediction's yardstick, and what a plan records);
        `stock`: the stock governors' runs per bucket (pairing); `share`: the limit as a share of stock's
        paired run (None: `limits` are absolute, not paired); `runs`: every observation so far (the pooled
        paired spread) and `count` the number of runs behind them (when to pool again)."""
        self.limits, self.spec, self.stock, self.share = limits, spec, stock, share
        self.confidence = confidence
        self._runs, self._count = runs or list, count or (lambda: 0)
        self._spread: tuple[int, PairedSpread] = (-1, PairedSpread())

    # --- the rule ------------------------------------------------------------------------------
    def paired(self, obs: Observation, field_name: str) -> np.ndarray:
        """Each run's value over stock's run at the same repeat (the repeats both have)."""
        stock = self.stock[obs.bucket].runs_of(field_name)
        runs = obs.runs_of(field_name)
        n = min(len(runs), len(stock))
        return np.asarray(runs[:n]) / np.asarray(stock[:n])

    def ratios(self, obs: Observation) -> np.ndarray:
        """Each run's share of the limit: paired with stock for a relative limit, else over the absolute one."""
        if self.share is None:
            return np.asarray(obs.runs_of(self.limit_field)) / self.limits[obs.bucket]
        return self.paired(obs, self.limit_field) / self.share

    def margin(self, obs: Observation) -> float:
        """1 - the mean ratio to the limit: >= 0 meets it."""
        return 1.0 - float(self.ratios(obs).mean())

    def feasible(self, obs: Observation) -> bool:
        """Meets the limit: its mean paired ratio is <= 1."""
        return self.margin(obs) >= 0

    def objective(self, obs: Observation) -> float:
        """The objective's mean value (what a plan expects and a prediction is compared with)."""
        return getattr(obs, self.objective_field)

    def score(self, obs: Observation) -> float:
        """The objective as settings are ranked by: its mean paired ratio to stock (lower is better)."""
        return float(self.paired(obs, self.objective_field).mean())

    def value(self, obs: Observation, field_name: str) -> float:
        """A quantity on the stock runs' seeds: its mean paired ratio times stock's mean (an absolute limit's
        quantity as measured). Models fitted to these values are compared with `limits` on one
        footing, whichever repeats each setting has."""
        if field_name == self.limit_field and self.share is None:
            return getattr(obs, field_name)
        return float(self.paired(obs, field_name).mean()) * getattr(self.stock[obs.bucket], field_name)

    # --- noise ---------------------------------------------------------------------------------
    def spread(self) -> PairedSpread:
        """Pooled spread of one paired ratio over the pinned settings run more than once. Until one has been,
        a paired ratio is taken to scatter like the ratio of two independent stock runs (sqrt(2) x a stock
        run's spread: the cautious guess, as if the common seeds cancelled nothing)."""
        count, found = self._spread
        if count == self._count():
            return found
        observations = self._runs()
        pinned = [o for o in observations if o.setting != STOCK]
        limit, dof = _pooled([self.ratios(o) for o in pinned])
        objective, _ = _pooled([self.paired(o, self.objective_field) for o in pinned])
        if not dof:
            stock = [o for o in observations if o.setting == STOCK]
            limit, dof = _pooled([np.asarray(o.runs_of(self.limit_field)) for o in stock])
            objective, _ = _pooled([np.asarray(o.runs_of(self.objective_field)) for o in stock])
            limit, objective = math.sqrt(2.0) * limit, math.sqrt(2.0) * objective
        found = PairedSpread(limit, objective, dof)
        self._spread = (self._count(), found)
        return found

    def margin_error(self, obs: Observation) -> tuple[float, int]:
        """Standard error of the margin and its degrees of freedom; the stock setting against a limit made
        of its own runs has none: it is its own limit."""
        if self.share is not None and obs.setting == STOCK:
            return 0.0, 0
        spread = self.spread()
        return spread.limit / math.sqrt(max(len(self.ratios(obs)), 1)), spread.dof

    def bounds(self, obs: Observation) -> tuple[float, float]:
        """Lower and upper `confidence` bounds of the margin."""
        error, dof = self.margin_error(obs)
        half = t_quantile(self.confidence, dof) * error
        margin = self.margin(obs)
        return margin - half, margin + half

    def undecided(self, obs: Observation) -> bool:
        """The confidence interval of the margin straddles the limit: another run could change the answer."""
        low, high = self.bounds(obs)
        return low < 0 <= high

    def on_stock(self, stock: dict[str, Observation]) -> Goal:
        """The same goal and limits, paired with other runs of the stock governors (`Judge`: held-out seeds)."""
        return type(self)(self.limits, self.spec, stock, self.share, self.confidence, self._runs, self._count)

    def rank(self, obs: Observation, score: float | None = None, feasible: bool | None = None) -> tuple[int, float]:
        """Sort key: feasible first, by paired objective (or a `score` the caller has on another footing; `feasible`
        likewise, else `feasible`); then the rest by how far they miss on average."""
        if not (self.feasible(obs) if feasible is None else feasible):
            return (1, -self.margin(obs))
        return (0, self.score(obs) if score is None else score)

    def best(self, observations: list[Observation]) -> Observation:
        return min(observations, key=self.rank)

    def describe(self) -> dict:
        """The goal as a plan records it: the spec and the per-bucket limits under the goal's own key names."""
        return {
            "goal": self.name,
            self.spec_key: self.spec,
            self.limits_key: dict(self.limits),
            "judged": "paired" if self.share is not None else "absolute",
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


@dataclass(frozen=True)
class Verdict:
    """One choice judged by a goal's rule on a set of seeds: its mean objective, its mean paired objective ratio
    to stock (`Goal.score`, what gaps between choices are taken on) and its margin to the limit."""

    objective: float
    score: float
    margin: float


class Judge:
    """Every policy's choice judged alike, on the seeds the searches chose on (0..searched-1, `Goal`'s rule as a
    search sees it) and on `held_out` fresh seeds after them (searched..searched+held_out-1), paired with stock's
    runs of the same seeds. `measure(setting, bucket, repeats)` runs repeats 0..repeats-1 (a lab.Lab of its own,
    so no search's count changes; cached runs are reused)."""

    SEEDS = ("searched", "held_out")

    def __init__(
        self, goal: Goal, measure: Callable, buckets: list[str], searched: int, held_out: int = HELD_OUT_SEEDS
    ):
        self.measure, self.searched, self.held_out = measure, searched, held_out
        total = searched + held_out
        stock = {name: measure(STOCK, name, total) for name in buckets}
        self.goals = {
            "searched": goal.on_stock({n: o.seeds(0, searched) for n, o in stock.items()}),
            "held_out": goal.on_stock({n: o.seeds(searched, total) for n, o in stock.items()}),
        }

    def __call__(self, setting, bucket: str) -> dict[str, Verdict]:
        """The setting's verdict per seed set ("searched", "held_out")."""
        obs = self.measure(setting, bucket, self.searched + self.held_out)
        seen = {"searched": obs.seeds(0, self.searched), "held_out": obs.seeds(self.searched)}
        return {
            key: Verdict(goal.objective(seen[key]), goal.score(seen[key]), goal.margin(seen[key]))
            for key, goal in self.goals.items()
        }


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

    def resolve(self, buckets: list[PhaseBucket], stock: dict[str, Observation], lab=None) -> Goal:
        """The goal with its per-bucket limits; `lab` (a governor.lab.Lab) supplies the runs the paired
        spread is pooled from."""
        cls = GOALS[self.goal]
        prefill_abs, other_abs = self._parse()
        limit = Limit(self.limit.strip())
        limits = {}
        for bucket in buckets:
            stock_value = getattr(stock[bucket.name], cls.limit_field)
            absolute = prefill_abs if bucket.kind == PREFILL else other_abs
            limits[bucket.name] = limit.values(stock_value, absolute)
        runs = lab.observations if lab is not None else None
        count = (lambda: lab.measurements) if lab is not None else None
        return cls(limits, limit.text, dict(stock), limit.share, self.confidence, runs, count)
