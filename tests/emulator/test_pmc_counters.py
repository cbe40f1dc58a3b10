"""Counters arise from the simulated activity, grow, wrap and are read under the real constraints."""

from __future__ import annotations

import sys
from dataclasses import fields

import numpy as np
import pytest

from android.emulator.sim.activity import GpuActivity
from android.emulator.sim.pmc import CounterBusyError, PmcError, PmcUnit, counter_delta
from android.emulator.sim.pmc.generate import base_signals
from android.emulator.sim.pmc.mixes import random_mix
from android.emulator.sim.pmc.unit import family_model


def steps(activity: GpuActivity, part: slice) -> GpuActivity:
    return GpuActivity(**{f.name: getattr(activity, f.name)[part] for f in fields(GpuActivity)})


def chunk_deltas(unit: PmcUnit, activity: GpuActivity, chunk: int) -> tuple[np.ndarray, list[GpuActivity]]:
    """Accumulate chunk by chunk; return each chunk's counter increments and the chunks."""
    parts = [steps(activity, slice(i, i + chunk)) for i in range(0, activity.n_steps, chunk)]
    before = unit.read_all_totals()
    deltas = []
    for part in parts:
        unit.accumulate(part)
        after = unit.read_all_totals()
        deltas.append(counter_delta(after, before, 64).astype(float))
        before = after
    return np.array(deltas), parts


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1])


# --- determinism and growth ----------------------------------------------------------------------
def test_accumulate_is_deterministic_for_a_seed():
    def run(seed: int) -> np.ndarray:
        unit = PmcUnit.for_family("adreno-a6xx", seed=seed)
        rng = np.random.default_rng(11)
        for _ in range(3):
            unit.accumulate(random_mix(200, unit.shape, rng))
            unit.read_all_totals()
        return unit.read_all_totals()

    assert np.array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_accumulated_steps_are_kept_even_if_the_caller_reuses_its_arrays():
    untouched, reused = (PmcUnit.for_family("mali-valhall", seed=4) for _ in range(2))
    untouched.accumulate(random_mix(100, untouched.shape, np.random.default_rng(0)))
    buffer = random_mix(100, reused.shape, np.random.default_rng(0))
    reused.accumulate(buffer)
    buffer.alu_ops[:] = 0.0  # a simulation refilling its buffers before anyone reads the counters
    assert np.array_equal(untouched.read_all_totals(), reused.read_all_totals())


@pytest.mark.parametrize("family", ["adreno-a6xx", "mali-valhall"])
def test_totals_only_grow(family):
    unit = PmcUnit.for_family(family, seed=3)
    rng = np.random.default_rng(4)
    before = unit.read_all_totals()
    grown = np.zeros(len(unit.catalogue), dtype=bool)
    for i in range(40):
        activity = random_mix(25, unit.shape, rng, busy_range=(0.0, 1.0) if i % 2 else (0.9, 1.0))
        unit.accumulate(activity)
        after = unit.read_all_totals()
        assert (after >= before).all()
        grown |= after > before
        before = after
    moving = np.array([c.derivation.kind != "constant" for c in unit.catalogue])
    assert grown[moving].all() and not grown[~moving].any()


# --- Mali: 32-bit counters that wrap -------------------------------------------------------------
def test_mali_counters_wrap_and_modular_differences_recover_the_increments():
    unit = PmcUnit.for_family("mali-valhall", seed=5)
    rng = np.random.default_rng(6)
    gpu_active = unit.index_of("GPU_ACTIVE")
    first = unit.snapshot()
    totals_first = unit.read_all_totals()
    previous, summed, wrapped = first, np.zeros(len(unit.catalogue), dtype=np.int64), False
    for _ in range(120):  # 120 x 50 ms fully busy at 848 MHz: 5.1e9 GPU_ACTIVE cycles > 2**32
        unit.accumulate(random_mix(50, unit.shape, rng, freqs_hz=(848e6,), busy_range=(1.0, 1.0)))
        current = unit.snapshot()
        assert all(0 <= value < 2**32 for value in current.values())
        wrapped |= current["GPU_ACTIVE"] < previous["GPU_ACTIVE"]
        summed += np.array([counter_delta(current[name], previous[name], 32) for name in current])
        previous = current
    assert wrapped
    truth = (unit.read_all_totals() - totals_first).astype(np.int64)
    assert truth[gpu_active] > 2**32
    assert np.array_equal(summed, truth)
    assert list(previous) == [c.name for c in unit.catalogue]
    assert np.array_equal(np.array(list(previous.values()), dtype=np.uint64), unit.read_all_totals() % 2**32)


