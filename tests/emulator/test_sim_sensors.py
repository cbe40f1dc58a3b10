"""Sensors with their real rates and quantisation: ODPM rails, the fuel gauge, an external monitor."""

import numpy as np
import pytest

from android.emulator.phone import VirtualPhone
from android.emulator.sim.llm import LlmRequest
from android.emulator.sim.llm_models import load_model
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


def test_odpm_reads_step_at_the_cache_refreshes_in_whole_uws_and_undercount_by_at_most_one_lsb_per_sample():
    phone = _busy_phone(seconds=2.0)
    device = VirtualDevice(phone)
    reads = []  # (time of the read, t= of the text, energy of the big-core rail)
    for _ in range(40):  # a reader polling every 10 ms
        phone.advance(0.01)
        text = device.read(ENERGY)
        lines = text.splitlines()
        reads.append((phone.state.uptime_s, int(lines[0][2:]), int(lines[1].rsplit(", ", 1)[1])))
    stamps = sorted({r[1] for r in reads})
    assert len(stamps) in (7, 8, 9)  # refreshed at most every 50 ms: 0.4 s of reads show ~8 snapshots
    assert all(b - a >= 50 for a, b in zip(stamps, stamps[1:]))
    assert all(r[0] * 1000 - r[1] < 60 for r in reads)  # a read is at most one cache period old
    sensors = phone.sim.sensors
    lsb, rate = phone.profile.physics.sensors.odpm_power_lsb_w, phone.profile.odpm[0].sampling_rate_hz
    samples = phone.state.uptime_s * rate
    true_j, metered_j = sensors.rail_true_j[0], sensors.rail_sampled_j[0]
    assert true_j - metered_j <= samples * lsb / rate + 0.01 * true_j  # ADC truncation, sampling lag
    assert metered_j <= true_j + 1e-6
