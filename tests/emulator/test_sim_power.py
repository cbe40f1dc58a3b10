"""Power: what the workload does matters beyond utilisation and frequency; energy is conserved; GPU power has
what real GPUs have (variance no counter sees, counters that are proxies) without bias."""

import json

import numpy as np
import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.profile import BUILTIN_DIR, load_profile, parse_profile
from android.emulator.sim import cnn_zoo
from android.emulator.sim.activity import EVENT_FIELDS
from android.emulator.sim.cnn import CnnRuns
from android.emulator.sim.llm import LlmRequest
from android.emulator.sim.llm_models import load_model
from android.emulator.sim.power import ActivityWander, PowerInputs, PowerModel
from android.emulator.sim.request import apply_pins
from android.virtual import VirtualDevice
from tests.helpers.onnx_graphs import conv_net, mlp_sigmoid

MHZ = 1_000_000


def _inputs(profile, gpu_level: int, busy: float, events: dict, n: int = 1) -> PowerInputs:
    policies = [c.policy for c in profile.clusters]
    row = np.zeros((n, len(EVENT_FIELDS)))
    for name, value in events.items():
        row[:, EVENT_FIELDS.index(name)] = value
    levels = {p: np.zeros(n, dtype=int) for p in policies}
    levels.update(gpu=np.full(n, gpu_level), mem=np.full(n, 6))
    return PowerInputs(
        dt_s=np.full(n, 0.01),
        levels=levels,
        cpu_run_s={p: np.zeros(n) for p in policies},
        cpu_spin_s={p: np.zeros(n) for p in policies},
        gpu_busy_s=np.full(n, busy * 0.01),
        gpu_events=row,
        dram_bytes=np.zeros(n),
    )


def test_alu_memory_and_texture_heavy_work_draw_different_power_at_one_utilisation_and_frequency():
    profile = load_profile("pixel7")
    model = PowerModel(profile)
    # ~90% utilisation at 848 MHz of three kinds of work, each saturating a different unit
    alu = {"alu_ops": 0.9 * 0.01 * 848e6 * 448 * 0.5}
    memory = {"load_store_bytes": 2e7, "l2_bytes": 3e7, "dram_read_bytes": 2e8 * 0.01 * 10}
    texture = {"texture_fetches": 0.9 * 0.01 * 848e6 * 56 * 0.5, "l2_bytes": 1e7}
    watts = [model.compute(_inputs(profile, 11, 0.9, ev), 35.0)["gpu"][0] for ev in (alu, memory, texture)]
    assert min(watts) > 0
    assert max(watts) / min(watts) > 1.3  # same utilisation and clock, clearly different power
    assert len({round(w, 2) for w in watts}) == 3


def test_a_gpu_stalled_on_memory_gates_its_units_clocks():
    """At one utilisation and clock, a GPU whose ALUs issue draws more clock power than one stalled on memory
    (each unit's tree is gated while it has nothing to issue); the open share saturates with the issue rate."""
    profile = load_profile("pixel7")
    model = PowerModel(profile)
    g = profile.physics.gpu
    assert g.clock_gated_share, "the profile gates its units' clocks"
    busy_cycles = 0.9 * 0.01 * 848e6
    open_share = [
        float(
            model._open_share(
                _inputs(profile, 11, 0.9, {"alu_ops": d * busy_cycles * g.alu_ops_per_cycle}), np.array([11])
            )[0]
        )
        for d in (0.0, 0.25, 0.5, 1.0)
    ]
    assert open_share[0] == pytest.approx(1.0 - sum(g.clock_gated_share.values()))  # front end only
    steps = np.diff(open_share)
    assert np.all(steps > 0) and steps[2] / 0.5 < steps[0] / 0.25  # more issue, more open, less than linearly
    ungated = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    ungated["physics"]["gpu"]["clock_gated_share"] = {}
    plain = PowerModel(parse_profile(ungated, source="pixel7-ungated"))
    assert float(np.atleast_1d(plain._open_share(_inputs(profile, 11, 0.9, {}), np.array([11])))[0]) == 1.0


