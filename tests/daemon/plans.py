"""Plan documents for the daemon tests, in the governor's plan format (governor/plan.py), built from what
probe found: the device's knobs and tables as `fusegov plan` records them, and hand-picked settings (these
plans test the daemon's handling of a plan, so their expected figures are placeholders, marked as such)."""

from __future__ import annotations

import json
from pathlib import Path

from android.soc.records import DeviceInfo
from governor.plan import Expected, Plan, PlanPhase
from governor.space import ConfigSpace

MHZ = 1_000_000
UNMEASURED = Expected(1.0, 1.0)  # a hand-written plan: nothing was measured


def nearest_hz(info: DeviceInfo, knob: str, mhz: float) -> int:
    """The table frequency of `knob` nearest to `mhz` (plans hold exact table entries)."""
    table = info.knobs[knob].table_hz
    return min(table, key=lambda f: abs(f - mhz * MHZ))


def plan_document(
    info: DeviceInfo,
    model: str,
    prefill: list[tuple[int, dict[str, int | None]]],
    decode: dict[str, int | None] | None,
    cnn: dict[str, int | None] | None = None,
    search: str = "hand-written for the daemon tests",
) -> dict:
    """A plan for `info`'s phone: prefill buckets (max prompt tokens, setting) ascending, then decode and cnn."""
    space = ConfigSpace.from_device(info)
    phases = [PlanPhase("prefill", f"prefill<={b}", b, dict(s), UNMEASURED, UNMEASURED, True) for b, s in prefill]
    phases += [
        PlanPhase(kind, kind, None, dict(s), UNMEASURED, UNMEASURED, True)
        for kind, s in (("decode", decode), ("cnn", cnn))
        if s is not None
    ]
    device = {"name": space.device, "soc": space.soc, "family": space.family, "knobs": space.tables()}
    goal = {"goal": "latency", "budget": "stock"}
    return Plan(device, model, goal, {"name": search, "measurements": 0}, phases).to_dict()


def phase_setting(document: dict, kind: str, index: int = -1) -> dict[str, int]:
    """The knobs a plan document's phase pins (the `index`-th phase of that kind), null entries left out."""
    phases = [p for p in document["phases"] if p["phase"] == kind]
    return {k: v for k, v in phases[index]["setting"].items() if v is not None}


def pinned_knobs(document: dict) -> list[str]:
    return sorted({k for p in document["phases"] for k, v in p["setting"].items() if v is not None})


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
                512,
                {gpu: nearest_hz(info, gpu, 850), big: nearest_hz(info, big, 2400), mem: nearest_hz(info, mem, 2000)},
            ),
        ],
        decode={gpu: nearest_hz(info, gpu, 500), big: nearest_hz(info, big, 1800), mem: None},
        cnn={gpu: nearest_hz(info, gpu, 600)},
    )


def write_plan(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document, indent=1))
    return path


def with_rungs(document: dict, info: DeviceInfo, decode_mhz: tuple[float, ...], prefill_mhz: float) -> dict:
    """The plan with cooler decode rungs (GPU at each of `decode_mhz`, the rest as decode pins) and one cooler
    rung per prefill bucket (GPU at `prefill_mhz`): a heat ladder for the daemon tests."""
    document = json.loads(json.dumps(document))
    for phase in document["phases"]:
        mhz = decode_mhz if phase["phase"] == "decode" else (prefill_mhz,) if phase["phase"] == "prefill" else ()
        placeholder = {"latency_s": 1.0, "energy_per_token_j": 1.0}
        phase["cooler"] = [
            {
                "setting": {**phase["setting"], "gpu": nearest_hz(info, "gpu", m)},
                "expected": placeholder,
                "vs_stock": placeholder,
            }
            for m in mhz
        ]
    return document
