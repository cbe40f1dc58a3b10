"""What the sampler reads on a phone, from `fusegov probe`'s DeviceInfo, and how its raw integers become
trace columns. The config is the sampler's only knowledge of the phone; the decoding turns native units
into the trace schema (frequency units through android.units, so conversion stays in one place).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from android.soc.records import DeviceInfo
from android.units import HZ_PER_UNIT
from collectors.errors import CollectorError
from collectors.pmc import PmcCounter
from collectors.trace import freq_col, power_col, temp_col, util_col

_MISSING = re.compile(r"(?<!\S)-(?!\S)")  # a '-' standing alone: a read that failed
TOTAL_RAIL = "total"
BATTERY_RAIL = "battery"
# Temperatures move over seconds (thermal time constants of phone parts): read at most every 100 ms, which
# spares the sampler most of its reads at 10 ms (a thermal sensor read can cost a phone an I2C transfer).
TEMP_PERIOD_S = 0.1
METER_CLOCK_TOLERANCE_S = 1.0  # an energy meter's timestamps further from the sampler's clock are another clock


@dataclass
class ChannelPlan:
    """The sampler config for one pass and what each of its channels means."""

    config: dict
    freq_units: dict[str, str]  # knob -> native unit
    rails: dict[str, tuple[str, str]]  # channel name -> (rail, component)
    zones: dict[str, tuple[str, str]]  # channel name -> (zone type, component)
    counters: list[PmcCounter] = field(default_factory=list)
    battery_sign: int = 1  # +1: current_now is positive while discharging

    def to_json(self) -> str:
        return json.dumps(self.config)


def little_cpu(info: DeviceInfo) -> int | None:
    """The core the sampler runs on: the last CPU of the slowest cluster, as FUSE pinned its profilers."""
    if not info.clusters:
        return None
    slowest = min(info.clusters, key=lambda c: (max(c.table_hz) if c.table_hz else 0, c.knob))
    return max(slowest.cpus) if slowest.cpus else None


def build_plan(
    info: DeviceInfo,
    period_s: float,
    counters: list[PmcCounter],
    out_path: str | None,
    deadline_s: float | None,
    battery_sign: int = 1,
    shader_cores: int | None = None,
    run: str = "",
) -> ChannelPlan:
    files = []
    freq_units = {}
    for knob, control in info.knobs.items():
        files.append({"path": control.path(control.cur_file), "names": [f"freq:{knob}"]})
        freq_units[knob] = control.unit
    files.append({"path": info.gpu.busy_file, "names": ["gpu_busy_pct"]})
    if info.battery is not None:
        files.append({"path": info.battery.current_file, "names": ["battery_ua"]})
        files.append({"path": info.battery.voltage_file, "names": ["battery_uv"]})
    zones = {}
    for zone in info.zones:
        name = f"temp:{zone.index}"
        files.append({"path": zone.temp_file, "names": [name], "every_s": TEMP_PERIOD_S})
        zones[name] = (zone.type, zone.component)
    odpm: dict[str, dict] = {}
    rails = {}
    for rail in info.rails:
        dev = rail.device_dir.rsplit("/", 1)[-1]
        entry = odpm.setdefault(dev, {"path": f"{rail.device_dir}/energy_value", "name": dev, "channels": []})
        entry["channels"].append(rail.channel)
        rails[f"rail_uws:{dev}:{rail.channel}"] = (rail.name, rail.component)
    config: dict = {
        "period_s": period_s,
        "flush_s": 0.1,
        "cpu": little_cpu(info),
        "files": files,
        "proc_stat": [[c.knob, list(c.cpus)] for c in info.clusters if c.cpus],
        "odpm": list(odpm.values()),
        "out_path": out_path,
        "deadline_s": deadline_s,
        "run": run,
    }
    if counters:
        pmc: dict = {"driver": info.gpu.driver, "counters": [[c.group_id, c.countable] for c in counters]}
        if info.gpu.driver == "kgsl":
            pmc["device"] = "/dev/kgsl-3d0"
            pmc["labels"] = {f"{c.group_id}:{c.countable}": f"{c.group}.{c.name}" for c in counters}
        else:
            pmc["device"] = "/dev/mali0"
            pmc["shader_cores"] = shader_cores
        config["pmc"] = pmc
    return ChannelPlan(config, freq_units, rails, zones, list(counters), battery_sign)


def query_config(info: DeviceInfo, counters: list[PmcCounter], shader_cores: int | None) -> dict:
    """The config of `sampler.py query`: which groups to ask kgsl about, or Mali's core count."""
    if info.gpu.driver == "kgsl":
        return {"pmc": {"driver": "kgsl", "device": "/dev/kgsl-3d0", "groups": sorted({c.group_id for c in counters})}}
    return {"pmc": {"driver": "mali", "device": "/dev/mali0", "shader_cores": shader_cores, "counters": []}}


