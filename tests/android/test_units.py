import pytest

from android.errors import FusegovError
from android.units import from_native, parse_freq_hz, parse_pin, to_native


@pytest.mark.parametrize(
    "text,hz",
    [
        ("2802MHz", 2_802_000_000),
        ("848000kHz", 848_000_000),
        ("1.5GHz", 1_500_000_000),
        ("151000000", 151_000_000),
        ("124.8 MHz", 124_800_000),
        ("2802mhz", 2_802_000_000),
    ],
)
def test_parse_freq_accepts_units(text, hz):
    assert parse_freq_hz(text) == hz


@pytest.mark.parametrize("text", ["fast", "12 parsecs", "", "MHz"])
def test_parse_freq_rejects_garbage_with_the_text(text):
    with pytest.raises(FusegovError, match="frequency|unit"):
        parse_freq_hz(text)


def test_native_units_round_trip():
    assert to_native(848_000_000, "khz") == 848_000
    assert from_native("3172000", "khz") == 3_172_000_000
    # Qualcomm bandwidth votes: 12191 MB/s is the 3196 MHz DDR level (MB/s = MHz * 4 / 1.048576)
    assert abs(from_native(12191, "mbps") / 1e6 - 3196) < 1
    assert to_native(from_native(12191, "mbps"), "mbps") == 12191


def test_parse_pin():
    assert parse_pin("policy6=2252MHz, gpu=848MHz") == {"policy6": 2_252_000_000, "gpu": 848_000_000}
    with pytest.raises(FusegovError, match="KNOB=FREQ"):
        parse_pin("gpu848")
