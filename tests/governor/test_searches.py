"""Searches on a cheap bucket set (short prompts) of the hexa6 phone: FUSE's procedure as published, fusegov's
model-guided search, the lab's caching, repeats and budget."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governor.cache import CachedMeasurer
from governor.errors import GovernorError
from governor.evaluate import judge_plans
from governor.goals import GoalSpec, Judge, t_quantile
from governor.lab import DESIGN, PURPOSES, RUNG, BudgetExhausted, Lab, Observation
from governor.measure import VirtualMeasurer
from governor.phases import PhaseBucket, llm_buckets
from governor.planner import run_search
from governor.requests import Requests, load_requests
from governor.searches.base import Choice, SearchContext
from governor.searches.footing import (
    Lent,
    footing_shift,
    on_footing,
    seed_effects,
    seed_residuals,
    seed_trend,
)
from governor.searches.fusegov import EXACT_FOOTING, EXTRAPOLATION, MIN_GAIN, STOCK_HZ, _Group
from governor.searches.residuals import bucket_terms, misfits, residual_factor
from governor.searches.rungs import Ladder, common_levels
from governor.space import Setting
from governor.surrogate import Surrogate
from tests.governor.conftest import HEXA6, NOISE, TINYLLAMA
from tests.helpers.profiles import four_cluster_profile


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


def test_each_run_is_logged_with_what_it_was_for(measurer, decode_only):
    lab = Lab(measurer, decode_only)
    top = Setting.of({k.name: k.max_hz for k in measurer.space.primary})
    lab.measure_stock(2)
    with lab.doing(DESIGN):
        lab.measure(top, "decode")
        with lab.doing(RUNG):
            lab.measure(Setting.of({"gpu": measurer.space.knob("gpu").min_hz}), "decode")
        lab.measure(Setting.of({"gpu": measurer.space.knob("gpu").max_hz}), "decode")
    lab.measure(top, "decode", repeats=3)  # the search repeats a design point
    assert [e.purpose for e in lab.log] == ["stock", "stock", "design", "rung", "design", "search", "search"]
    assert lab.spending() == {"stock": 2, "design": 2, "side": 0, "search": 2, "rung": 1, "repeats": 2}
    with pytest.raises(GovernorError, match="unknown purpose of a run 'warmup'"), lab.doing("warmup"):
        pass
    assert lab.purpose == "search"


def test_a_search_says_where_its_runs_went(measurer, short_requests):
    # fusegov pays for a design and a side-pin check before its models choose, FUSE for neither: the plan says so
    buckets = llm_buckets(load_requests(str(short_requests)))
    runs = {name: run_search(measurer, buckets, GoalSpec("latency"), name, TINYLLAMA) for name in ("fuse", "fusegov")}
    for name, run in runs.items():
        spent = run.plan.search["runs_by_purpose"]
        print(f"\n{name}: {run.lab.measurements} runs, {spent}")
        assert sum(spent[p] for p in PURPOSES) == run.lab.measurements == run.plan.search["measurements"]
        assert spent["stock"] == 3 * len(buckets) and spent["repeats"] <= spent["search"]
        assert spent["rung"] == run.plan.search["rung_measurements"]
    assert runs["fusegov"].plan.search["runs_by_purpose"]["design"] > 0
    assert (
        runs["fuse"].plan.search["runs_by_purpose"]["design"]
        == runs["fuse"].plan.search["runs_by_purpose"]["side"]
        == 0
    )
    assert runs["fuse"].plan.search["runs_by_purpose"]["rung"] == 0


def test_a_search_cut_short_keeps_only_choices_its_runs_settle_and_each_phase_its_share(measurer, short_requests):
    """--max-measurements: a bucket keeps stock, a setting with every repeat, or one whose verdict another run could
    not change; with any run fair game, hexa6 TinyLlama's G1 cut at 59 runs kept two settings one or two seeds deep
    whose confidence intervals straddled the energy budget. fusegov gives each phase's group its share of the runs left
    by bucket: prefill's group, searched first, took them all and left decode at stock."""
    buckets = llm_buckets(load_requests(str(short_requests)))
    cut = run_search(measurer, buckets, GoalSpec("latency"), "fusegov", TINYLLAMA, budget=59)
    goal, lab = cut.context.goal, cut.lab
    assert lab.measurements == 59 and any("whose verdict its runs settle" in note for note in cut.plan.notes)
    kept = {
        p.bucket: lab.known(Setting.of({k: v for k, v in p.setting.items() if v}), p.bucket) for p in cut.plan.phases
    }
    unsettled = {
        name: obs.repeats
        for name, obs in kept.items()
        if obs.setting != Setting() and obs.repeats < lab.max_repeats and goal.undecided(obs)
    }
    pinned = [name for name, obs in kept.items() if obs.setting != Setting()]
    searched = 59 - len(buckets) * lab.max_repeats  # the runs left after stock's
    decode_runs = sum(e.bucket == "decode" and e.setting != "stock" for e in lab.log)
    print(
        f"\ncut at 59 runs: pinned choices {pinned}, unsettled {unsettled}, decode's runs {decode_runs} of {searched}"
    )
    assert pinned and not unsettled
    open_runs = [
        o for b in buckets for o in lab.observations(b.name) if o.repeats < lab.max_repeats and goal.undecided(o)
    ]
    assert open_runs  # the cut left runs the old fallback could have kept
    assert "decode" in pinned and decode_runs >= searched // len(buckets)


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
    # cooler rungs (governor.heat) under the latency goal only: each meets the budget at less power than the one
    # above it (power relative to stock's: paired energy per token over paired time per token)
    power = [p.energy_per_token_j / p.latency_s for p in (mine.vs_stock, *(r.vs_stock for r in mine.cooler))]
    print(f"power vs stock: chosen and rungs {', '.join(f'{p:.3f}' for p in power)}")
    if goal == "energy":
        assert mine.cooler == ()
    else:
        assert mine.cooler and all(r.vs_stock.energy_per_token_j <= 1.0 for r in mine.cooler)
        assert all(low < high for high, low in zip(power, power[1:]))
        assert all(r.setting != mine.setting for r in mine.cooler)
        assert ours.plan.search["rung_measurements"] <= len(decode_only)  # at most one more run per bucket


def test_on_a_four_cluster_phone_fusegov_beats_fuse_with_fewer_runs_per_model(short_requests, tmp_path):
    """The same on a phone of another shape (four CPU clusters, the prime core the fourth policy), over every
    bucket of the model (short prefills and decode), each choice judged on the seeds the searches chose on and
    on held-out ones (goals.Judge). Runs are counted per model, as the issue counts them: on decode alone FUSE's
    scans stop after 16 to 23 runs, by where noise ends them."""
    profile = str(four_cluster_profile(tmp_path / "quad4.json"))
    measurer = CachedMeasurer(VirtualMeasurer(profile, TINYLLAMA))
    buckets = llm_buckets(load_requests(str(short_requests)))
    runs = {name: run_search(measurer, buckets, GoalSpec("latency"), name, TINYLLAMA) for name in ("fuse", "fusegov")}
    assert all(phase.met for phase in runs["fusegov"].plan.phases)
    assert "policy7" in runs["fusegov"].plan.phase("decode").setting
    _judged_alike(runs, "quad4, paired TTFT per prefill bucket then TPOT")


@pytest.mark.slow
def test_energy_goal_on_pixel7_prefill_fusegov_saves_as_much_as_fuse_with_fewer_runs():
    """G2 over pixel7's full-length prefill buckets, where what lowering the CPU saves is what the energy forms
    disagree on: a setting is worth a run for what it may turn out to be (expected improvement), not only for
    its predicted gain, or the search keeps the CPU at its top and settles 7% above FUSE's energy. Each choice is
    judged on the seeds the searches chose on and on held-out ones (goals.Judge): FUSE's 134 runs pick the
    luckiest of many settings, which its own runs flatter by a few percent."""
    measurer = CachedMeasurer(VirtualMeasurer("pixel7", TINYLLAMA))
    prefill = _prefills(load_requests("sharegpt"))
    runs = {name: run_search(measurer, prefill, GoalSpec("energy"), name, TINYLLAMA) for name in ("fuse", "fusegov")}
    assert all(phase.met for phase in runs["fusegov"].plan.phases)
    _judged_alike(runs, "pixel7 G2 prefill, paired energy per bucket")


