"""devfreq devices other than the GPU: memory buses and interconnects (/sys/class/devfreq)."""

from __future__ import annotations

import re

from android.device import Device
from android.soc.cpufreq import parse_table
from android.soc.families import SocFamily, devfreq_unit
from android.soc.records import FreqControl

DEVFREQ_CLASS = "/sys/class/devfreq"
GPU_NAMES = re.compile(r"kgsl-3d0$|\.mali$|\.gpu$")


def probe(device: Device, family: SocFamily) -> list[FreqControl]:
    """All non-GPU devfreq devices; the family's preferred DRAM bus gets the knob name 'mem'."""
    if not device.is_dir(DEVFREQ_CLASS):
        return []
    found = []
    for name in device.listdir(DEVFREQ_CLASS):
        if GPU_NAMES.search(name):
            continue
        base = f"{DEVFREQ_CLASS}/{name}"
        files = device.read_many([f"{base}/{f}" for f in ("available_frequencies", "governor", "available_governors")])
        raw = [int(v) for v in (files[f"{base}/available_frequencies"] or "").split() if v.isdigit()]
        if not raw:
            continue
        unit = devfreq_unit(family, name, raw)
        found.append(
            FreqControl(
                knob=name,
                kind="devfreq",
                directory=base,
                unit=unit,
                cur_file="cur_freq",
                min_file="min_freq",
                max_file="max_freq",
                governor_file="governor",
                table_hz=parse_table(files[f"{base}/available_frequencies"] or "", unit),
                governor=(files[f"{base}/governor"] or "").strip(),
                available_governors=(files[f"{base}/available_governors"] or "").split(),
            )
        )
    for pattern in family.mem_bus_patterns:
        main = next((c for c in found if re.search(pattern, c.knob)), None)
        if main:
            main.knob = "mem"
            break
    return found
