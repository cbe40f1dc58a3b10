"""Adreno through kgsl at /sys/class/kgsl/kgsl-3d0 (Hz, MHz for the *_clock_mhz files; level 0 is the
highest clock). Written clocks snap to the nearest power level; a min above the max is pulled to it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from android.emulator.sysfs.devfreq import add_devfreq_dir
from android.emulator.sysfs.values import parse_uint, spaced

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

REAL_DIR = "/sys/devices/platform/soc/3d00000.qcom,kgsl-3d0/kgsl/kgsl-3d0"
DEVFREQ_NAME = "3d00000.qcom,kgsl-3d0"


def build(phone: VirtualPhone) -> None:
    fs, dev, knob = phone.fs, phone.serial, phone.gpu
    base = REAL_DIR
    levels_hz = [int(f) for f in knob.table_hz[::-1]]  # level 0 = highest

    def level_of(hz: int) -> int:
        return levels_hz.index(hz)

    def set_max(hz: int) -> None:
        knob.max_request_hz = knob.nearest_hz(hz)
        if knob.min_request_hz > knob.max_request_hz:
            knob.min_request_hz = knob.max_request_hz

    def set_min(hz: int) -> None:
        knob.min_request_hz = min(knob.nearest_hz(hz), knob.max_hz)

    def store_hz(setter, name: str, scale: int):
        def store(text: str) -> None:
            setter(parse_uint(dev, f"{base}/{name}", text) * scale)

        return store

    def store_level(name: str, is_max: bool):
        def store(text: str) -> None:
            level = min(parse_uint(dev, f"{base}/{name}", text), len(levels_hz) - 1)
            (set_max if is_max else set_min)(levels_hz[level])

        return store

    load = phone.state.gpu_load
    fs.attr(f"{base}/gpu_model", lambda: phone.profile.gpu.model.replace(" ", "") + "v2\n")
    fs.attr(f"{base}/gpuclk", lambda: f"{knob.cur_hz}\n")
    fs.attr(f"{base}/clock_mhz", lambda: f"{knob.cur_hz // 1_000_000}\n")
    fs.attr(f"{base}/max_gpuclk", lambda: f"{knob.max_hz}\n", store_hz(set_max, "max_gpuclk", 1))
    fs.attr(
        f"{base}/max_clock_mhz", lambda: f"{knob.max_hz // 1_000_000}\n", store_hz(set_max, "max_clock_mhz", 1_000_000)
    )
    fs.attr(
        f"{base}/min_clock_mhz", lambda: f"{knob.min_hz // 1_000_000}\n", store_hz(set_min, "min_clock_mhz", 1_000_000)
    )
    fs.attr(f"{base}/gpu_available_frequencies", lambda s=spaced(levels_hz, True): s)
    fs.attr(f"{base}/freq_table_mhz", lambda s=spaced([f // 1_000_000 for f in levels_hz], True): s)
    fs.attr(f"{base}/gpu_busy_percentage", lambda: f"{load.busy_pct} %\n")
    fs.attr(f"{base}/gpubusy", lambda: f"{int(load.busy_s * 1e6):7d} {int(load.total_s * 1e6):7d}\n")
    fs.attr(f"{base}/num_pwrlevels", lambda n=len(levels_hz): f"{n}\n")
    fs.attr(f"{base}/default_pwrlevel", lambda n=len(levels_hz): f"{n // 2}\n")
    fs.attr(f"{base}/max_pwrlevel", lambda: f"{level_of(knob.max_hz)}\n", store_level("max_pwrlevel", True))
    fs.attr(f"{base}/min_pwrlevel", lambda: f"{level_of(knob.min_hz)}\n", store_level("min_pwrlevel", False))
    fs.attr(
        f"{base}/thermal_pwrlevel",
        lambda: f"{level_of(knob.floor_hz(knob.thermal_cap_hz)) if knob.thermal_cap_hz else 0}\n",
    )
    fs.attr(f"{base}/temp", lambda: f"{int(phone.state.zone_temp_c.get(_gpu_zone(phone), 30.0) * 1000)}\n")
    devfreq_dir = f"/sys/devices/platform/soc/3d00000.qcom,kgsl-3d0/devfreq/{DEVFREQ_NAME}"
    add_devfreq_dir(fs, dev, devfreq_dir, knob, "hz")
    fs.symlink(f"{base}/devfreq", devfreq_dir)
    fs.symlink(f"/sys/class/devfreq/{DEVFREQ_NAME}", devfreq_dir)
    fs.symlink("/sys/class/kgsl/kgsl-3d0", base)


def _gpu_zone(phone: VirtualPhone) -> str:
    return next((z.type for z in phone.profile.thermal_zones if z.component == "gpu"), "")
