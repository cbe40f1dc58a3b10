"""SoC family maps: where each supported family keeps its GPU, memory bus, rails and zones, and how
their names map to fusegov's knobs. Probing decides the family by what it finds (a Mali or a kgsl
GPU), then uses the map to name things; the phone's name is only reported, never trusted."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class SocFamily:
    name: str
    gpu_driver: str
    mem_bus_patterns: tuple[str, ...]  # devfreq names of the main DRAM bus, in order of preference
    devfreq_unit_rules: tuple[tuple[str, str], ...]  # (regex on device name, native unit)
    # (regex on rail name, component; "cpu:N" = N-th policy, "cpu:-1" the last: the big or prime cluster on
    # phones with two, three or four clusters)
    rail_rules: tuple[tuple[str, str], ...]
    zone_rules: tuple[tuple[str, str], ...]  # (regex on zone type, component)


TENSOR = SocFamily(
    name="tensor",
    gpu_driver="mali",
    mem_bus_patterns=(r"devfreq_mif$",),
    devfreq_unit_rules=((r"devfreq_", "khz"),),
    rail_rules=((r"CPUCL(\d)", "cpu:{0}"), (r"G3D", "gpu"), (r"MIF|MEM|DDR", "mem")),
    zone_rules=(
        (r"^LITTLE$", "cpu:0"),
        (r"^MID$", "cpu:1"),
        (r"^BIG$", "cpu:-1"),
        (r"^G3D$", "gpu"),
        (r"battery", "battery"),
        (r"therm", "skin"),
    ),
)

SNAPDRAGON = SocFamily(
    name="snapdragon",
    gpu_driver="kgsl",
    mem_bus_patterns=(r"cpu-llcc-ddr-bw$", r"llcc-ddr-bw$", r"ddr-bw$", r"ddr"),
    devfreq_unit_rules=((r"-bw$|-lat$|latfloor$|busmon$|gpubw$", "mbps"),),
    rail_rules=((r"GPU|GFX", "gpu"), (r"DDR|MEM", "mem")),
    zone_rules=(
        (r"^cpu-0-", "cpu:0"),
        (r"^cpu-1-7|^cpu-1-3-usr", "cpu:-1"),
        (r"^cpu-1-", "cpu:1"),
        (r"^gpuss", "gpu"),
        (r"^ddr", "mem"),
        (r"battery", "battery"),
        (r"skin|therm", "skin"),
    ),
)

FAMILIES = {f.gpu_driver: f for f in (TENSOR, SNAPDRAGON)}


def family_for_gpu(driver: str) -> SocFamily:
    return FAMILIES[driver]


def match_component(rules: tuple[tuple[str, str], ...], name: str, policies: list[str]) -> str:
    """Map a rail or zone name to a knob via the family's rules; 'cpu:N' picks the N-th policy."""
    for pattern, component in rules:
        m = re.search(pattern, name)
        if not m:
            continue
        if component.startswith("cpu:"):
            index = int(component[4:].format(*m.groups()))
            return policies[index] if -len(policies) <= index < len(policies) else "other"
        return component
    return "other"


def devfreq_unit(family: SocFamily, name: str, values: list[int]) -> str:
    """Native unit of a devfreq device: the family's rule, else judged by magnitude (documented)."""
    for pattern, unit in family.devfreq_unit_rules:
        if re.search(pattern, name):
            return unit
    top = max(values) if values else 0
    return "hz" if top >= 10_000_000 else "khz"