# --------------------------------------------------------------------------------------- decoding
def parse_lines(lines: list[str], n_channels: int) -> np.ndarray:
    """Sample lines 'S seq t_ns late v...' -> float array (rows, 3 + channels); '-' becomes NaN."""
    if not lines:
        return np.zeros((0, 3 + n_channels))
    text = _MISSING.sub("nan", "\n".join(line[2:] for line in lines))
    values = np.array(text.split(), dtype=float)
    width = 3 + n_channels
    if values.size % width:
        raise CollectorError(f"sampler output has rows of unexpected width (expected {width} values per sample)")
    return values.reshape(-1, width)


def decode(raw: np.ndarray, channels: list[str], plan: ChannelPlan) -> pd.DataFrame:
    """Raw sample rows -> trace columns (seq, t_s, then the channel columns); phase/workload come later."""
    col = {name: i + 3 for i, name in enumerate(channels)}
    out: dict[str, np.ndarray] = {
        "seq": raw[:, 0].astype(np.int64),
        "t_s": raw[:, 1] / 1e9,
        "late_ticks": raw[:, 2].astype(np.int64),
    }
    for knob, unit in plan.freq_units.items():
        if f"freq:{knob}" in col:
            out[freq_col(knob)] = raw[:, col[f"freq:{knob}"]] * HZ_PER_UNIT[unit.lower()]
    for knob in plan.freq_units:
        busy, total = col.get(f"cpu_busy:{knob}"), col.get(f"cpu_total:{knob}")
        if busy is not None and total is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                out[util_col(knob)] = np.where(raw[:, total] > 0, 100.0 * raw[:, busy] / raw[:, total], np.nan)
    if "gpu_busy_pct" in col:
        out[util_col("gpu")] = raw[:, col["gpu_busy_pct"]].astype(float)
    component_power: dict[str, np.ndarray] = {}
    rail_sum = None
    rail_watts = meter_power(out["t_s"], raw, col)
    for name, (rail, component) in plan.rails.items():
        if name not in rail_watts:
            continue
        watts = rail_watts[name]
        out[power_col(rail)] = watts
        rail_sum = watts if rail_sum is None else rail_sum + watts
        if component in plan.freq_units:
            component_power[component] = component_power.get(component, 0.0) + watts
    for component, watts in component_power.items():
        if power_col(component) not in out:
            out[power_col(component)] = watts
    if "battery_ua" in col and "battery_uv" in col:
        out[power_col(BATTERY_RAIL)] = plan.battery_sign * raw[:, col["battery_ua"]] * raw[:, col["battery_uv"]] / 1e12
        out[power_col(TOTAL_RAIL)] = out[power_col(BATTERY_RAIL)]
    elif rail_sum is not None:
        out[power_col(TOTAL_RAIL)] = rail_sum
    hottest: dict[str, np.ndarray] = {}
    for name, (zone, component) in plan.zones.items():
        if name not in col:
            continue
        celsius = raw[:, col[name]] / 1000.0
        out[temp_col(zone)] = celsius
        if component in plan.freq_units:
            hottest[component] = celsius if component not in hottest else np.fmax(hottest[component], celsius)
    for component, celsius in hottest.items():
        if temp_col(component) not in out:
            out[temp_col(component)] = celsius
    for i, counter in enumerate(plan.counters):
        if f"pmc:{i}" in col:
            out[counter.column] = raw[:, col[f"pmc:{i}"]]
    return pd.DataFrame(out)


