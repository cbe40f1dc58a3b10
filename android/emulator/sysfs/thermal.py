"""Thermal zones at /sys/class/thermal/thermal_zoneN (temperature in millidegrees C)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

THERMAL_DIR = "/sys/class/thermal"


def build(phone: VirtualPhone) -> None:
    temps = phone.state.zone_temp_c
    for index, zone in enumerate(phone.profile.thermal_zones):
        real = f"/sys/devices/virtual/thermal/thermal_zone{index}"
        phone.fs.attr(f"{real}/type", lambda t=zone.type: f"{t}\n")
        phone.fs.attr(f"{real}/temp", lambda t=zone.type: f"{int(round(temps[t] * 1000))}\n")
        phone.fs.attr(f"{real}/mode", lambda: "enabled\n")
        phone.fs.attr(f"{real}/policy", lambda: "step_wise\n")
        phone.fs.symlink(f"{THERMAL_DIR}/thermal_zone{index}", real)
