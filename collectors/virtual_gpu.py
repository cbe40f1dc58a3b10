"""GPU power-model traces from the virtual phone, measured the way APGPM measures a real one.

Each workload runs on a fresh virtual phone with the GPU pinned at each of several frequencies in turn
(REFERENCES.md section 2), CPU and memory under their stock governors. Every `period_s` of simulated time
one row is taken:

- `pmc.<group>.<countable>`: increments of every counter of the GPU's catalogue over the period. Mali
  (hwcnt) is read as a collector must: one `snapshot()` dump of 32-bit values, differenced with
  `counter_delta`, which undoes the wraps. Adreno (kgsl) has a few physical counters per group, so a real
  collector needs several passes over a repeatable workload to cover the catalogue; the virtual phone is
  deterministic for a seed, so reading every countable at once (`read_all_totals()`, 64-bit totals that
  only grow) stands for those passes.
- `power.gpu_w`: the simulation's true GPU power averaged over the period. No rail isolates the GPU on
  Snapdragon, and APGPM isolates it with a lab monitor; here a block observer on the simulation reads
  the GPU component's power directly.
- `util.gpu_pct` (busy time over the period), `freq.<knob>_hz` (time-weighted over the period, every knob
  whose name the trace schema can hold), `volt.gpu_v` (the pinned OPP's voltage), `temp.gpu_c` (the
  hottest of the profile's GPU thermal zones), and `phase` (the phase that filled most of the period).

LLM workloads are the built-in models (android/emulator/models) serving a stream of requests whose prompt
and decode lengths vary, so prefill and decode both appear; CNN workloads are the built-in networks
(android.emulator.sim.cnn_zoo) running back to back. Each pinned frequency gets an equal share of the
workload's `duration_s`; the app is stopped when its share is spent.
"""

from __future__ import annotations

import itertools
import sys
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from android.emulator.phone import VirtualPhone
from android.emulator.profile import Profile, load_profile
from android.emulator.sim import cnn_zoo
from android.emulator.sim.cnn import load_onnx_stream
from android.emulator.sim.engine import Block
from android.emulator.sim.llm import LlmRequest
from android.emulator.sim.llm_models import builtin_models, check_fits, load_model
from android.emulator.sim.pmc.catalogue import counter_delta
from android.emulator.sim.pmc.unit import MaliPmcUnit
from android.emulator.sim.request import apply_pins, run_workload
from android.emulator.sim.workload import Segment, Workload
from android.errors import TraceError, WorkloadError
from collectors.trace import check_trace

DEFAULT_LEVELS = 5  # GPU frequencies spread over the OPP table when none are given
IDLE_BEFORE_S = 0.5  # pinned and idle before each run, so the other governors settle
PROMPT_TOKENS = (8, 256)  # request lengths, drawn log-uniformly: short chat turns to long prompts
DECODE_TOKENS = (8, 96)
MAX_PERIOD_S = 0.25  # Mali shader-core counters sum 7 cores: ~5.7e9 a second at 848 MHz, 32 bits wrap in 0.75 s
PROGRESS_MIN_S = 30.0  # simulated seconds above which a progress bar is worth showing


def virtual_workloads(profile: str | Profile) -> dict[str, str]:
    """Workloads the virtual phone offers for GPU traces: name -> "llm" | "cnn". LLMs whose weights and
    KV cache do not fit what the phone gives an app are left out."""
    profile = _profile(profile)
    out = {}
    for name in builtin_models():
        try:
            _check_llm_fits(load_model(name), profile)
        except WorkloadError:
            continue
        out[f"llm:{name}"] = "llm"
    out.update({f"cnn:{name}": "cnn" for name in cnn_zoo.names()})
    return out


