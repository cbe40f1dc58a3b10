"""The simulation loop of one virtual phone: simulated time in steps, deterministic for a seed.

Each step (the profile's tick, shorter at phase boundaries) runs the foreground workload, the user's
background threads and the phone's own background activity at the current clocks, updates the
scheduler's load tracking and runs every governor whose period has elapsed; steps are recorded as rows.
Every block of rows is then handled at once with numpy: power per component, rails, battery, thermal,
throttling, GPU counters, and observers (request accounting, samplers). Per-step Python work is a few
dozen float operations; everything that scales with the number of counters, rails or samples is
vectorised over the block.

Governors are driven through one interface (android.emulator.sim.governors): each knob's governor gets
an observation record of its kind - what the kernel gives that class of governor (scheduler utilisation,
GPU busy time, bus-monitor bytes, CPU stall counts) - never the workload's own numbers, and returns the
frequency it asks for. Driver PM QoS votes (the GPU DVFS table's memory floor) reach the bus governors
in their observation, to be combined as the kernel does. Each governor's first evaluation falls at a
random phase of its period, so seeds give different trajectories, as phones do.

Evaluation is event-driven where it cannot change the outcome: a cpufreq governor that publishes a
`util_band` is skipped while the utilisation its request comes from stays inside it (its request would
resolve to the frequency it already committed, or be held back by its rate limit), a policy resting at
its floor is not woken by a run that leaves it in that band, and governors of pinned knobs (their limits
leave one frequency) are not evaluated. While the foreground workload's own knobs are all pinned, steps
span several ticks (`_span`, `_span_step`): its units run exactly at the fixed clocks and the unpinned
periodic governors are evaluated at the ticks their periods fall on. A span never runs past the tick in
which the per-tick path would end its block (a throttling zone's passive poll, `Thermal.due_s`), so
thermal caps act from the same step either way.

Knob semantics stay in KnobState: governors only set `target_hz` and run only while the knob's
governor is theirs, so a user's min/max writes or a switch to userspace/performance override them as
on a phone. The engine mirrors each knob's effective limits (refreshed when users write, at every
advance(), and when thermal caps move) to resolve governor requests without touching the knob's numpy
tables on the hot path; time in state and transitions are charged from the recorded levels, per block.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from android.emulator.sim.activity import EVENT_FIELDS
from android.emulator.sim.background import BackgroundLoad, SystemActivity
from android.emulator.sim.governors import (
    BusObservation,
    CpuObservation,
    GpuObservation,
    LatencyObservation,
    make_governor,
)
from android.emulator.sim.power import ActivityWander, PowerInputs, PowerModel
from android.emulator.sim.sched import LoadTracker
from android.emulator.sim.sensors import Sensors
from android.emulator.sim.thermal import Thermal
from android.emulator.sim.workload import StepWork, Workload
from android.errors import WorkloadError

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

FLUSH_ROWS = 128
FLUSH_S = 1.0  # and at least this often in simulated time (power, heat, sensors and throttling move per block)
ROW_FIELDS = 9  # end, length, phase code, GPU busy, DRAM bytes, inference policy, its run, spin, work.units so far
MERGE_STEPS = 5  # consecutive ticks with the same clocks, phase and activity kind share one row (<= 20 ms)
DEFAULT_GPU_WINDOW_S = 0.02  # utilisation window shown in sysfs when no GPU governor runs
N_EVENTS = len(EVENT_FIELDS)
COUNTING: dict = {}  # GPU variation -> its counting model, shared by phones (its cache of counted streams)
COUNTING_MODELS = 8  # GPU variations remembered
STREAM_EVENTS = 256  # streams whose unit events a phone keeps at hand


@dataclass
class Block:
    """A block of simulated steps, as observers see it (arrays have one entry per step)."""

    t_end_s: np.ndarray
    dt_s: np.ndarray
    phase: np.ndarray  # phase name per step (object array)
    freq_hz: dict[str, np.ndarray]  # knob -> frequency
    power_w: dict[str, np.ndarray]  # component -> watts
    rail_w: np.ndarray  # (n, rails) ODPM rail watts, order of Simulator.rail_names
    total_w: np.ndarray  # whole phone (what the battery and an external monitor see)
    gpu_busy_s: np.ndarray
    gpu_events: np.ndarray  # (n, len(EVENT_FIELDS)): the true activity behind the GPU counters
    cpu_run_s: dict[str, np.ndarray]  # policy -> core-seconds of work
    cpu_spin_s: dict[str, np.ndarray] | None = None  # policy -> core-seconds polling for the GPU (busy too)


class _Slot:
    """One knob's running governor with its observation record and the counters it accumulates."""

    __slots__ = (
        "name",
        "gov",
        "obs",
        "due",
        "last",
        "cpus",
        "source",
        "acc_a",
        "acc_b",
        "cores",
        "floor",
        "bound",
        "period",
        "carry",
        "evaluate",
        "asked",
    )

    def __init__(self, name: str, gov, obs, due: float, last: float):
        self.name, self.gov, self.obs, self.due, self.last = name, gov, obs, due, last
        self.floor = 0  # the lowest table frequency
        self.bound = 0.0  # CPU slots: an upper bound of the policy's utilisation
        self.period = gov.period_s
        self.carry = getattr(gov, "carry", None)  # a tick the governor can take without deciding (WALT)
        self.evaluate: Callable[[_Slot, float], int | None] | None = None  # periodic: Simulator._evaluate_<kind>
        self.cpus: tuple[int, ...] = ()
        self.source = "all"
        self.acc_a = self.acc_b = 0.0  # counters at the last evaluation: GPU busy/time (GPU), bytes (bus)
        self.cores: dict[int, list[float]] = {}  # memlat: cpu -> [instructions, accesses, stall_s, run_s]
        self.asked: int | None = None  # periodic slots: the last request handed to the knob


