"""Power sensors: Pixel ODPM (iio energy meters) and the fuel gauge at /sys/class/power_supply/battery.

ODPM accumulates energy per rail in microwatt-seconds; reads closer than 50 ms to the previous refresh
return the cached text, as the driver does."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone
    from android.emulator.profile import OdpmDevice

IIO_DIR = "/sys/bus/iio/devices"
BATTERY_DIR = "/sys/class/power_supply/battery"
ODPM_CACHE_S = 0.050


def build(phone: VirtualPhone) -> None:
    for odpm in phone.profile.odpm:
        _build_odpm(phone, odpm)
    _build_battery(phone)


def render_energy_value(phone: VirtualPhone, odpm: OdpmDevice) -> str:
    """The energy_value text at the current simulated time."""
    t_ms = int(phone.state.uptime_s * 1000)
    lines = [f"t={t_ms}"]
    for rail in odpm.rails:
        uws = int(phone.state.rail_energy_j[(odpm.iio_name, rail.channel)] * 1e6)
        lines.append(f"CH{rail.channel}(T={t_ms})[{rail.name}], {uws}")
    return "\n".join(lines) + "\n"


def _build_odpm(phone: VirtualPhone, odpm: OdpmDevice) -> None:
    fs = phone.fs
    real = f"/sys/devices/platform/acpm_mfd_bus@15500000/i2c-{odpm.iio_name[-1]}/{odpm.iio_name}"
    cache = {"t": -1.0, "text": ""}

    def show_energy() -> str:
        now = phone.state.now_s
        if cache["t"] < 0 or now - cache["t"] >= ODPM_CACHE_S:
            cache["t"], cache["text"] = now, render_energy_value(phone, odpm)
        return cache["text"]

    rate = odpm.sampling_rate_hz
    fs.attr(f"{real}/name", lambda: f"{odpm.chip}\n")
    fs.attr(f"{real}/energy_value", show_energy)
    fs.attr(f"{real}/sampling_rate", lambda: f"{int(rate)}.{int(round((rate % 1) * 1e6)):06d}\n")
    fs.attr(f"{real}/enabled_rails", lambda: "".join(f"CH{r.channel}[{r.name}]:{r.schematic}\n" for r in odpm.rails))
    fs.symlink(f"{IIO_DIR}/{odpm.iio_name}", real)


def _build_battery(phone: VirtualPhone) -> None:
    fs, state, battery = phone.fs, phone.state, phone.profile.battery
    sign = battery.discharge_current_sign
    fs.attr(f"{BATTERY_DIR}/type", lambda: "Battery\n")
    fs.attr(f"{BATTERY_DIR}/present", lambda: "1\n")
    fs.attr(f"{BATTERY_DIR}/status", lambda: "Discharging\n")
    fs.attr(f"{BATTERY_DIR}/capacity", lambda: f"{battery.capacity_pct}\n")
    fs.attr(f"{BATTERY_DIR}/current_now", lambda: f"{int(round(sign * state.battery_current_a * 1e6))}\n")
    fs.attr(f"{BATTERY_DIR}/voltage_now", lambda: f"{int(round(state.battery_voltage_v * 1e6))}\n")
    fs.attr(f"{BATTERY_DIR}/temp", lambda: f"{int(round(state.zone_temp_c.get('battery', 30.0) * 10))}\n")
