"""What every search gets and gives back, and the registry that names them (`--search NAME`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

from governor.goals import Goal
from governor.lab import Lab, Observation
from governor.phases import PhaseBucket
from governor.space import STOCK, ConfigSpace


@dataclass
class SearchContext:
    lab: Lab
    buckets: list[PhaseBucket]
    goal: Goal
    stock: dict[str, Observation]  # the stock governors on every bucket (already measured)
    sweep: Callable | None = None  # sweep(tasks) -> [(setting, bucket, sample, wall_s)]: parallel runs
    notes: list[str] = field(default_factory=list)

    @property
    def space(self) -> ConfigSpace:
        return self.lab.space


@dataclass(frozen=True)
class Choice:
    """The setting a search chose for one bucket, with what it measured there."""

    observation: Observation
    met: bool  # does it meet the goal's budget or target?
    cooler: tuple[Observation, ...] = ()  # the setting at heat levels 1, 2, ... (governor.heat), hottest first


class Search:
    name: ClassVar[str]
    summary: ClassVar[str]

    def run(self, ctx: SearchContext) -> dict[str, Choice]:
        raise NotImplementedError


SEARCHES: dict[str, type[Search]] = {}


def register(cls: type[Search]) -> type[Search]:
    SEARCHES[cls.name] = cls
    return cls


def choose(ctx: SearchContext, bucket: str, observations: list[Observation]) -> Choice:
    best = ctx.goal.best(observations)
    return Choice(best, ctx.goal.feasible(best))


def settled_choice(ctx: SearchContext, bucket: str) -> Choice:
    """What a search cut short keeps for the bucket: the best (`choose`) of its runs whose verdict on the goal another
    run could not change (`Goal.undecided`), those with every repeat the lab allows and stock. With any run fair game,
    one on seed 0 alone that read low there won: fusegov cut at 60 runs (sm8550 StableLM, full length, G1) kept
    settings 5.6% over the energy budget on the seeds they were chosen on."""
    runs = ctx.lab.observations(bucket)
    settled = [o for o in runs if o.setting == STOCK or o.repeats >= ctx.lab.max_repeats or not ctx.goal.undecided(o)]
    return choose(ctx, bucket, settled)