def test_gpu_power_scales_with_voltage_squared_and_leakage_with_temperature():
    profile = load_profile("pixel7")
    model = PowerModel(profile)
    work = {"alu_ops": 1e9}
    low, high = (model.compute(_inputs(profile, lvl, 0.5, work), 35.0)["gpu"][0] for lvl in (0, 11))
    assert high > 2 * low
    cool, hot = (model.compute(_inputs(profile, 11, 0.5, work), t)["gpu"][0] for t in (30.0, 80.0))
    assert hot > cool * 1.05  # leakage doubles every temp_doubling_c degrees


def test_cpu_dynamic_power_uses_the_device_tree_energy_model():
    # gs101 big core at 2802 MHz / 1.05625 V: 650 uW/MHz/V^2 -> ~2.0 W (REFERENCES.md 5)
    profile = load_profile("pixel7")
    model = PowerModel(profile)
    inputs = _inputs(profile, 0, 0.0, {})
    busy = inputs.levels["policy6"].copy()
    busy[:] = 16  # 2802 MHz
    inputs.levels["policy6"] = busy
    idle = model.compute(inputs, 25.0)["policy6"][0]
    inputs.cpu_run_s["policy6"] = np.full(1, 0.01)  # one core busy the whole step
    full = model.compute(inputs, 25.0)["policy6"][0]
    assert full - idle == pytest.approx(650e-6 * 2802 * 1.05625**2, rel=0.06)


def _gpu_windows(workload, gpu_mhz: int, seconds: float = 1.2, window_s: float = 0.1):
    phone = VirtualPhone("pixel7", seed=gpu_mhz)
    apply_pins(phone, {"gpu": gpu_mhz * MHZ, "policy6": 2401 * MHZ, "mem": 2028 * MHZ})
    blocks = []
    phone.sim.observers.append(blocks.append)
    phone.start(workload)
    elapsed = 0.0
    while not workload.done and elapsed < seconds:
        phone.advance(window_s)
        elapsed += window_s
    volt = phone.gpu.volt_uv[phone.gpu.level] / 1e6
    rows = []
    for b in blocks:
        dt = b.dt_s.sum()
        util = b.gpu_busy_s.sum() / dt
        if util > 0.05:  # a window where the GPU did work
            rows.append((b.power_w["gpu"] @ b.dt_s / dt, util, gpu_mhz, volt, *(b.gpu_events.sum(axis=0) / dt)))
    return rows


