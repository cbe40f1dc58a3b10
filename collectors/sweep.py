"""Many workloads at many pinned settings, as power-model training needs them, in one trace.

    frame, meta = collect_sweep("pixel7", ["llm:tinyllama-1.1b-q4", "cnn:resnet18"],
                                settings=gpu_settings("pixel7", 5), duration_s=20.0, period_s=0.05)

Each workload runs on its own phone (a fresh virtual phone of the profile, seeded alike, or the one device
given) for `duration_s` of device time split equally over the settings (the run in progress when a
setting's share is spent is stopped there, its phases kept: see collectors.collect), pinned through
android.knobs.pinned (restored afterwards, also on error or Ctrl-C). LLM workloads are streams of requests
whose prompt and decode lengths are drawn log-uniformly (seeded), so prefill and decode both appear (at the
lowest clocks a big model may spend a whole share in prefill); CNN workloads repeat runs. Rows while a
workload loads or the phone idles are left out; `seq` keeps the collection's sample numbers (offset per
workload), so the gap a left-out row leaves tells readers that the next row's counters cover one period,
not the time since the last row kept. The in-process virtual phone adds a lab monitor on the GPU
supply (`power.gpu_w`), as APGPM measured.

Cost on the in-process phone: the device time traced (nothing is simulated past a share), one step of the
phone per sampling period (the sampler and the workload commands wake on the same grid), and a model
file that is mapped from the page cache after its first load.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

import numpy as np
import pandas as pd

from android.device import Device
from collectors.collect import collect
from collectors.errors import CollectorError
from collectors.runners import WorkloadSpec, parse_spec

PROMPT_TOKENS = (8, 128)  # drawn log-uniformly per request
DECODE_TOKENS = (8, 48)
CNN_RUNS = 20


def virtual_workloads(profile: str) -> dict[str, str]:
    """Workloads the virtual phone offers: name -> "llm" | "cnn" (built-in LLMs whose weights and KV cache
    fit what the phone gives an app, and the built-in CNNs)."""
    from android.emulator.profile import load_profile
    from android.emulator.sim import cnn_zoo
    from android.emulator.sim.llm_models import builtin_models, check_fits, load_model
    from android.errors import WorkloadError

    phone = load_profile(profile)
    out = {}
    for name in builtin_models():
        try:
            check_fits(
                load_model(name),
                sum(PROMPT_TOKENS[1:] + DECODE_TOKENS[1:]),
                phone.memory_bytes,
                phone.physics.memory.app_usable_fraction,
                phone.name,
            )
        except WorkloadError:
            continue
        out[f"llm:{name}"] = "llm"
    out.update({f"cnn:{name}": "cnn" for name in cnn_zoo.names()})
    return out


def workload_groups(profile: str) -> dict[str, list[str]]:
    """The profile's workloads (virtual_workloads) by group of alike work: "llm", then the CNNs by architectural
    family as the zoo records it (`ZooNetwork.family`); names sorted. Held-out evaluations hold out members of
    a group, so every kind of work sits on both sides."""
    from android.emulator.sim import cnn_zoo

    kinds = virtual_workloads(profile)
    groups = {"llm": sorted(n for n, k in kinds.items() if k == "llm")}
    for name in sorted(n for n, k in kinds.items() if k == "cnn"):
        groups.setdefault(cnn_zoo.build(name.partition(":")[2]).family, []).append(name)
    return groups


def gpu_settings(profile_or_device, levels: int = 5) -> list[dict[str, int]]:
    """`levels` GPU frequencies spread over the OPP table, lowest and highest included."""
    table = _gpu_table(profile_or_device)
    picks = np.unique(np.round(np.linspace(0, len(table) - 1, min(levels, len(table)))).astype(int))
    return [{"gpu": int(table[i])} for i in picks]


def _gpu_table(profile_or_device) -> list[int]:
    if isinstance(profile_or_device, str):
        from android.emulator.profile import load_profile

        return [o.freq_hz for o in load_profile(profile_or_device).gpu.opps]
    from android.probe import probe_device

    return probe_device(profile_or_device).gpu.control.table_hz


def _requests(name: str, seed: int, count: int) -> list[WorkloadSpec]:
    """`count` runs of a workload, labelled `name`: LLM requests of drawn lengths, or CNN batches."""
    kind, _, target = name.partition(":")
    if kind == "cnn":
        return [parse_spec(f"cnn:{target},runs={CNN_RUNS},label={name}")]
    if kind != "llm":
        return [parse_spec(name)]
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    specs = []
    for _ in range(count):
        prompt, decode = (
            round(float(np.exp(rng.uniform(np.log(low), np.log(high))))) for low, high in (PROMPT_TOKENS, DECODE_TOKENS)
        )
        specs.append(parse_spec(f"llm:{target},prompt={prompt},decode={decode},label={name}"))
    return specs


def collect_sweep(
    device: Device | str,
    workloads: list[str],
    settings: list[dict[str, int]],
    duration_s: float,
    period_s: float = 0.05,
    pmcs: str | int = "pass",
    seed: int = 0,
    monitor: list[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """One trace of every workload at every setting; returns (rows, metadata) in the fusegov schema.
    `device`: a Device, or a virtual-phone profile name (each workload then gets a fresh phone, seed `seed`).
    `monitor`: components measured by a lab monitor (default: ["gpu"] on the in-process virtual phone).
    `on_progress(n)`: called as samples arrive (about `duration_s / period_s` per workload), for a progress bar."""
    if not workloads:
        raise CollectorError("collect_sweep: no workloads given")
    if not settings:
        raise CollectorError("collect_sweep: no settings given (a list of {knob: Hz} pins; [{}] for stock governors)")
    if not duration_s > 0:
        raise CollectorError(f"collect_sweep: duration_s must be positive, got {duration_s}")
    share_s = duration_s / len(settings)
    frames, metas = [], []
    offset = 0  # each workload's sample numbers after the last one's
    for name in workloads:
        target = _device_for(device, seed)
        in_process = getattr(target, "phone", None) is not None
        watch = monitor if monitor is not None else (["gpu"] if in_process else None)
        result = collect(
            target,
            _requests(name, seed, 64),
            period_s=period_s,
            pmcs=pmcs,
            settings=settings,
            duration_s=share_s,
            monitor=watch,
            run_label=name,
            on_progress=on_progress,
        )
        frame = result.frame  # each setting's runs end where its share is spent
        running = (frame["workload"] != "") & ~frame["phase"].isin(["load", "idle"])
        kept = frame[running]
        frames.append(kept.assign(seq=kept["seq"].to_numpy(dtype=np.int64) + offset))
        offset += int(frame["seq"].max()) + 1 if len(frame) else 0
        metas.append(result.meta)
    frame = pd.concat(frames, ignore_index=True)
    meta = dict(metas[0])
    meta.update(
        workloads=list(workloads),
        settings=[dict(s) for s in settings],
        gpu_freqs_hz=[s["gpu"] for s in settings if "gpu" in s],
        duration_s=duration_s,
        seed=seed,
        run="sweep",
        workload_runs=[r for m in metas for r in m["workload_runs"]],
        late_ticks=sum(m["late_ticks"] for m in metas),
        dropped=sum(m["dropped"] for m in metas),
        generator="collectors.sweep.collect_sweep: " + meta["generator"],
    )
    return frame, meta


def _device_for(device: Device | str, seed: int) -> Device:
    if isinstance(device, str):
        from android.virtual import VirtualDevice

        return VirtualDevice(device, seed=seed)
    return device
