"""Benchmark: how fast the counter unit advances, against baselines measured in the same run.

    python bench/bench_pmc.py [--steps N] [--dt-ms MS]

For each family it times `accumulate` (then a read, so everything is counted) on N steps in one
call and in chunks of 10 steps (how the simulation calls it), against two baselines: (1) the per-step
reference model (a noise draw per step and counter, MixingModel.increments, vectorised) and (2) an
unbuffered per-step loop (signals and counter increments computed for each step on its own). It prints
wall times, simulated seconds per wall second, and the ratios.
"""

from __future__ import annotations

import argparse
import gc
import time
from dataclasses import fields

import numpy as np

from android.emulator.sim.activity import GpuActivity
from android.emulator.sim.pmc.generate import base_signals
from android.emulator.sim.pmc.mixes import random_mix
from android.emulator.sim.pmc.unit import FAMILIES, PmcUnit, family_model


def _steps(activity: GpuActivity, part: slice) -> GpuActivity:
    return GpuActivity(**{f.name: getattr(activity, f.name)[part] for f in fields(GpuActivity)})


def _timed(work) -> float:
    """Wall time of one run, best of three, with the garbage collector paused (as timeit does)."""
    gc.collect()
    gc.disable()
    try:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - start)
        return best
    finally:
        gc.enable()


def bench_family(family: str, n_steps: int, dt_s: float, chunk: int = 10) -> dict[str, float]:
    unit = PmcUnit.for_family(family, seed=0)
    activity = random_mix(n_steps, unit.shape, np.random.default_rng(0), dt_s=dt_s)
    chunks = [_steps(activity, slice(i, i + chunk)) for i in range(0, n_steps, chunk)]
    _, model = family_model(family)
    rng = np.random.default_rng(1)

    def in_chunks() -> None:
        for part in chunks:
            unit.accumulate(part)
        unit.read_all_totals()

    def unbuffered_loop() -> None:
        for step in range(n_steps):
            model.summed(base_signals(_steps(activity, slice(step, step + 1)), unit.shape), rng)

    return {
        "one_call_s": _timed(lambda: (unit.accumulate(activity), unit.read_all_totals())),
        "chunked_s": _timed(in_chunks),
        "per_step_reference_s": _timed(lambda: model.increments(base_signals(activity, unit.shape), rng).sum(axis=0)),
        "per_step_loop_s": _timed(unbuffered_loop),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m android.emulator.sim.pmc.bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--steps", type=int, default=10_000, help="simulation steps (default 10000)")
    parser.add_argument("--dt-ms", type=float, default=1.0, help="step length in ms (default 1)")
    args = parser.parse_args(argv)
    simulated_s = args.steps * args.dt_ms / 1e3
    print(f"{args.steps} steps of {args.dt_ms:g} ms = {simulated_s:g} s simulated per run")
    header = (
        f"{'family':<14}{'counters':>9}{'one call':>12}{'chunks/10':>12}{'ref/step':>12}{'loop/step':>12}"
        f"{'x realtime':>12}{'vs ref':>9}{'vs loop':>9}"
    )
    print(header)
    for family in sorted(FAMILIES):
        t = bench_family(family, args.steps, args.dt_ms / 1e3)
        n_counters = len(PmcUnit.for_family(family).catalogue)
        print(
            f"{family:<14}{n_counters:>9}{t['one_call_s'] * 1e3:>10.1f}ms{t['chunked_s'] * 1e3:>10.1f}ms"
            f"{t['per_step_reference_s'] * 1e3:>10.1f}ms{t['per_step_loop_s'] * 1e3:>10.1f}ms"
            f"{simulated_s / t['chunked_s']:>11.0f}x{t['per_step_reference_s'] / t['one_call_s']:>8.1f}x"
            f"{t['per_step_loop_s'] / t['one_call_s']:>8.0f}x"
        )
    print(
        "x realtime: simulated s per wall s when called in chunks of 10 steps; vs ref / vs loop: one call "
        "against the per-step reference model and against the unbuffered per-step loop"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