def _judged_alike(runs: dict, title: str) -> None:
    """fusegov's choices against FUSE's, each judged on the searched and on held-out seeds (goals.Judge): no
    worse on average, none worse than the noise of one paired ratio allows, and in fewer runs (those for
    cooler rungs, which FUSE has none of, apart)."""
    spread = runs["fuse"].context.goal.spread()
    verdicts = judge_plans(runs)
    rungs = runs["fusegov"].lab.spent(RUNG)
    print(f"\n{title}: fuse in {runs['fuse'].lab.measurements} runs, fusegov in {runs['fusegov'].lab.measurements}")
    for seeds in Judge.SEEDS:
        scores = {name: np.array([v[seeds].objective for v in per.values()]) for name, per in verdicts.items()}
        print(f"  {seeds} seeds: fuse {np.round(scores['fuse'], 4)}, fusegov {np.round(scores['fusegov'], 4)}")
        assert scores["fusegov"].mean() <= scores["fuse"].mean()
        assert np.all(scores["fusegov"] <= scores["fuse"] * (1 + NOISE * spread.objective))
    assert runs["fusegov"].lab.measurements - rungs < runs["fuse"].lab.measurements


def test_side_pins_are_kept_only_where_one_paired_run_shows_they_save_energy(short_requests):
    # sm8550's stock governors run its GPU buses above their floor in decode: fusegov measures its design's top
    # point with the buses at their floor and without, once each on the same seed, and keeps the cheaper
    measurer = VirtualMeasurer("sm8550", TINYLLAMA)
    decode = [b for b in llm_buckets(load_requests(str(short_requests))) if b.kind == "decode"]
    run = run_search(measurer, decode, GoalSpec("latency"), "fusegov", TINYLLAMA)
    pinned, free, *later = (e for e in run.lab.log if e.setting != "stock")
    assert "soc:qcom,gpubw=546.8 MHz" in pinned.setting and "soc:qcom," not in free.setting
    assert pinned.setting.startswith(free.setting) and pinned.repeat == free.repeat == 0
    kept = free.energy_per_token_j > pinned.energy_per_token_j
    print(
        f"\nside pins: {pinned.energy_per_token_j:.4f} J/token pinned, {free.energy_per_token_j:.4f} free: kept {kept}"
    )
    assert later and all(("soc:qcom," in e.setting) == kept for e in later)
    assert [e.setting for e in run.lab.log].count(free.setting) == 1  # one run each, not one per stock seed


def _group(measurer: VirtualMeasurer, buckets: list, goal: str, kind: type[_Group] = _Group) -> _Group:
    """fusegov's group of these buckets (`goal` at the stock limit), its stock runs made on three seeds."""
    lab = Lab(measurer, buckets)
    stock = lab.measure_stock(3)
    ctx = SearchContext(lab, buckets, GoalSpec(goal).resolve(buckets, stock, lab), stock)
    return kind(ctx, buckets, [k for k in ctx.space.primary if len(k.table_hz) > 1])


def _prefills(requests: Requests) -> list[PhaseBucket]:
    """The prefill buckets (FUSE's five) of these requests."""
    return [b for b in llm_buckets(requests) if b.kind == "prefill"]


def _pins(group: _Group, clocks: dict[str, float]) -> list[int]:
    """Each of the group's knobs at its table's level nearest the clock given for its role (Hz)."""
    return [min(k.table_hz, key=lambda hz, k=k: abs(hz - clocks[k.role])) for k in group.knobs]


def _paired_mean(
    measurer: VirtualMeasurer, setting: Setting, bucket: PhaseBucket, field: str, seeds: int = 12
) -> float:
    """The setting's mean ratio in `field` to stock's run of the same seed, over seeds 0..seeds-1: the truth that a
    search's three seeds estimate."""
    ratios = [
        getattr(measurer.run(setting, bucket, repeat=r), field)
        / getattr(measurer.run(Setting(), bucket, repeat=r), field)
        for r in range(seeds)
    ]
    return float(np.mean(ratios))


def _sm8550_prefill_group(short_requests, goal: str) -> _Group:
    """fusegov's prefill group on sm8550 (two short buckets, `goal` at the stock limit), its stock runs made."""
    buckets = _prefills(load_requests(str(short_requests)))[:2]
    return _group(VirtualMeasurer("sm8550", TINYLLAMA), buckets, goal)


@pytest.fixture
def sm8550_prefill_group(short_requests):
    """G1 at the stock budget."""
    return _sm8550_prefill_group(short_requests, "latency")


def test_a_run_with_side_pins_the_search_dropped_is_no_candidate(sm8550_prefill_group):
    # sm8550's stock governors run its GPU buses above their floor: the side check's run pins them; once the check
    # drops the pins, that run is outside the group's settings and must not be repeated or chosen as one of them
    group = sm8550_prefill_group
    bucket, lab = group.buckets[0], group.ctx.lab
    top = [k.max_hz for k in group.knobs]
    assert group.side[bucket.name]
    lab.measure(group.setting(bucket.name, top), bucket.name)
    lab.measure(Setting.of({k.name: k.max_hz for k in group.knobs}), bucket.name)
    pinned_side = [o.setting.label() for o in group.pinned_runs(bucket)]
    group.side = {b.name: {} for b in group.buckets}
    free = [o.setting.label() for o in group.pinned_runs(bucket)]
    print(f"\ngroup runs with the side pins: {pinned_side}; once dropped: {free}")
    assert len(pinned_side) == 1 and "soc:qcom," in pinned_side[0]
    assert len(free) == 1 and "soc:qcom," not in free[0]


def test_only_buckets_making_an_equal_share_of_the_heat_get_a_run_for_their_coolest_rung(short_requests):
    # a rung cools the phone by what its phase heats it: a prefill's heat grows with its prompt, so of FUSE's
    # quantile buckets the long prompts' get the deepest rung's run, the short ones' keep the runs they have
    buckets = _prefills(load_requests(str(short_requests)))
    run = run_search(VirtualMeasurer("pixel7", TINYLLAMA), buckets, GoalSpec("latency"), "fusegov", TINYLLAMA)
    group = _Group(run.context, buckets, [k for k in run.context.space.primary if len(k.table_hz) > 1])
    shares = {b.name: Ladder(group).heat_share(b) for b in buckets}
    rungs = [e for e in run.lab.log if e.purpose == RUNG]
    probes = {b: sum(e.bucket == b for e in rungs) for b in shares}
    print(f"\nshares of the prefill heat {shares}; runs for rungs {probes}")
    assert sum(shares.values()) == pytest.approx(1.0)
    assert all(probes[b] <= 1 for b, share in shares.items() if share * len(buckets) < 1)  # no deep rung's run
    assert any(probes[b] == 2 for b, share in shares.items() if share * len(buckets) >= 1)


