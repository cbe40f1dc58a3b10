"""The one place that converts frequencies between people, fusegov (Hz) and each sysfs file's unit."""

from __future__ import annotations

import re

from android.errors import FusegovError

# Native units of sysfs frequency files, as Hz per unit. "MBps" is a Qualcomm bandwidth vote:
# the bw tables list DDR MB/s = MHz * 4 / 1.048576, so one MB/s stands for 262144 Hz of DDR clock.
HZ_PER_UNIT = {"hz": 1, "khz": 1_000, "mhz": 1_000_000, "ghz": 1_000_000_000, "mbps": 262_144}

_FREQ_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*$")


def parse_freq_hz(text: str) -> int:
    """Parse '2802MHz', '848000kHz', '1.5GHz' or plain Hz into integer Hz."""
    match = _FREQ_RE.match(str(text))
    if not match:
        raise FusegovError(f"not a frequency: {text!r} (use e.g. 2802MHz, 848000kHz, 1.5GHz or plain Hz)")
    value, unit = float(match.group(1)), match.group(2).lower() or "hz"
    if unit not in ("hz", "khz", "mhz", "ghz"):
        raise FusegovError(f"unknown frequency unit {match.group(2)!r} in {text!r} (use Hz, kHz, MHz or GHz)")
    return int(round(value * HZ_PER_UNIT[unit]))


def to_native(freq_hz: int, unit: str) -> int:
    """Hz -> the integer a sysfs file of `unit` expects (rounded to the nearest unit)."""
    return int(round(freq_hz / HZ_PER_UNIT[unit.lower()]))


def from_native(value: int | float | str, unit: str) -> int:
    """A sysfs file's integer in `unit` -> Hz."""
    return int(round(float(value) * HZ_PER_UNIT[unit.lower()]))


def format_hz(freq_hz: float) -> str:
    """Human form: '2802 MHz', '1.5 GHz' stays MHz for tables ('1500 MHz')."""
    mhz = freq_hz / 1e6
    return f"{mhz:.0f} MHz" if abs(mhz - round(mhz)) < 0.05 else f"{mhz:.1f} MHz"


def parse_pin(text: str) -> dict[str, int]:
    """'policy6=2252MHz,gpu=848MHz' -> {'policy6': 2252000000, 'gpu': 848000000}."""
    pins: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        knob, sep, value = item.partition("=")
        if not sep or not knob.strip():
            raise FusegovError(f"bad pin {item!r}: use KNOB=FREQ, e.g. gpu=848MHz")
        pins[knob.strip()] = parse_freq_hz(value)
    return pins
