"""The oracle: every combination of the inference CPU, GPU and memory frequencies (memory also under its
stock governor, so FUSE's space is inside), measured on every bucket; the best by the goal. Evaluation
only: it is exhaustive, so it runs only where measuring is cheap (the virtual phone), swept in parallel
(executor.sweep). Knobs outside the inference (other clusters, other buses) stay stock.

Judged by the rule every search is judged by (goals.Goal: the mean paired ratio over the stock runs' seeds).
One run of every setting is not enough for that: picking the fastest of thousands of settings whose single
energy draw fell under the budget picks the luckiest draw (the winner's curse), a setting the same rule
rejects once it has the stock governors' other seeds. So the sweep at repeat 0 is followed by confirmation:
every setting that could still beat the best fully measured one (its repeat-0 objective within the goal's
confidence of that one's, and its repeat-0 margin within confidence of the limit) gets the stock runs' other
repeats, best first in batches of CONFIRM_BATCH, until none is left; the best fully measured setting wins
(stock when none beats it).
"""

from __future__ import annotations

from governor.errors import GovernorError
from governor.goals import t_quantile
from governor.lab import Observation
from governor.phases import PhaseBucket
from governor.searches.base import Choice, Search, SearchContext, choose, register
from governor.space import ConfigSpace, Setting

CONFIRM_BATCH = 16  # contenders confirmed per bucket between re-rankings (a multiple of the usual worker count)


def oracle_settings(space: ConfigSpace) -> list[Setting]:
    """Every CPU x GPU x memory combination, memory also left stock."""
    mem = space.role("mem")
    return space.grid(space.primary, with_stock=[mem.name] if mem else [])


def _sweep(ctx: SearchContext, tasks: list[tuple[Setting, PhaseBucket]]) -> None:
    """Run the tasks at repeat 0: cached runs first, the rest swept in parallel."""
    lab, measurer = ctx.lab, ctx.lab.measurer
    cached = getattr(measurer, "cached", None)
    missing = []
    for setting, bucket in tasks:
        sample = cached(setting, bucket) if cached else None
        if sample is None:
            missing.append((setting, bucket))
        else:
            lab.record(setting, bucket.name, sample, 0.0)
    for setting, name, sample, wall in ctx.sweep(missing):
        lab.record(setting, name, sample, wall)
        if hasattr(measurer, "store"):
            measurer.store(setting, lab.bucket(name), 0, sample)


def contenders(ctx: SearchContext, bucket: PhaseBucket, settings: list[Setting], repeats: int) -> list[Observation]:
    """Settings not yet run on every stock seed that could still beat the best one that has been: the best of
    them first, at most CONFIRM_BATCH."""
    goal, lab = ctx.goal, ctx.lab
    seen = [lab.known(s, bucket.name) for s in settings]
    full = [o for o in seen if o.repeats >= repeats]
    best = goal.best([*full, ctx.stock[bucket.name]])
    spread, z = goal.spread(), t_quantile(goal.confidence, goal.spread().dof)
    open_ = [o for o in seen if o.repeats < repeats and goal.margin(o) + z * spread.limit >= 0]
    if goal.feasible(best):
        line = goal.score(best.seeds(0, 1)) * (1.0 + z * spread.objective)
        open_ = [o for o in open_ if goal.score(o) < line]
    return sorted(open_, key=goal.score)[:CONFIRM_BATCH]


@register
class OracleSearch(Search):
    name = "oracle"
    summary = "exhaustive over CPU x GPU x memory, contenders confirmed on every stock seed (evaluation only)"

    def run(self, ctx: SearchContext) -> dict[str, Choice]:
        if ctx.sweep is None:
            raise GovernorError("the oracle sweeps the virtual phone only: use --virtual, not --serial")
        settings = oracle_settings(ctx.space)
        lab = ctx.lab
        _sweep(ctx, [(s, b) for s in settings for b in ctx.buckets if lab.known(s, b.name) is None])
        repeats = lab.max_repeats
        # confirmation, in this process (a few hundred runs at most, in small batches between re-rankings)
        while batch := [(o, b) for b in ctx.buckets for o in contenders(ctx, b, settings, repeats)]:
            for obs, bucket in batch:
                lab.measure(obs.setting, bucket.name, repeats)
        # the best run on every stock seed; stock itself when no setting confirmed beats it
        return {
            b.name: choose(
                ctx,
                b.name,
                [*(o for s in settings if (o := lab.known(s, b.name)).repeats >= repeats), ctx.stock[b.name]],
            )
            for b in ctx.buckets
        }
