"""Thermal zones: /sys/class/thermal/thermal_zoneN/{type,temp} (millidegrees C) and their passive trips
(trip_point_K_{type,temp,hyst}: where the kernel starts throttling, governor.heat steps a plan down before)."""

from __future__ import annotations

from android.device import Device
from android.soc.families import SocFamily, match_component
from android.soc.records import ZoneInfo

THERMAL_DIR = "/sys/class/thermal"
MAX_TRIPS = 12  # trip points looked for per zone (Android kernels: a handful)


def probe(device: Device, family: SocFamily, policies: list[str]) -> list[ZoneInfo]:
    if not device.is_dir(THERMAL_DIR):
        return []
    names = [n for n in device.listdir(THERMAL_DIR) if n.startswith("thermal_zone") and n[12:].isdigit()]
    names.sort(key=lambda n: int(n[12:]))
    types = device.read_many([f"{THERMAL_DIR}/{n}/type" for n in names])
    trips = _passive_trips(device, [f"{THERMAL_DIR}/{n}" for n in names])
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
                    trips[f"{THERMAL_DIR}/{name}"],
                )
            )
    return zones


def _passive_trips(device: Device, zone_dirs: list[str]) -> dict[str, list[list[float]]]:
    """Per zone directory, [temperature C, hysteresis C] of each passive trip (an unreadable hysteresis: 0);
    two reads for every zone together."""
    types = device.read_many([f"{d}/trip_point_{k}_type" for d in zone_dirs for k in range(MAX_TRIPS)])
    passive = [
        (d, k)
        for d in zone_dirs
        for k in range(MAX_TRIPS)
        if (types[f"{d}/trip_point_{k}_type"] or "").strip() == "passive"
    ]
    values = device.read_many([f"{d}/trip_point_{k}_{what}" for d, k in passive for what in ("temp", "hyst")])
    trips: dict[str, list[list[float]]] = {d: [] for d in zone_dirs}
    for d, k in passive:
        temp, hyst = (_millidegrees(values[f"{d}/trip_point_{k}_{what}"]) for what in ("temp", "hyst"))
        if temp is not None:
            trips[d].append([temp, hyst or 0.0])
    return trips


def _millidegrees(text: str | None) -> float | None:
    try:
        return int((text or "").split()[0]) / 1000.0
    except (ValueError, IndexError):
        return None