@pytest.mark.slow
def test_power_is_not_explained_by_utilisation_and_frequency_alone(tmp_path):
    conv, mlp = conv_net(tmp_path / "conv.onnx"), mlp_sigmoid(tmp_path / "mlp.onnx")
    tiny = load_model("tinyllama-1.1b-q4")
    rows = []
    for mhz in (302, 510, 701, 848):
        rows += _gpu_windows(LlmRequest(tiny, 1, 200), mhz)  # decode: dequantising mat-vec
        rows += _gpu_windows(LlmRequest(tiny, 512, 0), mhz)  # prefill: GEMM
        rows += _gpu_windows(CnnRuns(conv, 400), mhz)  # convolutions through the texture units
        rows += _gpu_windows(CnnRuns(mlp, 400), mhz)  # dense layers and special functions
    data = np.array(rows)
    power, util, mhz, volt, rates = data[:, 0], data[:, 1], data[:, 2], data[:, 3], data[:, 4:]
    per_freq = [(mhz == f).astype(float) for f in np.unique(mhz)]
    # the utilisation-frequency model: per frequency, power = a_f + b_f * utilisation
    util_freq = np.column_stack(per_freq + [p * util for p in per_freq])
    # the same plus the true activity counters (event rates, scaled by V^2 as dynamic energy is)
    counters = np.column_stack([util_freq] + [rates[:, i] * volt**2 / 1e9 for i in range(rates.shape[1])])
    order = np.random.default_rng(0).permutation(len(power))
    train, test = order[: len(order) // 2], order[len(order) // 2 :]

    def held_out_mape(x):
        coef, *_ = np.linalg.lstsq(x[train], power[train], rcond=None)
        return float(np.mean(np.abs(x[test] @ coef - power[test]) / power[test]))

    assert len(power) > 100
    mape_util_freq, mape_counters = held_out_mape(util_freq), held_out_mape(counters)
    assert mape_util_freq >= 2.0 * mape_counters
    assert mape_util_freq > 0.05  # the workloads really differ at one utilisation and frequency


def test_rail_energy_equals_the_integral_of_simulated_power():
    phone = VirtualPhone("pixel7", seed=3)
    integral = {}
    total = [0.0]

    def observe(block):
        for j, name in enumerate(phone.sim.rail_names):
            integral[name] = integral.get(name, 0.0) + float(block.rail_w[:, j] @ block.dt_s)
        total[0] += float(block.total_w @ block.dt_s)

    phone.sim.observers.append(observe)
    phone.start(LlmRequest(load_model("tinyllama-1.1b-q4"), 16, 24))
    phone.advance(6.0)  # a whole number of ODPM sampling periods
    device = VirtualDevice(phone)
    read = {}
    for iio in ("iio:device0", "iio:device1"):
        for line in device.read(f"/sys/bus/iio/devices/{iio}/energy_value").splitlines()[1:]:
            name = line.split("[", 1)[1].split("]", 1)[0]
            read[name] = int(line.rsplit(", ", 1)[1]) / 1e6
    assert set(read) == set(integral)
    truncation_j = 6.0 * phone.profile.physics.sensors.odpm_power_lsb_w  # the ADC truncates every sample
    # the meter samples instants of a power that changes within its period (the thread runs and sleeps in
    # sub-millisecond steps), so it matches the integral statistically: a few tenths of a percent over seconds
    sampling = 3e-3
    for name, joules in integral.items():
        if joules > 0.01:
            assert joules * (1 - sampling) - truncation_j <= read[name] <= joules * (1 + sampling), name
    # what the rails do not see (unmetered board power) is still in the whole-phone total
    assert total[0] > sum(integral.values())


def test_activity_wander_has_mean_one_and_the_configured_spread():
    wander = ActivityWander([0.12, 0.0], [0.2, 0.5], np.random.default_rng(5))
    factors = np.vstack([wander.sample(np.full(128, 0.004)) for _ in range(4000)])  # ~2000 s
    varied = factors[:, 0]
    assert varied.mean() == pytest.approx(1.0, abs=0.005)
    assert varied.std() == pytest.approx(0.12, rel=0.1)
    lag = int(0.2 / 0.004)  # one correlation time apart: correlation 1/e
    assert np.corrcoef(varied[:-lag], varied[lag:])[0, 1] == pytest.approx(np.exp(-1), abs=0.05)
    assert np.all(factors[:, 1] == 1.0)  # a process without spread stays at 1


def _profile_without_variation():
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    raw["physics"]["gpu_variation"].update(
        switching_cv=0.0, clock_cv=0.0, lane_occupancy_min=1.0, access_efficiency_min=1.0, texel_weight_max=1.0
    )
    return parse_profile(raw, source="pixel7-nominal")


def _pinned_gpu_power(profile, seconds: float):
    """Mean GPU power and 50 ms windows of it, TinyLlama decode at a pinned setting."""
    phone = VirtualPhone(profile, seed=4)
    restore = apply_pins(phone, {"gpu": 701 * MHZ, "policy6": 1826 * MHZ, "mem": 3172 * MHZ})
    energy, windows = [0.0, 0.0], []
    phone.sim.observers.append(
        lambda b: energy.__setitem__(slice(None), [energy[0] + b.power_w["gpu"] @ b.dt_s, energy[1] + b.dt_s.sum()])
    )
    request = LlmRequest(load_model("tinyllama-1.1b-q4"), 8, 2000)
    phone.start(request)
    for _ in range(int(seconds / 0.05)):
        before = list(energy)
        phone.advance(0.05)
        windows.append((energy[0] - before[0]) / (energy[1] - before[1]))
    restore()
    return energy[0] / energy[1], np.array(windows), len(request.marks)


@pytest.mark.slow
def test_gpu_power_variation_adds_variance_but_no_bias_at_a_pinned_setting():
    varied_w, varied_windows, varied_tokens = _pinned_gpu_power("pixel7", 30.0)
    nominal_w, nominal_windows, nominal_tokens = _pinned_gpu_power(_profile_without_variation(), 30.0)
    assert varied_tokens == nominal_tokens  # timing is untouched
    # the expected physics, within 3 standard errors of a run's mean: a mean-1 factor with spread cv and
    # correlation time tau averages over a run of T >> tau to 1 +- cv sqrt(2 tau / T) (each scales part of the power)
    var = load_profile("pixel7").physics.gpu_variation
    standard_error = np.hypot(
        var.switching_cv * np.sqrt(2 * var.switching_tau_s / 30.0), var.clock_cv * np.sqrt(2 * var.clock_tau_s / 30.0)
    )
    assert varied_w == pytest.approx(nominal_w, rel=3 * standard_error)
    spread = (varied_windows / nominal_windows).std()
    assert 0.015 < spread < 0.2  # but 50 ms windows scatter around it


def _counter_windows(profile, make_workload, gpu_mhz: int, seconds: float = 1.2, window_s: float = 0.05):
    """(GPU power, frequency, counter rates) per window, counters read from the unit as a collector does."""
    phone = VirtualPhone(profile, seed=gpu_mhz)
    restore = apply_pins(phone, {"gpu": gpu_mhz * MHZ})
    phone.advance(0.3)
    energy = [0.0, 0.0]
    phone.sim.observers.append(
        lambda b: energy.__setitem__(slice(None), [energy[0] + b.power_w["gpu"] @ b.dt_s, energy[1] + b.dt_s.sum()])
    )
    phone.start(make_workload())
    last, rows = phone.pmc.read_all_totals().astype(float), []
    for _ in range(int(seconds / window_s)):
        energy[:] = [0.0, 0.0]
        phone.advance(window_s)
        now = phone.pmc.read_all_totals().astype(float)
        rows.append([energy[0] / energy[1], gpu_mhz, *((now - last) / window_s)])
        last = now
    restore()
    return rows


def _best_counter_fits(data: np.ndarray, n_counters: int) -> list[float]:
    # held-out errors, and the best single counter's, are what bench/bench_powermodel_virtual.py measures
    """In-sample MAPE of the best 1..n counter linear models with per-frequency intercepts and slopes
    (greedy forward selection, as a power-model fitter selects)."""
    power, mhz, rates = data[:, 0], data[:, 1], data[:, 2:]
    rates = rates[:, rates.std(axis=0) > 0]
    rates = rates / rates.max(axis=0)
    levels = np.column_stack([(mhz == f).astype(float) for f in np.unique(mhz)])

    def mape(columns):
        x = np.column_stack([levels, *(rates[:, [c]] * levels for c in columns)])
        coef, *_ = np.linalg.lstsq(x, power, rcond=None)
        return float(np.mean(np.abs(x @ coef - power) / power))

    chosen, errors = [], []
    for _ in range(n_counters):
        best = min((c for c in range(rates.shape[1]) if c not in chosen), key=lambda c: mape([*chosen, c]))
        chosen.append(best)
        errors.append(mape(chosen))
    return errors


@pytest.mark.slow
def test_no_few_counters_explain_gpu_power_exactly_on_a_mixed_trace():
    tiny = load_model("tinyllama-1.1b-q4")
    workloads = [lambda: LlmRequest(tiny, 1, 400), lambda: LlmRequest(tiny, 400, 0)]  # decode, prefill
    workloads += [
        lambda n=n: CnnRuns(cnn_zoo.zoo_path(n), 1000) for n in ("resnet18", "mobilenetv2", "efficientnet-b0")
    ]

    def errors(profile):
        rows = [row for mhz in (302, 848) for make in workloads for row in _counter_windows(profile, make, mhz)]
        return _best_counter_fits(np.array(rows), 3)

    one, _, three = errors("pixel7")
    assert three > 0.025  # counters are proxies of the energy, and some energy no counter sees
    assert one > 1.5 * three  # no single counter explains power alone
    assert errors(_profile_without_variation())[2] < 0.8 * three  # those effects add to the workloads' own misfit
