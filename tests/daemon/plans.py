"""Plan documents for the daemon tests, in the governor's plan format, built from what probe found."""

from __future__ import annotations

import json
from pathlib import Path

from android.soc.records import DeviceInfo

MHZ = 1_000_000


def nearest_hz(info: DeviceInfo, knob: str, mhz: float) -> int:
    """The table frequency of `knob` nearest to `mhz` (plans hold exact table entries)."""
    table = info.knobs[knob].table_hz
    return min(table, key=lambda f: abs(f - mhz * MHZ))


def plan_document(
    info: DeviceInfo,
    model: str,
    prefill: list[tuple[int | None, dict[str, int | None]]],
    decode: dict[str, int | None] | None,
    cnn: dict[str, int | None] | None = None,
    **extra,
) -> dict:
    knobs = sorted({k for _, s in prefill for k in s} | set(decode or {}) | set(cnn or {}))
    phases: dict = {"prefill": [{"max_prompt_tokens": bound, "setting": dict(s)} for bound, s in prefill]}
    if decode is not None:
        phases["decode"] = {"setting": dict(decode)}
    if cnn is not None:
        phases["cnn"] = {"setting": dict(cnn)}
    return {
        "format": "fusegov.plan",
        "version": 1,
        "device": {
            "name": info.name,
            "model": info.model,
            "soc": info.soc,
            "knobs": {k: {"table_hz": sorted(info.knobs[k].table_hz)} for k in knobs},
        },
        "model": model,
        "phases": phases,
        **extra,
    }


def simple_plan(info: DeviceInfo, model: str = "tinyllama-1.1b-q4") -> dict:
    """A plan that pins GPU, big CPU and memory differently per phase (distinct from the stock limits)."""
    gpu, big, mem = "gpu", max(info.clusters, key=lambda c: max(c.table_hz)).knob, "mem"
    return plan_document(
        info,
        model,
        prefill=[
            (
                128,
                {gpu: nearest_hz(info, gpu, 700), big: nearest_hz(info, big, 2000), mem: nearest_hz(info, mem, 1500)},
            ),
            (
                None,
                {gpu: nearest_hz(info, gpu, 850), big: nearest_hz(info, big, 2400), mem: nearest_hz(info, mem, 2000)},
            ),
        ],
        decode={gpu: nearest_hz(info, gpu, 500), big: nearest_hz(info, big, 1800), mem: None},
        cnn={gpu: nearest_hz(info, gpu, 600)},
    )


def write_plan(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document, indent=1))
    return path
