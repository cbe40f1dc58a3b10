"""Device-layer subcommands: `fusegov probe`."""

from __future__ import annotations

import argparse
import json

from android.connect import add_device_options, open_device
from android.probe import probe_device
from android.soc.records import DeviceInfo, FreqControl
from android.units import format_hz


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="find a phone's CPU policies, GPU, memory buses, power rails and thermal zones",
        description=(
            "Look at a device's sysfs and report what fusegov can control and measure: CPU policies "
            "with their frequency tables and governors, the GPU (kgsl or Mali), memory-bus devfreq "
            "devices, ODPM power rails, the battery and thermal zones. Knob names printed here are the "
            "ones --pin, plans and traces use."
        ),
    )
    add_device_options(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    parser.set_defaults(func=run_probe)


def run_probe(args: argparse.Namespace) -> int:
    with open_device(args) as device:
        info = probe_device(device)
    if args.json:
        print(json.dumps(info.to_dict(), indent=1))
    else:
        print(format_summary(info))
    return 0


def _table(control: FreqControl) -> str:
    mhz = [f"{f / 1e6:g}" for f in control.table_hz]
    return f"{len(mhz)} levels, {mhz[0]}..{mhz[-1]} MHz: {' '.join(mhz)}"


def format_summary(info: DeviceInfo) -> str:
    lines = [f"{info.name}: {info.model}, SoC {info.soc} ({info.family})", "", "CPU policies:"]
    for c in info.clusters:
        cpus = ",".join(map(str, c.cpus))
        lines.append(f"  {c.knob:<10} cpus {cpus:<8} governor {c.governor:<12} {_table(c)}")
    g = info.gpu
    lines += [
        "",
        f"GPU ({g.driver}, {g.model}):",
        f"  {'gpu':<10} governor {g.control.governor:<12} {_table(g.control)}",
        f"  {'':<10} {g.control.directory}",
        "",
        "Memory and interconnect (devfreq):",
    ]
    for m in sorted(info.memory, key=lambda m: m.knob != "mem"):
        name = m.directory.rsplit("/", 1)[-1]
        label = f"{m.knob} ({name})" if m.knob != name else name
        lines.append(
            f"  {label:<38} governor {m.governor:<12} unit {m.unit:<4} {len(m.table_hz)} levels, "
            f"{format_hz(m.table_hz[0])}..{format_hz(m.table_hz[-1])}"
        )
    lines += ["", f"Power rails ({len(info.rails)}):"]
    if not info.rails:
        lines.append("  none (no ODPM); use the battery fuel gauge or an external monitor")
    for r in info.rails:
        lines.append(f"  {r.device_dir.rsplit('/', 1)[-1]} CH{r.channel:<2} {r.name:<20} -> {r.component}")
    if info.battery:
        lines.append(f"  battery: {info.battery.directory} (current_now uA, voltage_now uV)")
    lines += ["", f"Thermal zones ({len(info.zones)}):"]
    lines += [f"  thermal_zone{z.index:<3} {z.type:<18} -> {z.component}" for z in info.zones]
    return "\n".join(lines)
