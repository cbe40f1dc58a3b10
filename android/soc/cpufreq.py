"""cpufreq policies: /sys/devices/system/cpu/cpufreq/policyN (kHz)."""

from __future__ import annotations

from android.device import Device
from android.soc.records import FreqControl
from android.units import from_native

CPUFREQ_DIR = "/sys/devices/system/cpu/cpufreq"


def parse_table(text: str, unit: str) -> list[int]:
    """A frequency list file ('a b c \\n' or 'a b c\\n') -> ascending Hz."""
    return sorted(from_native(v, unit) for v in text.split() if v.isdigit())


def probe(device: Device) -> list[FreqControl]:
    if not device.is_dir(CPUFREQ_DIR):
        return []
    policies = sorted(
        (p for p in device.listdir(CPUFREQ_DIR) if p.startswith("policy")),
        key=lambda p: int(p[6:]) if p[6:].isdigit() else 0,
    )
    found = []
    for policy in policies:
        base = f"{CPUFREQ_DIR}/{policy}"
        files = device.read_many(
            [
                f"{base}/{f}"
                for f in (
                    "related_cpus",
                    "scaling_available_frequencies",
                    "scaling_governor",
                    "scaling_available_governors",
                    "cpuinfo_min_freq",
                    "cpuinfo_max_freq",
                )
            ]
        )
        text = {path.rsplit("/", 1)[1]: value for path, value in files.items()}
        table = parse_table(text["scaling_available_frequencies"] or "", "khz")
        if not table and text["cpuinfo_min_freq"] and text["cpuinfo_max_freq"]:
            table = parse_table(f"{text['cpuinfo_min_freq']} {text['cpuinfo_max_freq']}", "khz")
        if not table:
            continue
        found.append(
            FreqControl(
                knob=policy,
                kind="cpufreq",
                directory=base,
                unit="khz",
                cur_file="scaling_cur_freq",
                min_file="scaling_min_freq",
                max_file="scaling_max_freq",
                governor_file="scaling_governor",
                table_hz=table,
                governor=(text["scaling_governor"] or "").strip(),
                available_governors=(text["scaling_available_governors"] or "").split(),
                cpus=[int(c) for c in (text["related_cpus"] or "").split() if c.isdigit()],
            )
        )
    return found
