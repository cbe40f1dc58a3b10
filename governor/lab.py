"""The measurement log of a search: caching by setting, repeats where noise demands them, and the budget.

Every run a search asks for goes through a `Lab`: a run already made (same setting, bucket and repeat) is
reused, not paid twice; each new run is counted against the search's budget and logged with its cost in
device time (simulated seconds on the virtual phone, wall seconds on a phone) and wall time.

Noise: each observation keeps its runs in repeat order (repeat k ran with seed k), so goals can pair
them with the stock governors' runs of the same seeds and pool how much a paired ratio scatters
(goals.Goal.spread). `decide` repeats a setting (up to `max_repeats`) while the goal's decision about it
is still open at its confidence.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from governor.errors import GovernorError
from governor.measure import Measurer, Sample
from governor.phases import PhaseBucket
from governor.space import Setting

DEFAULT_MAX_REPEATS = 3
# what a run was for (`LogEntry.purpose`, `Lab.doing`): where a search's runs went. The stock governors' runs set the
# budget or target; a design point and a side-pin check are what fusegov pays before its models can choose (FUSE pays
# neither); a search run is one a search chose to make (FUSE's scans, fusegov's tries, the oracle's sweep) or repeated;
# a rung run measured a cooler rung (governor.heat), not the goal
STOCK_RUNS, DESIGN, SIDE, SEARCH, RUNG = "stock", "design", "side", "search", "rung"
PURPOSES = (STOCK_RUNS, DESIGN, SIDE, SEARCH, RUNG)


class BudgetExhausted(GovernorError):
    """The search used the measurements it was given."""


@dataclass(frozen=True)
class Observation:
    """Mean of the runs of one setting on one bucket, with their relative spread (sample std / mean)."""

    setting: Setting
    bucket: str
    latency_s: float
    energy_per_token_j: float
    latency_spread: float
    energy_spread: float
    repeats: int
    mean_freq_hz: dict[str, float]
    latency_runs: tuple[float, ...] = ()  # each run's value in repeat order (repeat k ran with seed k): pairing
    energy_runs: tuple[float, ...] = ()

    def runs_of(self, field_name: str) -> tuple[float, ...]:
        return self.latency_runs if field_name == "latency_s" else self.energy_runs

    def seeds(self, first: int, stop: int | None = None) -> Observation:
        """The observation as its runs of repeats first..stop-1 (seeds first..stop-1) alone saw it: one run
        compared on the seed of another's one run, or a choice judged on seeds no one chose it on."""
        latency, energy = self.latency_runs[first:stop], self.energy_runs[first:stop]
        if not latency:
            raise GovernorError(f"{self.bucket}: no runs from repeat {first} (it has {self.repeats})")
        return replace(
            self,
            latency_s=sum(latency) / len(latency),
            energy_per_token_j=sum(energy) / len(energy),
            latency_spread=_spread(list(latency)),
            energy_spread=_spread(list(energy)),
            repeats=len(latency),
            latency_runs=latency,
            energy_runs=energy,
        )


@dataclass(frozen=True)
class LogEntry:
    index: int
    search: str
    bucket: str
    setting: str
    repeat: int
    purpose: str  # one of PURPOSES
    latency_s: float
    energy_per_token_j: float
    device_time_s: float
    wall_s: float


def _relative_variance(values: list[float]) -> float:
    mean = sum(values) / len(values)
    if len(values) < 2 or not mean:
        return 0.0
    return sum((v - mean) ** 2 for v in values) / (len(values) - 1) / mean**2


def _spread(values: list[float]) -> float:
    return math.sqrt(_relative_variance(values))


def summarise(setting: Setting, bucket: str, samples: list[Sample]) -> Observation:
    latency = [s.latency_s for s in samples]
    energy = [s.energy_per_token_j for s in samples]
    freqs: dict[str, float] = {}
    for s in samples:
        for knob, hz in s.mean_freq_hz.items():
            freqs[knob] = freqs.get(knob, 0.0) + hz / len(samples)
    return Observation(
        setting,
        bucket,
        sum(latency) / len(latency),
        sum(energy) / len(energy),
        _spread(latency),
        _spread(energy),
        len(samples),
        freqs,
        tuple(latency),
        tuple(energy),
    )


