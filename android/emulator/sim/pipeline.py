"""A CPU thread feeding a GPU through a shallow queue: how long one unit of work takes at given clocks.

A unit (one transformer layer, one LLM head step, one CNN inference) is a list of GPU kernels in
submission order. For each kernel the CPU pays a submission cost; it may run ahead of the GPU by at
most `queue_depth` outstanding jobs (Mali holds 2), after which it blocks. Kernels marked `sync_after`
make the CPU wait for the result (polling briefly, then sleeping and paying a wake-up latency) before
it does the host work that needs it. A unit always ends on a sync, so consecutive units do not overlap
and a unit's timing depends only on the clocks.

A kernel's GPU time is its core cycles (the busiest of its issue ports - ALU, special functions,
load/store, texture, L2 - over the share of peak it reaches) at the GPU clock, plus its DRAM bytes at
the memory clock's bandwidth, plus the job launch latency. The CPU's costs are big-core cycles at the
CPU clock plus host memory traffic at the CPU's share of DRAM bandwidth.

Timings are cached per clock triple; the per-kernel recurrence is a short Python loop run once per
distinct setting, never per simulated step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from android.emulator.sim.activity import EVENT_FIELDS
from android.emulator.sim.physics import DriverPhysics, GpuPhysics, MemoryPhysics

EV = {name: i for i, name in enumerate(EVENT_FIELDS)}


@dataclass(frozen=True)
class UnitTiming:
    duration_s: float
    cpu_run_s: float  # the feeding thread on a core (real work, big-core cycles at its clock)
    spin_s: float  # polling while waiting
    gpu_busy_s: float


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

    def bind(self, gpu: GpuPhysics, memory: MemoryPhysics, driver: DriverPhysics, queue_depth: int) -> KernelStream:
        """Precompute the clock-independent parts for one phone."""
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
            found = self._cache[key] = self._schedule(cpu_hz, gpu_hz, mem_hz)
        return found

    def _schedule(self, cpu_hz: float, gpu_hz: float, mem_hz: float) -> UnitTiming:
        gpu, memory, driver = self._gpu, self._memory, self._driver
        gpu_bw = memory.bytes_per_hz * mem_hz * memory.gpu_efficiency
        cpu_bw = memory.bytes_per_hz * mem_hz * memory.cpu_efficiency
        g = (self._core_cycles / gpu_hz + self._dram / gpu_bw + gpu.launch_latency_s).tolist()
        s = (self._submit / cpu_hz).tolist()
        h = (self._host / cpu_hz + self.host_bytes / cpu_bw).tolist()
        sync = self.sync_after.tolist()
        spin_limit, wake = driver.spin_s, driver.sync_latency_s
        queue = self._queue
        cpu = self.lead_host_cycles / cpu_hz + self.lead_host_bytes / cpu_bw
        run = cpu + sum(s) + sum(h)
        gpu_free = 0.0
        spin = 0.0
        ends: list[float] = []
        for i in range(len(g)):
            cpu += s[i]
            if i >= queue and ends[i - queue] > cpu:  # no free slot: wait for the oldest job
                wait = ends[i - queue] - cpu
                spin += min(wait, spin_limit)
                cpu = ends[i - queue] + (wake if wait > spin_limit else 0.0)
            gpu_free = (cpu if cpu > gpu_free else gpu_free) + g[i]
            ends.append(gpu_free)
            if sync[i] and gpu_free > cpu:
                wait = gpu_free - cpu
                spin += min(wait, spin_limit)
                cpu = gpu_free + (wake if wait > spin_limit else 0.0)
            cpu += h[i]
        return UnitTiming(duration_s=max(cpu, gpu_free), cpu_run_s=run, spin_s=spin, gpu_busy_s=float(sum(g)))


def stream_from_rows(
    name: str, rows: list[dict], lead_host_cycles: float = 0.0, lead_host_bytes: float = 0.0
) -> KernelStream:
    """Build a stream from per-kernel dicts: event counts by name plus efficiency, sync_after,
    host_cycles and host_bytes."""
    events = np.array([[float(r.get(e, 0.0)) for e in EVENT_FIELDS] for r in rows])
    return KernelStream(
        name=name,
        events=events,
        efficiency=np.array([float(r["efficiency"]) for r in rows]),
        sync_after=np.array([bool(r.get("sync_after", False)) for r in rows]),
        host_cycles=np.array([float(r.get("host_cycles", 0.0)) for r in rows]),
        host_bytes=np.array([float(r.get("host_bytes", 0.0)) for r in rows]),
        lead_host_cycles=lead_host_cycles,
        lead_host_bytes=lead_host_bytes,
    )