def test_a_run_on_a_bucket_no_run_has_every_seed_of_is_repeated_on_every_seed(sm8550_prefill_group):
    # a run on seed 0 alone is put on the footing of every seed by the seeds' effects its bucket's repeated runs
    # show; while no run on the bucket has every seed, those effects are unknown (the footing takes them as zero,
    # the goal's paired spread is pooled over other buckets), so the run stays open until it has every seed
    group = sm8550_prefill_group
    bucket, lab = group.buckets[0], group.ctx.lab
    knobs = group.knobs
    once = lab.measure(group.setting(bucket.name, [k.max_hz for k in knobs]), bucket.name)
    assert group.unseen(bucket, once) and group.undecided(bucket, once)
    decided = lab.decide(once.setting, bucket.name, lambda o: group.undecided(bucket, o))
    assert decided.repeats == len(group.ctx.stock[bucket.name].latency_runs)
    assert not group.unseen(bucket, once)  # the bucket has every seed's effect now
    lower = [k.table_hz[len(k.table_hz) // 2] for k in knobs]
    other = group.buckets[1]
    # one other bucket's effects say nothing of how a third bucket's may differ: it lends nothing (`_Group.lent`)
    assert group.unseen(other, lab.measure(group.setting(other.name, lower), other.name))


def test_a_bucket_borrows_what_the_seeds_do_to_pinned_runs_from_the_other_buckets_of_its_phase(short_requests):
    # a seed's background moves a pinned run alike in every prefill bucket, while the stock governors answer it each
    # bucket its own way: the other buckets' unpaired effects, paired with this bucket's stock runs, are this
    # bucket's effects (latency to ~1e-3 on pixel7), where the other buckets' paired effects are several % off
    buckets = _prefills(load_requests(str(short_requests)))[:4]
    group = _group(VirtualMeasurer("pixel7", TINYLLAMA), buckets, "energy")  # latency is the limit
    lab = group.ctx.lab
    top = [k.max_hz for k in group.knobs]
    for lender in buckets[:3]:
        lab.measure(group.setting(lender.name, top), lender.name, 3)
    last, field = buckets[3], "latency_s"
    once = lab.measure(group.setting(last.name, top), last.name)
    lent = group.lent(last, field)
    borrowed = group.effects(last, field)
    assert [b.name for b in group.lenders(last)] == [b.name for b in buckets[:3]] and lent.borrowed
    assert not group.unseen(last, once)
    error, dof = group.shift_error(last, 1)  # the lenders' scatter, not the whole shift
    assert dof == 2 and error < abs(footing_shift(borrowed, 1))
    lenders_paired = np.mean([group.effects(b, field) for b in buckets[:3]], axis=0)
    # a run leaving the bus to its governor is seen as well, its footing the lent effects, as unsure as their shift
    free = lab.measure(
        group.setting(last.name, [STOCK_HZ if f else k.max_hz for k, f in zip(group.knobs, group.free)]), last.name
    )
    assert group.governed(free) and not group.unseen(last, free)
    error = group.shift_error(last, 1, governed=True)[0]
    assert error == pytest.approx(lent.reach(1)) and error >= abs(footing_shift(borrowed, 1))
    lab.measure(once.setting, last.name, 3)
    own = group.effects(last, field)
    print(
        f"\nseed effects: own {own.round(4)}, borrowed {borrowed.round(4)}, lenders' paired {lenders_paired.round(4)}"
    )
    assert np.abs(borrowed - own).max() < 2e-3 < np.abs(lenders_paired - own).max()
    assert abs(footing_shift(borrowed, 1) - footing_shift(own, 1)) <= t_quantile(0.9, dof) * error


def test_lenders_that_disagree_lend_their_scatter_not_their_mean():
    # borrowed only where their mean beats no guess at all: its error bound under the shift it makes
    agree = Lent(np.log([[1.0, 1.06, 1.05], [1.0, 1.061, 1.049], [1.0, 1.059, 1.051]]), 0.9)
    assert agree.borrowed and agree.effects == pytest.approx(agree.each.mean(axis=0))
    error, dof = agree.shift_error(1)
    assert dof == 2 and error < 0.1 * footing_shift(agree.effects, 1)
    assert agree.shift_error(3)[0] == 0.0  # a run on every seed is not shifted
    disagree = Lent(np.log([[1.0, 1.10, 1.02], [1.0, 0.97, 1.01], [1.0, 1.04, 0.95]]), 0.9)
    shifts = disagree.shifts(1)
    assert not disagree.borrowed and not disagree.effects.any()
    assert (
        disagree.reach(1) == pytest.approx(np.abs(shifts).max()) and disagree.reach(1) > 0
    )  # a governed run: unsure by
    # no shift is made, so the error is how far the lenders' shifts are from none
    assert disagree.shift_error(1)[0] == pytest.approx(np.sqrt((shifts**2).sum() / 2 * (1 + 1 / 3)))
    assert not Lent(agree.each[:1], 0.9).borrowed  # one lender: no scatter to judge it by


def test_a_seeds_effect_that_moves_with_the_run_is_read_as_a_trend_common_to_the_buckets():
    # a seed's effect on energy moves with the run's own duration and power (sm8550's short prefills): three buckets,
    # each with its own shared effects, four runs on three seeds whose effects trend alike with two covariates
    rng = np.random.default_rng(7)
    slopes = np.array([[0.0, 0.0], [-0.8, -0.5], [0.3, -0.6]])
    shared = rng.normal(0.0, 0.1, (3, 3)) * [0, 1, 1]
    covariates = [[rng.uniform(-0.2, 0.2, 2) for _ in range(4)] for _ in range(3)]

    def runs(trend: np.ndarray) -> list[list[np.ndarray]]:
        return [
            [rng.normal(0.0, 0.05) + shared[b] + trend @ z + rng.normal(0.0, 0.002, 3) for z in covariates[b]]
            for b in range(3)
        ]

    trending = runs(slopes)
    trend = seed_trend(trending, covariates, 3, 0.9)
    assert trend.parameters == 4 and np.abs(trend.slopes - slopes).max() < 0.05
    assert trend.of(covariates[0][0], 1) == pytest.approx([0.0])  # seed 0 is where effects are read from
    # a run beyond the covariates the trend was read from is taken at their edge: no line is drawn past its runs
    edge = np.max([z for zs in covariates for z in zs], axis=0)
    assert trend.of(edge + 1.0, 3) == pytest.approx(trend.of(edge, 3))
    # the runs less the trend scatter about their buckets' shared effects by the noise alone, not by the trend
    detrended = [[r - trend.of(z, 3) for r, z in zip(rs, zs)] for rs, zs in zip(trending, covariates)]
    left = [seed_residuals(rs, seed_effects(rs, 3)) for rs in detrended]
    raw = [seed_residuals(rs, seed_effects(rs, 3)) for rs in trending]
    assert sum(s for s, _ in left) < 0.05 * sum(s for s, _ in raw)
    # the trend is nothing on average over its runs: the buckets' shared effects are those of a typical run, of their
    # own size wherever the covariates sit (log clocks in Hz, ~21), so they can tell how far the footing shifts a run
    assert np.mean([trend.of(z, 3) for zs in covariates for z in zs], axis=0) == pytest.approx(np.zeros(3), abs=1e-12)
    offset = [[z + 21.0 for z in zs] for zs in covariates]
    far = seed_trend(trending, offset, 3, 0.9)
    assert far.of(offset[1][2], 3) == pytest.approx(trend.of(covariates[1][2], 3))
    away = [seed_effects([r - far.of(z, 3) for r, z in zip(rs, zs)], 3) for rs, zs in zip(trending, offset)]
    assert np.array(away) == pytest.approx(np.array([seed_effects(rs, 3) for rs in detrended]))
    assert np.abs(away).max() < 3 * np.abs(shared).max()
    # effects common to every run: no trend is read into their noise
    flat = seed_trend(runs(np.zeros((3, 2))), covariates, 3, 0.9)
    assert flat.parameters == 0 and not flat.of(covariates[0][0], 3).any()
    assert seed_trend([[r[:1] for r in rs] for rs in trending], covariates, 3, 0.9).parameters == 0  # seed 0 alone
    assert seed_trend([[], *trending[1:]], [[], *covariates[1:]], 3, 0.9).parameters == 4  # a bucket without runs
    # four runs of one bucket leave the scatter about four slopes two degrees of freedom: too few to read them from
    assert seed_trend(trending[:1], covariates[:1], 3, 0.9).parameters == 0
    # one set of slopes for every seed, on some of the covariates: the others get none
    shared_slopes = np.array([[0.0, 0.0], [-0.6, 0.0], [-0.6, 0.0]])
    common = seed_trend(runs(shared_slopes), covariates, 3, 0.9, columns=[0], common=True)
    assert common.parameters == 1 and np.abs(common.slopes - shared_slopes).max() < 0.05
    # what picks among forms: the scatter left per degree of freedom, two runs' noise for a seed less seed 0
    assert common.variance == pytest.approx(2 * 0.002**2, rel=0.5) and flat.variance == np.inf


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(1, 4), max_size=5), max_size=4),
    st.integers(1, 4),
    st.booleans(),
    st.integers(0, 10**6),
)
def test_a_trend_is_read_from_any_runs_without_failing(lengths, seeds, common, seed):
    # whatever runs the search has repeated (none, one seed, more seeds than the stock has, identical covariates),
    # the trend is a finite one or none
    rng = np.random.default_rng(seed)
    runs = [[rng.normal(0.0, 0.1, n) for n in bucket] for bucket in lengths]
    covariates = [[np.round(rng.normal(0.0, 0.2, 3), 1) for _ in bucket] for bucket in lengths]
    trend = seed_trend(runs, covariates, seeds, 0.9, columns=[0, 2] if common else None, common=common)
    assert np.isfinite(trend.slopes).all() and not trend.slopes[0].any()
    assert trend.parameters == 0 or np.isfinite(trend.variance)
    assert np.isfinite(trend.of(np.full(trend.slopes.shape[1], 5.0), seeds)).all()