# --- Adreno: kgsl reservations -------------------------------------------------------------------
def test_adreno_reservation_limit_errors_clearly_and_put_frees_a_slot():
    unit = PmcUnit.for_family("adreno-a6xx", seed=0)
    sp = unit.groups["SP"]
    assert sp.n_physical == 24 and unit.free_counters("SP") == 24
    handles = [unit.reserve("SP", countable) for countable in range(sp.n_physical)]
    assert unit.free_counters(0xA) == 0
    with pytest.raises(CounterBusyError) as err:
        unit.reserve("SP", 30)
    message = str(err.value)
    assert "SP" in message and "24" in message and "SP_GM_LOAD_INSTRUCTIONS" in message
    shared = unit.reserve("sp", 1)  # the same countable again shares its physical counter
    assert shared.physical == handles[1].physical and shared.name == "SP_ALU_WORKING_CYCLES"
    unit.release(shared)
    unit.release(handles[0])
    assert unit.free_counters("SP") == 1
    late = unit.reserve(0xA, 30)  # by kgsl group id
    assert late.name == "SP_GM_LOAD_INSTRUCTIONS" and late.physical == handles[0].physical
    with pytest.raises(PmcError, match="not reserved"):
        unit.release(handles[0])
    with pytest.raises(PmcError, match="not reserved"):
        unit.read([handles[0]])
    with pytest.raises(PmcError, match="out of range 0..84"):
        unit.reserve("SP", 85)
    with pytest.raises(PmcError, match="UCHE"):
        unit.reserve("GMEM", 0)


def test_kgsl_keeps_one_rbbm_counter_for_its_busy_statistics():
    unit = PmcUnit.for_family("adreno-a7xx", seed=0)
    assert unit.groups["RBBM"].n_physical == 4 and unit.free_counters("RBBM") == 3
    busy = unit.reserve("RBBM", unit.counter("RBBM_STATUS_MASKED").index)  # shares the kernel's
    assert unit.free_counters("RBBM") == 3
    others = [unit.reserve("RBBM", i) for i in (1, 2, 3)]
    with pytest.raises(CounterBusyError, match="RBBM_STATUS_MASKED"):
        unit.reserve("RBBM", 5)
    for handle in [busy, *others]:
        unit.release(handle)
    assert unit.free_counters("RBBM") == 3


def test_adreno_reads_are_the_growing_64_bit_totals():
    unit = PmcUnit.for_family("adreno-a6xx", seed=2)
    handles = [unit.reserve("SP", 1), unit.reserve("RBBM", 0), unit.reserve("UCHE", 8)]
    first = unit.read(handles)
    unit.accumulate(random_mix(100, unit.shape, np.random.default_rng(1)))
    second = unit.read(handles)
    totals = unit.read_all_totals()
    for h in handles:
        assert isinstance(second[h.name], int) and second[h.name] > first[h.name]
        assert second[h.name] == int(totals[unit.index_of(h.name)])
    assert max(second.values()) > 2**32  # 64-bit values, no wrap at 32 bits


def test_each_vendor_refuses_the_other_vendors_reader():
    mali = PmcUnit.for_family("mali-valhall", seed=0)
    adreno = PmcUnit.for_family("adreno-a6xx", seed=0)
    with pytest.raises(PmcError, match="snapshot"):
        mali.reserve("SHADER_CORE", 4)
    with pytest.raises(PmcError, match="reserve"):
        adreno.snapshot()


def test_impossible_activity_is_refused_with_the_field_named():
    unit = PmcUnit.for_family("mali-valhall", seed=0)
    activity = random_mix(10, unit.shape, np.random.default_rng(0))
    activity.alu_ops[3] = -1.0
    with pytest.raises(PmcError, match="alu_ops"):
        unit.accumulate(activity)
    activity = random_mix(10, unit.shape, np.random.default_rng(0))
    activity.busy_s[2] = 2 * activity.dt_s[2]
    with pytest.raises(PmcError, match="step 2: busy_s"):
        unit.accumulate(activity)