def virtual_gpu_trace(
    profile: str | Profile,
    workloads: list[str],
    seed: int = 0,
    duration_s: float = 20.0,
    gpu_freqs_hz: list[float] | None = None,
    period_s: float = 0.05,
) -> tuple[pd.DataFrame, dict]:
    """Trace `workloads` (names from virtual_workloads) at each GPU frequency; returns (rows, metadata)
    in the fusegov trace schema. `duration_s` of simulated time per workload, split across frequencies."""
    profile = _profile(profile)
    workloads = list(workloads)
    freqs_hz = _gpu_frequencies(profile, gpu_freqs_hz)
    _check_arguments(profile, workloads, duration_s, period_s)
    budget_s = duration_s / len(freqs_hz)
    total_s = duration_s * len(workloads)
    from tqdm import tqdm

    rows: list[pd.DataFrame] = []
    bar = tqdm(
        total=round(total_s, 3),
        unit="sim s",
        desc=f"GPU trace {profile.name}",
        file=sys.stderr,
        leave=False,
        disable=None if total_s >= PROGRESS_MIN_S else True,
    )
    widths: set[int] = set()
    try:
        for name in workloads:
            phone = VirtualPhone(profile, seed=seed)
            sampler = _GpuSampler(phone, name)
            widths.update(sampler.widths.tolist())
            make_run = _workload_factory(name, seed)
            for freq_hz in freqs_hz:
                _run_pinned(phone, make_run, freq_hz, budget_s, period_s, sampler, bar)
            rows.append(sampler.frame())
    finally:
        bar.close()
    frame = pd.concat(rows, ignore_index=True)
    frame.insert(0, "seq", np.arange(len(frame), dtype=np.int64))
    meta = _metadata(
        profile,
        seed,
        period_s,
        duration_s,
        freqs_hz,
        workloads,
        [c for c in frame.columns if c.startswith("pmc.")],
        sorted(widths),
    )
    check_trace(frame, meta)
    return frame, meta


# --- arguments --------------------------------------------------------------------------------------
def _profile(profile: str | Profile) -> Profile:
    return load_profile(profile) if isinstance(profile, str) else profile


def _gpu_frequencies(profile: Profile, gpu_freqs_hz: list[float] | None) -> list[int]:
    table = [o.freq_hz for o in profile.gpu.opps]
    if gpu_freqs_hz is None:
        picks = np.unique(np.round(np.linspace(0, len(table) - 1, min(DEFAULT_LEVELS, len(table)))).astype(int))
        return [table[i] for i in picks]
    if len(gpu_freqs_hz) == 0:
        raise TraceError("gpu_freqs_hz is empty: give at least one GPU frequency (Hz), or None for a spread")
    out = []
    for freq in gpu_freqs_hz:
        if round(freq) not in table:
            raise TraceError(
                f"GPU frequency {freq / 1e6:g} MHz is not an OPP of {profile.name}: its GPU runs at "
                f"{', '.join(f'{f / 1e6:g}' for f in table)} MHz"
            )
        out.append(round(freq))
    return out


def _check_arguments(profile: Profile, workloads: list[str], duration_s: float, period_s: float) -> None:
    if not workloads:
        raise TraceError("no workloads given: choose from virtual_workloads(profile)")
    known = virtual_workloads(profile)
    for name in workloads:
        if name not in known:
            kind, _, target = name.partition(":")
            if kind == "llm" and target in builtin_models():
                _check_llm_fits(load_model(target), profile)  # raises with the sizes
            raise WorkloadError(f"unknown workload {name!r} for {profile.name}: choose from {', '.join(known)}")
    if len(set(workloads)) != len(workloads):
        raise TraceError(f"workloads are listed twice: {sorted({w for w in workloads if workloads.count(w) > 1})}")
    if not period_s > 0:
        raise TraceError(f"period_s must be positive, got {period_s}")
    if period_s > MAX_PERIOD_S:
        raise TraceError(
            f"period_s {period_s} s is too long: 32-bit GPU counters may wrap more than once between "
            f"readings; use at most {MAX_PERIOD_S} s"
        )
    if not duration_s > 0:
        raise TraceError(f"duration_s must be positive, got {duration_s}")


def _check_llm_fits(model, profile: Profile) -> None:
    check_fits(
        model,
        PROMPT_TOKENS[1] + DECODE_TOKENS[1],
        profile.memory_bytes,
        profile.physics.memory.app_usable_fraction,
        profile.name,
    )