def test_on_sm8550s_short_prefills_the_trend_puts_a_run_on_one_seed_nearer_its_mean_over_every_seed(short_requests):
    # a seed's effect on energy there moves with the setting's latency and energy (the GPU's activity wanders over a
    # fraction of a second, and each run averages it over its own duration): read from the repeated runs of two
    # buckets, the trend puts a setting run on seed 0 alone nearer to where every seed puts it than the shared
    # effects alone do
    buckets = _prefills(load_requests(str(short_requests)))[:2]
    group = _group(VirtualMeasurer("sm8550", "stablelm-2.7b-q4"), buckets, "latency")
    lab, ctx = group.ctx.lab, group.ctx
    field = ctx.goal.limit_field
    levels = [(1.0, 1.0, 1.0), (0.5, 1.0, 1.0), (1.0, 0.4, 1.0), (1.0, 1.0, 0.3), (0.7, 0.7, 0.6)]
    for bucket in buckets:
        for shares in levels:
            freqs = [k.table_hz[int(share * (len(k.table_hz) - 1))] for k, share in zip(group.knobs, shares)]
            lab.measure(group.setting(bucket.name, freqs), bucket.name, 3)
    assert group.trend(field).parameters > 0
    bucket = buckets[0]
    once = lab.measure(group.setting(bucket.name, [k.table_hz[-2] for k in group.knobs]), bucket.name)
    footed = np.log(group.footing(bucket, once, field))
    shared = on_footing(
        np.log(ctx.goal.paired(once, field)),
        seed_effects([np.log(ctx.goal.paired(o, field)) for o in group.pinned_runs(bucket)], 3),
    )
    every = float(np.log(ctx.goal.paired(lab.measure(once.setting, bucket.name, 3), field)).mean())
    print(
        f"\non every seed {every:+.4f}; on the footing with the trend {footed:+.4f}, with shared effects alone {shared:+.4f}"
    )
    assert abs(footed - every) < abs(shared - every)