# --- how the counters arise ----------------------------------------------------------------------
FOLLOWERS = {
    "adreno-a6xx": [
        ("SP_ALU_WORKING_CYCLES", "alu_ops"),
        ("SP_CS_INSTRUCTIONS", "alu_ops"),
        ("UCHE_VBIF_READ_BEATS_CH0", "dram_read_bytes"),
        ("UCHE_EVICTS", "dram_write_bytes"),
        ("TP_L1_CACHELINE_REQUESTS", "texture_fetches"),
        ("SP_EFU_WORKING_CYCLES", "sfu_ops"),
    ],
    "mali-valhall": [
        ("EXEC_INSTR_FMA", "alu_ops"),
        ("L2_EXT_READ_BEATS", "dram_read_bytes"),
        ("L2_EXT_WRITE_BEATS", "dram_write_bytes"),
        ("TEX_FILT_NUM_OPERATIONS", "texture_fetches"),
        ("COMPUTE_WARPS", "threads"),
        ("ITER_COMP_JOB_COMPLETED", "kernels"),
    ],
}


@pytest.mark.parametrize("family", sorted(FOLLOWERS))
def test_counters_follow_the_activity_they_derive_from(family):
    unit = PmcUnit.for_family(family, seed=9)
    deltas, parts = chunk_deltas(unit, random_mix(4000, unit.shape, np.random.default_rng(10)), chunk=20)
    for name, field in FOLLOWERS[family]:
        events = np.array([getattr(p, field).sum() for p in parts])
        assert correlation(deltas[:, unit.index_of(name)], events) > 0.95, name
    alu_ops = np.array([p.alu_ops.sum() for p in parts])
    for c in unit.catalogue:  # background noise does not follow the work
        if c.derivation.kind == "noise":
            assert abs(correlation(deltas[:, unit.index_of(c.name)], alu_ops)) < 0.3, c.name


@pytest.mark.parametrize("family", ["adreno-a7xx", "mali-valhall"])
def test_constant_counters_stay_constant_under_heavy_compute(family):
    unit = PmcUnit.for_family(family, seed=1)
    before = unit.read_all_totals()
    unit.accumulate(random_mix(3000, unit.shape, np.random.default_rng(2), busy_range=(0.8, 1.0)))
    after = unit.read_all_totals()
    constant = [unit.index_of(c.name) for c in unit.catalogue if c.derivation.kind == "constant"]
    assert len(constant) >= 20
    assert (after[constant] == before[constant]).all() and (after[constant] == 0).all()
    for name in ("FRAG_ACTIVE", "TILER_ACTIVE", "SP_NEVER_COUNT", "SP_STALL_CYCLES_VPC"):
        if name in unit._index:
            assert after[unit.index_of(name)] == before[unit.index_of(name)] == 0


def test_clock_counters_count_cycles_exactly():
    adreno = PmcUnit.for_family("adreno-a6xx", seed=4)
    mali = PmcUnit.for_family("mali-valhall", seed=4)
    activity = random_mix(2000, adreno.shape, np.random.default_rng(5))
    cycles = float((activity.freq_hz * activity.dt_s).sum())
    active = float((activity.freq_hz * activity.busy_s).sum())
    for unit in (adreno, mali):
        before = unit.read_all_totals()
        unit.accumulate(activity)
        unit.accumulate(activity)
        delta = counter_delta(unit.read_all_totals(), before, 64).astype(float)
        if unit is adreno:
            assert abs(delta[unit.index_of("RBBM_ALWAYS_COUNT")] - 2 * cycles) <= 1
            assert abs(delta[unit.index_of("CP_ALWAYS_COUNT")] - 2 * cycles) <= 1
            assert abs(delta[unit.index_of("RBBM_STATUS_MASKED")] - 2 * active) <= 1
            assert delta[unit.index_of("RBBM_COM_BUSY")] == delta[unit.index_of("RBBM_STATUS_MASKED")]
            assert abs(delta[unit.index_of("RBBM_ALWAYS_ON")] - 2 * 19.2e6 * activity.dt_s.sum()) <= 1
        else:
            assert abs(delta[unit.index_of("GPU_ACTIVE")] - 2 * active) <= 1


