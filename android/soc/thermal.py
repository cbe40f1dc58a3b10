"""Thermal zones: /sys/class/thermal/thermal_zoneN/{type,temp} (millidegrees C) and the passive trips at which
something throttles (trip_point_K_{type,temp,hyst}: where the kernel starts throttling, governor.heat steps a
plan down before)."""

from __future__ import annotations

from android.device import Device
from android.soc.families import SocFamily, match_component
from android.soc.records import ZoneInfo

THERMAL_DIR = "/sys/class/thermal"
MAX_TRIPS = 12  # trip points looked for per zone (Android kernels: a handful)
MAX_BINDINGS = 32  # cooling-device bindings looked for per zone (cdevK_trip_point: one per device and trip bound)
USER_SPACE = "user_space"  # the zone policy that leaves its trips to a user-space daemon (Pixel's thermal HAL)
POWER_ALLOCATOR = "power_allocator"  # the zone policy that budgets power from its first passive trip on


def probe(device: Device, family: SocFamily, policies: list[str]) -> list[ZoneInfo]:
    if not device.is_dir(THERMAL_DIR):
        return []
    names = [n for n in device.listdir(THERMAL_DIR) if n.startswith("thermal_zone") and n[12:].isdigit()]
    names.sort(key=lambda n: int(n[12:]))
    types = device.read_many([f"{THERMAL_DIR}/{n}/type" for n in names])
    trips = _throttling_trips(device, [f"{THERMAL_DIR}/{n}" for n in names])
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


def _throttling_trips(device: Device, zone_dirs: list[str]) -> dict[str, list[list[float]]]:
    """Per zone directory, [temperature C, hysteresis C] of each passive trip at which something throttles (an
    unreadable hysteresis: 0); two reads for every zone together.

    The kernel throttles through the cooling devices bound to a zone's trips (each binding's cdevK_trip_point
    names its trip), so a trip nothing is bound to only warns, and stepping a plan down before it would cost
    speed for nothing. Two policies act on more: power_allocator budgets power from its first passive trip
    (switch-on) up to the last (control, where its devices are bound), and user_space hands every trip to a
    user-space daemon (Pixel's thermal HAL). A device that shows no binding at all (a copy of sysfs without the
    cdevK files) gives no way to tell: every passive trip counts there."""
    types = device.read_many([f"{d}/trip_point_{k}_type" for d in zone_dirs for k in range(MAX_TRIPS)])
    passive = {
        d: [k for k in range(MAX_TRIPS) if (types[f"{d}/trip_point_{k}_type"] or "").strip() == "passive"]
        for d in zone_dirs
    }
    zoned = [d for d in zone_dirs if passive[d]]
    values = device.read_many(
        [f"{d}/trip_point_{k}_{what}" for d in zoned for k in passive[d] for what in ("temp", "hyst")]
        + [f"{d}/policy" for d in zoned]
        + [f"{d}/cdev{j}_trip_point" for d in zoned for j in range(MAX_BINDINGS)]
    )
    bound = {d: {_integer(values[f"{d}/cdev{j}_trip_point"]) for j in range(MAX_BINDINGS)} - {None} for d in zoned}
    any_binding = any(bound.values())
    trips: dict[str, list[list[float]]] = {d: [] for d in zone_dirs}
    for d in zoned:
        policy = (values[f"{d}/policy"] or "").strip()
        acting = set(passive[d]) if policy == USER_SPACE or not any_binding else bound[d]
        if policy == POWER_ALLOCATOR and bound[d] and len(passive[d]) > 1:
            acting = acting | {passive[d][0]}
        for k in passive[d]:
            temp, hyst = (_millidegrees(values[f"{d}/trip_point_{k}_{what}"]) for what in ("temp", "hyst"))
            if k in acting and temp is not None:
                trips[d].append([temp, hyst or 0.0])
    return trips


def _integer(text: str | None) -> int | None:
    try:
        return int((text or "").split()[0])
    except (ValueError, IndexError):
        return None


def _millidegrees(text: str | None) -> float | None:
    value = _integer(text)
    return None if value is None else value / 1000.0
