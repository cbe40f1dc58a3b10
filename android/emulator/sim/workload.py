"""A foreground workload: segments of repeated kernel-stream units run by one CPU thread, in order.

The engine calls `step` once per simulation step with the clocks of that step; the workload consumes
whole or partial units (a unit's work is spread evenly over its duration) and adds what it did to a
StepWork. A step stops early at a phase boundary (prefill -> decode) and at the end, so no step mixes
two phases. Marks on a segment (a token produced) are time-stamped exactly when the segment finishes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from android.emulator.sim.pipeline import KernelStream


@dataclass
class Segment:
    stream: KernelStream
    count: float  # units of the stream
    phase: str  # "prefill", "decode", "inference", ...
    mark: str = ""  # recorded when the segment completes, e.g. "token"


class StepWork:
    """What the foreground thread and the GPU did in one step."""

    __slots__ = ("cpu_run_s", "spin_s", "gpu_busy_s", "gpu_dram_bytes", "cpu_dram_bytes", "cpu_cycles", "units")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.cpu_run_s = self.spin_s = self.gpu_busy_s = 0.0
        self.gpu_dram_bytes = self.cpu_dram_bytes = self.cpu_cycles = 0.0
        self.units: list[tuple[KernelStream, float]] = []  # GPU events = sum of units x stream events


@dataclass
class Workload:
    """Segments from a generator, so a long decode is never materialised."""

    name: str
    segments: Iterator[Segment]
    cpu: int | None = None  # CPU the thread is pinned to; None: the first CPU of the biggest cluster
    marks: list[tuple[float, str]] = field(default_factory=list)
    phase_changes: list[tuple[float, str]] = field(default_factory=list)
    started_s: float | None = None
    finished_s: float | None = None

    def __post_init__(self) -> None:
        self._segment: Segment | None = None
        self._done_units = 0.0
        self._scale = 1.0
        self._bind = None
        self._rng: np.random.Generator | None = None
        self._jitter = 0.0

    @property
    def done(self) -> bool:
        return self.finished_s is not None

    @property
    def phase(self) -> str:
        return self._segment.phase if self._segment else "idle"

    def start(self, now_s: float, bind, rng: np.random.Generator, jitter: float) -> None:
        """Called by the engine: `bind(stream)` readies a stream for this phone's physics."""
        self._bind, self._rng, self._jitter = bind, rng, jitter
        self.started_s = now_s
        self._advance_segment(now_s)

    def _advance_segment(self, now_s: float) -> None:
        previous = self._segment.phase if self._segment else None
        self._segment = next(self.segments, None)
        self._done_units = 0.0
        if self._segment is None:
            self.finished_s = now_s
            self.phase_changes.append((now_s, "idle"))
            return
        self._bind(self._segment.stream)
        self._scale = max(0.5, 1.0 + self._jitter * float(self._rng.standard_normal())) if self._jitter else 1.0
        if self._segment.phase != previous:
            self.phase_changes.append((now_s, self._segment.phase))

    def step(self, now_s: float, dt_s: float, cpu_hz: float, gpu_hz: float, mem_hz: float, work: StepWork) -> float:
        """Run up to dt_s; returns the time used (less at a phase boundary or the end)."""
        used = 0.0
        while self._segment is not None:
            seg = self._segment
            stream = seg.stream
            timing = stream.timing(cpu_hz, gpu_hz, mem_hz)
            unit_s = timing.duration_s * self._scale
            left = seg.count - self._done_units
            avail = dt_s - used
            if left * unit_s <= avail * (1 + 1e-12):
                units, used = left, used + left * unit_s
                finished = True
            else:
                units, used = avail / unit_s, dt_s
                self._done_units += units
                finished = False
            scaled = units * self._scale  # jitter stretches the whole unit, CPU and GPU alike
            work.cpu_run_s += scaled * timing.cpu_run_s
            work.spin_s += scaled * timing.spin_s
            work.gpu_busy_s += scaled * timing.gpu_busy_s
            work.gpu_dram_bytes += units * stream.gpu_dram_bytes
            work.cpu_dram_bytes += units * stream.cpu_dram_bytes
            work.cpu_cycles += units * stream.cpu_cycles
            work.units.append((stream, units))
            if not finished:
                return used
            if seg.mark:
                self.marks.append((now_s + used, seg.mark))
            self._advance_segment(now_s + used)
            if self._segment is None or self._segment.phase != seg.phase or used >= dt_s:
                return used
        return used
