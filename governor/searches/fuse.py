"""FUSE's offline search, as published (arXiv 2507.02135; REFERENCES.md section 1).

Per phase bucket: step 1 scans the GPU frequency down from the top (CPU and memory under their stock
governors), stopping at the first frequency that meets the goal, and keeps it and its neighbour; step 2
scans the inference CPU's frequency down from the top for each of the two GPU candidates, stopping the
same way. Memory and every other knob stay with their stock governors. The best step-2 setting wins.

"Meets the goal": for G1 (min latency under an energy budget) the first frequency, going down, whose
energy is within budget (it is the fastest such one, latency falling with frequency). For G2 (min energy
under a latency target) energy per token is U-shaped in frequency, so the scan goes down while the target
holds and energy keeps falling; it stops at the first that fails either, and the lowest-energy one is kept.
When no frequency meets the goal the scan ends at the bottom and keeps the closest.
"""

from __future__ import annotations

from governor.goals import MinLatency
from governor.lab import Observation
from governor.searches.base import Choice, Search, SearchContext, choose, register
from governor.space import Knob, Setting


def scan_down(ctx: SearchContext, bucket: str, knob: Knob, base: Setting) -> tuple[list[Observation], int]:
    """Scan `knob` from its top frequency down; returns what was measured and the index (in the table) of
    the frequency the scan settled on."""
    goal, lab = ctx.goal, ctx.lab
    seen: list[Observation] = []
    chosen = None
    for level in range(len(knob.table_hz) - 1, -1, -1):
        obs = lab.decide(base.with_pins(**{knob.name: knob.table_hz[level]}), bucket, goal.undecided)
        seen.append(obs)
        if isinstance(goal, MinLatency):
            if goal.feasible(obs):
                chosen = level
                break
        else:
            feasible = [o for o in seen if goal.feasible(o)]
            if not goal.feasible(obs) or (len(feasible) > 1 and goal.score(obs) > goal.score(feasible[-2])):
                break
    if chosen is None:
        best = goal.best(seen)
        chosen = knob.level(best.setting.get(knob.name))
    return seen, chosen


def neighbour(knob: Knob, level: int, ctx: SearchContext) -> int:
    """G1 keeps the next frequency down (lower energy leaves the CPU more room); G2 the next one up (more
    latency headroom). At the ends of the table, the one that exists."""
    step = -1 if isinstance(ctx.goal, MinLatency) else 1
    other = level + step
    return other if 0 <= other < len(knob.table_hz) else level - step


@register
class FuseSearch(Search):
    name = "fuse"
    summary = "FUSE as published: GPU scan down, then CPU scan down for two GPU candidates; memory stock"

    def run(self, ctx: SearchContext) -> dict[str, Choice]:
        gpu, cpu = ctx.space.role("gpu"), ctx.space.role("cpu")
        choices = {}
        for bucket in ctx.buckets:
            _, level = scan_down(ctx, bucket.name, gpu, Setting())
            candidates = sorted({level, neighbour(gpu, level, ctx)}, reverse=True)
            finalists: list[Observation] = []
            for gpu_level in candidates:
                base = Setting.of({gpu.name: gpu.table_hz[gpu_level]})
                seen, cpu_level = scan_down(ctx, bucket.name, cpu, base)
                finalists += [o for o in seen if o.setting.get(cpu.name) == cpu.table_hz[cpu_level]]
            choices[bucket.name] = choose(ctx, bucket.name, finalists)
        return choices