class Lab:
    def __init__(
        self,
        measurer: Measurer,
        buckets: list[PhaseBucket],
        budget: int | None = None,
        search: str = "",
        max_repeats: int = DEFAULT_MAX_REPEATS,
        on_run: Callable[[LogEntry], None] | None = None,
    ):
        self.measurer, self.space = measurer, measurer.space
        self.buckets = {b.name: b for b in buckets}
        self.budget, self.search, self.max_repeats, self.on_run = budget, search, max_repeats, on_run
        self.samples: dict[tuple[Setting, str], list[Sample]] = {}
        self.log: list[LogEntry] = []
        self.purpose = SEARCH  # what the runs being made are for (`doing`)

    # --- accounting ---------------------------------------------------------------------------
    @property
    def measurements(self) -> int:
        return len(self.log)

    @property
    def device_time_s(self) -> float:
        return sum(e.device_time_s for e in self.log)

    @property
    def remaining(self) -> float:
        return math.inf if self.budget is None else self.budget - self.measurements

    @contextmanager
    def share(self, runs: float) -> Iterator[None]:
        """Within the block, at most `runs` more runs (and never beyond the budget): a part of a search that must leave
        the rest theirs."""
        saved = self.budget
        if saved is not None:
            self.budget = min(saved, self.measurements + int(runs))
        try:
            yield
        finally:
            self.budget = saved

    @contextmanager
    def doing(self, purpose: str) -> Iterator[None]:
        """Within the block, the runs made are logged as for `purpose` (one of PURPOSES)."""
        if purpose not in PURPOSES:
            raise GovernorError(f"unknown purpose of a run {purpose!r}: one of {', '.join(PURPOSES)}")
        saved, self.purpose = self.purpose, purpose
        try:
            yield
        finally:
            self.purpose = saved

    def spent(self, purpose: str) -> int:
        """How many runs were made for `purpose`."""
        return sum(e.purpose == purpose for e in self.log)

    def spending(self) -> dict[str, int]:
        """Runs per purpose (every one of PURPOSES), and `repeats`: of the search's runs, those of a setting already
        run on that bucket (a decision about it was still open)."""
        counts = {purpose: self.spent(purpose) for purpose in PURPOSES}
        counts["repeats"] = sum(e.repeat > 0 and e.purpose == SEARCH for e in self.log)
        return counts

    def bucket(self, name: str) -> PhaseBucket:
        return self.buckets[name]

    # --- running ------------------------------------------------------------------------------
    def measure(self, setting: Setting, bucket: str, repeats: int = 1) -> Observation:
        """At least `repeats` runs of the setting on the bucket (cached runs count), summarised."""
        self.space.validate(setting)
        runs = self.samples.setdefault((setting, bucket), [])
        while len(runs) < repeats:
            if self.remaining <= 0:
                raise BudgetExhausted(f"{self.search or 'search'}: measurement budget of {self.budget} runs used up")
            start = time.perf_counter()
            sample = self.measurer.run(setting, self.buckets[bucket], repeat=len(runs))
            self.record(setting, bucket, sample, time.perf_counter() - start)
        return summarise(setting, bucket, runs)

    def record(self, setting: Setting, bucket: str, sample: Sample, wall_s: float) -> None:
        """Log a run made here or by a worker process (sweeps)."""
        runs = self.samples.setdefault((setting, bucket), [])
        entry = LogEntry(
            index=len(self.log),
            search=self.search,
            bucket=bucket,
            setting=setting.label(),
            repeat=len(runs),
            purpose=self.purpose,
            latency_s=sample.latency_s,
            energy_per_token_j=sample.energy_per_token_j,
            device_time_s=sample.device_time_s,
            wall_s=wall_s,
        )
        runs.append(sample)
        self.log.append(entry)
        if self.on_run is not None:
            self.on_run(entry)

    def known(self, setting: Setting, bucket: str) -> Observation | None:
        runs = self.samples.get((setting, bucket))
        return summarise(setting, bucket, runs) if runs else None

    def observations(self, bucket: str | None = None) -> list[Observation]:
        """Every setting measured on `bucket` (on any bucket when None), summarised."""
        return [
            summarise(s, b, runs) for (s, b), runs in self.samples.items() if (bucket is None or b == bucket) and runs
        ]

    def measure_stock(self, repeats: int) -> dict[str, Observation]:
        """The stock governors on every bucket, `repeats` times: the budget or target, and the first spread."""
        with self.doing(STOCK_RUNS):
            return {name: self.measure(Setting(), name, repeats) for name in self.buckets}

    def decide(self, setting: Setting, bucket: str, undecided: Callable[[Observation], bool]) -> Observation:
        """Measure, and repeat while the goal's decision about the setting is still open (`undecided`)."""
        obs = self.measure(setting, bucket)
        while obs.repeats < self.max_repeats and undecided(obs):
            obs = self.measure(setting, bucket, obs.repeats + 1)
        return obs
