"""Searches on a cheap bucket set (short prompts) of the hexa6 phone: FUSE's procedure as published, fusegov's
model-guided search, the lab's caching, repeats and budget."""

from __future__ import annotations

import pytest

from governor.goals import GoalSpec
from governor.lab import BudgetExhausted, Lab
from governor.measure import VirtualMeasurer
from governor.phases import llm_buckets
from governor.planner import run_search
from governor.requests import load_requests
from governor.space import Setting
from tests.governor.conftest import HEXA6, TINYLLAMA


@pytest.fixture(scope="module")
def measurer():
    return VirtualMeasurer(HEXA6, TINYLLAMA)


@pytest.fixture
def decode_only(measurer, short_requests):
    return [b for b in llm_buckets(load_requests(str(short_requests))) if b.kind == "decode"]


def test_runs_are_cached_counted_and_capped(measurer, decode_only):
    lab = Lab(measurer, decode_only, budget=3)
    top = Setting.of({k.name: k.max_hz for k in measurer.space.primary})
    first = lab.measure(top, "decode")
    assert lab.measure(top, "decode") == first and lab.measurements == 1
    assert lab.log[0].device_time_s > first.latency_s * 16
    lab.measure(top, "decode", repeats=2)
    assert lab.known(top, "decode").repeats == 2 and lab.measurements == 2
    lab.measure(Setting(), "decode")
    with pytest.raises(BudgetExhausted, match="budget of 3 runs"):
        lab.measure(Setting.of({"gpu": measurer.space.knob("gpu").min_hz}), "decode")


def test_fuse_follows_the_published_procedure(measurer, decode_only):
    run = run_search(measurer, decode_only, GoalSpec("latency"), "fuse", TINYLLAMA)
    gpu, cpu = measurer.space.knob("gpu"), measurer.space.role("cpu")
    pinned = [e for e in run.lab.log if e.setting != "stock"]
    assert pinned[0].setting == f"gpu={gpu.max_hz // 10**6} MHz"  # step 1 starts at the GPU's top, CPU stock
    assert all("mem=" not in e.setting for e in run.lab.log)  # memory is never pinned
    step2 = [e for e in pinned if cpu.name in e.setting]
    assert step2 and f"{cpu.name}={cpu.max_hz // 10**6} MHz" in step2[0].setting  # CPU scan starts at its top
    chosen = run.plan.phase("decode")
    assert set(chosen.setting) == {"gpu", cpu.name}


@pytest.mark.parametrize("goal", ["latency", "energy"])
def test_fusegov_beats_fuse_on_decode_with_fewer_runs(measurer, decode_only, goal):
    fuse = run_search(measurer, decode_only, GoalSpec(goal), "fuse", TINYLLAMA)
    ours = run_search(measurer, decode_only, GoalSpec(goal), "fusegov", TINYLLAMA)
    mine = ours.plan.phase("decode")
    # each pick's objective as its own search measured it, paired with stock's runs of the same seeds (a pick
    # run once and one run three times compare fairly)
    fuse_score, our_score = (
        run.context.goal.score(run.lab.known(Setting.of(run.plan.phase("decode").setting), "decode"))
        for run in (fuse, ours)
    )
    print(f"\n{goal}: paired objective fuse {fuse_score:.4f}, fusegov {our_score:.4f} in {ours.lab.measurements} runs")
    assert mine.met
    # memory is tuned both ways: pinned, and left to its stock governor with the other knobs pinned
    tried = [e.setting for e in ours.lab.log if e.setting != "stock"]
    assert any("mem=" in s for s in tried) and any("mem=" not in s and "gpu=" in s for s in tried)
    assert our_score <= fuse_score * 1.005