def test_same_utilisation_and_frequency_but_a_different_mix_shows_in_the_counters():
    """ALU-heavy and memory-heavy work at 701 MHz and 70% busy: utilisation and frequency are the same,
    the counters that tell the work apart (and so the power) are not."""
    unit = PmcUnit.for_family("adreno-a6xx", seed=0)
    shape, n = unit.shape, 200
    dt = np.full(n, 1e-3)
    freq = np.full(n, 701e6)
    busy = 0.7 * dt
    active = freq * busy
    lanes = shape.alu_lanes_per_core * shape.cores

    def work(alu_fraction: float, beats_per_cycle: float) -> GpuActivity:
        dram = active * beats_per_cycle * shape.beat_bytes
        return GpuActivity(
            dt,
            freq,
            busy,
            alu_ops=active * lanes * alu_fraction,
            sfu_ops=np.zeros(n),
            load_store_bytes=3 * dram + 1e5,
            texture_fetches=np.zeros(n),
            l2_bytes=1.5 * dram + 1e5,
            dram_read_bytes=0.8 * dram,
            dram_write_bytes=0.2 * dram,
            kernels=np.full(n, 4.0),
            threads=active * lanes * alu_fraction / 200,
        )

    def delta(activity: GpuActivity) -> dict[str, float]:
        before = unit.read_all_totals()
        unit.accumulate(activity)
        d = counter_delta(unit.read_all_totals(), before, 64).astype(float)
        return {c.name: d[i] for i, c in enumerate(unit.catalogue)}

    alu_heavy, memory_heavy = delta(work(0.9, 0.02)), delta(work(0.05, 0.8))
    for name in ("RBBM_STATUS_MASKED", "SP_BUSY_CYCLES", "RBBM_ALWAYS_COUNT"):
        assert alu_heavy[name] == pytest.approx(memory_heavy[name], rel=0.02)
    assert alu_heavy["SP_ALU_WORKING_CYCLES"] > 10 * memory_heavy["SP_ALU_WORKING_CYCLES"]
    assert memory_heavy["UCHE_VBIF_READ_BEATS_SP"] > 10 * alu_heavy["UCHE_VBIF_READ_BEATS_SP"]
    assert memory_heavy["SP_STALL_CYCLES_UCHE"] > 5 * alu_heavy["SP_STALL_CYCLES_UCHE"]


def test_summed_noise_has_the_distribution_of_per_step_noise():
    """accumulate draws one noise value per counter for many steps; its mean and spread match a
    noise draw per step and counter."""
    spec, model = family_model("mali-valhall")
    signals = base_signals(random_mix(40, spec.shape, np.random.default_rng(0)), spec.shape)
    rng = np.random.default_rng(1)
    draws = 1500
    summed = np.array([model.summed(signals, rng) for _ in range(draws)])
    per_step = np.array([model.increments(signals, rng).sum(axis=0) for _ in range(draws)])
    expected = model.expected(signals).sum(axis=0)
    cv = model.noise_cv[model.source]
    # counters whose per-step noise is rarely cut at zero (background-noise counters are, by design)
    noisy = (cv > 0) & (cv <= 0.2) & (model.scale > 0) & (expected > 0)
    assert noisy.sum() > 50
    for sample in (summed, per_step):
        assert np.allclose(sample.mean(axis=0)[noisy], expected[noisy], rtol=0.01)
    ratio = summed.std(axis=0)[noisy] / per_step.std(axis=0)[noisy]
    assert np.all(np.abs(ratio - 1) < 0.12)


def test_accumulate_is_vectorised_over_steps():
    """One call over 10,000 steps runs the same Python code as one over 5,000: no per-step loop."""
    unit = PmcUnit.for_family("adreno-a6xx", seed=0)

    def python_calls(n_steps: int) -> int:
        activity = random_mix(n_steps, unit.shape, np.random.default_rng(n_steps))
        calls = 0

        def count(frame, event, arg):
            nonlocal calls
            calls += event in ("call", "c_call")

        sys.setprofile(count)
        try:
            unit.accumulate(activity)
            unit.read_all_totals()
        finally:
            sys.setprofile(None)
        return calls

    python_calls(5_000)  # warm caches
    assert python_calls(10_000) == python_calls(5_000) < 500
