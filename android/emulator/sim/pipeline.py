"""A CPU thread feeding a GPU through a shallow queue: how long one unit of work takes at given clocks.

A unit (one transformer layer, one LLM head step, one CNN inference) is a list of GPU kernels in
submission order. For each kernel the CPU pays a submission cost; it may run ahead of the GPU by at
most `queue_depth` outstanding jobs (Mali holds 2), after which it blocks. Kernels marked `sync_after`
make the CPU wait for the result (polling briefly, then sleeping and paying a wake-up latency) before
it does the host work that needs it. A job submitted to an idle GPU starts after the dispatch latency
(firmware scheduling); one queued behind another starts as soon as the GPU is free, so queueing hides it. A unit always ends on a sync, so consecutive units do not overlap
and a unit's timing depends only on the clocks.

A kernel's GPU time combines its compute time - core cycles (the busiest of its issue ports: ALU,
special functions, load/store, texture, L2, over the share of peak it reaches) at the GPU clock - and its
DRAM time - bytes at the memory clock's bandwidth - with partial overlap, as warps computing on some data
hide the fetches of others: max(compute, dram) + (1 - memory_overlap) * min(compute, dram), plus the job
launch latency. So a kernel is compute-bound or memory-bound depending on both clocks, with a smooth knee
between. The CPU's costs are big-core cycles at the CPU clock plus host memory traffic at the CPU's share
of DRAM bandwidth. The schedule also records when the CPU thread is on a core (working or polling) and
when it sleeps, as fractions of the unit, which is what the scheduler sees.

Timings are cached per clock triple; the per-kernel recurrence is a short Python loop run once per
distinct setting, never per simulated step.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from android.emulator.sim.activity import EVENT_FIELDS
from android.emulator.sim.physics import DriverPhysics, GpuPhysics, MemoryPhysics

EV = {name: i for i, name in enumerate(EVENT_FIELDS)}
TIMING_CACHE_SIZE = 512  # clock settings remembered per stream


@dataclass(frozen=True)
class UnitTiming:
    """How one unit runs at one clock setting, and when within it each thing happens.

    `kernels` are the GPU jobs' (start, end, DRAM bytes) and `on` the intervals with the CPU thread on a
    core, in seconds from the unit's start. From them, `xs` are breakpoints through the unit (fractions of
    its duration, 0..1) and `gpu`, `dram` and `on_share` the cumulative shares, at each breakpoint, of the
    unit's GPU busy time, GPU DRAM bytes and the thread's time on a core, each linear between
    breakpoints (computed on first use). A step that covers part of a unit takes exactly the share of work
    that falls inside it."""

    duration_s: float
    cpu_run_s: float  # the feeding thread on a core (real work, big-core cycles at its clock)
    spin_s: float  # polling while waiting
    gpu_busy_s: float
    cpu_path_s: float = 0.0  # the thread's work on the unit's critical path (see `stretched`)
    kernels: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # rows of (start, end, DRAM bytes)
    on: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))  # rows of (start, end)

    def stretched(self, u: float) -> float:
        """The unit's duration when every CPU cost of the thread takes u >= 1 times as long (the thread
        shares its core): the larger of two lower bounds, each exact in its limit - the tangent, as the
        duration grows by `cpu_path_s` per unit of u (a GPU-bound unit hardly at all), and the thread's own
        work done serially (a unit that turns CPU-bound)."""
        tangent = self.duration_s + self.cpu_path_s * (u - 1.0)
        serial = self.cpu_run_s * u
        return tangent if tangent > serial else serial

    @cached_property
    def profile(self) -> tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
        return _profile(self.duration_s, self.kernels, self.on)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pieces", None)  # for `at`, built on its first call (_build_pieces)

    def _build_pieces(self) -> tuple:
        """For `at`: the breakpoints, a slot per linear piece (filled on first use, as a step reaches it: a
        unit of a few hundred kernels is mostly crossed in a few steps), the last index and whether the
        thread is on a core at either end. A plain attribute once built (`at` runs every step, and CPython
        3.11 does not specialise reads of a cached_property)."""
        xs, _, _, o = self.profile
        last = len(xs) - 1
        pieces = (xs, [None] * last, last, o[last] > o[last - 1], o[1] > o[0])
        object.__setattr__(self, "_pieces", pieces)
        return pieces

    def _piece(self, i: int) -> tuple:
        """Piece i of the profile: (x0, width, g0, g rise, d0, d rise, o0, o rise, on core)."""
        xs, g, d, o = self.profile
        return (
            xs[i],
            xs[i + 1] - xs[i],
            g[i],
            g[i + 1] - g[i],
            d[i],
            d[i + 1] - d[i],
            o[i],
            o[i + 1] - o[i],
            o[i + 1] > o[i],
        )

    @cached_property
    def starts_running(self) -> bool:
        """Is the thread on a core at the unit's start?"""
        return self.running_at(0.0)

    def at(self, x: float) -> tuple[float, float, float, bool]:
        """Cumulative (GPU busy, DRAM bytes, on-core) shares of the unit up to position x (0..1), and
        whether the thread is on a core at x (as running_at, from the same search)."""
        xs, pieces, last, on_at_end, on_at_start = self._pieces or self._build_pieces()
        i = bisect_right(xs, x) - 1
        if i >= last:
            return 1.0, 1.0, 1.0, on_at_end
        if i < 0:
            return 0.0, 0.0, 0.0, on_at_start
        piece = pieces[i]
        if piece is None:
            piece = pieces[i] = self._piece(i)
        x0, width, g0, g_rise, d0, d_rise, o0, o_rise, on = piece
        f = (x - x0) / width
        return g0 + f * g_rise, d0 + f * d_rise, o0 + f * o_rise, on

    def running_at(self, x: float) -> bool:
        """Is the thread on a core at position x (0..1) through the unit?"""
        xs, _, _, o = self.profile
        i = min(max(bisect_right(xs, x) - 1, 0), len(xs) - 2)
        return o[i + 1] > o[i]


