"""Baselines: the stock governors, every knob at its top frequency, and each component's best chosen alone."""

from __future__ import annotations

from governor.searches.base import Choice, Search, SearchContext, choose, register
from governor.space import Setting


@register
class StockSearch(Search):
    name = "stock"
    summary = "every knob left to its stock governor"

    def run(self, ctx: SearchContext) -> dict[str, Choice]:
        return {b.name: Choice(ctx.stock[b.name], ctx.goal.feasible(ctx.stock[b.name])) for b in ctx.buckets}


@register
class AllMaxSearch(Search):
    name = "all_max"
    summary = "every knob pinned at its top frequency"

    def run(self, ctx: SearchContext) -> dict[str, Choice]:
        setting = ctx.space.all_max()
        return {b.name: choose(ctx, b.name, [ctx.lab.measure(setting, b.name)]) for b in ctx.buckets}


@register
class IndependentSearch(Search):
    name = "independent"
    summary = "each of CPU, GPU and memory swept alone (the others stock), the best of each combined"

    def run(self, ctx: SearchContext) -> dict[str, Choice]:
        choices = {}
        for bucket in ctx.buckets:
            pins = {}
            for knob in ctx.space.primary:
                alone = [ctx.lab.measure(Setting.of({knob.name: f}), bucket.name) for f in knob.table_hz]
                pins[knob.name] = ctx.goal.best(alone).setting.get(knob.name)
            combined = ctx.lab.measure(Setting.of(pins), bucket.name)
            choices[bucket.name] = choose(ctx, bucket.name, [combined])
        return choices
