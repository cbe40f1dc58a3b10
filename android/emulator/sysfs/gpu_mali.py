"""Pixel's Mali GPU at /sys/devices/platform/<addr>.mali (clocks in kHz, table high to low).

Limits come from two lock pairs (scaling_* and hint_*); each written clock must be a table entry
exactly (else EINVAL), and the effective window is the intersection of both pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from android.emulator.sysfs.values import parse_uint, parse_word, spaced
from android.errors import InvalidValueError

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone


def build(phone: VirtualPhone) -> None:
    fs, dev, knob = phone.fs, phone.serial, phone.gpu
    base = phone.profile.gpu.sysfs_dir
    khz_desc = [int(f // 1000) for f in knob.table_hz[::-1]]
    table = spaced(khz_desc, True)
    locks = {"scaling_min_freq": 0, "scaling_max_freq": 0, "hint_min_freq": 0, "hint_max_freq": 0}

    def apply() -> None:
        knob.min_request_hz = max(locks["scaling_min_freq"], locks["hint_min_freq"]) or knob.hw_min_hz
        highs = [v for k, v in locks.items() if k.endswith("max_freq") and v]
        knob.max_request_hz = min(highs) if highs else knob.hw_max_hz

    def make_store(name: str):
        path = f"{base}/{name}"

        def store(text: str) -> None:
            value = parse_uint(dev, path, text, table.strip())
            if value * 1000 not in set(knob.table_hz.tolist()):
                raise InvalidValueError(dev, path, text.strip(), table.strip())
            locks[name] = value * 1000
            apply()

        return store

    def store_governor(text: str, path=f"{base}/governor") -> None:
        name = parse_word(text)
        if name not in knob.available_governors:
            raise InvalidValueError(dev, path, text.strip(), " ".join(knob.available_governors))
        knob.set_governor(name)

    def show_time_in_state() -> str:
        ms = (knob.time_in_state_s[::-1] * 1000).astype(int)
        return "".join(f"{f:>8} {t:>9}\n" for f, t in zip(khz_desc, ms))

    def show_dvfs_table() -> str:
        volts = knob.volt_uv[::-1]
        rows = "".join(f" {f:>10} | {v:>10}\n" for f, v in zip(khz_desc, volts))
        return f" gpu_0_clock | gpu_0_vol\n{rows}"

    fs.attr(f"{base}/gpu_model", lambda: phone.profile.gpu.model + "\n")
    fs.attr(f"{base}/utilization", lambda: f"{phone.state.gpu_load.busy_pct}\n")
    fs.attr(f"{base}/cur_freq", lambda: f"{knob.cur_hz // 1000}\n")
    fs.attr(f"{base}/available_frequencies", lambda: table)
    fs.attr(f"{base}/min_freq", lambda: f"{knob.hw_min_hz // 1000}\n")
    fs.attr(f"{base}/max_freq", lambda: f"{knob.hw_max_hz // 1000}\n")
    for name in ("scaling_min_freq", "hint_min_freq"):
        fs.attr(f"{base}/{name}", lambda n=name: f"{(locks[n] or knob.hw_min_hz) // 1000}\n", make_store(name))
    for name in ("scaling_max_freq", "hint_max_freq"):
        fs.attr(f"{base}/{name}", lambda n=name: f"{(locks[n] or knob.hw_max_hz) // 1000}\n", make_store(name))
    fs.attr(f"{base}/time_in_state", show_time_in_state)
    fs.attr(f"{base}/trans_stat", lambda: f"total_transitions {knob.transitions}\n")
    fs.attr(f"{base}/dvfs_table", show_dvfs_table)
    fs.attr(f"{base}/governor", lambda: f"{knob.governor}\n", store_governor)
    fs.attr(f"{base}/available_governors", lambda: spaced(knob.available_governors, True))
    fs.attr(f"{base}/dvfs_period", lambda: "20\n", lambda text: None)
    fs.symlink("/sys/class/misc/mali0/device", base)