@dataclass
class KernelStream:
    """One unit of work. Arrays are per kernel, events in activity.EVENT_FIELDS order."""

    name: str
    events: np.ndarray  # (n, len(EVENT_FIELDS))
    efficiency: np.ndarray  # share of the peak issue rate the kernel sustains
    sync_after: np.ndarray  # bool
    host_cycles: np.ndarray  # CPU work after the kernel (after its result arrives when synced)
    host_bytes: np.ndarray  # DRAM traffic of that host work
    lead_host_cycles: float = 0.0  # CPU work before the first submission
    lead_host_bytes: float = 0.0
    _cache: dict = field(default_factory=dict, repr=False)
    bound_to: object = field(default=None, repr=False)  # the physics key of the last bind

    def __post_init__(self) -> None:
        n = len(self.events)
        if n == 0:
            raise ValueError(f"{self.name}: a kernel stream needs at least one kernel")
        if not self.sync_after[-1]:
            raise ValueError(f"{self.name}: a unit must end on a sync")
        self.total_events = self.events.sum(axis=0)
        self.gpu_dram_bytes = float(
            self.total_events[EV["dram_read_bytes"]] + self.total_events[EV["dram_write_bytes"]]
        )
        self.cpu_dram_bytes = float(self.host_bytes.sum() + self.lead_host_bytes)

    def bind(
        self, gpu: GpuPhysics, memory: MemoryPhysics, driver: DriverPhysics, queue_depth: int, key: object = None
    ) -> KernelStream:
        """Precompute the clock-independent parts for one phone's physics (`key` names them: a stream
        bound to the same key again keeps its cached timings)."""
        if key is not None and self.bound_to == key:
            return self
        self.bound_to = key
        ev = self.events
        ports = np.column_stack(
            [
                ev[:, EV["alu_ops"]] / gpu.alu_ops_per_cycle,
                ev[:, EV["sfu_ops"]] / gpu.sfu_ops_per_cycle,
                ev[:, EV["load_store_bytes"]] / gpu.load_store_bytes_per_cycle,
                ev[:, EV["texture_fetches"]] / gpu.texture_fetches_per_cycle,
                ev[:, EV["l2_bytes"]] / gpu.l2_bytes_per_cycle,
            ]
        )
        self._core_cycles = ports.max(axis=1) / self.efficiency
        self._dram = ev[:, EV["dram_read_bytes"]] + ev[:, EV["dram_write_bytes"]]
        self._submit = np.full(len(ev), driver.submit_cycles)
        self._host = self.host_cycles + np.where(self.sync_after, driver.sync_cycles, 0.0)
        self._cpu_cycles_total = float(self._submit.sum() + self._host.sum() + self.lead_host_cycles)
        self._gpu, self._memory, self._driver, self._queue = gpu, memory, driver, queue_depth
        self._cache.clear()
        return self

    @property
    def cpu_cycles(self) -> float:
        return self._cpu_cycles_total

    def timing(self, cpu_hz: float, gpu_hz: float, mem_hz: float) -> UnitTiming:
        key = (cpu_hz, gpu_hz, mem_hz)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= TIMING_CACHE_SIZE:  # keep memory bounded in long sweeps
                del self._cache[next(iter(self._cache))]
            found = self._cache[key] = self._schedule(cpu_hz, gpu_hz, mem_hz)
        return found

    def _schedule(self, cpu_hz: float, gpu_hz: float, mem_hz: float) -> UnitTiming:
        gpu, memory, driver = self._gpu, self._memory, self._driver
        gpu_bw = memory.bytes_per_hz * mem_hz * memory.gpu_efficiency
        cpu_bw = memory.bytes_per_hz * mem_hz * memory.cpu_efficiency
        compute = self._core_cycles / gpu_hz
        dram = self._dram / gpu_bw
        gpu_s = (
            np.maximum(compute, dram) + (1.0 - gpu.memory_overlap) * np.minimum(compute, dram) + gpu.launch_latency_s
        )
        g = gpu_s.tolist()
        submit = driver.submit_cycles / cpu_hz  # every job's submission costs the same
        h = (self._host / cpu_hz + self.host_bytes / cpu_bw).tolist()
        sync = self.sync_after.tolist()
        spin_limit, wake = driver.spin_s, driver.sync_latency_s
        dispatch, front_limit = gpu.dispatch_latency_s, gpu.dispatch_active_s
        queue = self._queue
        cpu = self.lead_host_cycles / cpu_hz + self.lead_host_bytes / cpu_bw
        run = cpu + sum([submit] * len(g)) + sum(h)  # (added up job by job, as the thread pays them)
        on = [0.0]  # the starts and ends of the intervals with the thread on a core (one open now)
        gpu_free = 0.0
        spin = 0.0
        ends: list[float] = []
        fronts: list[float] = []  # per job, the GPU-active dispatch before it (seen busy, no shader work)
        # beside each time, the thread's work on the path that set it (its derivative in a stretch of every
        # CPU cost: a max takes the path of the larger time, a sum adds the thread's work)
        path = cpu
        gpu_path = 0.0
        paths: list[float] = []
        # a wait polls for up to spin_limit, then sleeps and pays the wake-up latency
        # (the loop runs once per kernel at every new clock setting: each difference is taken once)
        for i, (busy, host, synced) in enumerate(zip(g, h, sync)):
            cpu += submit
            path += submit
            if i >= queue and ends[i - queue] > cpu:  # no free slot: wait for the oldest job
                done = ends[i - queue]
                path = paths[i - queue]
                wait = done - cpu
                if wait <= spin_limit:
                    spin += wait
                    cpu = done
                else:
                    on.append(cpu + spin_limit)
                    spin += spin_limit
                    cpu = done + wake
                    on.append(cpu)
            ready = cpu + dispatch
            idle = ready - gpu_free
            if idle > 0.0:  # an idle GPU: its front end takes the job up before the first instruction
                front = idle if idle < front_limit else front_limit
                gpu_free = ready + busy
                gpu_path = path
            else:
                front = 0.0
                gpu_free += busy
            ends.append(gpu_free)
            fronts.append(front)
            paths.append(gpu_path)
            if synced and gpu_free > cpu:
                wait = gpu_free - cpu
                path = gpu_path
                if wait <= spin_limit:
                    spin += wait
                    cpu = gpu_free
                else:
                    on.append(cpu + spin_limit)
                    spin += spin_limit
                    cpu = gpu_free + wake
                    on.append(cpu)
            cpu += host
            path += host
        on.append(cpu)
        duration = max(cpu, gpu_free)
        n = len(ends)
        kernels = np.empty((n, 3))  # columns start, end, DRAM bytes (fromiter: no type discovery over a list)
        kernels[:, 1] = np.fromiter(ends, dtype=float, count=n)
        np.subtract(kernels[:, 1], gpu_s, out=kernels[:, 0])
        kernels[:, 0] -= np.fromiter(fronts, dtype=float, count=n)
        kernels[:, 2] = self._dram
        return UnitTiming(
            duration_s=duration,
            cpu_run_s=run,
            spin_s=spin,
            gpu_busy_s=float(sum(g) + sum(fronts)),
            cpu_path_s=path if cpu >= gpu_free else gpu_path,
            kernels=kernels,
            on=np.fromiter(on, dtype=float, count=len(on)).reshape(-1, 2),
        )


