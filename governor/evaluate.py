"""`fusegov bench governor`: plan with each policy, replay the same requests under each plan, compare.

Each policy's search gets its own Lab, so its measurement count and device time are its own; underneath, the
policies share one cache of runs (cache.CachedMeasurer: a run at the same setting, bucket and repeat gives the
same sample on the virtual phone), so asking twice costs wall time once. The oracle runs first and fills it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from governor.cache import CachedMeasurer
from governor.goals import GoalSpec, Judge, Verdict
from governor.lab import Lab
from governor.measure import VirtualMeasurer
from governor.phases import PhaseBucket
from governor.plan import Plan
from governor.planner import DEFAULT_STOCK_REPEATS, SearchRun, run_search
from governor.replay import Summary, replay, summarise
from governor.requests import Requests
from governor.space import Setting

DEFAULT_POLICIES = ("stock", "fuse", "fusegov", "oracle", "all_max", "independent")


@dataclass
class PolicyResult:
    name: str
    plan: Plan
    search: SearchRun
    summary: Summary
    outcomes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            **self.summary.to_dict(),
            "measurements": self.plan.search["measurements"],
            "rung_measurements": self.plan.search.get("rung_measurements", 0),
            "runs_by_purpose": self.plan.search.get("runs_by_purpose", {}),
            "device_time_s": self.plan.search["device_time_s"],
            "search_wall_s": self.plan.search["wall_s"],
            "goal_met": self.plan.met,
        }

    def plan_settings(self) -> dict:
        return {p.bucket: p.setting for p in self.plan.phases}


def evaluate(
    measurer: VirtualMeasurer,
    buckets: list[PhaseBucket],
    goal: GoalSpec,
    policies: list[str],
    requests: Requests,
    model_name: str,
    executor: str | None = None,
    workers: int = 1,
    on_stage: Callable[[str], None] | None = None,
    on_request: Callable[[], None] | None = None,
    cache_dir: str | None = None,
    stock_repeats: int = DEFAULT_STOCK_REPEATS,
) -> dict[str, PolicyResult]:
    shared = CachedMeasurer(measurer, cache_dir)
    order = sorted(policies, key=lambda p: p != "oracle")
    results: dict[str, PolicyResult] = {}
    for name in order:
        if on_stage:
            on_stage(f"searching: {name}")
        search = run_search(
            shared, buckets, goal, name, model_name, stock_repeats=stock_repeats, executor=executor, workers=workers
        )
        if on_stage:
            on_stage(f"replaying {len(requests)} requests: {name}")
        results[name] = replay_policy(measurer, name, search, requests, on_request)
    return {name: results[name] for name in policies}


def outcomes_frame(results: dict[str, PolicyResult]):
    """Every replayed request under every policy, one row each (policy, request: its index in the replay, then
    `replay.Outcome`'s fields: units in the names, heat levels and the margin to the nearest trip): what a
    summary averages away, such as when a phone reached its trips and which level served it there."""
    from dataclasses import asdict

    import pandas as pd

    rows = [
        {"policy": name, "request": i, **asdict(outcome), "cooled": outcome.cooled}
        for name, result in results.items()
        for i, outcome in enumerate(result.outcomes)
    ]
    return pd.DataFrame(rows)


def replay_policy(
    measurer: VirtualMeasurer,
    name: str,
    search: SearchRun,
    requests: Requests,
    on_request: Callable[[], None] | None = None,
) -> PolicyResult:
    """Replay `requests` under the plan a search made (`stock`: the stock governors, nothing pinned)."""
    import time

    start = time.perf_counter()
    outcomes = replay(measurer, None if name == "stock" else search.plan, requests, on_request=on_request)
    search.plan.notes.append(f"replay took {time.perf_counter() - start:.1f} s")
    return PolicyResult(name, search.plan, search, summarise(outcomes), outcomes)


def judge_plans(runs: dict[str, SearchRun]) -> dict[str, dict[str, dict[str, Verdict]]]:
    """Every search's choice per bucket judged alike (goals.Judge): run on the stock seeds the searches chose on
    and on held-out ones none has seen, paired with stock's runs of the same seeds, so neither repeats, nor a pick
    among many settings by one lucky run, nor the oracle's pick of the luckiest of thousands flatter anyone.
    The searches share a measurer and buckets; the judge's runs go to a lab of its own, so no search's count
    changes (cached runs are reused). Per search, bucket and seed set ("searched", "held_out"), the verdict."""
    first = next(iter(runs.values()))
    lab = Lab(first.lab.measurer, list(first.lab.buckets.values()))
    judge = Judge(first.context.goal, lab.measure, list(lab.buckets), first.lab.max_repeats)
    return {
        name: {phase.bucket: judge(Setting.of(phase.setting), phase.bucket) for phase in run.plan.phases}
        for name, run in runs.items()
    }
