"""The virtual phones against published figures: the Pixel 7 profile reproduces FUSE's measurements
(REFERENCES.md 1; the full table is android.emulator.sim.calibration, printed by bench/bench_fidelity.py),
and the Snapdragon 8 Gen 2 profile stays inside the public envelope for llama.cpp's Adreno backend."""

import functools

import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.sim import calibration
from android.emulator.sim.request import run_llm_request

MHZ = 1_000_000
MODEL = "tinyllama-1.1b-q4"
PROMPT, DECODE = 64, 24  # short requests keep the fast tier fast; decode behaviour is per token


@functools.cache
def run(gpu=None, cpu=None, mem=None, prompt=PROMPT, decode=DECODE):
    pins = {k: v * MHZ for k, v in (("gpu", gpu), ("policy6", cpu), ("mem", mem)) if v}
    return run_llm_request(VirtualPhone("pixel7", seed=0), MODEL, prompt, decode, pins=pins)


def test_pinned_848_decodes_as_fuse_measured():
    # FUSE: 126.9 ms/token and 396.5 mJ/token at GPU 848 MHz (CPU 1826, memory 3172), whole phone, after a
    # ShareGPT-length prompt (attention over the KV cache grows with it)
    r = run(gpu=848, cpu=1826, mem=3172, prompt=232)
    assert r.tpot_s == pytest.approx(0.1269, rel=0.05)
    assert r.energy_per_token_j["decode"] == pytest.approx(0.3965, rel=0.05)
    assert r.phases["decode"].mean_power_w["total"] == pytest.approx(3.1, abs=0.2)


def test_energy_per_token_is_u_shaped_in_gpu_frequency():
    energy = {g: run(gpu=g, cpu=1826, mem=2028).energy_per_token_j["decode"] for g in (151, 302, 572, 848)}
    assert min(energy, key=energy.get) in (302, 572)  # the static power punishes slow, V^2 f the fast clocks
    assert energy[151] > energy[572] < energy[848]


def test_memory_stock_sits_at_3172_under_gpu_848_while_2028_costs_less():
    stock_mem, pinned_mem = run(gpu=848, cpu=1826), run(gpu=848, cpu=1826, mem=2028)
    assert stock_mem.phases["decode"].mean_freq_hz["mem"] == 3172 * MHZ  # the DVFS table's MIF vote
    saved = 1 - pinned_mem.energy_per_token_j["decode"] / stock_mem.energy_per_token_j["decode"]
    assert 0.02 < saved < 0.12  # FUSE: 385.6 -> 363.4 mJ (-5.8%)
    assert pinned_mem.tpot_s / stock_mem.tpot_s < 1.05  # at little cost in latency


def test_decode_latency_responds_strongly_to_gpu_and_cpu_weakly_to_memory():
    base = run(gpu=848, cpu=2401, mem=3172).tpot_s
    assert run(gpu=400, cpu=2401, mem=3172).tpot_s / base > 1.5
    assert run(gpu=848, cpu=984, mem=3172).tpot_s / base > 1.05  # the CPU feeds every kernel
    assert 1.01 < run(gpu=848, cpu=2401, mem=1014).tpot_s / base < 1.2


def test_prefill_is_compute_bound_on_the_gpu():
    fast, slow = run(gpu=848, cpu=1826, mem=3172), run(gpu=400, cpu=1826, mem=3172)
    assert slow.ttft_s / fast.ttft_s > 1.6  # ~ the GPU clock ratio (2.1), less the CPU's share
    assert run(gpu=848, cpu=1826, mem=1014).ttft_s / fast.ttft_s < 1.15  # fp32 weight tiles re-read


def test_stock_governors_reproduce_fuses_stock_operating_point_in_kind():
    # at FUSE's ShareGPT-length prompt: the thread's attention over the KV cache, and so the GPU's idle share,
    # grows with the context
    stock = run(prompt=232, decode=32)
    decode, prefill = stock.phases["decode"], stock.phases["prefill"]
    assert 907 * MHZ <= decode.mean_freq_hz["policy6"] <= 1131 * MHZ  # EAS alternating between two levels
    assert 330 * MHZ <= decode.mean_freq_hz["gpu"] <= 480 * MHZ  # FUSE: ~411-424 MHz
    assert prefill.mean_freq_hz["gpu"] >= 613 * MHZ  # FUSE: 681-811 MHz, near its optimum
    assert decode.gpu_util == pytest.approx(0.71, abs=0.05)
    assert decode.cpu_util["policy6"] == pytest.approx(0.257, abs=0.05)
    assert prefill.cpu_util["policy6"] == pytest.approx(0.175, abs=0.05)


@pytest.mark.slow
def test_the_calibration_table_holds_or_says_why():
    rows, _ = calibration.measure(seeds=(0,), long=False)
    for row in rows:
        low, high = row.figure.bounds()
        if row.figure.conflict:  # explained in the report (CONFLICTS): the effect must still hold
            assert row.figure.in_kind is not None, row.figure.key
            low, high = row.figure.in_kind
        assert low <= row.value <= high, (row.figure.label, row.value, row.figure.paper)
    assert sum(r.inside for r in rows) >= 21


@pytest.mark.slow
def test_snapdragon_8_gen_2_stays_in_the_public_envelope():
    def tokens_per_s(model, pins=None, prompt=128, decode=32):
        phone = VirtualPhone("sm8550")
        top = {k: int(phone.knobs[k].table_hz[-1]) for k in ("policy7", "gpu", "mem")} if pins == "max" else None
        r = run_llm_request(phone, model, prompt, decode, pins=top)
        return 1 / r.tpot_s, prompt / r.ttft_s, r

    decode, prefill, stock = tokens_per_s("qwen-1.5b-q4")
    assert 20 <= decode <= 27  # llama.cpp OpenCL (Adreno) on 8 Gen 2, a 1.5B q4 model, stock governors
    assert prefill >= 190
    max_decode, _, pinned = tokens_per_s("qwen-1.5b-q4", "max")
    assert decode > 0.55 * max_decode  # stock reaches well over half of max-pinned
    assert pinned.phases["decode"].component_power_w["gpu"] < 7.5  # within the SoC's envelope
    seven_b, _, _ = tokens_per_s("llama2-7b-q4", prompt=32, decode=16)
    assert 3 <= seven_b <= 12  # "several tokens per second"
