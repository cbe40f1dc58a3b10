"""fusegov's cooler rungs: per price of energy, the setting a plan's runtime steps down to on a hot phone
(`governor.heat`), read from the runs and models of the search's group of buckets (`fusegov._Group`) once the
search has chosen, with at most a run or two more per bucket."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from governor.lab import BudgetExhausted, Observation
from governor.phases import PREFILL, PhaseBucket, phase_power
from governor.searches.base import Choice, SearchContext
from governor.space import STOCK

if TYPE_CHECKING:
    from governor.searches.fusegov import _Group

# the cooler rungs' prices of energy (`Ladder.with_rungs`), in units of 1 / the stock governors' mean power over
# the phases: at 1, 1% less energy is worth 1% more latency in a phase drawing that power. Doubling steps: with
# (1, 4) alone, pixel7 TinyLlama's decode had one rung 25% slower than its choice and StableLM's deepest level
# still let the kernel throttle (35% of 40 requests; 0% with these)
RUNG_PRICES = (1.0, 2.0, 4.0, 8.0, 16.0)


class Ladder:
    """The cooler rungs of one group's choices (`with_rungs`)."""

    def __init__(self, group: _Group):
        self.group = group

    @property
    def ctx(self) -> SearchContext:
        return self.group.ctx

    def power(self, bucket: PhaseBucket, runs: list[Observation]) -> np.ndarray:
        """Each run's mean power over its phase (W), on the footing of every stock seed (`_Group.values`)."""
        values = self.group.values
        return phase_power(bucket, values(bucket, runs, "energy_per_token_j"), values(bucket, runs, "latency_s"))

    def with_rungs(self, choice: Choice, bucket: PhaseBucket) -> Choice:
        """The choice with cooler rungs for the runtime to step down to on a hot phone (`governor.heat`): per price
        of energy in RUNG_PRICES, the run meeting the goal with the least latency + price x energy of one
        occurrence of the phase (TTFT + price x the prompt's energy; TPOT + price x one token's), or the rung above
        when that draws no less power. One rung per price, repeats included, so that a heat level is one price for
        every phase (`common_levels`): the prices are one scale for every phase (`stock_power`), so summed over a
        request each level minimises its latency + price x its energy and cuts heat where it costs the least
        latency (mostly the prefill's, on the built-in phones), not alike in every phase. A run already made is
        the rung unless the model expects one cheaper by more than it misses the bucket's latency by; then one
        more run, at most one per bucket: rungs are the fallback, and a run for each price took sm8550 StableLM's
        search to 79 runs, past FUSE's 76. A prefill bucket whose coolest rung still draws more than stock gets
        one more run, the models' best guess at the deepest price: a prefill's cuts cost the least latency per
        joule, and without it the coolest prefill rungs stayed at more energy than FUSE's settings (hexa6, Qwen
        1.5B: 0.123 J per token where FUSE's cost 0.120), so a hot phone had to slow the decode instead. Only where
        the bucket makes at least an equal share of the group's heat (`heat_share`): a rung cools the phone by what
        its phase heats it, and the shortest prompts' hardly do (full-length G1 on four phones: 107 runs for rungs
        to 87; bench_governor's served part, 27 replays: end to end alike or better in 8 of 9 cases,
        hexa6 Qwen 1.5B's 0.5 points of stock's latency worse).

        Why: at the same energy per token a faster setting draws more power, and a phone serving back to back
        heats to its trips; the kernel's cooling devices then cap the clocks one OPP at a time, far from the
        efficient settings at that power (pixel7, StableLM, 40 requests: GPU capped down to 510 MHz under a
        pinned 2802 MHz CPU). Rungs by power instead (steps from the choice's power down to stock's in each
        phase) slowed every phase alike: TPOT -36.9% against stock where these give -41.9% and FUSE -42.0%
        (pixel7, TinyLlama, 40 requests). Only under a latency goal (G1), and where the choice draws more than stock."""
        chosen = choice.observation
        if (
            self.ctx.goal.objective_field != "latency_s"
            or chosen.setting == STOCK
            or not self.group.meets(bucket, chosen)
        ):
            return choice
        hot, stock = self.power(bucket, [chosen, self.ctx.stock[bucket.name]])
        if hot <= stock:
            return choice
        self.group.refit()
        look = self.group.outlook(bucket)  # the models' view holds until a run is made, and only one is
        candidates = ~look.closed & (look.meets >= 0.5)
        prices = np.array(RUNG_PRICES) / self.stock_power()
        resolution = self.group.misfits()[bucket.name].get("latency_s", 0.0)

        def guess(price: float) -> tuple[int, float]:
            """The unmeasured candidate the models expect to cost the least at `price`, and that cost."""
            cost = look.latency * (1.0 + price * look.power)
            index = int(np.argmin(np.where(candidates, cost, np.inf)))
            return index, float(cost[index])

        budget_left = True
        for price in prices:
            if not candidates.any():
                break
            rung = self._cheapest(bucket, price)
            index, cost = guess(price)
            if rung is None or cost < self._cost(bucket, rung, price) * (1 - resolution):
                budget_left, candidates[index] = self._probe(bucket, index), False
                break
        rungs = self._ladder(bucket, chosen, hot, prices)
        deep = (
            budget_left
            and bucket.kind == PREFILL
            and candidates.any()
            and self.heat_share(bucket) * len(self.group.buckets) >= 1
        )
        if deep and float(self.power(bucket, [rungs[-1]])[0]) > stock and self._probe(bucket, guess(prices[-1])[0]):
            rungs = self._ladder(bucket, chosen, hot, prices)
        return Choice(chosen, choice.met, tuple(rungs))

    def heat_share(self, bucket: PhaseBucket) -> float:
        """The bucket's share of the heat its group's phases make over the requests: its share of their prompt tokens
        (a prefill's energy grows with its prompt, and FUSE's buckets, quantiles of the prompt lengths, hold alike many
        requests); an equal share for a group of one bucket or of buckets without prompts."""
        total = sum(b.prompt_tokens for b in self.group.buckets)
        return bucket.prompt_tokens / total if total > 0 else 1.0 / len(self.group.buckets)

    def _probe(self, bucket: PhaseBucket, index: int) -> bool:
        """One run for a cooler rung at grid point `index`; False when the budget is spent (noted)."""
        try:
            self.ctx.lab.measure(self.group.setting(bucket.name, self.group.grid[index]), bucket.name)
        except BudgetExhausted as exc:
            self.ctx.notes.append(f"{bucket.name}: {exc}: no run for a cooler rung")
            return False
        return True

    def _ladder(self, bucket: PhaseBucket, chosen: Observation, hot: float, prices: np.ndarray) -> list[Observation]:
        """Per price, the `_cheapest` run if it draws less power than the rung above (the chosen run's `hot`
        power first), else the rung above again."""
        rungs, above = [], hot
        for price in prices:
            rung = self._cheapest(bucket, price)
            if rung is not None and (power := float(self.power(bucket, [rung])[0])) < above:
                above = power
            else:
                rung = rungs[-1] if rungs else chosen
            rungs.append(rung)
        return rungs

    def stock_power(self) -> float:
        """The stock governors' mean power over the plan's phases (W): one scale for every phase's price of
        energy, so a level cuts energy where it costs the least latency, whichever phase that is."""
        stock = self.ctx.stock
        return float(
            np.mean(
                [phase_power(b, stock[b.name].energy_per_token_j, stock[b.name].latency_s) for b in self.ctx.buckets]
            )
        )

    def _cost(self, bucket: PhaseBucket, run: Observation, price: float) -> float:
        """Latency + price x energy of one occurrence of the phase (s; price in s/J)."""
        return float(self.group.values(bucket, [run], "latency_s")[0] * (1.0 + price * self.power(bucket, [run])[0]))

    def _cheapest(self, bucket: PhaseBucket, price: float) -> Observation | None:
        """The run meeting the goal with the least `_cost`, None if none does."""
        runs = [o for o in self.group.pinned_runs(bucket) if self.group.meets(bucket, o)]
        return min(runs, key=lambda o: self._cost(bucket, o, price)) if runs else None


def common_levels(choices: dict[str, Choice]) -> dict[str, Choice]:
    """The phases' rungs (one per price, `Ladder.with_rungs`) without the prices at which no phase moves: heat
    level k is then the same price for every phase that has rungs, and each level cools some phase."""
    ladders = {name: (c.observation, *c.cooler) for name, c in choices.items() if c.cooler}
    depth = max((len(ladder) for ladder in ladders.values()), default=0)
    moves = [k for k in range(1, depth) if any(lad[k].setting != lad[k - 1].setting for lad in ladders.values())]
    return {
        name: replace(c, cooler=tuple(ladders[name][k] for k in moves)) if name in ladders else c
        for name, c in choices.items()
    }