class Simulator:
    def __init__(self, phone: VirtualPhone):
        from android.emulator.sim.pmc.counting import CountingModel
        from android.emulator.sim.pmc.unit import PmcUnit

        self.phone = phone
        profile = phone.profile
        self.profile, self.physics = profile, profile.physics
        ph = self.physics
        seeds = np.random.SeedSequence(phone.seed).spawn(6)
        self.rng_work = np.random.default_rng(seeds[0])
        self.rng_phase = np.random.default_rng(seeds[3])
        self.knobs = phone.knobs
        self.knob_names = list(self.knobs)
        self.knob_pos = {k: i for i, k in enumerate(self.knob_names)}
        self.policies = [c.policy for c in profile.clusters]
        self.policy_cpus = {c.policy: tuple(c.cpus) for c in profile.clusters}
        self.cpu_policy = {cpu: c.policy for c in profile.clusters for cpu in c.cpus}
        self.n_cpus = max(self.cpu_policy) + 1
        biggest = max(profile.clusters, key=lambda c: c.capacity)
        self.default_cpu = biggest.cpus[0]
        self.mem_bytes_per_hz = ph.memory.bytes_per_hz
        self.cpu_efficiency = ph.memory.cpu_efficiency
        self.queue_depth = profile.gpu.queue_depth
        # what a kernel stream's timings depend on: phones with equal physics share cached timings
        self.fingerprint = hash(repr((ph.gpu, ph.memory, ph.driver, self.queue_depth)))
        self.tick_s = ph.tick_s
        self.uclamp_min = ph.sched.uclamp_min / 1024.0
        self.now_s = phone.state.now_s
        self.gpu_load = phone.state.gpu_load  # what sysfs shows of the GPU's load window
        self.tables = {k: tuple(int(f) for f in knob.table_hz) for k, knob in self.knobs.items()}
        self.index = {k: {f: i for i, f in enumerate(t)} for k, t in self.tables.items()}
        self.max_hz = {k: knob.hw_max_hz for k, knob in self.knobs.items()}
        self.cur_hz = {k: knob.cur_hz for k, knob in self.knobs.items()}
        # the same as floats for the step loop: arithmetic with them gives the same results as with the ints,
        # without converting a multi-digit int every step (governors and sysfs keep the ints)
        self.cur_float = {k: float(hz) for k, hz in self.cur_hz.items()}
        self.level = {k: knob.level for k, knob in self.knobs.items()}
        self.level_row = tuple(self.level[k] for k in self.knob_names)
        sizes = [len(self.tables[name]) for name in self.knob_names]
        offsets = np.cumsum([0] + sizes[:-1])
        self.state_layout = (  # each knob's table at its offset in one count of time in state
            sizes,
            offsets,
            [(int(o), int(o) + n) for o, n in zip(offsets, sizes)],
            [self.knobs[name] for name in self.knob_names],
        )
        # every knob's time in state as a view into one array, so a block charges them all with one add
        self.time_in_state = np.concatenate([self.knobs[name].time_in_state_s for name in self.knob_names]).astype(
            float
        )
        for name, (lo, hi) in zip(self.knob_names, self.state_layout[2]):
            self.knobs[name].time_in_state_s = self.time_in_state[lo:hi]
        self.limits: dict[str, tuple[int, int, int, str]] = {}  # knob -> (min, max, ceiling, mode)
        self.running_hz: dict[str, dict[int, int]] = {}  # knob -> table entry asked -> _effective's, under `limits`
        self.knob_inputs: dict[str, tuple] = {}  # what users can write to each knob, as last seen
        self.fixed: set[str] = set()  # knobs whose limits leave one frequency: their governors are not evaluated
        self.last_levels = np.array(self.level_row)  # the level of every knob at the end of the last block
        self.governor: dict[str, tuple[str, object | None]] = {}
        self.cpu_slots: list[_Slot] = []
        self.gpu_slot: _Slot | None = None
        self.bus_slots: list[_Slot] = []
        self.latency_slots: list[_Slot] = []
        self.qos_min_hz: dict[str, int] = {}  # PM QoS minimum per knob, voted by drivers
        self.qos_by_level: dict[int, dict[str, int]] = {}  # the GPU governor's votes per level (read-only)
        self.util_busy_s = self.util_total_s = 0.0  # counters at the last sysfs window with no GPU governor
        self.cum_s = self.cum_gpu_busy_s = self.cum_gpu_bytes = self.cum_cpu_bytes = 0.0  # since boot
        self.next_due = 0.0  # earliest due time of the periodic (non-CPU) governors, or of the GPU load window
        self.next_gov_due = 0.0  # earliest due time of the periodic governors of unpinned knobs
        self.latency_watch: frozenset[int] = frozenset()  # CPUs some memlat device watches
        self.slot_of_cpu: dict[int, _Slot] = {}  # CPU -> its policy's cpufreq governor slot
        self.active_cpu_slots: list[_Slot] = []  # cpufreq slots evaluated every tick (the others rest idle)
        self.periodic_slots: list[_Slot] = []  # GPU, bus and latency governor slots
        self.running_periodic: list[_Slot] = []  # those of unpinned knobs
        self.gpu_idle_window = True  # no GPU governor samples the load
        self.load = LoadTracker(self.n_cpus, ph.sched.pelt_half_life_s)
        self.foreground: Workload | None = None
        self.background: list[BackgroundLoad] = []
        self.activity = SystemActivity(ph.background, profile.clusters, np.random.default_rng(seeds[4]), self.now_s)
        self.work = StepWork()
        self.rows: list[tuple] = []
        self.row_levels: list[tuple] = []  # OPP index of every knob, per row
        self.row_background: list[tuple] = []  # (row, policy index, core-seconds) of background threads
        self.policy_index = {p: i for i, p in enumerate(self.policies)}
        self.policy_columns = np.array([self.knob_pos[p] for p in self.policies])  # their levels' columns in a block
        self.policy_codes = np.arange(len(self.policies), dtype=float)  # a row's inference policy, as rows hold it
        self.block_start_s = self.now_s
        self.phase_names: list[str] = ["idle"]
        self.phase_codes: dict[str, int] = {"idle": 0}
        self.ipc = {p: self.physics.cpu[p].ipc_relative for p in self.policies}
        self.cpu_static = {  # CPU -> its policy, the policy's IPC, top frequency and index
            cpu: (p, self.ipc[p], self.max_hz[p], self.policy_index[p]) for cpu, p in self.cpu_policy.items()
        }
        self.observers: list[Callable[[Block], None]] = []
        self.power = PowerModel(profile)
        self.sensors = Sensors(profile, np.random.default_rng(seeds[1]))
        self.rail_names = self.sensors.rail_names
        self.rail_shares = self.sensors.share_matrix(self.power.components)
        idle = self._idle_power()
        idle_w = np.array([idle[c] for c in self.power.components])
        self.thermal = Thermal(profile, self.power.components, self.knobs, self.now_s, idle_w)
        phone.state.zone_temp_c.update(self.thermal.zone_c)
        self.pmc = PmcUnit.for_family(profile.gpu.pmc_family, seed=int(seeds[2].generate_state(1)[0]))
        counting = COUNTING.get(ph.gpu_variation)  # the events as the GPU's counters count them
        if counting is None:
            if len(COUNTING) >= COUNTING_MODELS:  # a sweep over physics: keep the latest few
                del COUNTING[next(iter(COUNTING))]
            counting = COUNTING[ph.gpu_variation] = CountingModel(ph.gpu_variation)
        self.counting = counting
        self.unit_events: dict[int, tuple] = {}  # id(stream) -> (stream, its events and counted events)
        self.float_tables = {k: knob.table_hz.astype(float) for k, knob in self.knobs.items()}
        rng_gpu = np.random.default_rng(seeds[5])
        var = ph.gpu_variation
        # data-dependent switching of the GPU's event energy, clock-tree/SRAM activity while busy
        self.gpu_wander = ActivityWander(
            [var.switching_cv, var.clock_cv], [var.switching_tau_s, var.clock_tau_s], rng_gpu
        )
        self._sync_knobs()

    # --- workloads ----------------------------------------------------------------------------
    def start(self, workload: Workload) -> Workload:
        """Run `workload` in the foreground from now on; progress it with phone.advance()."""
        if self.foreground is not None and not self.foreground.done:
            raise WorkloadError(f"{self.foreground.name} is still running; one foreground workload at a time")
        cpu = self.default_cpu if workload.cpu is None else workload.cpu
        if cpu not in self.cpu_policy:
            raise WorkloadError(f"no CPU {cpu} on {self.profile.name} (CPUs 0-{self.n_cpus - 1})")
        workload.cpu = cpu
        ph = self.physics
        workload.prepare(ph, self.fingerprint)
        workload.start(
            self.now_s,
            lambda s: (
                s
                if s.bound_to == self.fingerprint
                else s.bind(ph.gpu, ph.memory, ph.driver, self.queue_depth, self.fingerprint)
            ),
            self.rng_work,
            ph.kernel_jitter,
            ph.request_jitter,
        )
        self.foreground = workload
        return workload

    def stop(self) -> None:
        """Abandon the foreground workload (the app is killed); the phone idles from now on."""
        if self.foreground is not None and not self.foreground.done:
            self.foreground.finished_s = self.now_s
            self.foreground.phase_changes.append((self.now_s, "idle"))
        self.foreground = None

    def add_background(self, load: BackgroundLoad) -> None:
        if load.cpu not in self.cpu_policy:
            raise WorkloadError(f"no CPU {load.cpu} on {self.profile.name} (CPUs 0-{self.n_cpus - 1})")
        self.background.append(load)

    def remove_background(self, load: BackgroundLoad) -> None:
        self.background.remove(load)

    # --- time ---------------------------------------------------------------------------------
    def advance(self, dt_s: float, stop: Callable[[], bool] | None = None, settle: bool = True) -> None:
        """Move simulated time by dt_s (the caller holds phone.lock), or less: up to the end of the first
        step after which `stop()` is true (steps end exactly at phase changes and where a workload ends).
        `settle`: flush the open block, so power, heat, counters and sensors are up to now (see `settle`)."""
        end = self.now_s + dt_s
        self._sync_knobs()
        now = self.now_s
        stopped = False
        while now < end - 1e-12 and not stopped:
            now, stopped = self._block(now, end, stop)
        self.now_s = end if abs(now - end) < 1e-9 else now
        if settle:
            self.settle()
        self.phone.state.now_s = self.now_s

    def settle(self) -> None:
        """Flush the open block: power, heat, counters and sensors up to now. Blocks also end on their own
        (FLUSH_ROWS, FLUSH_S, a thermal poll), so a caller that steps often and reads rarely (the served
        phone's real-time driver, every 10 ms) settles only before a reading instead of after every step."""
        self._flush(self.now_s)

    def _block(self, now: float, end: float, stop: Callable[[], bool] | None) -> tuple[float, bool]:
        """Steps from now until the block is full (then flushed: FLUSH_ROWS, FLUSH_S, a throttling zone's
        passive poll), `end`, or the first step after which `stop()` is true; returns where it stopped and
        whether stop() did. (A loop per block rather than per advance(): CPython 3.11 specialises a
        function's bytecode only after several calls, so a loop entered once would run unspecialised.)

        A step is a span of ticks on the fast path (_span_step) or one tick, run here with the state it
        touches in locals (it runs hundreds of times per simulated second): the workloads at the current
        clocks, load tracking, the cpufreq governors, the counters of the periodic ones and those due, and
        one row (merged into the previous one while clocks, phase and kind of activity stay the same). The row
        being merged into is kept in locals (r_*) and appended to `rows` when it closes: at the next row, a
        span, or the end of the block."""
        tick, fixed = self.tick_s, self.fixed
        work, cur, cur_float, act, load = self.work, self.cur_hz, self.cur_float, self.activity, self.load
        units, rows, row_levels = work.units, self.rows, self.row_levels
        phase_codes = self.phase_codes
        background, active_slots = self.background, self.active_cpu_slots
        fg = self.foreground
        if fg is not None:  # the inference thread's CPU, its policy and that policy's governor slot
            fg_cpu_of = fg.cpu
            policy, ipc, policy_max_hz, fg_policy_of = self.cpu_static[fg_cpu_of]
            policy_max_hz = float(policy_max_hz)
            fg_slot = self.slot_of_cpu.get(fg_cpu_of)
            fg_others = tuple(c for c in fg_slot.cpus if c != fg_cpu_of) if fg_slot is not None else ()
            fg_watched = fg_cpu_of in self.latency_watch  # a memlat device counts the thread's accesses
        merge_left = 0  # more ticks the open row may absorb (a block starts without one; a span closes it)
        opened = False  # the open row, in locals: end, length, phase code, GPU busy, bytes, policy, run, spin, units
        r_end = r_dt = r_busy = r_bytes = r_run = r_spin = 0.0
        r_code = r_policy = r_units = 0
        r_levels: tuple = ()  # its knobs' levels (the level_row object, which stays the same while they do)
        stopped = flushed = full = False  # full: the rows, with the open one, reach FLUSH_ROWS (they only grow)
        coded, code = None, 0  # the phase whose code `code` is
        flush_rows, block_start, poll_s = FLUSH_ROWS, self.block_start_s, self.thermal.due_s  # (a flush ends the block)
        may_span = "gpu" in fixed and "mem" in fixed  # the fast path may apply (_span; pins move only between blocks)
        while now < end - 1e-12:
            left = end - now
            spanned = None
            if left > tick:
                dt = tick
                if may_span:
                    dt = self._span(now, end)
                    if dt > tick:
                        closed = opened
                        if opened:  # the span's row follows the open one
                            rows.append((r_end, r_dt, r_code, r_busy, r_bytes, r_policy, r_run, r_spin, r_units))
                            opened = False
                        spanned = self._span_step(now, dt)
                        if spanned is None and closed:  # no span after all: the row stays open
                            r_end, r_dt, r_code, r_busy, r_bytes, r_policy, r_run, r_spin, r_units = rows.pop()
                            opened = True
                        full = len(rows) + opened >= flush_rows
                    dt = tick
            else:
                dt = left
            if spanned is not None:
                now = spanned
                merge_left = 0  # a span is a row of its own
            else:
                t_end = now + dt
                bursts = act.overlap(now, t_end) if act.running or act.next_s < t_end else ()
                if fg is not None and fg.finished_s is None:
                    fg_cpu, fg_policy = fg_cpu_of, fg_policy_of
                    cpu_hz = cur_float[policy] * ipc
                    if background:
                        cpu_hz *= self._co_runner_share(fg_cpu)
                    stretch = self._burst_stretch(fg_cpu, bursts, dt) if bursts else 1.0
                    phase = fg.phase
                    used, run, spin, busy_gpu, gpu_bytes, fg_bytes, cycles = fg.step(
                        now, dt, cpu_hz, cur["gpu"], cur["mem"], work, stretch
                    )
                    if used <= 0.0 and fg.finished_s is None:  # a phase began exactly here
                        phase = fg.phase
                        used, run, spin, busy_gpu, gpu_bytes, fg_bytes, cycles = fg.step(
                            now, dt, cpu_hz, cur["gpu"], cur["mem"], work, stretch
                        )
                    if used > 0.0:
                        dt = used
                    else:
                        phase = "idle"
                else:
                    run = spin = busy_gpu = gpu_bytes = fg_bytes = cycles = 0.0
                    phase = "idle"
                    fg_cpu = fg_policy = -1
                new_now = now + dt
                cpu_bytes = fg_bytes  # the thread's, then with the other threads' (_contend)
                active = active_slots
                fg_share = 0.0  # the inference thread's frequency-invariant share of its CPU
                if fg_cpu >= 0:
                    busy = (run + spin) / dt
                    fg_share = (busy if busy < 1.0 else 1.0) * cur_float[policy] / policy_max_hz
                others = None  # (policy index, core-seconds) of the other threads that ran
                invariant = None
                if background or bursts:  # load tracking of every CPU that ran, every scheduler tick
                    invariant, others, cpu_bytes = self._contend(bursts, fg_cpu, fg_share, run + spin, cpu_bytes, dt)
                    self._track(invariant, new_now, dt, fg_cpu)
                elif fg_cpu >= 0:
                    value = load.add(fg_cpu, new_now, dt, fg_share)
                    if fg_slot is not None:
                        if value > fg_slot.bound:
                            fg_slot.bound = value
                        if fg_slot not in active:
                            active.append(fg_slot)
                        if len(active) == 1 and self._steady(
                            fg_slot, fg_others, value, new_now, fg, run > 0.0, fg_share, dt
                        ):
                            active = None  # the inference thread's governor alone, and its tick is done
                # the cpufreq governors, every scheduler tick while they may decide something
                if active:
                    self._run_cpu_governors(new_now, dt, fg, fg_cpu, fg_share, invariant, run > 0.0)
                # counters the periodic governors read, and those whose period elapsed
                self.cum_s += dt
                self.cum_gpu_busy_s += busy_gpu
                self.cum_gpu_bytes += gpu_bytes
                self.cum_cpu_bytes += cpu_bytes
                if run > 0.0 and fg_watched:  # (only the inference thread runs `run`)
                    self._count_latency(cycles, fg_bytes, run, fg_cpu)
                if new_now >= self.next_due:
                    self._run_periodic(new_now)
                # the row
                if phase is not coded:  # (the phase is the same str object while it lasts)
                    code = phase_codes.get(phase)
                    if code is None:
                        code = self._phase_code(phase)
                    coded = phase
                level_row = self.level_row
                if (
                    merge_left
                    and level_row is r_levels
                    and r_code == code
                    and r_policy == fg_policy
                    and (busy_gpu > 0.0 if r_busy > 0.0 else busy_gpu <= 0.0)  # the GPU busy in both or neither
                ):
                    # same clocks, phase and kind of activity as the previous tick: one row (power is linear in
                    # the summed quantities; a row stays within MERGE_STEPS ticks)
                    r_dt += dt
                    r_busy += busy_gpu
                    r_bytes = r_bytes + gpu_bytes + cpu_bytes
                    r_run += run
                    r_spin += spin
                    merge_left -= 1
                else:
                    if opened:
                        rows.append((r_end, r_dt, r_code, r_busy, r_bytes, r_policy, r_run, r_spin, r_units))
                    r_dt, r_code, r_busy, r_bytes = dt, code, busy_gpu, gpu_bytes + cpu_bytes
                    r_policy, r_run, r_spin, r_levels = fg_policy, run, spin, level_row
                    row_levels.append(level_row)
                    opened = True
                    merge_left = MERGE_STEPS - 1
                    full = len(rows) + 1 >= flush_rows
                r_end, r_units = new_now, len(units)
                if others:
                    row = len(rows)  # the open row's
                    self.row_background.extend([(row, p, core_s) for p, core_s in others])
                now = new_now
            if full or now - block_start >= FLUSH_S or now >= poll_s:
                flushed = True
                break
            if stop is not None and stop():
                stopped = True
                break
        if opened:
            rows.append((r_end, r_dt, r_code, r_busy, r_bytes, r_policy, r_run, r_spin, r_units))
        if flushed:
            self.now_s = now  # a governor a lifted cap releases starts its window here (_resume)
            self._flush(now)
            return now, stop is not None and stop()
        return now, stopped

    def _span(self, now: float, end: float) -> float:
        """How long the next step may be: one tick, or a span of several on the fast path (_span_step):
        while the knobs the foreground workload's speed depends on (its CPU policy, the GPU, the memory
        bus) are pinned and no user thread or system burst shares its CPU, its units run at fixed clocks
        whatever the other governors do, so up to MERGE_STEPS ticks (the longest row) go in one step."""
        tick = self.tick_s
        left = end - now
        if left <= tick:
            return left
        fixed = self.fixed
        fg = self.foreground
        if "gpu" not in fixed or "mem" not in fixed or fg is None or fg.finished_s is not None or self.background:
            return tick
        cpu = fg.cpu
        if self.cpu_policy[cpu] not in fixed:
            return tick
        act = self.activity
        for burst in act.running:
            if burst[0] == cpu:
                return tick
        ticks = min(MERGE_STEPS, math.floor((act.next_arrival_on(cpu, now + MERGE_STEPS * tick) - now) / tick))
        # no further than the tick in which the block ends on the per-tick path (a throttling zone's passive
        # poll, thermal.due_s, or FLUSH_S after the block's start), so caps act from the same step
        block_end = min(self.thermal.due_s, self.block_start_s + FLUSH_S)
        ticks = min(ticks, math.ceil((block_end - now) / tick - 1e-9))
        if ticks <= 1:
            return tick
        span = ticks * tick
        return span if span < left else left

    def _span_step(self, now: float, span: float) -> float | None:
        """The fast path: the foreground workload's units over the whole span in one go at its pinned clocks
        (noise still drawn per unit); the rest of the phone over the same span as one step - system bursts on
        other CPUs with their load, the unpinned cpufreq governors once at its end, and every periodic
        governor due inside it at the tick it falls in, from counters interpolated there (its decision
        takes effect at the span's end, at most MERGE_STEPS ticks later). Governors of pinned knobs are not
        evaluated. One row."""
        work = self.work
        n_units, n_streams = len(work.units), len(work.streams)
        fg = self.foreground
        cur = self.cur_hz
        fg_cpu = fg.cpu
        policy = self.cpu_policy[fg_cpu]
        cpu_hz, gpu_hz, mem_hz = cur[policy] * self.ipc[policy], cur["gpu"], cur["mem"]
        phase = fg.phase
        used, run, spin, busy_gpu, gpu_bytes, fg_bytes, cycles = fg.step(now, span, cpu_hz, gpu_hz, mem_hz, work)
        if used <= 0.0 and fg.finished_s is None:  # a phase began exactly here
            phase = fg.phase
            used, run, spin, busy_gpu, gpu_bytes, fg_bytes, cycles = fg.step(now, span, cpu_hz, gpu_hz, mem_hz, work)
        if used <= 0.0:
            work.truncate(n_units, n_streams)
            return None  # nothing left to run: the caller runs an ordinary tick
        dt = used
        new_now = now + dt
        cpu_bytes = fg_bytes
        fg_policy = self.policy_index[policy]
        busy = (run + spin) / dt
        fg_share = (busy if busy < 1.0 else 1.0) * cur[policy] / self.max_hz[policy]
        invariant = {fg_cpu: fg_share}
        self.load.add(fg_cpu, new_now, dt, fg_share)  # its governor is pinned: kept for when it is released
        act = self.activity
        bursts = act.overlap(now, new_now) if act.running or act.next_s < new_now else ()
        if bursts:
            row = len(self.rows)
            for cpu, busy_s in bursts:  # none on the workload's CPU (_span)
                bg_policy = self.cpu_policy[cpu]
                self.row_background.append((row, self.policy_index[bg_policy], busy_s))
                share = busy_s / dt * cur[bg_policy] / self.max_hz[bg_policy]
                invariant[cpu] = invariant.get(cpu, 0.0) + share
                cpu_bytes += act.mem_bytes_per_s * busy_s
            self._track(invariant, new_now, dt, fg_cpu, skip=fg_cpu)
        if self.active_cpu_slots:
            self._run_cpu_governors(new_now, dt, fg, fg_cpu, fg_share, invariant, run > 0.0)
        if self.latency_watch and fg_cpu in self.latency_watch and run > 0.0:
            self._count_latency(cycles, fg_bytes, run, fg_cpu)
        start = (self.cum_s, self.cum_gpu_busy_s, self.cum_gpu_bytes, self.cum_cpu_bytes)
        delta = (dt, busy_gpu, gpu_bytes, cpu_bytes)
        tick = self.tick_s
        while self.next_gov_due <= new_now:
            at = now + math.ceil((self.next_gov_due - now) / tick - 1e-9) * tick  # the end of the tick it falls in
            at = at if at > self.next_gov_due else self.next_gov_due  # a due time a hair past `now` still runs
            at = at if at < new_now else new_now
            f = (at - now) / dt
            self.cum_s, self.cum_gpu_busy_s, self.cum_gpu_bytes, self.cum_cpu_bytes = (
                s0 + f * d for s0, d in zip(start, delta)
            )
            self._run_periodic(at)
        self.cum_s, self.cum_gpu_busy_s, self.cum_gpu_bytes, self.cum_cpu_bytes = (
            s0 + d for s0, d in zip(start, delta)
        )
        if new_now >= self.next_due:
            self._run_periodic(new_now)  # the GPU load window
        code = self._phase_code(phase)
        units = len(work.units)
        self.rows.append((new_now, dt, code, busy_gpu, gpu_bytes + cpu_bytes, fg_policy, run, spin, units))
        self.row_levels.append(self.level_row)
        return new_now

    def _co_runner_share(self, fg_cpu: int) -> float:
        """The share of its core the inference thread gets beside user threads on it (as CFS shares a core
        between equal-weight tasks): its work runs at that share of the clock (a steady share, so the
        units' timings at it are scheduled once and cached)."""
        share = 1.0
        for bg in self.background:
            if bg.cpu == fg_cpu:
                share *= bg.share_left()
        return share

    def _burst_stretch(self, fg_cpu: int, bursts, dt: float) -> float:
        """How many times longer the inference thread's CPU costs take in a tick it shares with system
        bursts on its core (CFS halves the core while both run). A burst's share differs every tick, so
        rather than a schedule of the unit at each (hundreds of kernels, for one tick) the unit stretches
        to first order (UnitTiming.stretched; measured against the exact schedule: within 1% at a share
        of 0.9 or more, within 11% of the duration at a share of 0.5 on sm8550's decode at its CPU floor)."""
        share = 1.0
        for cpu, busy in bursts:
            if cpu == fg_cpu:
                share *= 1.0 - 0.5 * busy / dt
        return 1.0 / share

    def _contend(self, bursts, fg_cpu: int, fg_share: float, fg_busy_s: float, cpu_bytes: float, dt: float):
        """The other threads that ran in a tick (user threads, system bursts): each CPU's frequency-invariant
        share, (policy index, core-seconds) of each, and the CPU's DRAM bytes with theirs added."""
        cur, max_hz, act = self.cur_hz, self.max_hz, self.activity
        invariant: dict[int, float] = {fg_cpu: fg_share} if fg_cpu >= 0 else {}
        others = []
        other = fg_busy_s / dt if fg_cpu >= 0 else 0.0
        other = other if other < 1.0 else 1.0
        loads = [(bg.cpu, bg.duty * dt, bg.mem_bytes_per_s) for bg in self.background] if self.background else []
        for cpu, busy in bursts:
            loads.append((cpu, busy, act.mem_bytes_per_s))
        for cpu, want_s, bytes_per_s in loads:
            policy = self.cpu_policy[cpu]
            bg_run = want_s * (1.0 - 0.5 * other) if cpu == fg_cpu else want_s
            others.append((self.policy_index[policy], bg_run))
            invariant[cpu] = invariant.get(cpu, 0.0) + bg_run / dt * cur[policy] / max_hz[policy]
            cpu_bytes += bytes_per_s * bg_run
        return invariant, others, cpu_bytes

    def _phase_code(self, phase: str) -> int:
        """The code rows record a phase by (phase_names[code])."""
        code = self.phase_codes.get(phase)
        if code is None:
            code = self.phase_codes[phase] = len(self.phase_names)
            self.phase_names.append(phase)
        return code

    def _track(self, invariant: dict[int, float], now: float, dt: float, fg_cpu: int, skip: int = -1) -> None:
        """PELT for the CPUs that ran (but `skip`); their policies' governors wake to decide, except a
        governor at the table's floor that another thread's short run leaves inside its band: its update
        would ask for the floor again, and it would rest once the load decayed (event-driven)."""
        load, slot_of, active = self.load, self.slot_of_cpu, self.active_cpu_slots
        for cpu, share in invariant.items():
            if cpu == skip:
                continue
            value = load.add(cpu, now, dt, share)
            slot = slot_of.get(cpu)
            if slot is None:
                continue
            if value > slot.bound:
                slot.bound = value
            if slot in active or (cpu != fg_cpu and self._quiet_at_floor(slot, now)):
                continue
            active.append(slot)

    def _quiet_at_floor(self, slot: _Slot, now: float) -> bool:
        """A policy no inference thread runs on, whose governor committed the lowest frequency and whose
        busiest CPU's utilisation stays in that frequency's band (it can only decay from here)."""
        band = slot.gov.util_band
        if band is None or band[0] >= 0.0:  # lo < 0: next_hz is the table's floor
            return False
        peak = self.load.peak(slot.cpus, now)
        return (peak if peak < 1.0 else 1.0) <= band[1]

    def _steady(
        self, slot: _Slot, others: tuple[int, ...], value: float, now: float, fg, ran: bool, busy: float, dt: float
    ) -> bool:
        """The tick of _run_cpu_governors while the inference thread's policy is the only active one and no
        other thread ran, without its loop: the policy is due and unpinned and either its governor's request
        cannot change (util_band) or the governor takes the tick without deciding (carry), or it decides
        here from the peak found for that check (_decide). Then the tick is done (due and bound moved on, as
        the full path moves them) and True is returned; otherwise (not due, pinned, no shortcut, or it may
        rest at its floor) nothing is touched and the full path runs. `value`: the inference CPU's
        utilisation now, `others`: the policy's other CPUs (the peak over all of them is their peak and
        `value`), `busy`: the thread's frequency-invariant share of the step."""
        band = slot.gov.util_band
        if now < slot.due or slot.name in self.fixed:
            return False
        if band is None:
            carry = slot.carry
            if carry is None or not slot.acc_a:
                return False
            if not ran and busy == 0.0 and self._below_floor(slot):
                return False  # it may rest at its floor: the full path decides
            steady = carry(busy * dt, now - slot.last, ran, self.uclamp_min, self.cur_hz[slot.name])
            if steady:
                slot.last = now
            peak = self.load.peak(others, now, value)
        else:
            peak = self.load.peak(others, now, value)
            lo, hi, lo_from = band
            if now < lo_from:
                lo = -1.0
            u = peak if peak < 1.0 else 1.0
            clamp_min = self.uclamp_min
            if (not ran or lo < (u if u > clamp_min else clamp_min) <= hi) and ((ran and fg.on_core) or lo < u <= hi):
                slot.due = now + slot.period - 1e-12  # the request cannot change (the common tick)
                slot.bound = peak
                return True
            if not ran and busy == 0.0 and self._below_floor(slot):
                return False  # it may rest at its floor: the full path decides
            steady = False
        slot.due = now + slot.period - 1e-12
        slot.bound = peak
        if not steady:
            self._decide(slot, now, peak, busy * dt, ran, not ran or not fg.on_core)
        return True

    @staticmethod
    def _below_floor(slot: _Slot) -> bool:
        """An idle policy's utilisation bound, with any headroom a governor adds (<= 2x), asks for less than its
        lowest frequency: it may rest at its floor (checked only for a policy that did not run this tick)."""
        return slot.bound * slot.obs.max_hz * 2.0 < slot.floor

    def _run_cpu_governors(self, now, dt, fg, fg_cpu, fg_share, invariant, ran_any) -> None:
        """The active cpufreq slots whose tick is due: each gets its policy's busiest utilisation, unless its
        governor's request cannot change (util_band); a slot idle at its floor rests until its CPUs run."""
        cur = self.cur_hz
        load = self.load
        clamp_min = self.uclamp_min
        resting = None
        fixed = self.fixed
        for slot in self.active_cpu_slots:
            if now < slot.due:
                continue
            if slot.name in fixed:  # pinned: nothing it asks for can take effect
                if resting is None:
                    resting = []
                resting.append(slot)
                continue
            slot.due = now + slot.period - 1e-12
            cpus = slot.cpus
            ran = ran_any and fg_cpu in cpus
            busy = 0.0
            if invariant is None:
                if fg_cpu in cpus:
                    busy = fg_share
            else:
                for c, b in invariant.items():
                    if b > busy and c in cpus:
                        busy = b
            name = slot.name
            if not ran and busy == 0.0 and self._below_floor(slot) and cur[name] == slot.floor:
                if resting is None:
                    resting = []
                resting.append(slot)  # idle at its floor, no headroom (<= 2) could lift it
                continue
            peak = load.peak(cpus, now)
            slot.bound = peak  # utilisation only decays from here until a CPU of the policy runs
            gov = slot.gov
            band = gov.util_band
            if band is not None:  # the governor's request cannot change while its utilisation stays inside
                sleeping = not ran or not fg.on_core
                lo, hi, lo_from = band
                if now < lo_from:
                    lo = -1.0  # lower requests are held back by the rate limit
                u = peak if peak < 1.0 else 1.0
                if (not ran or lo < (u if u > clamp_min else clamp_min) <= hi) and (not sleeping or lo < u <= hi):
                    continue
            else:
                carry = slot.carry  # after its first update here, slot.acc_a is the request it holds
                if carry is not None and slot.acc_a and carry(busy * dt, now - slot.last, ran, clamp_min, cur[name]):
                    slot.last = now
                    continue
                sleeping = not ran or not fg.on_core
            self._decide(slot, now, peak, busy * dt, ran, sleeping)
        if resting:  # they rest until a CPU of theirs runs again
            for slot in resting:
                self.active_cpu_slots.remove(slot)

    def _decide(self, slot: _Slot, now: float, peak: float, busy_s: float, ran: bool, sleeping: bool) -> None:
        """A cpufreq governor's update from its policy's peak utilisation; a new request goes to the knob."""
        obs = slot.obs
        obs.now_s, obs.dt_s, obs.util, obs.busy_s = now, now - slot.last, peak, busy_s
        slot.last = now
        obs.ran = ran
        obs.uclamp_min = self.uclamp_min if ran else 0.0
        obs.sleeping = sleeping
        obs.cur_hz = self.cur_hz[slot.name]
        target = slot.gov.update(obs)
        if target is not None and target != slot.acc_a:
            slot.acc_a = target  # the last request handed to the knob
            self._set_target(slot.name, target, now)

    # --- governors ----------------------------------------------------------------------------
    def _run_periodic(self, now: float) -> None:
        """GPU, bus and latency governors whose period has elapsed, from the counters since their last run
        (in that order: the GPU's new level places its PM QoS votes before the bus governors decide). A
        request goes to the knob only when it changed: the same request resolves the same (only the
        governor sets the target; `asked` is cleared when a user writes one)."""
        due = math.inf
        for slot in self.running_periodic:
            at = slot.due
            if now >= at:
                at = slot.due = now + slot.period - 1e-12
                target = slot.evaluate(slot, now)
                if target is not None and target != slot.asked:
                    slot.asked = target
                    self._set_target(slot.name, target, now)
            if at < due:
                due = at
        if self.gpu_idle_window and self.cum_s - self.util_total_s >= DEFAULT_GPU_WINDOW_S:
            # no GPU governor samples the load (none, or its GPU is pinned): sysfs shows it in fixed windows
            self._publish_gpu_load(self.cum_gpu_busy_s - self.util_busy_s, self.cum_s - self.util_total_s)
            self.util_busy_s, self.util_total_s = self.cum_gpu_busy_s, self.cum_s
        self.next_gov_due = due
        window = now + DEFAULT_GPU_WINDOW_S  # the GPU load shown in sysfs, when no governor samples it
        self.next_due = due if due < window else window

    def _evaluate_gpu(self, slot: _Slot, now: float) -> int | None:
        """The GPU governor's request from the busy time since its last evaluation."""
        busy, total = self.cum_gpu_busy_s - slot.acc_a, self.cum_s - slot.acc_b
        slot.acc_a, slot.acc_b = self.cum_gpu_busy_s, self.cum_s
        obs = slot.obs
        obs.now_s, obs.busy_s, obs.total_s, obs.level = now, busy, total, self.level["gpu"]
        load = self.gpu_load
        load.busy_s, load.total_s = busy, total  # _publish_gpu_load, on the path of every GPU evaluation
        return slot.gov.update(obs)

    def _evaluate_bus(self, slot: _Slot, now: float) -> int | None:
        """A bus governor's request from the bytes its monitor counted since its last evaluation."""
        source = slot.source  # the counter as _counted reads it, spelt out on this path (every bus poll)
        if source == "all":
            counted = self.cum_gpu_bytes + self.cum_cpu_bytes
        else:
            counted = self.cum_gpu_bytes if source == "gpu" else self.cum_cpu_bytes
        traffic, slot.acc_a = counted - slot.acc_a, counted
        name = slot.name
        qos = self.qos_min_hz.get(name, 0)
        window, slot.last = now - slot.last, now
        cur = self.cur_hz[name]
        if traffic <= 0.0 and not qos and cur == slot.floor:
            return None  # no traffic, no vote, already at the floor
        obs = slot.obs
        obs.now_s, obs.window_s, obs.bytes = now, window, traffic
        obs.cur_hz, obs.qos_min_hz = cur, qos
        return slot.gov.update(obs)

    def _evaluate_latency(self, slot: _Slot, now: float) -> int | None:
        """A memlat governor's request from its watched CPUs' counts since its last evaluation."""
        window, slot.last = now - slot.last, now
        cores = slot.cores
        if cores:
            ran = [(a[0], a[1], a[2] / a[3], self.cur_hz[self.cpu_policy[c]]) for c, a in cores.items() if a[3] > 0]
            cores.clear()
        else:
            ran = []
        if not ran and self.cur_hz[slot.name] == slot.floor:
            return None  # no watched CPU ran, already at the floor
        obs = slot.obs
        obs.now_s, obs.window_s, obs.cores = now, window, ran
        return slot.gov.update(obs)

    def _periodic_running(self) -> None:
        """The periodic slots evaluated: those of unpinned knobs (a pinned GPU's load window is then shown as
        with no governor)."""
        self.running_periodic = [slot for slot in self.periodic_slots if slot.name not in self.fixed]
        self.gpu_idle_window = self.gpu_slot is None or "gpu" in self.fixed

    def _count_latency(self, cycles: float, dram: float, run: float, fg_cpu: int) -> None:
        """memlat's PMU counts for the inference thread's CPU (its cycles, DRAM bytes and run time in a step):
        instructions, memory accesses, stall time."""
        bw = self.mem_bytes_per_hz * self.cur_hz["mem"] * self.cpu_efficiency
        stall = dram / bw
        stall = stall if stall < run else run  # min()
        for slot in self.latency_slots:
            if fg_cpu in slot.cpus:
                acc = slot.cores.get(fg_cpu)
                if acc is None:
                    acc = slot.cores[fg_cpu] = [0.0, 0.0, 0.0, 0.0]
                acc[0] += cycles
                acc[1] += dram / 64.0
                acc[2] += stall
                acc[3] += run

    def _publish_gpu_load(self, busy: float, total: float) -> None:
        self.gpu_load.busy_s = busy
        self.gpu_load.total_s = total

    def _set_target(self, name: str, target_hz: int, now: float) -> None:
        """Resolve a governor's request to a table entry (as cpufreq_driver_resolve_freq and devfreq do),
        hand it to the knob and apply the knob's limits to find the running frequency."""
        table = self.tables[name]
        i = bisect_left(table, target_hz)
        resolved = table[i] if i < len(table) else table[-1]
        knob = self.knobs[name]
        if knob.target_hz == resolved:
            return
        knob.target_hz = resolved
        known = self.running_hz[name]  # (governors ask for a few entries again and again)
        cur = known.get(resolved)
        if cur is None:
            cur = known[resolved] = self._effective(name, resolved)
        if cur != self.cur_hz[name]:
            self._moved(name, cur)

    def _effective(self, name: str, target: int) -> int:
        """KnobState.cur_hz from the mirrored limits: the target kept within [min, max] on a table entry."""
        low, high, ceiling, mode = self.limits[name]
        if mode == "performance":
            target = high
        elif mode == "powersave":
            target = low
        if target >= high:
            return ceiling
        table = self.tables[name]
        i = bisect_left(table, target if target > low else low)
        found = table[i] if i < len(table) else table[-1]
        return found if found < ceiling else ceiling

    def _moved(self, name: str, cur: int) -> None:
        self.cur_hz[name] = cur
        self.cur_float[name] = float(cur)
        self.level[name] = self.index[name][cur]
        row = list(self.level_row)
        row[self.knob_pos[name]] = self.level[name]
        self.level_row = tuple(row)
        if name == "gpu":
            self._vote_qos()

    def _refresh(self, name: str) -> None:
        """Mirror a knob's limits after users or the thermal code changed them."""
        knob = self.knobs[name]
        high = knob.max_hz
        self.limits[name] = (knob.min_hz, high, knob.floor_hz(high), knob.governor)
        self.running_hz[name] = {}
        cur = knob.cur_hz
        if cur != self.cur_hz[name] or name not in self.level:
            self._moved(name, cur)
        if self._effective(name, 0) == self._effective(name, self.tables[name][-1]):
            self.fixed.add(name)  # pinned (min = max) or capped: no request can move it
            self._periodic_running()
        elif name in self.fixed:
            self.fixed.discard(name)
            self._periodic_running()
            self._resume(name)

    def _resume(self, name: str) -> None:
        """A knob's governor decides again after a pin: its next evaluation keeps its sampling phase and its
        window starts now (the counters it accumulated while pinned are stale)."""
        for slot in self.periodic_slots:
            if slot.name == name:
                period = slot.period
                if slot.due < self.now_s:
                    slot.due += period * math.ceil((self.now_s - slot.due) / period)
                slot.last = self.now_s
                slot.acc_a, slot.acc_b = self._counted(slot), self.cum_s
                slot.cores.clear()
                self.next_due = min(self.next_due, slot.due)
                self.next_gov_due = min(self.next_gov_due, slot.due)

    def _counted(self, slot: _Slot) -> float:
        """The counter a periodic slot differences: GPU busy time, or the bytes its bus monitor counts."""
        if slot.gov.kind == "gpu":
            return self.cum_gpu_busy_s
        source = slot.source
        if source == "all":
            return self.cum_gpu_bytes + self.cum_cpu_bytes
        return self.cum_gpu_bytes if source == "gpu" else self.cum_cpu_bytes

    def _vote_qos(self) -> None:
        """The GPU driver's PM QoS requests for its current level (whatever set the level)."""
        level = self.level["gpu"]
        found = self.qos_by_level.get(level)
        if found is None:
            gov = self.governor.get("gpu", ("", None))[1]
            votes = gov.qos_votes(level) if gov is not None and hasattr(gov, "qos_votes") else {}
            found = self.qos_by_level[level] = {k: v for k, v in votes.items() if k in self.knobs and v}
        self.qos_min_hz = found

    def _charge_time_in_state(self, dt: np.ndarray, level_arr: np.ndarray) -> None:
        """Time in state and transitions of every knob over a block of steps (one row of levels each)."""
        moved = np.add.reduce(level_arr[1:] != level_arr[:-1], axis=0) + (level_arr[0] != self.last_levels)
        changes = moved.tolist()
        sizes, offsets, _, knobs = self.state_layout
        spent = np.bincount(
            (level_arr + offsets).ravel(), weights=dt.repeat(len(sizes)), minlength=len(self.time_in_state)
        )  # every knob's levels in one count, each knob's table at its offset
        self.time_in_state += spent  # (each knob's time_in_state_s is its slice)
        for knob, moved in zip(knobs, changes):
            knob.transitions += moved
        self.last_levels = level_arr[-1]

    def _sync_knobs(self) -> None:
        """Pick up what users changed through sysfs since the last advance (limits, governors, targets)."""
        changed = False
        seen = self.knob_inputs
        for name, knob in self.knobs.items():
            inputs = (knob.governor, knob.min_request_hz, knob.max_request_hz, knob.thermal_cap_hz, knob.target_hz)
            if seen.get(name) == inputs:
                continue  # nothing written since the last look
            seen[name] = inputs
            for slot in self.periodic_slots:
                if slot.name == name:
                    slot.asked = None  # a user may have written the target: the next request goes through
            current = self.governor.get(name)
            if current is None or current[0] != knob.governor:
                self.governor[name] = (knob.governor, make_governor(knob.governor, self.physics.governors))
                changed = True
            self._refresh(name)
        if changed:
            self.qos_by_level.clear()
            self._build_slots()
            self._vote_qos()
        self.active_cpu_slots = list(self.cpu_slots)  # limits may have moved: every policy decides again

    def _build_slots(self) -> None:
        """One slot per running governor, its observation record filled with what does not change."""
        self.cpu_slots, self.gpu_slot, self.bus_slots, self.latency_slots = [], None, [], []
        for name, (_, gov) in self.governor.items():
            if gov is None:
                continue
            first = self.now_s + float(self.rng_phase.uniform(0.0, gov.period_s))  # sampling phase
            table = self.tables[name]
            floor = table[0]
            if gov.kind == "cpu":
                slot = _Slot(name, gov, CpuObservation(max_hz=self.max_hz[name], table_hz=table), first, self.now_s)
                slot.cpus = self.policy_cpus[name]
                slot.floor = floor
                self.cpu_slots.append(slot)
            elif gov.kind == "gpu":
                self.gpu_slot = _Slot(name, gov, GpuObservation(table_hz=table), first, self.now_s)
                self.gpu_slot.acc_a, self.gpu_slot.acc_b = self.cum_gpu_busy_s, self.cum_s
                self.gpu_slot.evaluate = self._evaluate_gpu
            elif gov.kind == "bus":
                obs = BusObservation(peak_bytes_per_hz=self.mem_bytes_per_hz, table_hz=table)
                slot = _Slot(name, gov, obs, first, self.now_s)
                slot.source = self._traffic_source(name)
                slot.acc_a = {"all": self.cum_gpu_bytes + self.cum_cpu_bytes, "gpu": self.cum_gpu_bytes}.get(
                    slot.source, self.cum_cpu_bytes
                )
                slot.evaluate = self._evaluate_bus
                self.bus_slots.append(slot)
            else:
                slot = _Slot(name, gov, LatencyObservation(table_hz=table), first, self.now_s)
                slot.cpus = self._watched_cpus(name)
                slot.evaluate = self._evaluate_latency
                self.latency_slots.append(slot)
        self.latency_watch = frozenset(c for x in self.latency_slots for c in x.cpus)
        self.slot_of_cpu = {c: x for x in self.cpu_slots for c in x.cpus}
        self.active_cpu_slots = list(self.cpu_slots)
        self.periodic_slots = ([self.gpu_slot] if self.gpu_slot else []) + self.bus_slots + self.latency_slots
        for slot in self.periodic_slots:
            slot.floor = self.tables[slot.name][0]
        self._periodic_running()
        self.next_due = self.next_gov_due = self.now_s

    def _watched_cpus(self, name: str) -> tuple[int, ...]:
        """memlat devices are named after the first CPU of the cluster they watch (cpu3-llcc-ddr-lat)."""
        digits = "".join(ch for ch in name.split("cpu", 1)[-1][:2] if ch.isdigit())
        policy = self.cpu_policy.get(int(digits)) if digits else None
        return self.policy_cpus[policy] if policy else ()

    @staticmethod
    def _traffic_source(name: str) -> str:
        """Which traffic a bus device's monitor counts: the DRAM bus (the `mem` knob) all of it, GPU bus
        monitors the GPU's, CPU interconnect monitors the CPU's."""
        if name == "mem":
            return "all"
        return "gpu" if "gpu" in name or "kgsl" in name else "cpu"

    # --- blocks -------------------------------------------------------------------------------
    def _flush(self, now: float) -> None:
        if not self.rows:
            return
        # (np.fromiter over the flattened rows: np.array would discover the shape of a list of tuples first)
        n = len(self.rows)
        arr = np.fromiter(chain.from_iterable(self.rows), dtype=float, count=n * ROW_FIELDS).reshape(n, ROW_FIELDS)
        level_arr = np.fromiter(chain.from_iterable(self.row_levels), dtype=int, count=n * len(self.knob_names))
        level_arr = level_arr.reshape(n, len(self.knob_names))
        self.rows.clear()
        self.row_levels.clear()
        t_end, dt, busy, dram = arr[:, 0], arr[:, 1], arr[:, 3], arr[:, 4]
        self._charge_time_in_state(dt, level_arr)
        # the inference thread's run and spin in its policy's column (x 1.0), zero elsewhere and in idle rows
        # (policy -1; x 0.0, the values are finite and >= 0)
        on_policy = arr[:, 5:6] == self.policy_codes
        run_m = arr[:, 6:7] * on_policy
        spin_m = arr[:, 7:8] * on_policy
        if self.row_background:  # (row, policy index, core-seconds) triples, flattened as the rows are
            background = self.row_background
            bg = np.fromiter(chain.from_iterable(background), dtype=float, count=3 * len(background)).reshape(-1, 3)
            np.add.at(run_m, (bg[:, 0].astype(int), bg[:, 1].astype(int)), bg[:, 2])
            self.row_background.clear()
        units_end = arr[:, 8].astype(np.intp)  # how many units were recorded by the end of each row
        if units_end[-1]:  # the GPU's events, then the same work as its counters count it
            work = self.work
            entries = len(work.units)
            which = np.fromiter(work.which, dtype=np.intp, count=entries)  # streams in order of first appearance
            per_stream = np.array([self._stream_events(s) for s in work.streams])
            # each row's units of each stream summed, then times the stream's events (a few streams, so a
            # small product instead of one event vector per unit; equal up to float rounding)
            k = len(per_stream)
            per_row = units_end.copy()
            per_row[1:] -= units_end[:-1]
            cells = np.arange(n).repeat(per_row) * k + which
            weights = np.fromiter(work.units, dtype=float, count=entries)
            both = np.bincount(cells, weights=weights, minlength=n * k).reshape(n, k) @ per_stream
            work.clear()
        else:
            both = np.zeros((n, 2 * N_EVENTS))
        events, counted = both[:, :N_EVENTS], both[:, N_EVENTS:]
        run = {p: run_m[:, i] for i, p in enumerate(self.policies)}
        spin = {p: spin_m[:, i] for i, p in enumerate(self.policies)}
        levels = {k: level_arr[:, i] for i, k in enumerate(self.knob_names)}
        wander = self.gpu_wander.sample(dt)
        inputs = PowerInputs(
            dt_s=dt,
            levels=levels,
            cpu_run_s=run,
            cpu_spin_s=spin,
            gpu_busy_s=busy,
            gpu_events=events,
            dram_bytes=dram,
            switching=wander[:, 0],
            clock_activity=wander[:, 1],
            cpu_levels=level_arr[:, self.policy_columns],
            cpu_run_m=run_m,
            cpu_spin_m=spin_m,
        )
        component_w = self.power.compute_matrix(inputs, self.thermal.die_c)  # (steps, components), C order
        power = dict(zip(self.power.components, component_w.T))
        total = np.add.reduce(component_w, axis=1)  # (sum() without its Python-level wrapper)
        rail_w = component_w @ self.rail_shares
        state = self.phone.state
        self.sensors.ingest(self.block_start_s, t_end, dt, rail_w, total, state)
        for name, cap in self.thermal.advance(t_end, dt, component_w, power):  # caps decided by polls in the block
            self.knobs[name].thermal_cap_hz = cap
            self._refresh(name)
        state.zone_temp_c.update(self.thermal.zone_c)
        activity = np.empty((3 + N_EVENTS, n))  # the GPU's activity as the counters take it (GpuActivity's rows)
        activity[0] = dt
        np.take(self.float_tables["gpu"], levels["gpu"], out=activity[1])
        np.minimum(busy, dt, out=activity[2])
        activity[3:] = counted.T
        self.pmc.accumulate_rows(activity)
        if self.observers:
            tables = self.float_tables
            freq = {k: tables[k][levels[k]] for k in self.knob_names}
            block = Block(
                t_end_s=t_end,
                dt_s=dt,
                phase=np.array(self.phase_names, dtype=object)[arr[:, 2].astype(int)],
                freq_hz=freq,
                power_w=power,
                rail_w=rail_w,
                total_w=total,
                gpu_busy_s=busy,
                gpu_events=events,
                cpu_run_s=run,
                cpu_spin_s=spin,
            )
            for observer in list(self.observers):
                observer(block)
        self.block_start_s = now

    def _stream_events(self, stream) -> np.ndarray:
        """A unit's true GPU events followed by the same work as the counters count it (kept per stream, with
        the stream itself so its id stays its own)."""
        found = self.unit_events.get(id(stream))
        if found is None or found[0] is not stream:
            if len(self.unit_events) >= STREAM_EVENTS:
                self.unit_events.clear()
            found = self.unit_events[id(stream)] = (
                stream,
                np.concatenate([stream.total_events, self.counting.counted(stream)]),
            )
        return found[1]

    def _idle_power(self) -> dict[str, float]:
        """Power of an idle phone at its lowest OPPs (where its governors settle), for the initial heat."""
        one = np.ones(1)
        inputs = PowerInputs(
            dt_s=one,
            levels={k: np.zeros(1, dtype=int) for k in self.knobs},
            cpu_run_s={p: np.zeros(1) for p in self.policies},
            cpu_spin_s={p: np.zeros(1) for p in self.policies},
            gpu_busy_s=np.zeros(1),
            gpu_events=np.zeros((1, N_EVENTS)),
            dram_bytes=np.zeros(1),
        )
        return {k: float(v[0]) for k, v in self.power.compute(inputs, self.physics.thermal.ambient_c).items()}
