"""Thermal zones: /sys/class/thermal/thermal_zoneN/{type,temp} (millidegrees C)."""

from __future__ import annotations

from android.device import Device
from android.soc.families import SocFamily, match_component
from android.soc.records import ZoneInfo

THERMAL_DIR = "/sys/class/thermal"


def probe(device: Device, family: SocFamily, policies: list[str]) -> list[ZoneInfo]:
    if not device.is_dir(THERMAL_DIR):
        return []
    names = [n for n in device.listdir(THERMAL_DIR) if n.startswith("thermal_zone") and n[12:].isdigit()]
    names.sort(key=lambda n: int(n[12:]))
    types = device.read_many([f"{THERMAL_DIR}/{n}/type" for n in names])
    zones = []
    for name in names:
        zone_type = (types[f"{THERMAL_DIR}/{name}/type"] or "").strip()
        if zone_type:
            zones.append(
                ZoneInfo(
                    int(name[12:]),
                    zone_type,
                    f"{THERMAL_DIR}/{name}/temp",
                    match_component(family.zone_rules, zone_type, policies),
                )
            )
    return zones