def meter_power(t_s: np.ndarray, raw: np.ndarray, col: dict[str, int]) -> dict[str, np.ndarray]:
    """Each ODPM channel's mean power (W) over each row's interval (the previous row's time to its own; the
    first row's as long as the second's), from the meter's accumulated energy at the meter's own timestamps.
    The energy between two readings is spread evenly over the time between them, so every joule lands in the
    rows it was spent in, however late a row's read came after its time (a reading the driver served from its
    cache, a sampler descheduled between its clock and its reads); rows reaching outside the first and last
    readings get none (NaN). The meter's clock is the phone's CLOCK_MONOTONIC when they agree within
    METER_CLOCK_TOLERANCE_S (no suspend since boot; the virtual phone); otherwise the readings are placed at
    their rows' times."""
    out: dict[str, np.ndarray] = {}
    if not len(t_s):
        return out
    first = t_s[0] - (t_s[1] - t_s[0] if len(t_s) > 1 else 0.0)
    edges = np.concatenate(([first], t_s))
    width = np.diff(edges)
    for name, index in col.items():
        if not name.startswith("odpm_ms:"):
            continue
        device = name.split(":", 1)[1]
        meter_ms = raw[:, index]
        rows = np.flatnonzero(np.isfinite(meter_ms))
        at = meter_ms[rows] / 1e3
        if len(rows) and abs(float(np.median(t_s[rows] - at))) > METER_CLOCK_TOLERANCE_S:
            at = t_s[rows]
        for channel, channel_index in col.items():
            if not channel.startswith(f"rail_uws:{device}:"):
                continue
            energy_j = raw[rows, channel_index] / 1e6
            keep = np.isfinite(energy_j)
            joules = _energy_at(edges, at[keep], energy_j[keep])
            with np.errstate(invalid="ignore", divide="ignore"):
                out[channel] = np.where(width > 0, np.diff(joules) / width, np.nan)
    return out


def _energy_at(t_s: np.ndarray, at_s: np.ndarray, energy_j: np.ndarray) -> np.ndarray:
    """A meter's accumulated energy at times t_s: linear between its readings (constant power in between);
    NaN before its first reading and after its last (no power is made up there)."""
    if len(at_s) < 2:
        return np.full(len(t_s), np.nan)
    inside = (t_s >= at_s[0]) & (t_s <= at_s[-1])
    return np.where(inside, np.interp(t_s, at_s, energy_j), np.nan)


def read_battery_sign(device) -> int:
    """+1 when the fuel gauge reports discharge as positive current, -1 when negative (Pixel). Judged from
    `status` and the current's sign while discharging; a phone on a charger cannot tell, and says so."""
    from android.soc.power import BATTERY_DIR

    files = device.read_many([f"{BATTERY_DIR}/status", f"{BATTERY_DIR}/current_now"])
    status = (files[f"{BATTERY_DIR}/status"] or "").strip()
    current = (files[f"{BATTERY_DIR}/current_now"] or "").strip()
    try:
        value = int(current)
    except ValueError:
        return 1
    if status != "Discharging":
        raise CollectorError(
            f"{device.name}: battery status is {status or 'unknown'!r}, not Discharging: battery power is not the "
            "phone's power while it charges; unplug the phone (or collect over wireless adb)"
        )
    return -1 if value < 0 else 1