# --- workloads --------------------------------------------------------------------------------------
def _workload_factory(name: str, seed: int) -> Callable[[float], Workload]:
    """A function giving a fresh endless Workload of `name` for a run that ends at `deadline_s`."""
    kind, _, target = name.partition(":")
    if kind == "cnn":
        stream, _ = load_onnx_stream(cnn_zoo.zoo_path(target))

        def cnn_run(deadline_s: float) -> Workload:
            runs = (Segment(stream, 1, "inference", mark="run") for _ in itertools.count())
            return Workload(name=name, segments=runs)

        return cnn_run
    model = load_model(target)
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])

    def llm_run(deadline_s: float) -> Workload:
        workload = Workload(name=name, segments=iter(()))
        workload.segments = _requests(model, rng, workload, deadline_s)
        return workload

    return llm_run


def _requests(model, rng: np.random.Generator, workload: Workload, deadline_s: float) -> Iterator[Segment]:
    """Requests of varied lengths, one after another, sized so both phases fit in the time left.

    Lengths are drawn log-uniformly; once a request has shown this run's pace (seconds per prompt token,
    per generated token, measured from its token marks), later prompts are capped at half the time left
    and decodes at the rest, as a benchmark harness fits requests into a measurement slot. The first
    request is short, to measure the pace."""
    spent_s = np.zeros(2)  # prefill, decode
    tokens = np.zeros(2)
    while True:
        start_s = workload.marks[-1][0] if workload.marks else workload.started_s
        if tokens.all():
            pace_s = spent_s / tokens
            left_s = max(deadline_s - start_s, 0.0)
            prompt, decode = (
                round(float(np.exp(rng.uniform(np.log(low), np.log(high)))))
                for low, high in (PROMPT_TOKENS, DECODE_TOKENS)
            )
            prompt = max(1, min(prompt, int(left_s / 2 / pace_s[0])))
            decode = max(1, min(decode, int((left_s - prompt * pace_s[0]) / pace_s[1])))
        else:
            prompt, decode = PROMPT_TOKENS[0], DECODE_TOKENS[0]
        seen = len(workload.marks)
        yield from LlmRequest(model, prompt, decode).segments
        token_s = [t for t, _ in workload.marks[seen:]]  # first token, then one per generated token
        spent_s += (token_s[0] - start_s, token_s[-1] - token_s[0])
        tokens += (prompt, decode)


def _run_pinned(
    phone: VirtualPhone,
    make_run: Callable[[float], Workload],
    freq_hz: int,
    budget_s: float,
    period_s: float,
    sampler: _GpuSampler,
    bar,
) -> None:
    """Pin the GPU, let the phone settle, run the workload for `budget_s`, sampling every `period_s`."""
    restore = apply_pins(phone, {"gpu": freq_hz})
    try:
        phone.advance(IDLE_BEFORE_S)
        deadline = phone.now_s + budget_s - 1e-9
        workload = make_run(deadline)
        sampler.begin()

        def on_sample(phone: VirtualPhone) -> None:
            sampler.sample()
            bar.update(period_s)
            if phone.now_s >= deadline:
                with phone.lock:
                    phone.sim.stop()  # the budget is spent: the app is closed

        phone.sim.observers.append(sampler)
        try:
            run_workload(phone, workload, None, idle_before_s=0.0, sample_period_s=period_s, on_sample=on_sample)
        finally:
            phone.sim.observers.remove(sampler)
    finally:
        restore()