def _profile(duration: float, kernels, on) -> tuple[tuple[float, ...], ...]:
    """Breakpoints and cumulative GPU busy, DRAM byte and on-core shares from the GPU jobs' (start, end,
    bytes) and the on-core intervals (each sorted and disjoint), all in seconds from the unit's start.
    Each cumulative is piecewise linear with its knots at its intervals' ends, so it is interpolated.
    (Run at every new clock setting of a stream: numpy's functions without their Python-level wrappers
    where a method or ufunc does the same, e.g. np.diff and np.r_.)"""
    k = np.asarray(kernels, dtype=float).reshape(-1, 3)
    c = np.asarray(on, dtype=float).reshape(-1, 2)
    jobs = k[:, :2].ravel()  # each job's start and end, in order
    spans = c.ravel()
    points = np.concatenate(([0.0, duration], jobs, spans))
    points.sort()
    np.clip(points, 0.0, duration, out=points)
    keep = np.empty(len(points), dtype=bool)  # the first point, and each further than rounding from the last
    keep[0] = True
    np.greater(points[1:] - points[:-1], duration * 1e-12, out=keep[1:])
    points = points[keep]
    points[-1] = duration
    widths = k[:, 1] - k[:, 0]
    dram = np.where(widths > 0, k[:, 2], 0.0)  # a job of no duration moves nothing over time
    gpu = _cumulative(points, jobs, widths)
    moved = _cumulative(points, jobs, dram)
    cpu_on = _cumulative(points, spans, c[:, 1] - c[:, 0])
    return (
        tuple((points / duration).tolist()),
        tuple((gpu / (gpu[-1] or 1.0)).tolist()),
        tuple((moved / (moved[-1] or 1.0)).tolist()),
        tuple((cpu_on / (cpu_on[-1] or 1.0)).tolist()),
    )


