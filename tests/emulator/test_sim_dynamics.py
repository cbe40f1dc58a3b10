"""The stock governors together on the virtual Pixel 7, as FUSE describes them (REFERENCES.md 1): EAS
alternating between two levels in decode, the CPU and GPU governors dragging each other down, the MIF
governor following bus load rather than the GPU level, and seeds that give different runs."""

import json
import statistics

import numpy as np
import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.profile import BUILTIN_DIR, parse_profile
from android.emulator.sim.background import BackgroundLoad
from android.emulator.sim.cnn import CnnRuns
from android.emulator.sim.llm import LlmRequest
from android.emulator.sim.llm_models import load_model
from android.emulator.sim.request import apply_pins, run_llm_request
from android.virtual import VirtualDevice
from tests.helpers.onnx_graphs import conv_net

MHZ = 1_000_000
TINY = load_model("tinyllama-1.1b-q4")
POLICY6 = "/sys/devices/system/cpu/cpufreq/policy6"
MALI = "/sys/devices/platform/28000000.mali"


def _decoding(profile="pixel7", seed=0, background=None, prompt=8):
    """A phone that has just started decoding a long request."""
    phone = VirtualPhone(profile, seed=seed)
    if background is not None:
        phone.sim.add_background(background)
    phone.advance(0.5)
    request = LlmRequest(TINY, prompt, 400)
    phone.start(request)
    while request.phase != "decode":
        phone.advance(0.02)
    return phone


