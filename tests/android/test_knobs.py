"""Pinning knobs in Hz through the Device interface, verified by reading back."""

import pytest

from android.errors import FusegovError
from android.knobs import KnobController
from android.probe import probe_device
from android.virtual import VirtualDevice


def controller(name):
    device = VirtualDevice(name)
    return KnobController(device, probe_device(device)), device


@pytest.mark.parametrize(
    "name,knob,freq_hz",
    [
        ("pixel7", "gpu", 848_000_000),
        ("pixel7", "policy6", 2_252_000_000),
        ("pixel7", "mem", 2_028_000_000),
        ("sm8550", "gpu", 124_800_000),
        ("sm8550", "policy7", 2_457_600_000),
        ("pixel4", "gpu", 499_200_000),
    ],
)
def test_pin_sets_min_equal_max_and_the_knob_runs_there(name, knob, freq_hz):
    knobs, _ = controller(name)
    assert knobs.pin(knob, freq_hz) == freq_hz
    assert knobs.limits_hz(knob) == (freq_hz, freq_hz)
    assert knobs.cur_hz(knob) == freq_hz


def test_pin_order_never_asks_for_min_above_max():
    knobs, device = controller("pixel7")
    knobs.pin("policy6", 851_000_000)  # lowering: min first
    knobs.pin("policy6", 2_850_000_000)  # raising: max first
    assert knobs.limits_hz("policy6") == (2_850_000_000, 2_850_000_000)
    knobs.pin("gpu", 151_000_000)
    knobs.pin("gpu", 848_000_000)
    assert knobs.cur_hz("gpu") == 848_000_000


def test_pin_rejects_a_frequency_not_in_the_table():
    knobs, _ = controller("pixel7")
    with pytest.raises(FusegovError, match="800 MHz is not one of its frequencies.*848 MHz"):
        knobs.pin("gpu", 800_000_000)
    with pytest.raises(FusegovError, match="no knob 'npu'"):
        knobs.pin("npu", 1)


def test_snapshot_and_restore_put_everything_back():
    knobs, _ = controller("pixel7")
    before = knobs.snapshot()
    knobs.pin("gpu", 400_000_000)
    knobs.pin("mem", 845_000_000)
    knobs.set_governor("policy6", "performance")
    knobs.restore(before)
    assert knobs.snapshot() == before


def test_a_thermal_cap_is_accepted_as_the_kernel_lowering_the_limit():
    knobs, device = controller("pixel7")
    device.phone.knobs["policy6"].thermal_cap_hz = 1_826_000_000
    knobs.pin("policy6", 2_850_000_000)  # reads back 1826..1826, explained by the cooling device
    assert knobs.thermal_cap_hz("policy6") == 1_826_000_000
    assert knobs.limits_hz("policy6") == (1_826_000_000, 1_826_000_000)
