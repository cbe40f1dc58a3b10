"""Activity -> counter increments, vectorised over steps and counters.

Each step's GpuActivity becomes a row of base signals (the raw events plus what the hardware derives
from them: cycles, ALU/EFU working cycles, stalls, waves, L1 lines and misses, L2 lines, DRAM beats).
Counters are nonnegative combinations of these signals: one matmul with a mixing matrix precomputed
per family, then per-counter multiplicative noise, then copies. The nonlinear parts (hit rates that
depend on the work mix, stalls when the ALUs wait on memory, clipping at the cycle budget) live in the
signals, so the per-call cost is a few array operations plus one small matmul.
"""

from __future__ import annotations

import functools
from dataclasses import fields

import numpy as np
from threadpoolctl import ThreadpoolController

from android.emulator.sim.activity import EVENT_FIELDS, GpuActivity
from android.emulator.sim.pmc.catalogue import Counter, FamilySpec, GpuShape, PmcError

DERIVED_SIGNALS = (
    "time_us",  # step length in microseconds: always-on timers and background events
    "cycles",  # GPU clock cycles in the step (freq * dt)
    "active_cycles",  # cycles with work on the GPU (freq * busy)
    "idle_cycles",
    "core_active_cycles",  # active cycles summed over shader cores (per-core counters, aggregated)
    "alu_cycles",  # cycles the ALUs issue: alu_ops / (lanes * cores), at most active_cycles
    "efu_cycles",  # the same for the special-function units
    "stall_cycles",  # active cycles when neither ALU nor EFU issues: waiting on memory
    "tex_stall_cycles",  # the part of the stalls behind texture fetches
    "ls_stall_cycles",  # the part behind load/store
    "waves",  # waves / warps launched: threads / wave size
    "alu_instructions",  # wave instructions: alu_ops / wave size / 2 (an FMA counts 2)
    "efu_instructions",
    "ls_lines",  # L1 cache-line requests from load/store
    "tex_lines",  # L1 cache-line requests from the texture units
    "ls_miss_lines",  # L1 misses of load/store
    "tex_miss_lines",  # L1 misses of texture fetches (they miss more often than load/store)
    "l2_read_lines",
    "l2_write_lines",
    "dram_read_beats",
    "dram_write_beats",
    "ls_dram_read_beats",  # DRAM read beats on behalf of load/store
    "tex_dram_read_beats",  # DRAM read beats on behalf of texture fetches
    "dram_busy_cycles",  # GPU cycles the external bus carries a beat (at most active_cycles)
    "command_cycles",  # front end busy: active cycles plus kernel setup, at most cycles
)
SIGNALS = EVENT_FIELDS + DERIVED_SIGNALS
SIGNAL_INDEX = {name: i for i, name in enumerate(SIGNALS)}
ACTIVITY_FIELDS = tuple(f.name for f in fields(GpuActivity))  # dt_s, freq_hz, busy_s, then the events
TEX_MISS_WEIGHT = 2.0  # a texture line is twice as likely as a load/store line to miss L1


def check_activity(activity: GpuActivity) -> None:
    """PmcError for activity no GPU can have: negative amounts, or busy longer than the step."""
    dt_s, busy_s = activity.dt_s, activity.busy_s
    if not all(values.min(initial=0.0) >= 0 for values in (getattr(activity, n) for n in ACTIVITY_FIELDS)):
        raise PmcError(f"GpuActivity has negative or NaN values in {_bad_fields(activity)}: counters only count up")
    over = busy_s > dt_s * (1 + 1e-9)
    if over.any():
        step = int(np.argmax(over))
        raise PmcError(f"GpuActivity step {step}: busy_s {busy_s[step]} exceeds dt_s {dt_s[step]}")


