"""Power sensors: ODPM rails (/sys/bus/iio/devices/iio:deviceN/energy_value) and the fuel gauge."""

from __future__ import annotations

import re

from android.device import Device
from android.soc.families import SocFamily, match_component
from android.soc.records import BatteryInfo, RailInfo

IIO_DIR = "/sys/bus/iio/devices"
BATTERY_DIR = "/sys/class/power_supply/battery"


def parse_energy_value(text: str) -> tuple[int, dict[int, tuple[str, int]]]:
    """ODPM energy_value -> (t_ms, {channel: (rail, energy_uws)})."""
    lines = text.strip().splitlines()
    if not lines or not lines[0].startswith("t="):
        raise ValueError(f"not an ODPM energy_value block: {text[:60]!r}")
    rails = {}
    for line in lines[1:]:
        m = re.match(r"^CH(\d+)\(T=\d+\)\[([^\]]+)\],\s*(\d+)\s*$", line)
        if m:
            rails[int(m.group(1))] = (m.group(2), int(m.group(3)))
    return int(lines[0][2:]), rails


def probe_rails(device: Device, family: SocFamily, policies: list[str]) -> list[RailInfo]:
    if not device.is_dir(IIO_DIR):
        return []
    rails = []
    for name in device.listdir(IIO_DIR):
        base = f"{IIO_DIR}/{name}"
        text = device.read_many([f"{base}/energy_value"])[f"{base}/energy_value"]
        if not text:
            continue
        try:
            _, channels = parse_energy_value(text)
        except ValueError:
            continue
        for channel, (rail, _) in sorted(channels.items()):
            rails.append(RailInfo("odpm", base, channel, rail, match_component(family.rail_rules, rail, policies)))
    return rails


def probe_battery(device: Device) -> BatteryInfo | None:
    if not device.exists(f"{BATTERY_DIR}/current_now"):
        return None
    return BatteryInfo(BATTERY_DIR, f"{BATTERY_DIR}/current_now", f"{BATTERY_DIR}/voltage_now")
