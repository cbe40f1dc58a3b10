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


def swept_plan(profile: str, info: DeviceInfo, model: str, prefill_tokens: int = 128, decode_tokens: int = 32) -> dict:
    """A plan from a small pinned sweep on the in-process virtual phone (the governor's `fusegov plan` has
    not landed): for prefill and for decode, the fastest of 27 joint settings (GPU at 1/2, 3/4 and the top of
    its table; the big CPU cluster and memory at 1/4, 1/2 and 3/4 of theirs) whose energy per token on the
    ODPM rails is no more than the stock governors' (goal G1 at the stock budget, in the energy the phone
    measures and the end-to-end test compares); one prefill bucket. Measured with run_llm_request, each on
    a fresh phone of the same seed."""
    from itertools import product

    from android.emulator.phone import VirtualPhone
    from android.emulator.sim.request import run_llm_request

    big = max(info.clusters, key=lambda c: max(c.table_hz)).knob

    def level(knob: str, fraction: float) -> int:
        table = sorted(info.knobs[knob].table_hz)
        return table[int(round(fraction * (len(table) - 1)))]

    def measure(pins: dict[str, int], prompt: int, decode: int):
        return run_llm_request(VirtualPhone(profile), model, prompt, decode, pins=pins, idle_before_s=0.5)

    def rails_j_per_token(result, phase: str, tokens: int) -> float:
        """Energy on the ODPM rails (what the phone itself can measure) per token of a phase."""
        stats = result.phases[phase]
        return sum(w for rail, w in stats.mean_power_w.items() if rail != "total") * stats.duration_s / tokens

    grid = product((0.5, 0.75, 1.0), (0.25, 0.5, 0.75), (0.25, 0.5, 0.75))
    candidates = [{"gpu": level("gpu", g), big: level(big, c), "mem": level("mem", m)} for g, c, m in grid]
    chosen = {}
    for phase, prompt, decode in (("prefill", prefill_tokens, 0), ("decode", 16, decode_tokens)):
        latency = (lambda r: r.ttft_s) if phase == "prefill" else (lambda r: r.tpot_s)
        tokens = prompt if phase == "prefill" else decode
        budget_j = rails_j_per_token(measure({}, prompt, decode), phase, tokens)
        results = [(pins, measure(pins, prompt, decode)) for pins in candidates]
        within = [(latency(r), pins) for pins, r in results if rails_j_per_token(r, phase, tokens) <= budget_j]
        chosen[phase] = min(within, key=lambda item: item[0])[1] if within else {}
    return plan_document(
        info,
        model,
        prefill=[(None, chosen["prefill"])],
        decode=chosen["decode"],
        search=f"small pinned sweep ({len(candidates)} joint settings per phase), G1 at the stock energy",
    )
