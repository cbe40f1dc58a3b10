"""Sensors with their real rates and quantisation, and the thermal model with throttling."""

import json

import numpy as np
import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.profile import BUILTIN_DIR, parse_profile
from android.emulator.sim.llm import LlmRequest
from android.emulator.sim.llm_models import load_model
from android.emulator.sim.request import apply_pins
from android.virtual import VirtualDevice

MHZ = 1_000_000
ENERGY = "/sys/bus/iio/devices/iio:device0/energy_value"
BATTERY = "/sys/class/power_supply/battery"


def _busy_phone(name="pixel7", seconds=0.0, profile=None):
    phone = VirtualPhone(profile or name, seed=1)
    phone.start(LlmRequest(load_model("tinyllama-1.1b-q4"), 8, 2000))
    if seconds:
        phone.advance(seconds)
    return phone


def test_odpm_accumulates_at_its_sampling_instants_and_caches_reads_for_50ms():
    phone = _busy_phone()
    device = VirtualDevice(phone)
    phone.advance(1.0013)  # between two 2 ms sampling instants of the 500 Hz meter
    first = device.read(ENERGY)
    t_ms = int(first.splitlines()[0][2:])
    assert t_ms == int(phone.state.uptime_s * 1000)
    big_j = phone.state.rail_energy_j[("iio:device0", 0)]
    # the accumulator holds the energy up to the last sampling instant (t = 1.000 s), not up to now
    assert big_j == pytest.approx(phone.sim.sensors.rail_sampled_j[0])
    assert big_j < phone.sim.sensors.rail_true_j[0]
    phone.advance(0.02)
    assert device.read(ENERGY) == first  # within 50 ms of the last refresh: cached
    phone.advance(0.04)
    later = device.read(ENERGY)
    assert later != first
    values = [int(line.rsplit(", ", 1)[1]) for line in later.splitlines()[1:]]
    before = [int(line.rsplit(", ", 1)[1]) for line in first.splitlines()[1:]]
    assert all(b >= a for a, b in zip(before, values)) and values[0] > before[0]


def test_battery_gauge_updates_slowly_and_is_quantised():
    phone = _busy_phone(seconds=0.3)
    device = VirtualDevice(phone)
    assert phone.state.battery_current_a == 0.35  # no refresh yet in the first second
    phone.advance(1.0)
    current_ua = -int(device.read(f"{BATTERY}/current_now"))  # Pixel: discharge reads negative
    lsb = phone.profile.physics.sensors.battery_current_lsb_a
    assert phone.state.battery_current_a / lsb == pytest.approx(round(phone.state.battery_current_a / lsb))
    volt = int(device.read(f"{BATTERY}/voltage_now")) / 1e6
    assert volt < phone.profile.battery.voltage_uv / 1e6  # sags under load through the internal resistance
    watts = current_ua * 1e-6 * volt
    assert 1.0 < watts < 4.5
    phone.advance(0.5)
    assert -int(device.read(f"{BATTERY}/current_now")) == current_ua  # held until the next refresh


def test_external_monitor_streams_whole_phone_power_at_5khz():
    phone = _busy_phone(seconds=2.0)
    stream = phone.sim.sensors.monitor_samples(1.0, 2.0)
    t = stream["t_s"]
    assert len(t) == 5001 and np.allclose(np.diff(t), 1 / 5000)
    watts = stream["main_current_a"] * stream["main_voltage_v"]
    energy = []
    phone2 = _busy_phone()
    phone2.sim.observers.append(lambda b: energy.append(float(b.total_w[b.t_end_s > 1.0] @ b.dt_s[b.t_end_s > 1.0])))
    phone2.advance(2.0)
    assert watts.mean() == pytest.approx(sum(energy), rel=0.02)
    assert watts.std() > 0  # measurement noise and workload structure


def test_the_soc_heats_under_load_and_cools_back_towards_ambient():
    phone = _busy_phone()
    start = phone.state.zone_temp_c["BIG"]
    phone.advance(30.0)
    hot = phone.state.zone_temp_c["G3D"]
    assert hot > start + 2
    phone.sim.stop()
    phone.advance(60.0)
    assert phone.state.zone_temp_c["G3D"] < hot - 1
    assert phone.state.zone_temp_c["neutral_therm"] > phone.profile.physics.thermal.ambient_c


def test_throttling_caps_frequencies_above_the_trip_and_lifts_below_it():
    raw = json.loads((BUILTIN_DIR / "pixel7.json").read_text())
    rules = raw["physics"]["thermal"]["throttle"]
    rules[1].update(trip_c=42.0, hysteresis_c=3.0)  # the GPU zone trips early in this test profile
    profile = parse_profile(raw, source="hot-pixel7")
    phone = VirtualPhone(profile, seed=1)
    apply_pins(phone, {"gpu": 848 * MHZ, "policy6": 2401 * MHZ})  # as high as the limits allow
    phone.start(LlmRequest(load_model("tinyllama-1.1b-q4"), 8, 2000))
    phone.advance(20.0)
    gpu = phone.gpu
    assert phone.state.zone_temp_c["G3D"] > 41.0
    assert 0 < gpu.thermal_cap_hz < 848 * MHZ
    assert gpu.cur_hz <= gpu.thermal_cap_hz
    device = VirtualDevice(phone)
    assert int(device.read("/sys/devices/platform/28000000.mali/cur_freq")) * 1000 == gpu.cur_hz
    phone.sim.stop()
    phone.advance(120.0)
    assert gpu.thermal_cap_hz == 0  # cooled below trip - hysteresis: the cap is lifted step by step
