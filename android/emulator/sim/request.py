"""Run one inference request on a virtual phone and measure it as FUSE does.

This is the in-process API the CLI (`fusegov run`), the collectors and the governor's profiler use:
`run_llm_request` (TTFT, TPOT, energy per token per phase = P x TTFT / N_prefill and P x TPOT, mean power
per rail, mean frequency per knob) and `run_cnn`. Pins go through sysfs with android.knobs (min = max in
the safe order, verified by reading back) and are restored afterwards. `on_sample(phone)` is called every
`sample_period_s` of simulated time while the workload runs, so a sampler can read sysfs as it moves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from android.emulator.sim.cnn import CnnRuns
from android.emulator.sim.engine import Block
from android.emulator.sim.llm import LlmRequest
from android.emulator.sim.llm_models import LlmModel, check_fits, load_model
from android.emulator.sim.workload import Workload
from android.errors import WorkloadError
from android.knobs import RestoreError

DEFAULT_IDLE_BEFORE_S = 1.0  # the phone idles first, as between requests, so governors start settled
DEFAULT_CHUNK_S = 2.0  # simulated seconds between progress reports when nothing samples


@dataclass
class PhaseStats:
    """One phase of a request (prefill, decode, inference)."""

    duration_s: float
    energy_j: float  # whole phone
    mean_power_w: dict[str, float]  # per ODPM rail and "total"
    component_power_w: dict[str, float]  # per simulated component (policyN, gpu, mem, soc, ...)
    mean_freq_hz: dict[str, float]  # time-weighted, per knob
    gpu_util: float  # GPU busy share
    cpu_util: dict[str, float]  # per policy: busy core-seconds (working or polling) per second (1.0 = one core)
    time_in_lower_half: dict[str, float]  # per knob: share of time in the lower half of its table


@dataclass
class RequestResult:
    workload: str
    profile: str
    seed: int
    pins_hz: dict[str, int]  # held for the whole run
    duration_s: float
    energy_j: float
    mean_power_w: dict[str, float]
    mean_freq_hz: dict[str, float]
    phases: dict[str, PhaseStats]
    ttft_s: float | None = None
    tpot_s: float | None = None
    prompt_tokens: int = 0
    decode_tokens: int = 0
    energy_per_token_j: dict[str, float] = field(default_factory=dict)
    runs: int = 0
    latency_s: float | None = None  # CNN: mean time per inference
    energy_per_run_j: float | None = None
    pins_by_phase_hz: dict[str, dict[str, int]] = field(default_factory=dict)  # pinned from each phase's start

    def to_dict(self) -> dict:
        return asdict(self)


class _Accumulator:
    """Observer of engine blocks: sums per phase (each block's quantities stacked, one sum per phase)."""

    def __init__(self, knobs: dict, rail_names: list[str], policies: list[str]):
        self.knob_tables = {k: np.asarray(v.table_hz, dtype=float) for k, v in knobs.items()}
        self.lower_half = np.array([t[(len(t) - 1) // 2] for t in self.knob_tables.values()])[:, None]
        self.rail_names, self.policies = rail_names, policies
        self.sums: dict[str, dict] = {}

    def __call__(self, block: Block) -> None:
        phases = block.phase
        names = set(phases.tolist()) - {"idle"}
        if not names:
            return
        dt = block.dt_s
        freq = np.vstack([block.freq_hz[k] for k in self.knob_tables])  # (knobs, steps)
        components = list(block.power_w)
        watts = np.vstack([block.power_w[c] for c in components])
        spin = block.cpu_spin_s or {}
        busy = np.vstack([block.cpu_run_s[p] + spin[p] if p in spin else block.cpu_run_s[p] for p in self.policies])
        for phase in names:
            mask = phases == phase
            t = dt[mask]
            s = self.sums.setdefault(
                phase,
                {
                    "t": 0.0,
                    "e": 0.0,
                    "rails": np.zeros(len(self.rail_names)),
                    "comp": dict.fromkeys(components, 0.0),
                    "freq": np.zeros(len(self.knob_tables)),
                    "low": np.zeros(len(self.knob_tables)),
                    "busy": 0.0,
                    "run": np.zeros(len(self.policies)),
                },
            )
            f = freq[:, mask]
            s["t"] += float(t.sum())
            s["e"] += float(block.total_w[mask] @ t)
            s["rails"] += t @ block.rail_w[mask]
            s["busy"] += float(block.gpu_busy_s[mask].sum())
            for name, energy in zip(components, (watts[:, mask] @ t).tolist()):
                s["comp"][name] = s["comp"].get(name, 0.0) + energy
            s["freq"] += f @ t
            s["low"] += (f <= self.lower_half) @ t
            s["run"] += busy[:, mask].sum(axis=1)

    def phase_stats(self, phase: str) -> PhaseStats:
        s = self.sums[phase]
        t = s["t"]
        rails = {name: float(e / t) for name, e in zip(self.rail_names, s["rails"])}
        rails["total"] = s["e"] / t
        knobs = list(self.knob_tables)
        return PhaseStats(
            duration_s=t,
            energy_j=s["e"],
            mean_power_w=rails,
            component_power_w={k: v / t for k, v in s["comp"].items()},
            mean_freq_hz={k: float(round(v / t)) for k, v in zip(knobs, s["freq"].tolist())},
            gpu_util=s["busy"] / t,
            cpu_util={p: v / t for p, v in zip(self.policies, s["run"].tolist())},
            time_in_lower_half={k: v / t for k, v in zip(knobs, s["low"].tolist())},
        )

    def overall(self) -> tuple[float, float, dict[str, float], dict[str, float]]:
        t = sum(s["t"] for s in self.sums.values())
        e = sum(s["e"] for s in self.sums.values())
        rails = sum(s["rails"] for s in self.sums.values())
        power = {name: float(v / t) for name, v in zip(self.rail_names, rails)}
        power["total"] = e / t
        freq_sum = sum(s["freq"] for s in self.sums.values())
        freq = {k: float(round(v / t)) for k, v in zip(self.knob_tables, freq_sum.tolist())}
        return t, e, power, freq


def apply_pins(phone, pins_hz: dict[str, int]) -> Callable[[], None]:
    """Pin knobs through sysfs (android.knobs.pinned); returns a function that restores what was there
    (every knob, even under a thermal cap; RestoreError lists the ones that failed). The pins hold until
    that function is called, whether or not the caller keeps it."""
    if not pins_hz:
        return lambda: None
    from android.knobs import KnobController, pinned
    from android.probe import probe_device
    from android.virtual import VirtualDevice

    device = VirtualDevice(phone)
    pins = pinned(KnobController(device, probe_device(device)), pins_hz)
    pins.__enter__()
    return pins.__exit__


def run_workload(
    phone,
    workload: Workload,
    pins_hz: dict[str, int] | None = None,
    idle_before_s: float = DEFAULT_IDLE_BEFORE_S,
    sample_period_s: float | None = None,
    on_sample: Callable | None = None,
    on_progress: Callable[[int], None] | None = None,
    mark: str = "token",
    observers: Sequence[Callable[[Block], None]] = (),
    pins_by_phase: Mapping[str, Mapping[str, int]] | None = None,
) -> tuple[_Accumulator, Workload]:
    """Pin, idle, run `workload` to completion (sampling as asked), unpin. Returns the per-phase sums.

    `pins_hz` hold for the whole run, the idle before it included. `pins_by_phase` ({"prefill": {...},
    "decode": {...}}) instead pins each phase's knobs exactly when that phase begins, as the on-phone
    daemon does when the inference framework signals it: the previous phase's pins are restored first
    (android.knobs.pinned), so a knob the new phase does not name is back with its stock governor; the
    idle before runs stock. `observers` (e.g. timeline.TimelineRecorder) see every engine block while the
    workload runs, as the per-phase accounting does. The run ends exactly when the workload does."""
    pins_hz = dict(pins_hz or {})
    by_phase = {str(p): dict(v) for p, v in (pins_by_phase or {}).items()}
    if pins_hz and by_phase:
        raise WorkloadError("give pins for the whole run or pins by phase, not both")
    restore = apply_pins(phone, pins_hz)
    accumulator = _Accumulator(phone.knobs, phone.sim.rail_names, phone.sim.policies)
    finished = False
    pinned_phase: list = [None, lambda: None]  # the phase whose pins hold, and their restore

    def enter_phase() -> None:
        phase = workload.phase
        if phase != pinned_phase[0]:
            release, pinned_phase[1] = pinned_phase[1], lambda: None
            pinned_phase[0] = phase
            release()
            pinned_phase[1] = apply_pins(phone, by_phase.get(phase, {}))

    def stop() -> bool:
        return workload.done or (bool(by_phase) and workload.phase != pinned_phase[0])

    try:
        if idle_before_s > 0:
            phone.advance(idle_before_s)
        watching = [accumulator, *observers]
        phone.sim.observers.extend(watching)
        try:
            phone.start(workload)
            period = sample_period_s or DEFAULT_CHUNK_S
            next_sample = phone.now_s + period
            seen = 0
            while not workload.done:
                if by_phase:
                    enter_phase()
                with phone.lock:
                    phone.sim.advance(max(next_sample - phone.now_s, 0.0), stop)
                if phone.now_s >= next_sample - 1e-9 or workload.done:
                    next_sample = phone.now_s + period
                    if on_sample is not None:
                        on_sample(phone)
                if on_progress is not None:
                    done = sum(1 for _, m in workload.marks if m == mark)
                    if done > seen:
                        on_progress(done - seen)
                        seen = done
        finally:
            for observer in watching:
                phone.sim.observers.remove(observer)
        finished = True
    finally:
        try:
            try:
                pinned_phase[1]()
            finally:
                restore()  # every knob, even when one fails (android.knobs.pinned)
        except RestoreError as exc:
            if finished:  # the run is complete: its measurements travel with the error, nothing is lost
                exc.measured = (accumulator, workload)
            raise
    return accumulator, workload


def run_llm_request(
    phone,
    model: LlmModel | str,
    prompt_tokens: int,
    decode_tokens: int,
    pins: dict[str, int] | None = None,
    pins_by_phase: Mapping[str, Mapping[str, int]] | None = None,
    **kwargs,
) -> RequestResult:
    """One LLM request: prefill `prompt_tokens`, decode `decode_tokens`, measured per phase. `pins` hold
    for the whole request; `pins_by_phase` pin each phase from its first moment (run_workload). `runtime`
    (keyword) names a llama.cpp backend (android.emulator.sim.llm.RUNTIMES) other than the phone's."""
    return _run_llm(phone, model, prompt_tokens, decode_tokens, pins, pins_by_phase, prefilled=False, **kwargs)


def run_llm_decode(
    phone, model: LlmModel | str, context_tokens: int, decode_tokens: int, pins: dict[str, int] | None = None, **kwargs
) -> RequestResult:
    """Decode alone: `decode_tokens` generated after a prompt of `context_tokens` already in the KV cache
    (the decode phase of run_llm_request without running its prefill). TPOT is over the generated tokens,
    from the start of the run; there is no TTFT."""
    if decode_tokens < 1:
        raise WorkloadError(f"decode alone needs at least 1 token to generate, got {decode_tokens}")
    return _run_llm(phone, model, context_tokens, decode_tokens, pins, None, prefilled=True, **kwargs)


def _run_llm(phone, model, prompt_tokens, decode_tokens, pins, pins_by_phase, prefilled, **kwargs) -> RequestResult:
    if isinstance(model, (str, Path)):
        model = load_model(model)
    physics = phone.profile.physics
    check_fits(
        model,
        prompt_tokens + decode_tokens,
        phone.profile.memory_bytes,
        physics.memory.app_usable_fraction,
        phone.profile.name,
    )
    request = LlmRequest(
        model,
        prompt_tokens,
        decode_tokens,
        cpu=kwargs.pop("cpu", None),
        runtime=kwargs.pop("runtime", None),
        prefilled=prefilled,
    )
    acc, request = run_workload(phone, request, pins, pins_by_phase=pins_by_phase, **kwargs)
    tokens = [t for t, m in request.marks if m == "token"]
    t0 = request.started_s
    phases = {p: acc.phase_stats(p) for p in acc.sums}
    if prefilled:
        ttft, tpot = None, (tokens[-1] - t0) / decode_tokens
        per_token = {"decode": phases["decode"].energy_j / decode_tokens}
    else:
        ttft = tokens[0] - t0
        tpot = (tokens[-1] - tokens[0]) / decode_tokens if decode_tokens else None
        per_token = {"prefill": phases["prefill"].energy_j / prompt_tokens}
        if decode_tokens:
            per_token["decode"] = phases["decode"].energy_j / decode_tokens
    duration, energy, power, freq = acc.overall()
    return RequestResult(
        workload=request.name,
        profile=phone.profile.name,
        seed=phone.seed,
        pins_hz=dict(pins or {}),
        duration_s=duration,
        energy_j=energy,
        mean_power_w=power,
        mean_freq_hz=freq,
        phases=phases,
        ttft_s=ttft,
        tpot_s=tpot,
        prompt_tokens=prompt_tokens,
        decode_tokens=decode_tokens,
        energy_per_token_j=per_token,
        pins_by_phase_hz={p: dict(v) for p, v in (pins_by_phase or {}).items()},
    )


def run_cnn(phone, onnx_path: str | Path, runs: int, pins: dict[str, int] | None = None, **kwargs) -> RequestResult:
    """`runs` back-to-back inferences of an ONNX model."""
    workload = CnnRuns(onnx_path, runs, cpu=kwargs.pop("cpu", None))
    usable = phone.profile.memory_bytes * phone.profile.physics.memory.app_usable_fraction
    if workload.resident_bytes > usable:
        raise WorkloadError(
            f"{Path(onnx_path).name} needs {workload.resident_bytes / 2**30:.1f} GiB but "
            f"{phone.profile.name} gives an app at most {usable / 2**30:.1f} GiB"
        )
    acc, workload = run_workload(phone, workload, pins, mark="run", **kwargs)
    duration, energy, power, freq = acc.overall()
    phases = {p: acc.phase_stats(p) for p in acc.sums}
    return RequestResult(
        workload=workload.name,
        profile=phone.profile.name,
        seed=phone.seed,
        pins_hz=dict(pins or {}),
        duration_s=duration,
        energy_j=energy,
        mean_power_w=power,
        mean_freq_hz=freq,
        phases=phases,
        runs=runs,
        latency_s=duration / runs,
        energy_per_run_j=energy / runs,
    )