def _time_in_state(phone, knob: str, seconds: float) -> dict[int, float]:
    """Share of the next `seconds` at each frequency (MHz) of `knob`, from its time_in_state."""
    state = phone.knobs[knob]
    before = state.time_in_state_s.copy()
    phone.advance(seconds)
    spent = state.time_in_state_s - before
    return {int(f // MHZ): float(s / spent.sum()) for f, s in zip(state.table_hz, spent) if s > 0}


def _series(phone, seconds: float, step_s: float = 0.1) -> np.ndarray:
    """(policy6 MHz, GPU MHz, GPU utilisation %) every step_s, as a sampler reading sysfs would see them."""
    device = VirtualDevice(phone)
    rows = []
    for _ in range(round(seconds / step_s)):
        phone.advance(step_s)
        rows.append(
            (
                int(device.read(f"{POLICY6}/scaling_cur_freq")) / 1000,
                int(device.read(f"{MALI}/cur_freq")) / 1000,
                int(device.read(f"{MALI}/utilization")),
            )
        )
    return np.array(rows)


def test_sched_pixel_alternates_between_two_levels_in_decode_and_follows_load():
    phone = _decoding()
    phone.advance(1.0)
    shares = _time_in_state(phone, "policy6", 3.0)
    levels = [f for f, s in shares.items() if s > 0.05]
    assert len(levels) == 2, shares  # the clamped level while the thread runs, the PELT level after 20 ms asleep
    mean = sum(f * s for f, s in shares.items())
    assert 907 <= mean <= 1131  # FUSE: ~907-1131 MHz effective
    # more load on the policy (a second thread on the other X1 core) lifts the lower of the two levels
    loaded = _decoding(background=BackgroundLoad(cpu=7, duty=0.6))
    loaded.advance(1.0)
    shares_loaded = _time_in_state(loaded, "policy6", 3.0)
    assert min(f for f, s in shares_loaded.items() if s > 0.05) > min(levels)


def test_without_a_utilisation_clamp_the_governors_drag_each_other_towards_the_floors():
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    raw["physics"]["sched"]["uclamp_min"] = 0  # nothing props the CPU up
    phone = _decoding(parse_profile(raw, source="no-uclamp"), prompt=96)  # from prefill's high GPU level
    start_gpu = phone.gpu.cur_hz
    series = _series(phone, 1.0)
    assert start_gpu >= 700 * MHZ
    assert (series[-5:, 0] == 500).all()  # the CPU at its floor
    assert series[-5:, 1].max() <= 351 and series[-1, 1] < start_gpu / MHZ  # the GPU well down within ~1 s


def test_lowering_one_component_lowers_the_others_utilisation_and_frequency():
    # CPU capped at its floor: the GPU's utilisation falls and Quickstep steps the GPU down
    phone = _decoding()
    phone.advance(2.0)
    before = _series(phone, 1.0)
    VirtualDevice(phone).write(f"{POLICY6}/scaling_max_freq", "500000")
    after = _series(phone, 1.5)
    assert after[:, 1].mean() < before[:, 1].mean()
    pinned_gpu = run_llm_request(VirtualPhone("pixel7"), TINY, 8, 16, pins={"gpu": 400 * MHZ})
    slow_cpu = run_llm_request(VirtualPhone("pixel7"), TINY, 8, 16, pins={"gpu": 400 * MHZ, "policy6": 500 * MHZ})
    assert slow_cpu.phases["decode"].gpu_util < pinned_gpu.phases["decode"].gpu_util - 0.03
    # GPU capped at its floor: the CPU thread waits longer, its utilisation and EAS's level fall
    phone = _decoding()
    phone.advance(2.0)
    cpu_before = _time_in_state(phone, "policy6", 2.0)
    VirtualDevice(phone).write(f"{MALI}/scaling_max_freq", "151000")
    phone.advance(0.5)
    cpu_after = _time_in_state(phone, "policy6", 2.0)
    assert sum(f * s for f, s in cpu_after.items()) < sum(f * s for f, s in cpu_before.items())
    stock = run_llm_request(VirtualPhone("pixel7"), TINY, 8, 16)
    slow_gpu = run_llm_request(VirtualPhone("pixel7"), TINY, 8, 16, pins={"gpu": 151 * MHZ})
    assert slow_gpu.phases["decode"].cpu_util["policy6"] < 0.6 * stock.phases["decode"].cpu_util["policy6"]


def test_memory_follows_bus_load_and_the_gpu_level_only_votes_a_floor(tmp_path):
    cnn = conv_net(tmp_path / "c.onnx", channels=32, size=56)
    means = {}
    for name, make in (("llm", lambda: LlmRequest(TINY, 8, 400)), ("cnn", lambda: CnnRuns(cnn, 10**5)), ("idle", None)):
        phone = VirtualPhone("pixel7")
        restore = apply_pins(phone, {"gpu": 572 * MHZ})  # a level with no MIF vote: the governor's own call
        phone.advance(0.5)
        if make is not None:
            phone.start(make())
        phone.advance(1.0)
        shares = _time_in_state(phone, "mem", 1.5)
        means[name] = sum(f * s for f, s in shares.items())
        restore()
    assert means["llm"] > means["cnn"] > means["idle"] == 421  # same GPU level, different bus load
    for gpu_mhz, floor_mhz in ((701, 845), (848, 3172)):  # the DVFS table's votes hold MIF up, even idle
        phone = VirtualPhone("pixel7")
        restore = apply_pins(phone, {"gpu": gpu_mhz * MHZ})
        phone.advance(1.0)
        assert phone.knobs["mem"].cur_hz == floor_mhz * MHZ
        restore()


@pytest.mark.slow
def test_seeds_give_different_trajectories_and_a_tpot_spread_of_one_to_three_percent():
    traces = [_series(_decoding(seed=seed), 1.0, 0.02)[:, 0] for seed in (0, 1)]
    assert not np.array_equal(*traces)  # the governors' sampling phase and the noise differ
    tpots = [run_llm_request(VirtualPhone("pixel7", seed=seed), TINY, 16, 32).tpot_s for seed in range(6)]
    spread = statistics.pstdev(tpots) / statistics.mean(tpots)
    assert 0.01 <= spread <= 0.03, tpots
    again = run_llm_request(VirtualPhone("pixel7", seed=3), TINY, 16, 32).tpot_s
    assert again == pytest.approx(tpots[3], rel=1e-12)  # and one seed is one run
