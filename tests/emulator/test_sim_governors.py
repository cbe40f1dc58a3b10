"""The stock governors, each as a small function of load, and their override through sysfs."""

import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.sim import governors
from android.emulator.sim.governors import (
    bw_hwmon,
    mali_quickstep,
    memlat,
    mif_interactive,
    msm_adreno_tz,
    sched_pixel,
    schedutil,
    walt,
)
from android.emulator.sim.llm import LlmRequest
from android.emulator.sim.llm_models import load_model
from android.virtual import VirtualDevice

MHZ = 1_000_000
POLICY6 = "/sys/devices/system/cpu/cpufreq/policy6"
MALI = "/sys/devices/platform/28000000.mali"
MIF = "/sys/class/devfreq/17000010.devfreq_mif"


def test_schedutil_maps_util_with_125_percent_headroom_and_rate_limit():
    assert schedutil.next_freq_hz(0.5, 2_000_000_000, 1.25) == 1_250_000_000
    gov = schedutil.Governor(schedutil.Tunables(rate_limit_s=0.01))
    assert gov.update(0.0, 0.4, 1, 2_000_000_000) == 1_000_000_000
    assert gov.update(0.004, 0.8, 1, 2_000_000_000) is None  # inside the rate limit
    assert gov.update(0.011, 0.8, 1, 2_000_000_000) == 2_000_000_000


def test_sched_pixel_rate_limits_up_and_down_separately_and_clamps_foreground_util():
    gov = sched_pixel.Governor(sched_pixel.Tunables(up_rate_limit_s=0.0, down_rate_limit_s=0.02, uclamp_min=0.3))
    assert gov.update(0.0, 0.8, 1_000_000_000, 2_000_000_000) == 2_000_000_000
    assert gov.update(0.004, 0.1, 2_000_000_000, 2_000_000_000) is None  # down waits 20 ms
    assert gov.update(0.03, 0.1, 2_000_000_000, 2_000_000_000) == 250_000_000
    assert gov.update(0.06, 0.1, 250_000_000, 2_000_000_000, foreground=True) == 750_000_000


def test_walt_predicts_from_the_larger_of_last_window_and_history():
    gov = walt.Governor(walt.Tunables(window_s=0.02, history=3))
    targets = []
    for tick in range(10):
        gov.feed(0.8 if tick < 5 else 0.0, 0.004)
        targets.append(gov.update(tick * 0.004, 0.0, 0, 1_000_000_000))
    assert targets[0] == 0  # no window closed yet
    assert targets[4] == targets[8] == 1_000_000_000  # first window: 0.8 * 1.25
    assert targets[9] == int(1.25 * 1e9 * 0.4)  # second window idle: the mean of (0.8, 0) wins


def _quickstep():
    n = 6
    return mali_quickstep.Governor(
        mali_quickstep.Tunables(
            util_min_pct=(0, 60, 65, 70, 75, 80),
            util_max_pct=(85, 88, 90, 92, 95, 100),
            hysteresis=(1, 1, 2, 2, 2, 2),
            mif_min_hz=tuple(range(n)),
        )
    )


def test_quickstep_jumps_two_levels_on_high_load_and_steps_down_after_hysteresis():
    gov = _quickstep()
    assert gov.update(0.99, 1.0, 0, 6) == 2  # above (100 + 85) / 2: +2
    assert gov.update(0.91, 1.0, 2, 6) == 3  # above util_max only: +1
    gov.delay = 2
    assert gov.update(0.5, 1.0, 3, 6) == 3  # below util_min: wait out the hysteresis
    assert gov.update(0.5, 1.0, 3, 6) == 2
    assert gov.update(0.8, 1.0, 2, 6) == 2  # inside the band
    basic = mali_quickstep.Governor(_quickstep().tunables, quick=False)
    assert basic.update(0.99, 1.0, 0, 6) == 1  # `basic` never jumps two
    assert gov.mem_floor_hz(4) == 4


def test_msm_adreno_tz_ignores_short_windows_and_bursts_to_the_top():
    gov = msm_adreno_tz.Governor(msm_adreno_tz.Tunables())
    assert gov.update(0.0005, 0.004, 3, 8) == 3  # under 5 ms total / 1 ms busy: only binned
    assert gov.bin_total_s == pytest.approx(0.004)
    assert gov.update(0.0095, 0.010, 3, 8) == 3  # judged with the binned window: 71% load, in the band
    assert gov.bin_total_s == 0.0
    assert gov.update(0.0095, 0.010, 3, 8) == 4  # load above the up threshold: one level up
    assert gov.update(0.002, 0.010, 4, 8) == 3  # low load: one level down
    gov.bin_busy_s = 0.049
    assert gov.update(0.006, 0.006, 2, 8) == 7  # more than 50 ms busy in the bin: straight to the top