# --- sampling ---------------------------------------------------------------------------------------
class _GpuSampler:
    """Observer of simulation blocks (sums since the last sample) and the per-sample reader."""

    def __init__(self, phone: VirtualPhone, workload: str):
        self.phone, self.workload = phone, workload
        self.unit = phone.pmc
        self.mali = isinstance(self.unit, MaliPmcUnit)
        self.widths = np.array([c.width_bits for c in self.unit.catalogue])
        self.columns = [f"pmc.{c.group}.{c.name}" for c in self.unit.catalogue]
        self.knobs = list(phone.knobs)
        self.gpu_zones = [z.type for z in phone.profile.thermal_zones if z.component == "gpu"]
        self.records: list[tuple] = []
        self.deltas: list[np.ndarray] = []
        self._reset()
        self.last = self._read_counters()

    def _reset(self) -> None:
        self.time_s = self.energy_j = self.busy_s = 0.0
        self.freq_time = dict.fromkeys(self.knobs, 0.0)
        self.phase_time: dict[str, float] = {}

    def _read_counters(self) -> np.ndarray:
        if self.mali:
            dump = self.unit.snapshot()  # one hwcnt dump, 32-bit values in catalogue order
            return np.fromiter(dump.values(), dtype=np.uint64, count=len(dump))
        return self.unit.read_all_totals()

    def begin(self) -> None:
        """Start a run: forget what happened before (idle, unpinned) and take the counters' baseline."""
        self._reset()
        self.last = self._read_counters()

    def __call__(self, block: Block) -> None:
        dt = block.dt_s
        self.time_s += float(dt.sum())
        self.energy_j += float(block.power_w["gpu"] @ dt)
        self.busy_s += float(block.gpu_busy_s.sum())
        for knob in self.knobs:
            self.freq_time[knob] += float(block.freq_hz[knob] @ dt)
        phases, which = np.unique(block.phase.astype(str), return_inverse=True)
        for phase, seconds in zip(phases.tolist(), np.bincount(which, weights=dt).tolist()):
            self.phase_time[phase] = self.phase_time.get(phase, 0.0) + seconds

    def sample(self) -> None:
        """One row: what happened since the previous sample."""
        if self.time_s <= 0:
            return
        now = self._read_counters()
        delta = np.empty(len(now), dtype=np.uint64)
        for width in np.unique(self.widths):
            mask = self.widths == width
            delta[mask] = counter_delta(now[mask], self.last[mask], int(width))
        self.last = now
        state = self.phone.state
        t = self.time_s
        self.records.append(
            (
                state.uptime_s,
                max(self.phase_time, key=self.phase_time.get),
                self.workload,
                *(round(self.freq_time[k] / t) for k in self.knobs),
                100.0 * min(self.busy_s / t, 1.0),
                self.phone.knobs["gpu"].cur_volt_uv / 1e6,
                *([max(state.zone_temp_c[z] for z in self.gpu_zones)] if self.gpu_zones else []),
                self.energy_j / t,
            )
        )
        self.deltas.append(delta.astype(np.int64))
        self._reset()

    def frame(self) -> pd.DataFrame:
        names = [
            "t_s",
            "phase",
            "workload",
            *(f"freq.{k}_hz" for k in self.knobs),
            "util.gpu_pct",
            "volt.gpu_v",
            *(["temp.gpu_c"] if self.gpu_zones else []),
            "power.gpu_w",
        ]
        base = pd.DataFrame.from_records(self.records, columns=names)
        counters = pd.DataFrame(
            np.vstack(self.deltas) if self.deltas else np.zeros((0, len(self.columns)), np.int64), columns=self.columns
        )
        return pd.concat([base, counters], axis=1)


def _metadata(
    profile: Profile,
    seed: int,
    period_s: float,
    duration_s: float,
    freqs_hz: list[int],
    workloads: list[str],
    counters: list[str],
    widths_bits: list[int],
) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        tool = f"fusegov {version('fusegov')}"
    except PackageNotFoundError:
        tool = "fusegov (source tree)"
    gpu_zones = [z.type for z in profile.thermal_zones if z.component == "gpu"]
    return {
        "device": f"virtual-{profile.name}",
        "profile": profile.name,
        "soc": profile.soc,
        "device_model": profile.model,
        "gpu_driver": profile.gpu.driver,
        "period_s": period_s,
        "counters": counters,
        "counter_family": profile.gpu.pmc_family,
        "counter_widths_bits": widths_bits,
        "temp_gpu_zones": gpu_zones,
        "tool": tool,
        "generator": (
            f"collectors.virtual_gpu: virtual phone {profile.name} (seed {seed}), each workload on a fresh "
            f"phone with the GPU pinned at {', '.join(f'{f / 1e6:g}' for f in freqs_hz)} MHz in turn, "
            f"{duration_s:g} s of simulated time per workload split across them, CPU and memory under "
            "their stock governors; power.gpu_w is the simulated GPU power (a lab monitor's view), "
            "pmc.* the whole catalogue "
            + (
                "(hwcnt dumps, wrap-corrected)"
                if profile.gpu.driver == "mali"
                else "(all countables read at once: stands for kgsl passes)"
            )
        ),
        "gpu_freqs_hz": freqs_hz,
        "workloads": workloads,
        "seed": seed,
        "duration_s": duration_s,
    }
