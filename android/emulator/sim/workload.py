"""A foreground workload: segments of repeated kernel-stream units run by one CPU thread, in order.

The engine calls `step` once per simulation step with the clocks of that step; the workload consumes
whole or partial units (a unit's work is spread evenly over its duration) and returns what it did (the
GPU's units go to a StepWork). A step stops early at a phase boundary (prefill -> decode) and at the end,
so no step mixes two phases. Marks on a segment (a token produced) are time-stamped exactly when the
segment finishes.

Noise as on a phone: every segment (a token's layers, a token's head) takes a random factor of its
nominal time (`jitter`, per-kernel-launch variation), and the whole request one more (`request_jitter`:
where its buffers landed in DRAM and the system cache), both drawn from the phone's seeded generator.
`on_core` tells whether the thread is on a core where the last step ended (from the unit's schedule),
which is what the scheduler's governors see.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from android.emulator.sim.pipeline import KernelStream

NORMAL_BATCH = 256  # jitter draws taken from the generator at a time


@dataclass
class Segment:
    stream: KernelStream
    count: float  # units of the stream
    phase: str  # "prefill", "decode", "inference", ...
    mark: str = ""  # recorded when the segment completes, e.g. "token"


class StepWork:
    """The GPU's work over a block of steps, as units x stream events: one entry per unit (part) run, its
    stream's index in `streams` (`which`) and its units (`units`); `streams` holds each stream once, in
    order of first appearance (the engine notes each entry's row and clears them when it handles the
    block, where indices recorded as the steps run spare it a lookup per entry)."""

    __slots__ = ("streams", "which", "units", "last", "index")

    def __init__(self) -> None:
        self.streams: list[KernelStream] = []
        self.which: list[int] = []
        self.units: list[float] = []
        self.clear()

    def use(self, stream: KernelStream) -> None:
        """Make `stream` the one entries are recorded for (`last`, at `index` in streams)."""
        for i, known in enumerate(self.streams):
            if known is stream:
                self.last, self.index = stream, i
                return
        self.last, self.index = stream, len(self.streams)
        self.streams.append(stream)

    def truncate(self, entries: int, streams: int) -> None:
        """Drop the entries after the first `entries` and the streams after the first `streams` (a step
        undone)."""
        del self.which[entries:], self.units[entries:], self.streams[streams:]
        self.last, self.index = None, -1

    def clear(self) -> None:
        self.truncate(0, 0)


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
        self.phase = "idle"  # the current segment's phase (read every step: an attribute, not a property)
        self._done_units = 0.0
        self._scale = 1.0
        self._bind = None
        self._rng: np.random.Generator | None = None
        self._normals: list[float] = []
        self._jitter = 0.0
        self._speed = 1.0  # the request's own factor on unit durations
        self._position = 0.0  # how far through the unit the last step ended in (0..1)
        self.on_core = True  # the thread on a core (working or polling) there
        self._at: tuple = (None, -1.0, 0.0, 0.0, 0.0)  # that unit's timing, the position and its shares there
        self._memo: tuple = (None, 0.0, 0, 0, None)  # the last step's stream, its clocks and their timing
        self._per_unit = (0.0, 0.0, 0.0)  # the segment's stream: GPU and CPU DRAM bytes, CPU cycles per unit

    @property
    def done(self) -> bool:
        return self.finished_s is not None

    def prepare(self, physics, fingerprint: int = 0) -> None:
        """Called by the engine before start with the phone's physics and a fingerprint of what kernel
        timings depend on (a workload may pick its runtime, or reuse streams built for equal physics)."""

    def start(self, now_s: float, bind, rng: np.random.Generator, jitter: float, request_jitter: float = 0.0) -> None:
        """Called by the engine: `bind(stream)` readies a stream for this phone's physics."""
        self._bind, self._rng, self._jitter = bind, rng, jitter
        if request_jitter:
            self._speed = max(0.5, 1.0 + request_jitter * float(rng.standard_normal()))
        self.started_s = now_s
        self._advance_segment(now_s)

    def _normal(self) -> float:
        """A standard normal draw, taken from the phone's generator a batch at a time."""
        if not self._normals:
            self._normals = self._rng.standard_normal(NORMAL_BATCH).tolist()
        return self._normals.pop()

    def _advance_segment(self, now_s: float) -> None:
        previous = self._segment
        seg = self._segment = next(self.segments, None)
        self._done_units = 0.0
        if seg is None:
            self.phase = "idle"
            self.finished_s = now_s
            self.phase_changes.append((now_s, "idle"))
            return
        stream = self._bind(seg.stream)
        self._per_unit = (stream.gpu_dram_bytes, stream.cpu_dram_bytes, stream.cpu_cycles)  # of the bound stream
        noise = max(0.5, 1.0 + self._jitter * self._normal()) if self._jitter else 1.0
        self._scale = noise * self._speed
        if previous is None or seg.phase != previous.phase:
            self.phase = seg.phase
            self.phase_changes.append((now_s, seg.phase))

    def step(
        self,
        now_s: float,
        dt_s: float,
        cpu_hz: float,
        gpu_hz: float,
        mem_hz: float,
        work: StepWork,
        stretch: float = 1.0,
    ) -> tuple[float, float, float, float, float, float, float]:
        """Run up to dt_s; returns the time used (less at a phase boundary or the end) and what the thread
        and the GPU did in it: the thread's run and spin time, GPU busy time, GPU and CPU DRAM bytes and the
        thread's cycles (one tuple: the engine reads them every tick). The GPU's units are appended to work.
        `stretch` >= 1: the thread's CPU costs take that many times as long (it shares its core with a
        system burst): units last UnitTiming.stretched, and the thread does the same work in them."""
        used = run = spin = busy = gpu_sum = cpu_sum = cycles = 0.0
        seg = self._segment
        while seg is not None:
            stream = seg.stream
            memo = self._memo  # the last step's stream, clocks and timing (most steps repeat them)
            if memo[0] is stream and memo[1] == cpu_hz and memo[2] == gpu_hz and memo[3] == mem_hz:
                timing = memo[4]
            else:
                timing = stream.timing(cpu_hz, gpu_hz, mem_hz)
                self._memo = (stream, cpu_hz, gpu_hz, mem_hz, timing)
            scale = self._scale  # jitter stretches the whole unit, CPU and GPU alike
            unit_s = (timing.duration_s if stretch == 1.0 else timing.stretched(stretch)) * scale
            left = seg.count - self._done_units
            avail = dt_s - used
            start = self._position  # how far through the current unit (0..1)
            at = self._at
            if at[0] is timing and at[1] == start:
                g0, d0, o0 = at[2], at[3], at[4]  # where the last step ended, same unit, same clocks
            elif start == 0.0:
                g0 = d0 = o0 = 0.0  # a unit's start: nothing of it done (timing.at(0.0) gives the same zeros)
            else:
                g0, d0, o0, _ = timing.at(start)
            if left * unit_s <= avail * (1 + 1e-12):
                units, used = left, used + left * unit_s
                finished = True
            else:
                units, used = avail / unit_s, dt_s
                self._done_units += units
                finished = False
            end = start + units
            if end < 1.0:  # within the unit (most steps)
                position = end
                g1, d1, o1, on = timing.at(position)
                g, d, o = g1 - g0, d1 - d0, o1 - o0
            else:
                whole = end // 1.0  # whole units crossed (a float: float arithmetic below)
                position = end - whole
                g1, d1, o1, on = timing.at(position)
                g, d, o = whole + g1 - g0, whole + d1 - d0, whole + o1 - o0
            g = g if g > 0.0 else 0.0  # rounding may leave -1e-16 on idle stretches
            o = o if o > 0.0 else 0.0
            on_s = o * scale
            run += on_s * timing.cpu_run_s
            spin += on_s * timing.spin_s
            busy += g * scale * timing.gpu_busy_s
            gpu_bytes, cpu_bytes, cpu_cycles = self._per_unit
            if d > 0.0:  # (a rounding -1e-16 moves nothing)
                gpu_sum += d * gpu_bytes
            cpu_sum += o * cpu_bytes
            cycles += o * cpu_cycles
            if stream is not work.last:
                work.use(stream)
            work.which.append(work.index)
            work.units.append(g)
            if not finished:
                self._position, self.on_core = position, on
                self._at = (timing, position, g1, d1, o1)
                break
            self._position = 0.0  # on to the next unit
            self.on_core = timing.starts_running
            if seg.mark:
                self.marks.append((now_s + used, seg.mark))
            self._advance_segment(now_s + used)
            following = self._segment
            if following is None or following.phase != seg.phase or used >= dt_s:
                break
            seg = following
        return used, run, spin, busy, gpu_sum, cpu_sum, cycles