def test_bw_hwmon_adds_guard_band_decays_and_rounds_to_the_step():
    gov = bw_hwmon.Governor(bw_hwmon.Tunables(), bytes_per_hz=16.0)
    high = gov.update(4e6, 0.004, 0)  # 1000 MB/s measured
    assert gov.vote_mbps == pytest.approx(1100)
    assert high == pytest.approx(1140 * 1e6 * 100 / 16 / 16.0, rel=1e-6)  # rounded up to 6 x 190 MB/s
    gov.update(0.0, 0.004, 0)
    assert gov.vote_mbps == pytest.approx(990)  # decays by 90% instead of dropping


def test_memlat_votes_only_for_memory_bound_cpus():
    gov = memlat.Governor(memlat.Tunables())
    assert gov.update([(50.0, 60.0, 2_000_000_000)]) == 0  # many instructions per access: not memory bound
    assert gov.update([(5.0, 60.0, 2_000_000_000), (5.0, 10.0, 3_000_000_000)]) == 1_600_000_000


def test_mif_interactive_jumps_high_on_bus_load_and_keeps_the_gpu_floor():
    gov = mif_interactive.Governor(mif_interactive.Tunables(), bytes_per_hz=16.0)
    peak = 16.0 * 1e9 * 0.02
    assert gov.update(0.9 * peak, 0.02, 1_000_000_000, 0, 3_172_000_000) == 3_172_000_000
    assert gov.update(0.3 * peak, 0.02, 1_000_000_000, 0, 3_172_000_000) == 500_000_000
    assert gov.update(0.0, 0.02, 1_000_000_000, 2_028_000_000, 3_172_000_000) == 2_028_000_000


def test_every_profile_governor_has_a_simulated_model():
    for name in ("pixel7", "sm8550", "pixel4"):
        phone = VirtualPhone(name)
        for knob in phone.knobs.values():
            for gov in knob.available_governors:
                governors.make_governor(gov, phone.profile.physics.governors, 16.0)


def _decoding_phone():
    phone = VirtualPhone("pixel7", seed=0)
    phone.advance(0.5)
    phone.start(LlmRequest(load_model("tinyllama-1.1b-q4"), 8, 200))
    return phone, VirtualDevice(phone)


def test_stock_governors_move_frequencies_and_the_mif_follows_the_gpu_level():
    phone, device = _decoding_phone()
    phone.advance(3.0)
    assert phone.knobs["policy6"].transitions > 0 and phone.gpu.transitions > 0
    assert 300 <= int(device.read(f"{MALI}/cur_freq")) // 1000 <= 510
    assert int(device.read(f"{MALI}/utilization")) > 50
    floor = phone.profile.physics.governors["quickstep"].mif_min_hz[phone.gpu.level]
    assert phone.knobs["mem"].cur_hz >= floor


def test_sysfs_writes_override_the_stock_governors_as_on_a_phone():
    phone, device = _decoding_phone()
    device.write(f"{POLICY6}/scaling_governor", "performance")
    device.write(f"{MALI}/scaling_min_freq", "848000")
    device.write(f"{MIF}/governor", "userspace")
    device.write(f"{MIF}/userspace/set_freq", "2028000")
    phone.advance(2.0)
    assert device.read(f"{POLICY6}/scaling_cur_freq") == "2850000\n"
    assert device.read(f"{MALI}/cur_freq") == "848000\n"
    assert device.read(f"{MIF}/cur_freq") == "2028000\n"
    device.write(f"{POLICY6}/scaling_governor", "sched_pixel")
    device.write(f"{POLICY6}/scaling_max_freq", "1426000")
    phone.advance(1.0)
    assert int(device.read(f"{POLICY6}/scaling_cur_freq")) <= 1426000
    # back to the stock governor and no limits: it goes down again (the inference thread waits on the GPU)
    device.write(f"{MALI}/scaling_min_freq", "151000")
    device.write(f"{POLICY6}/scaling_max_freq", "2850000")
    phone.advance(2.0)
    assert int(device.read(f"{MALI}/cur_freq")) < 848000