def _cumulative(points: np.ndarray, ends: np.ndarray, amounts: np.ndarray) -> np.ndarray:
    """The integral up to each point of a function spreading amounts[i] evenly over the interval from
    ends[2i] to ends[2i + 1] (sorted and disjoint) and zero elsewhere."""
    after = amounts.cumsum()
    knots = np.empty(2 * len(amounts))  # each interval's (amounts before it, amounts up to its end)
    np.subtract(after, amounts, out=knots[0::2])
    knots[1::2] = after
    return np.interp(points, ends, knots)


def stream_from_rows(
    name: str,
    rows: list[dict],
    lead_host_cycles: float = 0.0,
    lead_host_bytes: float = 0.0,
    repeat: int = 1,
    tail: list[dict] | tuple = (),
) -> KernelStream:
    """Build a stream from per-kernel dicts: event counts by name plus efficiency, sync_after,
    host_cycles and host_bytes. `rows` run `repeat` times (a model's layers), then `tail`."""

    def columns(part: list[dict]) -> list[np.ndarray]:
        return [
            np.array([[float(r.get(e, 0.0)) for e in EVENT_FIELDS] for r in part]).reshape(-1, len(EVENT_FIELDS)),
            np.array([float(r["efficiency"]) for r in part]),
            np.array([bool(r.get("sync_after", False)) for r in part], dtype=bool),
            np.array([float(r.get("host_cycles", 0.0)) for r in part]),
            np.array([float(r.get("host_bytes", 0.0)) for r in part]),
        ]

    body = columns(rows)
    if repeat != 1:
        body = [np.tile(c, (repeat, 1)) if c.ndim == 2 else np.tile(c, repeat) for c in body]
    if tail:
        body = [np.concatenate([b, t]) for b, t in zip(body, columns(list(tail)))]
    events, efficiency, sync_after, host_cycles, host_bytes = body
    return KernelStream(
        name=name,
        events=events,
        efficiency=efficiency,
        sync_after=sync_after,
        host_cycles=host_cycles,
        host_bytes=host_bytes,
        lead_host_cycles=lead_host_cycles,
        lead_host_bytes=lead_host_bytes,
    )
