"""The oracle: every combination of the inference CPU, GPU and memory frequencies (memory also under its
stock governor, so FUSE's space is inside), measured on every bucket; the best by the goal. Evaluation
only: it is exhaustive, so it runs only where measuring is cheap (the virtual phone), swept in parallel
(executor.sweep). Knobs outside the inference (other clusters, other buses) stay stock."""

from __future__ import annotations

from governor.errors import GovernorError
from governor.searches.base import Choice, Search, SearchContext, choose, register
from governor.space import ConfigSpace, Setting


def oracle_settings(space: ConfigSpace) -> list[Setting]:
    """Every CPU x GPU x memory combination, memory also left stock."""
    mem = space.role("mem")
    return space.grid(space.primary, with_stock=[mem.name] if mem else [])


@register
class OracleSearch(Search):
    name = "oracle"
    summary = "exhaustive over CPU x GPU x memory (evaluation only, virtual phone)"

    def run(self, ctx: SearchContext) -> dict[str, Choice]:
        if ctx.sweep is None:
            raise GovernorError("the oracle sweeps the virtual phone only: use --virtual, not --serial")
        settings = oracle_settings(ctx.space)
        lab, measurer = ctx.lab, ctx.lab.measurer
        cached = getattr(measurer, "cached", None)
        tasks = []
        for setting in settings:
            for bucket in ctx.buckets:
                if lab.known(setting, bucket.name) is not None:
                    continue
                sample = cached(setting, bucket) if cached else None
                if sample is None:
                    tasks.append((setting, bucket))
                else:
                    lab.record(setting, bucket.name, sample, 0.0)
        for setting, bucket, sample, wall in ctx.sweep(tasks):
            lab.record(setting, bucket, sample, wall)
            if hasattr(measurer, "store"):
                measurer.store(setting, lab.bucket(bucket), 0, sample)
        return {b.name: choose(ctx, b.name, [ctx.lab.known(s, b.name) for s in settings]) for b in ctx.buckets}