def base_signals(activity: GpuActivity, shape: GpuShape) -> np.ndarray:
    """(n_steps, len(SIGNALS)) array of per-step base signals of a checked activity."""
    events = np.column_stack([getattr(activity, name) for name in EVENT_FIELDS])
    dt_s, busy_s = activity.dt_s, activity.busy_s
    alu_ops, sfu_ops, ls_bytes, tex_fetches, l2_bytes, dram_rd, dram_wr, kernels, threads = events.T
    cycles = activity.freq_hz * dt_s
    active = np.minimum(activity.freq_hz * busy_s, cycles)
    alu_cycles = np.minimum(alu_ops / (shape.alu_lanes_per_core * shape.cores), active)
    efu_cycles = np.minimum(sfu_ops / (shape.efu_lanes_per_core * shape.cores), active)
    stall = np.maximum(active - alu_cycles - efu_cycles, 0.0)

    line = float(shape.line_bytes)
    ls_lines = ls_bytes / line
    tex_lines = tex_fetches * shape.texel_bytes / line
    l1_lines = ls_lines + tex_lines
    tex_share = _share(tex_lines, l1_lines)
    tex_miss_share = _share(TEX_MISS_WEIGHT * tex_lines, TEX_MISS_WEIGHT * tex_lines + ls_lines)
    write_share = np.divide(dram_wr, dram_rd + dram_wr, out=np.full_like(dram_wr, 0.25), where=(dram_rd + dram_wr) > 0)
    l2_read_lines = l2_bytes * (1 - write_share) / line
    l2_write_lines = l2_bytes * write_share / line
    l1_miss = np.minimum(l2_read_lines, l1_lines)  # L1 read misses are the L2's read requests
    tex_miss = np.minimum(l1_miss * tex_miss_share, tex_lines)
    ls_miss = np.minimum(l1_miss - tex_miss, ls_lines)
    read_beats = dram_rd / shape.beat_bytes
    write_beats = dram_wr / shape.beat_bytes

    derived = {
        "time_us": dt_s * 1e6,
        "cycles": cycles,
        "active_cycles": active,
        "idle_cycles": cycles - active,
        "core_active_cycles": active * shape.cores,
        "alu_cycles": alu_cycles,
        "efu_cycles": efu_cycles,
        "stall_cycles": stall,
        "tex_stall_cycles": stall * tex_share,
        "ls_stall_cycles": stall * (1 - tex_share),
        "waves": threads / shape.wave_size,
        "alu_instructions": alu_ops / (2.0 * shape.wave_size),
        "efu_instructions": sfu_ops / shape.wave_size,
        "ls_lines": ls_lines,
        "tex_lines": tex_lines,
        "ls_miss_lines": ls_miss,
        "tex_miss_lines": tex_miss,
        "l2_read_lines": l2_read_lines,
        "l2_write_lines": l2_write_lines,
        "dram_read_beats": read_beats,
        "dram_write_beats": write_beats,
        "ls_dram_read_beats": read_beats * (1 - tex_miss_share),
        "tex_dram_read_beats": read_beats * tex_miss_share,
        "dram_busy_cycles": np.minimum(read_beats + write_beats, active),
        "command_cycles": np.minimum(active + kernels * shape.launch_cycles, cycles),
    }
    return np.column_stack((events, *(derived[name] for name in DERIVED_SIGNALS)))


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    return np.divide(part, whole, out=np.zeros_like(part), where=whole > 0)


def _bad_fields(activity: GpuActivity) -> str:
    return ", ".join(n for n in ACTIVITY_FIELDS if not getattr(activity, n).min(initial=0.0) >= 0)


class MixingModel:
    """A family's counters as one matrix over the base signals, plus noise and copies.

    Moving independent counters (signal, noise) are columns of `matrix`; every counter reads the column
    `source` times `scale`, so copies share their source's noise exactly, as a real duplicate countable
    does, and constants (scale 0) cost nothing.
    """

    def __init__(self, spec: FamilySpec):
        counters = spec.counters
        by_name = {c.name: c for c in counters}
        independent = [c for c in counters if c.derivation.kind in ("signal", "noise")]
        column = {c.name: j for j, c in enumerate(independent)}
        self.matrix = np.zeros((len(SIGNALS), len(independent)))
        self.noise_cv = np.array([c.derivation.noise_cv for c in independent])
        for j, c in enumerate(independent):
            for name, scale in c.derivation.terms:
                if name not in SIGNAL_INDEX:
                    raise ValueError(
                        f"{spec.family}: {c.name} uses unknown signal {name!r}; known: {', '.join(SIGNALS)}"
                    )
                self.matrix[SIGNAL_INDEX[name], j] += scale
        self.source = np.empty(len(counters), dtype=np.int64)
        self.scale = np.ones(len(counters))
        for i, c in enumerate(counters):
            root, scale = _resolve(c, by_name)
            moving = root.name in column
            self.source[i], self.scale[i] = (column[root.name], scale) if moving else (0, 0.0)

    def expected(self, signals: np.ndarray) -> np.ndarray:
        """Noise-free increments, (n_steps, n_counters)."""
        return (signals @ self.matrix)[:, self.source] * self.scale

    def increments(self, signals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Per-step increments with per-step noise, (n_steps, n_counters): the reference model."""
        with _single_threaded_blas():
            mean = signals @ self.matrix
        noisy = np.maximum(mean * (1.0 + self.noise_cv * rng.standard_normal(mean.shape)), 0.0)
        return noisy[:, self.source] * self.scale

    def summed(self, signals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Increments summed over the steps, (n_counters,), with the same distribution as summing
        `increments` (up to truncation at zero) but at a cost independent of n_counters * n_steps:

        sum_t m_t (1 + cv z_t) = sum_t m_t + cv * sqrt(sum_t m_t^2) * z, and for m_t = s_t . w the
        sum of squares is w^T (S^T S) w, so only the small Gram matrix of the signals is needed.
        """
        with _single_threaded_blas():
            gram = signals.T @ signals
            mean = signals.sum(axis=0) @ self.matrix
            sum_sq = np.einsum("ij,ij->j", gram @ self.matrix, self.matrix)
        spread = self.noise_cv * np.sqrt(np.maximum(sum_sq, 0.0))
        noisy = np.maximum(mean + spread * rng.standard_normal(mean.shape), 0.0)
        return noisy[self.source] * self.scale


@functools.cache
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def _single_threaded_blas():
    """These matrices are too small to gain from BLAS threads, and on a busy machine waiting for them
    costs ten times the work itself."""
    return _blas_controller().limit(limits=1, user_api="blas")


def _resolve(counter: Counter, by_name: dict[str, Counter]) -> tuple[Counter, float]:
    """Follow a chain of copies to the independent counter; the scales multiply."""
    scale, seen = 1.0, {counter.name}
    while counter.derivation.kind == "copy":
        scale *= counter.derivation.scale
        counter = by_name[counter.derivation.source]
        if counter.name in seen:
            raise ValueError(f"copy cycle through {counter.name}")
        seen.add(counter.name)
    return counter, scale
