"""Thermal zones at /sys/class/thermal/thermal_zoneN (temperature in millidegrees C, each trip as
trip_point_K_{type,temp,hyst}: "passive", millidegrees, and each cooling device bound to a trip as the kernel
shows a binding: a `cdevJ` link to the device and `cdevJ_trip_point` holding the trip's index), and the
cooling devices that throttle the knobs at /sys/class/thermal/cooling_deviceN.

A cooling device is how a phone shows that a thermal cap, not the user, lowered a knob's maximum: its
`cur_state` counts the OPPs taken off the top of the knob's table (0: not throttling), `max_state` is the
table's length minus one. Names follow Linux 5.10/5.15 (the profiles' kernels): `thermal-cpufreq-N` for
the N-th CPU policy (cpufreq_cooling registers them in policy order), `thermal-gpufreq-0` for the GPU,
`thermal-devfreq-N` for the N-th devfreq device a throttle rule covers. The state is rendered from
KnobState.thermal_cap_hz, which the simulation's thermal framework sets (android.emulator.sim.thermal);
writing cur_state (root) sets that cap, as a user-space thermal daemon can, until the next poll moves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from android.emulator.sysfs.values import parse_uint
from android.errors import InvalidValueError

if TYPE_CHECKING:
    from android.emulator.knob import KnobState
    from android.emulator.phone import VirtualPhone

THERMAL_DIR = "/sys/class/thermal"


def build(phone: VirtualPhone) -> None:
    temps = phone.state.zone_temp_c
    devices = cooling_devices(phone)
    device_of = {knob.name: index for index, (_, knob) in enumerate(devices)}
    for index, zone in enumerate(phone.profile.thermal_zones):
        real = f"/sys/devices/virtual/thermal/thermal_zone{index}"
        phone.fs.attr(f"{real}/type", lambda t=zone.type: f"{t}\n")
        phone.fs.attr(f"{real}/temp", lambda t=zone.type: f"{int(round(temps[t] * 1000))}\n")
        phone.fs.attr(f"{real}/mode", lambda: "enabled\n")
        config = phone.profile.physics.thermal.zones[zone.type]
        phone.fs.attr(f"{real}/policy", lambda g=config.governor: f"{g}\n")
        for k, trip in enumerate(config.trips):
            phone.fs.attr(f"{real}/trip_point_{k}_type", lambda: "passive\n")
            phone.fs.attr(f"{real}/trip_point_{k}_temp", lambda t=trip.temp_c: f"{int(round(t * 1000))}\n")
            phone.fs.attr(f"{real}/trip_point_{k}_hyst", lambda h=trip.hysteresis_c: f"{int(round(h * 1000))}\n")
        # the bindings, numbered per zone from 0 in the order its trips bind them (the zone's own ida in
        # thermal_zone_bind_cooling_device): cdevJ -> ../cooling_deviceN and a read-only cdevJ_trip_point
        bound = [(k, knob) for k, trip in enumerate(config.trips) for knob in trip.cooling]
        for j, (k, knob) in enumerate(bound):
            phone.fs.symlink(f"{real}/cdev{j}", f"../cooling_device{device_of[knob]}")
            phone.fs.attr(f"{real}/cdev{j}_trip_point", lambda k=k: f"{k}\n")
        phone.fs.symlink(f"{THERMAL_DIR}/thermal_zone{index}", real)
    for index, (type_name, knob) in enumerate(devices):
        _cooling_device(phone, index, type_name, knob)


def cooling_devices(phone: VirtualPhone) -> list[tuple[str, KnobState]]:
    """(type, knob) of each cooling device, in registration order: CPU policies, the GPU, throttled
    devfreq devices."""
    devices = [(f"thermal-cpufreq-{i}", phone.knobs[c.policy]) for i, c in enumerate(phone.profile.clusters)]
    devices.append(("thermal-gpufreq-0", phone.knobs["gpu"]))
    zones = phone.profile.physics.thermal.zones.values()
    throttled = {knob for zone in zones for trip in zone.trips for knob in trip.cooling}
    devfreq = [d.knob for d in phone.profile.devfreq if d.knob in throttled]
    devices += [(f"thermal-devfreq-{i}", phone.knobs[knob]) for i, knob in enumerate(devfreq)]
    return devices


def cooling_state(knob: KnobState) -> int:
    """OPPs the thermal cap takes off the top of the table (0 when not capped)."""
    if not knob.thermal_cap_hz:
        return 0
    capped = int(np.searchsorted(knob.table_hz, knob.floor_hz(knob.thermal_cap_hz)))
    return len(knob.table_hz) - 1 - capped


def _cooling_device(phone: VirtualPhone, index: int, type_name: str, knob: KnobState) -> None:
    real = f"/sys/devices/virtual/thermal/cooling_device{index}"
    top = len(knob.table_hz) - 1

    def store_state(text: str, path=f"{real}/cur_state") -> None:
        state = parse_uint(phone.serial, path, text)
        if state > top:
            raise InvalidValueError(phone.serial, path, text.strip(), f"0..{top}")
        knob.thermal_cap_hz = int(knob.table_hz[top - state]) if state else 0

    phone.fs.attr(f"{real}/type", lambda: f"{type_name}\n")
    phone.fs.attr(f"{real}/max_state", lambda: f"{top}\n")
    phone.fs.attr(f"{real}/cur_state", lambda: f"{cooling_state(knob)}\n", store_state)
    phone.fs.symlink(f"{THERMAL_DIR}/cooling_device{index}", real)
