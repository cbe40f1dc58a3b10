"""One search, end to end: measure the stock governors, resolve the goal, run the named search, build the plan.

Used by `fusegov plan`, `fusegov bench governor` and the tests; the CLI adds only argument parsing and output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from governor.errors import GovernorError
from governor.executor import sweep
from governor.goals import GoalSpec
from governor.lab import BudgetExhausted, Lab, LogEntry
from governor.measure import Measurer
from governor.phases import DECODE, PREFILL, PhaseBucket
from governor.plan import Plan, build_plan
from governor.searches import SEARCHES, SearchContext
from governor.searches.base import settled_choice

DEFAULT_STOCK_REPEATS = 3


@dataclass
class SearchRun:
    plan: Plan
    lab: Lab
    context: SearchContext
    wall_s: float


def max_tokens(buckets: list[PhaseBucket]) -> int:
    """The longest request the plan will serve: longest prompt plus the decode measured after it."""
    prompt = max((b.max_prompt_tokens or b.prompt_tokens for b in buckets if b.kind == PREFILL), default=0)
    decode = max((b.prompt_tokens + b.decode_tokens for b in buckets if b.kind == DECODE), default=0)
    return max(prompt, decode)


def run_search(
    measurer: Measurer,
    buckets: list[PhaseBucket],
    goal: GoalSpec,
    search: str,
    model_name: str,
    budget: int | None = None,
    stock_repeats: int = DEFAULT_STOCK_REPEATS,
    executor: str | None = None,
    workers: int = 1,
    on_run: Callable[[LogEntry], None] | None = None,
    lab: Lab | None = None,
) -> SearchRun:
    import time

    if search not in SEARCHES:
        raise GovernorError(f"unknown --search {search!r}: use one of {', '.join(SEARCHES)}")
    if stock_repeats < 1:
        raise GovernorError(f"--stock-repeats {stock_repeats}: the stock governors need at least one run per bucket")
    start = time.perf_counter()
    measurer.check_fits(max_tokens(buckets))
    lab = lab or Lab(measurer, buckets, budget=budget, search=search, on_run=on_run)
    try:
        stock = lab.measure_stock(stock_repeats)
    except BudgetExhausted:
        raise GovernorError(
            f"--max-measurements {budget}: the stock governors alone take {stock_repeats * len(buckets)} runs "
            f"({stock_repeats} per bucket, --stock-repeats); allow more"
        ) from None
    # a run at repeat k is judged against stock's run at repeat k (goals: paired comparison): no repeats beyond
    lab.max_repeats = min(lab.max_repeats, stock_repeats)
    resolved = goal.resolve(buckets, stock, lab)
    sweeper = None
    recipe = measurer.recipe() if hasattr(measurer, "recipe") else None
    if recipe is not None:

        def sweeper(tasks):
            return sweep(recipe, tasks, executor=executor, workers=workers)

    ctx = SearchContext(lab, buckets, resolved, stock, sweeper)
    try:
        choices = SEARCHES[search]().run(ctx)
    except BudgetExhausted as exc:  # --max-measurements: the best of what was measured
        choices = {b.name: settled_choice(ctx, b.name) for b in buckets}
        ctx.notes.append(f"{exc}: each bucket keeps the best setting measured so far whose verdict its runs settle")
    wall = time.perf_counter() - start
    plan = build_plan(measurer, model_name, buckets, resolved, search, choices, lab, wall, ctx.notes)
    return SearchRun(plan, lab, ctx, wall)
