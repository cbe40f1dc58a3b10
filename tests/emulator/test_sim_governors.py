"""The stock governors, each as the kernel runs it on what the kernel gives it, and their override through
sysfs. Engine-level behaviours (alternation, drag-down, memory following bus load, seeds) are in
test_sim_dynamics.py."""

import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.sim import governors
from android.emulator.sim.governors import (
    REGISTRY,
    BusObservation,
    CpuObservation,
    GpuObservation,
    LatencyObservation,
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
CPU_TABLE = tuple(f * MHZ for f in (500, 851, 984, 1106, 1277, 1426, 1582, 1745, 1826, 2048, 2400, 2850))
GPU_TABLE = tuple(f * MHZ for f in (151, 202, 251, 302, 351, 400))
BUS_TABLE = tuple(f * MHZ for f in (421, 546, 676, 845, 1014, 1352, 1539, 2028, 3172))


def _cpu(now, util, ran=True, sleeping=False, uclamp=0.0, busy_s=0.0, cur=500 * MHZ):
    return CpuObservation(
        now_s=now,
        dt_s=0.004,
        util=util,
        busy_s=busy_s,
        uclamp_min=uclamp if ran else 0.0,
        ran=ran,
        sleeping=sleeping,
        cur_hz=cur,
        max_hz=CPU_TABLE[-1],
        table_hz=CPU_TABLE,
    )


def test_schedutil_maps_util_with_the_125_headroom_into_the_table_within_its_rate_limit():
    gov = schedutil.Schedutil(schedutil.Tunables(rate_limit_us=10_000))
    # 1.25 x 2850 MHz x 0.3 = 1069 MHz: the lowest table entry above it
    assert gov.update(_cpu(0.0, 0.3, ran=False, sleeping=True)) == 1106 * MHZ
    assert gov.update(_cpu(0.004, 0.8, ran=False, sleeping=True)) == 1106 * MHZ  # 4 ms < 10 ms rate limit
    assert gov.update(_cpu(0.012, 0.8, ran=False, sleeping=True)) == 2850 * MHZ


def test_sched_pixel_applies_uclamp_only_while_the_task_is_runnable_with_separate_rate_limits():
    gov = sched_pixel.SchedPixel(sched_pixel.Tunables(up_rate_limit_us=500, down_rate_limit_us=20_000))
    clamp = 0.3  # the foreground group's uclamp.min: 1.25 x 0.3 x 2850 MHz -> 1106 MHz
    assert gov.update(_cpu(0.000, 0.05, ran=True, sleeping=False, uclamp=clamp)) == 1106 * MHZ  # enqueued
    # the task sleeps on the GPU: the clamp is released, but the down limit holds the clock for 20 ms
    assert gov.update(_cpu(0.004, 0.05, ran=True, sleeping=True, uclamp=clamp)) == 1106 * MHZ
    assert gov.update(_cpu(0.024, 0.05, ran=False, sleeping=True)) == 500 * MHZ  # 20 ms on: the PELT level
    # the next wake-up lifts it again once the short up limit has passed
    assert gov.update(_cpu(0.028, 0.05, ran=True, sleeping=False, uclamp=clamp)) == 1106 * MHZ
    # load above the clamp wins: 1.25 x 0.5 x 2850 = 1781 -> 1826 MHz
    assert gov.update(_cpu(0.032, 0.5, ran=True, sleeping=False, uclamp=clamp)) == 1826 * MHZ


def test_walt_sums_busy_time_into_windows_and_predicts_from_the_history():
    gov = walt.Walt(walt.Tunables(sched_ravg_window_ns=20_000_000, sched_ravg_hist_size=3, pl=1))
    targets = []
    for tick in range(10):  # 5 busy ticks (a 20 ms window at 0.4), then 5 idle ones
        busy = 0.4 * 0.004 if tick < 5 else 0.0
        targets.append(gov.update(_cpu(0.004 * (tick + 1), 0.0, ran=False, sleeping=True, busy_s=busy)))
    assert targets[3] == 500 * MHZ  # no window closed yet: nothing measured, the floor
    assert targets[4] == 1426 * MHZ  # 1.25 x 0.4 x 2850 = 1425
    assert targets[9] == 851 * MHZ  # idle window: the history's mean (0.2) wins over the last (0)
    hispeed = walt.Walt(walt.Tunables(hispeed_load=90, hispeed_freq_hz=1745 * MHZ))
    for tick in range(5):
        target = hispeed.update(_cpu(0.004 * (tick + 1), 0.0, ran=False, sleeping=True, busy_s=0.004, cur=1106 * MHZ))
    assert target == 2850 * MHZ  # fully busy: 1.25 x 1.0, above hispeed anyway


def _quickstep(cls=mali_quickstep.Quickstep):
    return cls(
        mali_quickstep.Tunables(
            util_min=(0, 60, 65, 70, 75, 80),
            util_max=(85, 88, 90, 92, 95, 100),
            hysteresis=(1, 1, 2, 2, 4, 2),
            mif_min_hz=(0, 0, 0, 0, 845 * MHZ, 3172 * MHZ),
            clockdown_hysteresis_ms=50,
        )
    )


def _gpu(level, util_pct, now=0.0, total=0.02):
    return GpuObservation(now_s=now, busy_s=total * util_pct / 100, total_s=total, level=level, table_hz=GPU_TABLE)


def test_quickstep_jumps_two_levels_far_above_its_band_and_steps_down_after_the_hysteresis():
    gov = _quickstep()
    assert gov.update(_gpu(0, 99)) == GPU_TABLE[2]  # above (100 + 85) / 2: step_up_val levels at once
    assert gov.delay == 1  # the new level's hysteresis, halved
    assert gov.update(_gpu(2, 91)) == GPU_TABLE[3]  # above util_max only: one level
    assert gov.update(_gpu(3, 50)) == GPU_TABLE[3]  # below util_min: wait out the hysteresis (2)...
    assert gov.update(_gpu(3, 80)) == GPU_TABLE[3]  # ...inside the band the count restarts
    assert gov.update(_gpu(3, 50)) == GPU_TABLE[3]
    assert gov.update(_gpu(3, 50)) == GPU_TABLE[2]
    assert _quickstep(mali_quickstep.Basic).update(_gpu(0, 99)) == GPU_TABLE[1]  # `basic` never jumps two
    assert gov.qos_votes(4) == {"mem": 845 * MHZ} and gov.qos_votes(5) == {"mem": 3172 * MHZ}


def test_quickstep_clockdown_drops_an_idle_gpu_to_the_lowest_level():
    gov = _quickstep()
    assert gov.update(_gpu(5, 0, total=0.02)) == GPU_TABLE[4]  # idle for 20 ms: below the band, one down
    assert gov.update(_gpu(4, 0, total=0.04)) == GPU_TABLE[0]  # 60 ms >= clockdown_hysteresis_ms


def test_msm_adreno_tz_bins_short_windows_bursts_to_the_top_and_slumbers_when_idle():
    gov = msm_adreno_tz.AdrenoTz(msm_adreno_tz.Tunables())
    obs = GpuObservation(busy_s=0.0005, total_s=0.004, level=3, table_hz=GPU_TABLE)
    assert gov.update(obs) is None  # under FLOOR (5 ms) / MIN_BUSY (1 ms): only binned
    assert gov.bin_total_s == pytest.approx(0.004)
    obs.busy_s, obs.total_s = 0.0095, 0.010
    assert gov.update(obs) == GPU_TABLE[3]  # judged on the whole bin: 10 ms busy in 14 ms = 71%, in the band
    assert gov.bin_total_s == 0.0
    assert gov.update(obs) == GPU_TABLE[4]  # 95% > up_threshold: one level up
    gov.bin_busy_s = 0.049
    obs.busy_s, obs.total_s = 0.006, 0.006
    assert gov.update(obs) == GPU_TABLE[-1]  # more than CEILING (50 ms) busy in the bin: straight to the top
    obs.busy_s, obs.total_s, obs.level = 0.0, 0.1, 4
    assert gov.update(obs) == GPU_TABLE[0]  # no work for idle_timeout_ms: slumber at the lowest level


def _bus(mbps, cur_hz=845 * MHZ, window=0.05, qos=0):
    return BusObservation(
        now_s=0.0,
        window_s=window,
        bytes=mbps * 1e6 * window,
        peak_bytes_per_hz=16.0,
        cur_hz=cur_hz,
        qos_min_hz=qos,
        table_hz=BUS_TABLE,
    )


def test_bw_hwmon_over_requests_on_a_rise_adds_the_guard_band_and_smooths_a_fall():
    t = bw_hwmon.Tunables(up_scale=0, hyst_length=0, guard_band_mbps=100, decay_rate=50, io_percent=16)
    gov = bw_hwmon.BwHwmon(t)
    first = gov.update(_bus(1000))
    assert gov.prev_ab == pytest.approx(1100)  # measured + guard band
    assert first == int(1100 * 100 / 16 * 1e6 / 16.0)  # ib = ab * 100 / io_percent, at 16 bytes per Hz
    gov.update(_bus(0))
    assert gov.prev_ab == pytest.approx(600)  # a fall is smoothed: 50% of the new vote
    scaled = bw_hwmon.BwHwmon(bw_hwmon.Tunables(up_scale=100, hyst_length=0, guard_band_mbps=0))
    scaled.update(_bus(600))  # above the idle wake level: already an up wake, 600 + (600 - 0)
    assert scaled.prev_req == pytest.approx(1200)
    scaled.update(_bus(2000))  # an up wake: over-request by up_scale % of the rise
    assert scaled.prev_req == pytest.approx(2000 + (2000 - 1200))
    assert bw_hwmon.BwHwmon(t).update(_bus(0, qos=2028 * MHZ)) == 2028 * MHZ  # a driver's floor wins


def test_memlat_votes_the_core_to_memory_table_only_for_memory_bound_cpus():
    gov = memlat.Memlat(memlat.Tunables(core_hz=(1_000 * MHZ, 2_000 * MHZ), mem_hz=(845 * MHZ, 2028 * MHZ)))
    obs = LatencyObservation(cores=[(50e6, 1e6, 0.6, 1_800 * MHZ)], table_hz=BUS_TABLE)  # 50 inst / access
    assert gov.update(obs) == BUS_TABLE[0]
    obs.cores = [(5e6, 1e6, 0.6, 1_800 * MHZ), (5e6, 1e6, 0.05, 2_400 * MHZ)]  # the second stalls too little
    assert gov.update(obs) == 2028 * MHZ


def test_mif_interactive_follows_bus_load_holds_its_peak_and_jumps_to_peak_on_high_load():
    t = mif_interactive.Tunables(min_sample_time=10, hold_sample_time=100, target_load=40, hispeed_load=85)
    gov = mif_interactive.Interactive(t)
    cur = 1014 * MHZ
    peak = 16.0 * cur

    def load(share, qos=0):
        return BusObservation(
            window_s=0.02,
            bytes=share * peak * 0.02,
            cur_hz=cur,
            qos_min_hz=qos,
            peak_bytes_per_hz=16.0,
            table_hz=BUS_TABLE,
        )

    gov.prev_hz = cur
    assert gov.update(load(0.30)) == int(0.30 * 100 * cur / 40)  # max_load x cur / target_load
    held = gov.update(load(0.10))  # lower load: the 30% peak is held for hold_sample_time
    assert held == gov.governor_hz and gov.max_load == pytest.approx(30.0)
    for _ in range(6):
        low = gov.update(load(0.10))
    assert gov.max_load == pytest.approx(10.0) and low == int(cur / 2)  # then it falls, at most to half
    assert gov.update(load(0.90)) == BUS_TABLE[-1]  # above hispeed_load: the top
    assert gov.update(load(0.0, qos=3172 * MHZ)) == 3172 * MHZ  # a PM QoS vote is combined as the maximum


def test_the_registry_maps_every_profile_governor_to_a_class_of_a_known_kind():
    for name in ("pixel7", "sm8550", "pixel4"):
        phone = VirtualPhone(name)
        for knob in phone.knobs.values():
            for gov in knob.available_governors:
                made = governors.make_governor(gov, phone.profile.physics.governors)
                assert made is None if gov in governors.KNOB_OWN else made.kind in {"cpu", "gpu", "bus", "latency"}
    assert {cls.section for cls in REGISTRY.values()} <= set(governors.TUNABLES)
    with pytest.raises(ValueError, match="no simulated governor named 'ondemand'"):
        governors.make_governor("ondemand", {})


def _decoding_phone():
    phone = VirtualPhone("pixel7", seed=0)
    phone.advance(0.5)
    phone.start(LlmRequest(load_model("tinyllama-1.1b-q4"), 8, 200))
    return phone, VirtualDevice(phone)


def test_sysfs_writes_override_the_stock_governors_as_on_a_phone():
    phone, device = _decoding_phone()
    device.write(f"{POLICY6}/scaling_governor", "performance")
    device.write(f"{MALI}/scaling_min_freq", "848000")
    device.write(f"{MIF}/governor", "userspace")
    device.write(f"{MIF}/userspace/set_freq", "2028000")
    phone.advance(2.0)
    assert device.read(f"{POLICY6}/scaling_cur_freq") == "2850000\n"
    assert device.read(f"{MALI}/cur_freq") == "848000\n"
    assert device.read(f"{MIF}/cur_freq") == "2028000\n"  # the userspace pin beats the GPU level's MIF vote
    device.write(f"{POLICY6}/scaling_governor", "sched_pixel")
    device.write(f"{POLICY6}/scaling_max_freq", "1426000")
    phone.advance(1.0)
    assert int(device.read(f"{POLICY6}/scaling_cur_freq")) <= 1426000
    # back to the stock governors and no limits: the GPU drops (the inference thread waits on it)
    device.write(f"{MALI}/scaling_min_freq", "151000")
    device.write(f"{POLICY6}/scaling_max_freq", "2850000")
    device.write(f"{MIF}/governor", "interactive")
    phone.advance(2.0)
    assert int(device.read(f"{MALI}/cur_freq")) < 848000
    assert phone.knobs["policy6"].transitions > 0 and phone.gpu.transitions > 0
