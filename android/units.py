"""The one place that converts frequencies between people, fusegov (Hz) and each sysfs file's unit, and
sizes between people and bytes."""

from __future__ import annotations

import math
import re

from android.errors import UsageError

# Native units of sysfs frequency files, as Hz per unit. "MBps" is a Qualcomm bandwidth vote:
# the bw tables list DDR MB/s = MHz * 4 / 1.048576, so one MB/s stands for 262144 Hz of DDR clock.
HZ_PER_UNIT = {"hz": 1, "khz": 1_000, "mhz": 1_000_000, "ghz": 1_000_000_000, "mbps": 262_144}

_FREQ_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*$")
MAX_FREQ_HZ = 100_000_000_000  # 100 GHz: no DVFS table comes near; bigger is a typo (or an attack)
BARE_HZ_BELOW = 1_000_000  # a bare number this small is not a DVFS frequency in Hz: the user meant MHz or kHz
SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2, "mb": 1000**2, "mib": 1024**2,
              "g": 1024**3, "gb": 1000**3, "gib": 1024**3, "t": 1024**4, "tb": 1000**4, "tib": 1024**4}  # fmt: skip
_SIZE_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*$")


def parse_freq_hz(text: str) -> int:
    """Parse '2802MHz', '848000kHz', '1.5GHz' or plain Hz into integer Hz (at most 100 GHz)."""
    match = _FREQ_RE.match(str(text))
    if not match:
        raise UsageError(f"not a frequency: {str(text)[:60]!r} (use e.g. 2802MHz, 848000kHz, 1.5GHz or plain Hz)")
    digits, unit = match.group(1), match.group(2).lower() or "hz"
    if unit not in ("hz", "khz", "mhz", "ghz"):
        raise UsageError(f"unknown frequency unit {match.group(2)[:20]!r} in {text[:60]!r} (use Hz, kHz, MHz or GHz)")
    value = float(digits) * HZ_PER_UNIT[unit] if len(digits) < 40 else math.inf
    if not value <= MAX_FREQ_HZ:
        raise UsageError(f"frequency {text[:60]!r} is over {MAX_FREQ_HZ // 1_000_000_000} GHz")
    return int(round(value))


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
    """'policy6=2252MHz,gpu=848MHz' -> {'policy6': 2252000000, 'gpu': 848000000}. A knob named twice is an
    error, and so is a bare number too small to be Hz (gpu=848), with the unit it probably lacks."""
    pins: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        knob, sep, value = item.partition("=")
        knob = knob.strip()
        if not sep or not knob:
            raise UsageError(f"bad pin {item[:60]!r}: use KNOB=FREQ, e.g. gpu=848MHz")
        freq_hz = parse_freq_hz(value)
        if value.strip().replace(".", "", 1).isdigit() and freq_hz < BARE_HZ_BELOW:
            unit = "MHz" if freq_hz < 10_000 else "kHz"
            hint = f"; did you mean {value.strip()}{unit}?" if freq_hz else ""
            raise UsageError(f"bad pin {item[:60]!r}: {value.strip()} Hz is no DVFS frequency{hint}")
        if knob in pins:
            raise UsageError(
                f"{knob} is pinned twice ({format_hz(pins[knob])} and {format_hz(freq_hz)}): give each knob once"
            )
        pins[knob] = freq_hz
    return pins


def parse_size_bytes(text: str) -> int:
    """'256MiB', '1GiB', '512M' (binary), '1GB' (decimal) or plain bytes -> bytes."""
    match = _SIZE_RE.match(str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in SIZE_UNITS or len(match.group(1)) > 30:
        raise UsageError(f"not a size: {str(text)[:60]!r} (use e.g. 256MiB, 1GiB or bytes)")
    return int(float(match.group(1)) * SIZE_UNITS[unit])


def format_size(size_bytes: int) -> str:
    """'256 MiB', '1 GiB', '4096 B'."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size_bytes >= factor and size_bytes % factor == 0:
            return f"{size_bytes // factor} {unit}"
    return f"{size_bytes} B"