def test_a_governed_run_on_every_seed_does_not_stand_in_for_pinned_runs(sm8550_prefill_group):
    # a run leaving the bus to its governor answers each seed its own way: where only such a run has every seed, a
    # pinned run on seed 0 stays open until it has them all (taking the governor's effects doubled sm8550's short-prefill
    # G1 gaps to the oracle); the pinned runs' effects do stand in for governed runs (the test above)
    group = sm8550_prefill_group
    bucket, lab = group.buckets[0], group.ctx.lab
    top = [k.max_hz for k in group.knobs]
    lab.measure(
        group.setting(bucket.name, [STOCK_HZ if k.role == "mem" else f for k, f in zip(group.knobs, top)]),
        bucket.name,
        3,
    )
    once = lab.measure(group.setting(bucket.name, [k.table_hz[len(k.table_hz) // 2] for k in group.knobs]), bucket.name)
    assert not group.governed(once) and group.unseen(bucket, once) and group.undecided(bucket, once)


def test_a_footing_shifted_by_one_settings_seeds_is_as_unsure_as_its_shift(sm8550_prefill_group):
    # the seeds' effects read from one setting on every seed shift a run on seed 0 alone by what they do there; another
    # setting's seeds may do otherwise (energy's move with the memory clock), so until a second setting has every seed,
    # the footing is unsure by the whole shift, and a run it puts just inside the budget stays open
    group = sm8550_prefill_group
    bucket, lab, goal = group.buckets[0], group.ctx.lab, group.ctx.goal
    levels = [[k.table_hz[int(share * (len(k.table_hz) - 1))] for k in group.knobs] for share in (1.0, 0.5, 0.8)]
    full = lab.measure(group.setting(bucket.name, levels[0]), bucket.name, 3)
    once = lab.measure(group.setting(bucket.name, levels[1]), bucket.name)
    shift = footing_shift(group.effects(bucket, goal.limit_field), 1)
    error = group.footing_margin(bucket, once)[1]
    print(f"\none setting on every seed: shift {shift:+.2%}, footing error {error:.2%}")
    assert abs(shift) > 0.01  # sm8550's energy: seeds 1 and 2 read several % off seed 0
    assert error >= abs(shift) and group.footing_margin(bucket, full)[1] == 0.0
    lab.measure(group.setting(bucket.name, levels[2]), bucket.name, 3)
    print(f"two: footing error {group.footing_margin(bucket, once)[1]:.2%}")
    assert group.shift_error(bucket, 1)[0] == 0.0 and group.footing_margin(bucket, once)[1] < abs(shift)
    assert footing_shift(np.log([1.0, 1.1, 1.3]), 3) == 0.0  # a run on every seed is not shifted


def test_runs_leaving_the_bus_to_its_governor_are_put_on_the_footing_by_their_own_seeds_effects(short_requests):
    # a governor answers each seed its own way: pixel7's memory bus under StableLM's decode shifts what a seed does to
    # the energy, so a run leaving it stock is put on the footing of every seed by such runs' effects, and until two
    # such settings have every seed its footing is as unsure as the goal's spread and its shift
    buckets = [b for b in llm_buckets(load_requests(str(short_requests))) if b.kind == "decode"]
    group = _group(VirtualMeasurer("pixel7", "stablelm-2.7b-q4"), buckets, "latency")
    lab, ctx = group.ctx.lab, group.ctx
    bucket, goal, field = buckets[0], ctx.goal, ctx.goal.limit_field
    mem = next(i for i, k in enumerate(group.knobs) if k.role == "mem")

    def levels(share: float, governed: bool) -> list[float]:
        freqs = [k.table_hz[int(share * (len(k.table_hz) - 1))] for k in group.knobs]
        return [STOCK_HZ if governed and i == mem else f for i, f in enumerate(freqs)]

    for share in (1.0, 0.5):
        lab.measure(group.setting(bucket.name, levels(share, False)), bucket.name, 3)
    first = lab.measure(group.setting(bucket.name, levels(0.9, True)), bucket.name)
    # no run leaving the bus stock has every seed: the pinned runs' effects stand in, their whole shift unsure
    assert group.governed(first) and not group.unseen(bucket, first)
    shift = abs(footing_shift(group.effects(bucket, field, governed=True), 1))
    assert shift > 0 and group.shift_error(bucket, 1, governed=True)[0] == shift
    assert group.footing_margin(bucket, first)[1] >= np.hypot(goal.spread().limit * np.sqrt(2 / 3), shift)
    lab.measure(first.setting, bucket.name, 3)
    lab.measure(group.setting(bucket.name, levels(0.7, True)), bucket.name, 3)
    own, pinned = [], []
    for share in (0.6, 0.4, 0.8):
        once = lab.measure(group.setting(bucket.name, levels(share, True)), bucket.name)
        log_ratio = np.log(goal.paired(once, field))
        mean = np.log(goal.paired(lab.measure(once.setting, bucket.name, 3), field)).mean()
        own.append(on_footing(log_ratio, group.effects(bucket, field, governed=True)) - mean)
        pinned.append(on_footing(log_ratio, group.effects(bucket, field)) - mean)
    print(f"\nfooting on seed 0 less the mean over every seed: own {np.round(own, 4)}, pinned {np.round(pinned, 4)}")
    assert np.abs(own).sum() < np.abs(pinned).sum()
    assert not group.unseen(bucket, once) and group.shift_error(bucket, 1, governed=True)[0] == 0.0


def test_candidates_reach_below_the_clocks_run_so_far_one_step_at_a_time(sm8550_prefill_group):
    # the models extrapolate below the lowest clock a knob has run at; candidates may go EXTRAPOLATION below it,
    # and a run there moves the edge down
    group = sm8550_prefill_group
    bucket, lab = group.buckets[0], group.ctx.lab
    assert not group.beyond_runs(bucket).any()  # no run yet: nothing to extrapolate from, no edge
    top = [k.max_hz for k in group.knobs]
    lab.measure(group.setting(bucket.name, top), bucket.name)
    edge = np.log(np.array(top, dtype=float)) - EXTRAPOLATION
    beyond = group.beyond_runs(bucket)
    clocks = np.log(group.effective_grid(bucket))
    assert np.array_equal(beyond, (clocks < edge).any(axis=1)) and beyond.any() and not beyond.all()
    mem = next(i for i, k in enumerate(group.knobs) if k.role == "mem")
    deepest = min(f for f in group.knobs[mem].table_hz if np.log(f) >= edge[mem])
    lower = list(top)
    lower[mem] = deepest
    lab.measure(group.setting(bucket.name, lower), bucket.name)
    print(f"\nmemory down to {deepest / 1e6:.0f} MHz first; then {(~group.beyond_runs(bucket)).sum()} of {len(beyond)}")
    assert (group.beyond_runs(bucket) <= beyond).all() and group.beyond_runs(bucket).sum() < beyond.sum()


def test_the_search_stops_on_the_noise_its_own_repeated_runs_show(sm8550_prefill_group):
    # before the group has repeated runs, deciding a run leans on the goal's cautious guess (the paired spread of
    # every bucket, seeds' effects and all), but the stop's resolution is what the group's runs have measured: none
    group = sm8550_prefill_group
    bucket, lab, goal = group.buckets[0], group.ctx.lab, group.ctx.goal
    levels = [[k.table_hz[len(k.table_hz) // 2] for k in group.knobs], [k.max_hz for k in group.knobs]]
    lab.measure(group.setting(bucket.name, levels[0]), bucket.name, repeats=3)
    assert group.measured_noise(goal.objective_field) == (0.0, 0)  # one run's seeds all go to the seeds' effects
    assert group.footing_noise(goal.objective_field) == (goal.spread().objective, goal.spread().dof)
    lab.measure(group.setting(bucket.name, levels[1]), bucket.name, repeats=3)
    noise, dof = group.measured_noise(goal.objective_field)
    print(
        f"\nfooting noise of {goal.objective_field}: {noise:.2e} ({dof} dof); paired spread {goal.spread().objective:.2e}"
    )
    assert dof == 2 and 0 < noise < goal.spread().objective
    assert group.footing_noise(goal.objective_field) == (noise, dof)


@pytest.mark.slow
def test_a_bucket_still_at_stock_is_not_ended_by_the_models_misfit():
    # hexa6 StableLM, full-length buckets, G1: the model misfits the latency of the shortest prefill bucket's first two
    # runs by 2.4-4%; with that misfit as the stop's bar (whole, or the share the candidate may carry far from runs),
    # the GPU lowered was tried late or never and the bucket stayed at stock, up to 4.9% slower than FUSE's choice.
    # While a bucket's best is stock, the misfit is in each candidate's expected gain and the bar is the noise alone:
    # the bucket leaves stock for a setting faster than stock's noise
    buckets = llm_buckets(load_requests("sharegpt"), count=5)
    measurer = VirtualMeasurer(HEXA6, "stablelm-2.7b-q4")
    runs = {
        name: run_search(measurer, buckets, GoalSpec("latency"), name, "stablelm-2.7b-q4")
        for name in ("fuse", "fusegov")
    }
    spread = runs["fuse"].context.goal.spread()
    judged = judge_plans(runs)
    stock = runs["fuse"].context.stock
    gains = []
    for phase in runs["fusegov"].plan.phases:
        mine, theirs = (judged[name][phase.bucket]["searched"] for name in ("fusegov", "fuse"))
        level = stock[phase.bucket].latency_s
        gains.append(1 - mine.objective / level)
        print(
            f"\n{phase.bucket}: {phase.setting} latency vs stock {-gains[-1]:+.2%}, FUSE's {theirs.objective / level - 1:+.2%}",
            end="",
        )
        assert mine.margin >= -NOISE * spread.limit
    first = runs["fusegov"].plan.phases[0]
    assert any(first.setting.values()) and gains[0] > NOISE * spread.objective  # the shortest prefill leaves stock


@pytest.mark.slow
def test_a_near_miss_worth_its_repeats_is_repeated():
    # pixel7 StableLM's decode, G1: the stock energy budget passes through the settings at gpu 701 MHz. One of them,
    # run on seed 0 alone, meets the budget by the goal's rule and misses it on the footing by less than that
    # footing's error; dropped on the footing, the search settled at gpu 572 MHz, 10% slower. Repeated, it meets
    # the budget on every seed: the choice is faster than FUSE's by more than the noise, within budget, in fewer runs
    decode = [b for b in llm_buckets(load_requests("sharegpt").with_prompts_up_to(64)) if b.kind == "decode"]
    measurer = VirtualMeasurer("pixel7", "stablelm-2.7b-q4")
    runs = {
        name: run_search(measurer, decode, GoalSpec("latency"), name, "stablelm-2.7b-q4")
        for name in ("fuse", "fusegov")
    }
    spread = runs["fuse"].context.goal.spread()
    judged = judge_plans(runs)
    name = decode[0].name
    level = runs["fuse"].context.stock[name].latency_s
    mine, theirs = (judged[search][name]["searched"] for search in ("fusegov", "fuse"))
    fusegov, fuse = runs["fusegov"], runs["fuse"]
    print(
        f"\n{name}: fusegov {fusegov.plan.phases[0].setting} {mine.objective / level - 1:+.2%} vs stock, margin "
        f"{mine.margin:+.2%}, {fusegov.lab.measurements} runs; FUSE {theirs.objective / level - 1:+.2%}, "
        f"{fuse.lab.measurements} runs"
    )
    assert mine.margin >= -NOISE * spread.limit
    assert mine.objective < theirs.objective * (1 - NOISE * spread.objective)
    assert fusegov.lab.measurements < fuse.lab.measurements


def test_a_run_on_one_seed_is_put_on_the_footing_of_every_seed():
    # every pinned setting's latency moves by the same factor per seed; a setting seen on seed 0 alone must come out
    # where it would have on all three, not by seed 0's factor off
    seed = np.log([1.0, 0.95, 1.02])
    truth = np.log([0.8, 0.6, 0.7])
    repeated = [truth[0] + seed, truth[1] + seed]
    effects = seed_effects(repeated, 3)
    assert np.allclose(effects, seed - seed[0])
    once = truth[2] + seed[:1]
    assert on_footing(once, effects) == pytest.approx(truth[2] + seed.mean())
    assert on_footing(repeated[0], effects) == pytest.approx(repeated[0].mean())


def test_the_seeds_shared_effect_leaves_each_runs_own_scatter():
    # stock's energy reads high on seed 0 (every pinned setting's ratio low there) and each run scatters a little
    # on its own: the residual is that scatter alone, so a run on seed 0 is judged on the footing with its error
    seed = np.log([1.0, 1.12, 1.2])
    own = [np.log([1.0, 1.01, 0.99]), np.log([0.99, 1.0, 1.01]), np.log([1.0, 0.99, 1.01])]
    repeated = [np.log(0.9) + seed + noise for noise in own]
    effects = seed_effects(repeated, 3)
    squares, dof = seed_residuals(repeated, effects)
    assert dof == 3 * 2 - 2
    assert 0.005 < np.sqrt(squares / dof) < 0.02
    assert np.sqrt(squares / dof) < np.std(np.concatenate(repeated), ddof=1) / 5
    once = np.log(0.95) + seed[:1]  # 0.95 on seed 0: meets the budget by itself, misses it on the footing
    assert np.exp(once[0]) < 1 < np.exp(on_footing(once, effects))
    assert seed_residuals([], effects) == (0.0, 0)


def test_a_buckets_misfit_from_a_few_runs_is_moderated_towards_the_groups():
    # a bucket whose two runs happen to straddle the model reads a large misfit alone; pooled with its group's
    # many runs (one run's worth of the pooled spread) it comes down, while a bucket with many runs keeps its own
    many = np.exp(np.tile([0.01, -0.01], 10))  # 20 runs, 1% about their mean
    few = np.exp([0.04, -0.04])  # 2 runs, 4% about their mean
    alone = misfits([many, few], prior=0.0)
    assert alone == pytest.approx([0.01, 0.04])
    moderated = misfits([many, few, np.zeros(0)])
    pooled = np.sqrt((20 * 0.01**2 + 2 * 0.04**2) / 22)
    assert moderated[0] == pytest.approx(np.sqrt((20 * 0.01**2 + pooled**2) / 21))
    assert alone[0] < moderated[0] < 0.011
    assert moderated[1] == pytest.approx(np.sqrt((2 * 0.04**2 + pooled**2) / 3))
    assert pooled < moderated[1] < alone[1]
    assert moderated[2] == pytest.approx(pooled)  # a bucket without runs: the group's
    assert misfits([np.exp([0.02])], prior=0.0)[0] == 0.0  # one run has no shape to miss
    assert np.all(misfits([np.zeros(0), np.zeros(0)]) == 0.0)


def test_a_run_leaving_the_bus_to_its_governor_moves_only_the_settings_that_leave_it_too():
    # three pinned runs the model predicts to 1% and one with the bus stock 50% slower than predicted (its governor
    # runs the bus low): the pinned settings keep the pinned runs' mean, the stock level alone takes the offset
    log_ratio = np.log([1.01, 0.99, 1.0, 1.5])
    run_stock = np.array([[False], [False], [False], [True]])
    mean, offset, at_runs = bucket_terms(log_ratio, run_stock)
    assert mean == pytest.approx(0.0, abs=1e-4)
    assert offset == pytest.approx([np.log(1.5) / 2], abs=1e-4)  # one run, shrunk by a prior weight of one
    assert at_runs == pytest.approx([mean, mean, mean, mean + offset[0]])
    far = np.zeros((2, 4))  # two grid settings no run is near: pinned, and the bus stock
    factor = residual_factor(far, np.exp(log_ratio), np.array([[False], [True]]), run_stock)
    assert factor == pytest.approx([1.0, np.sqrt(1.5)], abs=1e-3)
    assert bucket_terms(np.log([1.2, 1.4]), np.array([[True], [True]]))[0] == pytest.approx(np.log([1.2, 1.4]).mean())


def test_a_choice_the_footing_alone_decided_is_run_on_every_seed_where_the_footing_is_not_exact(sm8550_prefill_group):
    # energy's seeds' effects move with the setting (sm8550's short prefills), so the footing of a run on seed 0 is
    # no proof that it meets the budget: the bucket's best is confirmed on every stock seed before the search ends
    group = sm8550_prefill_group
    bucket, lab, goal = group.buckets[0], group.ctx.lab, group.ctx.goal
    seeds = len(group.ctx.stock[bucket.name].runs_of(goal.limit_field))
    levels = [[k.table_hz[i] for k in group.knobs] for i in (-1, -2)]
    for level in levels:
        lab.measure(group.setting(bucket.name, level), bucket.name, repeats=seeds)
    noise = group.measured_noise(goal.limit_field)[0]
    print(f"\nfooting noise of {goal.limit_field}: {noise / goal.spread().limit:.3f} of the paired spread")
    assert not group.exact_footing() and noise > EXACT_FOOTING * goal.spread().limit
    # a setting the footing puts ~10% inside the budget, its own seed ~0.3%: the footing shifted it by ~10%
    once = lab.measure(
        group.setting(bucket.name, [k.table_hz[i] for k, i in zip(group.knobs, (-5, -6, -5))]), bucket.name
    )
    assert group.best(bucket) == once and once.repeats == 1  # the best, on the footing of seed 0 alone
    assert not group.clears_shift(bucket, once)  # seed effects wrong by their own size could put it over the budget
    before = lab.measurements
    while group.confirm_best():
        pass
    best = group.best(bucket)
    print(f"confirming the best took {lab.measurements - before} runs: {best.setting.label()} on {best.repeats} seeds")
    assert lab.measurements > before and best.repeats == seeds and goal.feasible(best)
    assert group.resolution(bucket, held=False) >= MIN_GAIN  # no gain under MIN_GAIN is worth a run


def test_a_choice_inside_the_budget_by_more_than_the_footing_moves_it_stands_on_one_seed(sm8550_prefill_group):
    # a setting low enough to spend far less energy than stock (~16% inside the budget on the footing, 6% on its own
    # seed; 8% on every seed) meets the budget whatever the other seeds do to it:
    # its margin on the footing clears the footing's shift of it and the footing's bound, and the other seeds
    # could not change the decision; confirming it would be runs for nothing. Not before any run has measured what
    # the seeds do there: its footing then shifts it by nothing, which clears nothing
    group = sm8550_prefill_group
    bucket, lab, goal = group.buckets[0], group.ctx.lab, group.ctx.goal
    seeds = len(group.ctx.stock[bucket.name].runs_of(goal.limit_field))
    low = lab.measure(group.setting(bucket.name, [k.table_hz[-6] for k in group.knobs]), bucket.name)
    assert group.unseen(bucket, low) and not group.clears_shift(bucket, low)
    for i in (-1, -2):
        lab.measure(group.setting(bucket.name, [k.table_hz[i] for k in group.knobs]), bucket.name, repeats=seeds)
    assert not group.exact_footing()
    margin, error, _ = group.footing_margin(bucket, low)
    shift = margin - goal.margin(low)
    print(f"\nmargin on the footing {margin:+.2%} +- {error:.2%}, shifted {shift:+.2%} from its seed")
    assert group.best(bucket) == low and group.clears_shift(bucket, low)
    before = lab.measurements
    assert not group.confirm_best() and lab.measurements == before and group.best(bucket).repeats == 1


def test_where_the_footing_is_exact_a_choice_on_one_seed_stands(short_requests):
    # latency's seeds' effects are common to every pinned setting on the virtual phone: under a latency target (G2)
    # the footing of a run on seed 0 is as good as its runs on every seed, and confirming it would be runs for nothing
    group = _sm8550_prefill_group(short_requests, "energy")
    bucket, lab, ctx = group.buckets[0], group.ctx.lab, group.ctx
    assert not group.exact_footing()  # unknown until runs are repeated
    for i in (-1, -2):
        lab.measure(group.setting(bucket.name, [k.table_hz[i] for k in group.knobs]), bucket.name, repeats=3)
    noise = group.measured_noise(ctx.goal.limit_field)[0]
    print(f"\nfooting noise of {ctx.goal.limit_field}: {noise / ctx.goal.spread().limit:.1e} of the paired spread")
    assert group.exact_footing()
    lab.measure(group.setting(bucket.name, [k.table_hz[-3] for k in group.knobs]), bucket.name)
    before = lab.measurements
    assert not group.confirm_best() and lab.measurements == before


def _observation(bucket: str, setting: Setting, energy: list[float], latency: list[float]) -> Observation:
    return Observation(setting, bucket, 0.0, 0.0, 0.0, 0.0, len(energy), {}, tuple(latency), tuple(energy))


def test_the_judge_pairs_each_choice_with_stock_on_searched_and_held_out_seeds():
    # stock and a setting on six seeds; the setting meets the budget on seeds 0-2 (where it was chosen) but not on 3-5
    stock = _observation("decode", Setting(), [1.0, 1.1, 0.9, 1.0, 1.0, 1.0], [1.0] * 6)
    fast = Setting.of({"gpu": 900_000_000})
    chosen = _observation("decode", fast, [0.99, 1.09, 0.89, 1.05, 1.05, 1.05], [0.5] * 6)
    runs = {Setting(): stock, fast: chosen}
    goal = GoalSpec("latency").resolve([], {})
    goal.stock = {"decode": stock.seeds(0, 3)}

    def measure(setting, bucket, repeats):
        assert repeats == 6
        return runs[setting]

    judge = Judge(goal, measure, ["decode"], searched=3, held_out=3)
    verdict = judge(fast, "decode")
    assert verdict["searched"].margin == pytest.approx(1 - np.mean([0.99 / 1.0, 1.09 / 1.1, 0.89 / 0.9]))
    assert verdict["held_out"].margin == pytest.approx(-0.05)
    assert verdict["searched"].score == verdict["held_out"].score == pytest.approx(0.5)
    with pytest.raises(GovernorError, match="no runs from repeat 3"):
        stock.seeds(0, 3).seeds(3)


def test_heat_levels_are_one_price_for_every_phase_and_each_moves_some_phase():
    """Rungs come one per price (`with_rungs`, repeats where a phase has nothing cheaper); a level is one price in
    every phase, so the prefill's cheap cuts come before the decode's, and a price at which no phase moves is
    no level (it would cool nothing)."""

    def run(name: str) -> Observation:
        return Observation(Setting.of({"gpu": len(name)}), "b", 1.0, 1.0, 0.0, 0.0, 1, {})

    prefill, p1, p3 = run("p"), run("p1"), run("p333")
    decode, d4 = run("d"), run("d4444")
    choices = {
        "prefill<=512": Choice(prefill, True, (p1, p1, p3, p3, p3)),
        "decode": Choice(decode, True, (decode, decode, decode, d4, d4)),
        "cnn": Choice(run("c"), True),  # no rungs: its own setting at every level
    }
    levels = common_levels(choices)
    # price 2 moves nothing and price 5 neither: three levels, prefill cut at the first, decode only at the last
    assert levels["prefill<=512"].cooler == (p1, p3, p3)
    assert levels["decode"].cooler == (decode, decode, d4)
    assert levels["cnn"] == choices["cnn"]
    assert common_levels({"decode": Choice(decode, True)})["decode"].cooler == ()


def test_no_near_miss_worth_its_repeats_is_left_when_the_search_ends(short_requests):
    # a run meeting the budget by the rule on seed 0 but not on the footing is worth its repeats once nothing unmeasured
    # is expected to gain more (`_Group.near_miss`): late in a search, not only when it was run. Judged only then,
    # pixel7 Qwen 1.5B's prefill<=14 ended with two such runs at gpu 848 MHz unrepeated, and sm8550's (gaps part of
    # bench_governor) with the oracle's own setting for prefill<=14 one seed deep: 2.25% slower than the oracle's choice
    buckets = _prefills(load_requests(str(short_requests)))
    group = _group(VirtualMeasurer("pixel7", "qwen-1.5b-q4"), buckets, "latency")
    lab = group.ctx.lab
    group.run()
    left = [
        (bucket.name, obs.setting.label())
        for bucket in buckets
        for obs in group.pinned_runs(bucket)
        if obs.repeats < lab.max_repeats and group.near_miss(bucket, obs, group.best(bucket))
    ]
    print(f"\n{lab.measurements} runs; near misses left: {left}")
    assert not left


def test_a_bucket_that_reconfirms_a_run_makes_one():
    # `reconfirm` tells the round that a bucket repeated a run, and that bucket then proposes nothing that round; a
    # near miss whose decision was closed (the goal's own interval, where the footing explains too little) was picked
    # though `Lab.decide` runs nothing for it: hexa6 Qwen 1.5B's prefill (full length, G1) sat out two rounds so
    class Watched(_Group):
        idle = 0

        def reconfirm(self, bucket) -> bool:
            before = self.ctx.lab.measurements
            ran = super().reconfirm(bucket)
            self.idle += ran and self.ctx.lab.measurements == before
            return ran

    buckets = _prefills(load_requests("sharegpt"))
    group = _group(VirtualMeasurer(HEXA6, "qwen-1.5b-q4"), buckets, "latency", Watched)
    group.run()
    assert group.idle == 0


def test_a_bucket_leaves_stock_on_its_own_runs_not_on_a_shape_the_others_measured():
    # with the memory bus no knob (a phone that does not expose it: its governor follows the traffic), three design
    # points cover three of five prefill buckets, and the buckets' energy depends on the GPU's clock each its own way
    # (pixel7 TinyLlama: the top GPU clock costs ~0.1% over 762 MHz on prefill<=22, 7-10% on the longer ones). After one
    # run over the budget, the pooled model, shaped by the bucket with the GPU's runs, read every clock over it on
    # prefill<=37 and <=64, and both ended at stock, 19% and 13% slower than the oracle's choices. Each bucket now gets
    # a design point, is not ended holding no gain on a shape its own runs have not tested (`_Group.tested`), and repeats
    # a run near the limit while it holds none (`_Group.near_miss`)
    buckets = _prefills(load_requests("sharegpt").with_prompts_up_to(64))
    measurer = VirtualMeasurer("pixel7", TINYLLAMA)
    space = measurer.space
    measurer.space = replace(space, knobs=tuple(k for k in space.knobs if k.role != "mem"))
    group = _group(measurer, buckets, "latency")
    group.run()
    spread = group.ctx.goal.spread()
    for bucket in buckets:
        best = group.best(bucket)
        gain = 1 - float(group.score(bucket, [best])[0])
        print(f"\n{bucket.name}: {best.setting.label()} latency {-gain:+.2%} of stock's", end="")
        assert best.setting != Setting() and gain > spread.objective  # one paired spread of the latency


def test_a_run_its_own_seeds_put_over_the_limit_is_worth_repeating_only_for_the_runs_scatter():
    # while a bucket holds no gain, a run its own seeds put over the limit may be a near miss (`_Group.near_miss`); its
    # chance of meeting the goal is then over the runs' own scatter (`footing_spread`), not the footing's unknown shift:
    # counted in, sm8550 Qwen 1.5B's prefill<=512 (full length, G1) repeated two runs 1.3% and 5.3% over the budget,
    # given a chance by a 10.9% shift error where the runs scatter by 0.5%, and both missed on every seed
    buckets = _prefills(load_requests("sharegpt"))
    group = _group(VirtualMeasurer("sm8550", "qwen-1.5b-q4"), buckets, "latency")
    lab, first, last = group.ctx.lab, group.buckets[0], group.buckets[-1]
    for level in (-1, -2):  # one bucket measures the seeds' effects and the group's noise: two runs on every seed
        lab.measure(group.setting(first.name, [k.table_hz[level] for k in group.knobs]), first.name, 3)
    clocks = {"cpu": 1478.4e6, "gpu": 719e6}
    stock = lab.known(Setting(), last.name)
    worth = {}
    for mem in (4263.8e6, 2736e6):  # memory at its top, then lowered: ~5% and ~0.3% over the budget on seed 0
        clocks["mem"] = mem
        run = lab.measure(group.setting(last.name, _pins(group, clocks)), last.name)
        group.refit()
        margin, error, _ = group.footing_margin(last, run)
        spread = group.footing_spread(last, run)[0]
        gain = 1 - float(group.score(last, [run])[0])
        worth[mem] = group.repeat_worth(last, run, stock)
        print(
            f"\nmem {mem / 1e6:.0f} MHz: rule margin {group.ctx.goal.margin(run):+.2%}, footing {margin:+.2%} +- {error:.2%}"
            f" (runs' scatter {spread:.2%}), gain {gain:.1%}, worth per run {worth[mem]:.2e}",
            end="",
        )
        assert not group.ctx.goal.feasible(run) and error > 3 * spread and gain > 0.05
    assert worth[4263.8e6] < 1e-6  # 6 spreads over: no scatter brings it inside, whatever the shift's error
    assert worth[2736e6] > 1e-3  # within a spread: worth a run


def test_under_an_energy_objective_the_design_reads_each_knobs_energy_on_every_seed():
    # one run of sm8550 StableLM's shortest prefills scatters 3-4% in energy about the seeds' shared effect, as much as
    # good settings differ; at the end of a search whose design points ran on seed 0 alone, memory lowered under
    # prefill<=9 (GPU 475 MHz, CPU 1478 MHz: 3196 -> 2092 MHz) read 1.95% costlier where twelve seeds measure it 3.3%
    # cheaper, and under the latency target the search kept the bus high; with the points on every seed
    # (`_Group.design_repeats`) the model reads it 1.5% cheaper
    buckets = _prefills(load_requests("sharegpt").with_prompts_up_to(64))
    measurer = VirtualMeasurer("sm8550", "stablelm-2.7b-q4")
    group = _group(measurer, buckets, "energy")
    group.run()
    first = buckets[0]
    points = {}
    for mem in (3195.8e6, 2091.9e6):
        clocks = {"cpu": 1478.4e6, "gpu": 475e6, "mem": mem}
        setting = group.setting(first.name, _pins(group, clocks))
        predicted = Surrogate.expected(group.predict(first)[1])[group._index(setting)]
        points[mem] = (
            _paired_mean(measurer, setting, first, "energy_per_token_j"),
            predicted / group.ctx.stock[first.name].energy_per_token_j,
        )
    measured = points[2091.9e6][0] / points[3195.8e6][0] - 1
    read = points[2091.9e6][1] / points[3195.8e6][1] - 1
    print(
        f"\nmemory 3196 -> 2092 MHz under {first.name}: energy {measured:+.2%} on 12 seeds, the model reads {read:+.2%}"
    )
    assert measured < 0 and read < 0 and abs(read - measured) < 0.025


def test_a_bucket_holding_no_gain_tries_what_most_likely_gains_and_meets_the_goal():
    # sm8550 StableLM's full-length prefill<=103 under the stock latency (G2): every setting the energy model expected
    # to save energy missed the latency target by the time model (which the runs confirm to ~0.1%), so a bucket whose
    # own runs had not tested the model's shape ran the three closest to the line, 1.4-2.0% over it on every seed, and
    # ended at stock where FUSE's pick saves 1.2%. It now runs the setting most likely to both gain and meet the goal
    # (`_Group.next_setting`), one the energy model misread
    buckets = _prefills(load_requests("sharegpt"))
    measurer = VirtualMeasurer("sm8550", "stablelm-2.7b-q4")
    group = _group(measurer, buckets, "energy")
    group.run()
    bucket = next(b for b in buckets if b.name == "prefill<=103")
    best = group.best(bucket)
    latency = _paired_mean(measurer, best.setting, bucket, "latency_s")
    energy = _paired_mean(measurer, best.setting, bucket, "energy_per_token_j")
    print(
        f"\n{bucket.name}: {best.setting.label()}: "
        f"latency {latency - 1:+.2%}, energy {energy - 1:+.2%} of stock's (12 seeds)"
    )
    assert (
        best.setting != Setting() and latency <= 1.0 and energy < 1.0 - group.ctx.goal.spread().objective / np.sqrt(12)
    )


def test_a_bucket_whose_runs_leave_the_bus_to_its_governor_has_tested_the_models_shape():
    # sm8550 StableLM's full-length prefill<=512 under the stock energy (G1): stock sits on the frontier there, and its
    # runs, two with every knob pinned and two leaving the bus to its governor, were all over the budget. Counting the
    # pinned runs alone, its shape was untested (`_Group.tested`), and a bucket holding no gain on an untested shape is
    # not ended on the model's word: it ran two settings the model gave a 0-1% chance of meeting the budget
    class Watched(_Group):
        def __init__(self, *args):
            super().__init__(*args)
            self.picks: list[tuple[str, bool, float]] = []  # bucket, tested, the pick's chance of meeting the goal

        def next_setting(self, bucket):
            setting = super().next_setting(bucket)
            if setting is not None:
                chance = float(self.outlook(bucket).meets[self._index(setting)])
                self.picks.append((bucket.name, self.tested(bucket), chance))
            return setting

    buckets = _prefills(load_requests("sharegpt"))
    group = _group(VirtualMeasurer("sm8550", "stablelm-2.7b-q4"), buckets, "latency", Watched)
    group.run()
    for name, tested, chance in group.picks:
        print(f"\n{name}: {'tested' if tested else 'untested'} shape, picked at a {chance:.0%} chance", end="")
    last = buckets[-1]
    assert group.best(last).setting == Setting() and any(group.governed(o) for o in group.pinned_runs(last))
    assert all(chance > 0.02 for name, _, chance in group.picks if name == last.name)


def test_over_the_latency_target_a_setting_has_the_chance_the_models_record_on_its_picks_allows(short_requests):
    # the time model fits a bucket's runs exactly (`Surrogate.bucket_scales`), so its misfit reads ~0 and a setting it
    # puts a hair over the latency target had no chance of meeting it, was never run and never corrected it: on sm8550's
    # shortest prefill (G2) settings it put 0.2-1% over the target meet it by ~9% on every seed. Over the line, the chance
    # is now what the model's record on its own picks allows (`_Group.record_misfit`); under it, the runs decide
    group = _sm8550_prefill_group(short_requests, "energy")
    group.run()
    bucket = group.buckets[0]
    look = group.outlook(bucket)
    record, group.record = group.record, {b.name: [] for b in group.buckets}
    group._memo = (-1, {})  # the outlook without the record
    plain = group.outlook(bucket)
    group.record, group._memo = record, (-1, {})
    candidates = ~look.closed
    over = candidates & (look.bound > look.line)
    near = np.flatnonzero(over & (look.bound < 1.01 * look.line))
    misfit = group.misfits()[bucket.name]["latency_s"]
    print(f"\n{bucket.name}: latency misfit {misfit:.3%}, the record's {group.record_misfit(bucket):.2%}")
    assert group.record_misfit(bucket) > 10 * misfit
    assert np.array_equal(plain.meets[candidates & ~over], look.meets[candidates & ~over])
    assert len(near) > 0
    for index in near:
        setting = group.setting(bucket.name, group.grid[index])
        truth = _paired_mean(group.ctx.lab.measurer, setting, bucket, "latency_s")
        print(
            f"  {setting.label()}: predicted {look.bound[index] / look.line - 1:+.2%} of the target, "
            f"{truth - 1:+.2%} on 12 seeds; chance {plain.meets[index]:.3f} -> {look.meets[index]:.3f}"
        )
        assert truth < 1.0 and plain.meets[index] < 1e-3 and look.meets[index] > 0.3
