"""The simulation loop of one virtual phone: simulated time in steps, deterministic for a seed.

Each step (the profile's tick, shorter at phase boundaries) runs the foreground workload and background
threads at the current clocks, updates the scheduler's load tracking and runs every governor whose
period has elapsed; steps are recorded as rows. Every block of rows is then handled at once with numpy:
power per component, rails, battery, thermal, throttling, GPU counters, and observers (request
accounting, samplers). Per-step Python work is a few dozen float operations; everything that scales
with the number of counters, rails or samples is vectorised over the block.

Knob semantics stay in KnobState: governors only set `target_hz` and run only while the knob's
governor is theirs, so a user's min/max writes or a switch to userspace/performance override them as
on a phone. Time in state is charged whenever a knob's frequency may change and at the end of advance().
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from android.emulator.sim.activity import EVENT_FIELDS, GpuActivity
from android.emulator.sim.background import BackgroundLoad
from android.emulator.sim.governors import make_governor
from android.emulator.sim.power import ActivityWander, PowerInputs, PowerModel
from android.emulator.sim.sched import LoadTracker
from android.emulator.sim.sensors import Sensors
from android.emulator.sim.thermal import Thermal
from android.emulator.sim.workload import StepWork, Workload
from android.errors import WorkloadError

if TYPE_CHECKING:
    from android.emulator.phone import VirtualPhone

FLUSH_ROWS = 128
DEFAULT_GPU_WINDOW_S = 0.02  # utilisation window when no GPU governor runs
N_EVENTS = len(EVENT_FIELDS)


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


class Simulator:
    def __init__(self, phone: VirtualPhone):
        from android.emulator.sim.pmc.counting import CountingModel
        from android.emulator.sim.pmc.unit import PmcUnit

        self.phone = phone
        profile = phone.profile
        self.profile, self.physics = profile, profile.physics
        ph = self.physics
        seeds = np.random.SeedSequence(phone.seed).spawn(4)
        self.rng_work = np.random.default_rng(seeds[0])
        self.knobs = phone.knobs
        self.knob_names = list(self.knobs)
        self.policies = [c.policy for c in profile.clusters]
        self.policy_cpus = {c.policy: tuple(c.cpus) for c in profile.clusters}
        self.cpu_policy = {cpu: c.policy for c in profile.clusters for cpu in c.cpus}
        self.n_cpus = max(self.cpu_policy) + 1
        biggest = max(profile.clusters, key=lambda c: c.capacity)
        self.default_cpu = biggest.cpus[0]
        self.mem_bytes_per_hz = ph.memory.bytes_per_hz
        self.queue_depth = profile.gpu.queue_depth
        self.tick_s = ph.tick_s
        self.now_s = phone.state.now_s
        self.tables = {k: [int(f) for f in knob.table_hz] for k, knob in self.knobs.items()}
        self.max_hz = {k: knob.hw_max_hz for k, knob in self.knobs.items()}
        self.cur_hz = {k: knob.cur_hz for k, knob in self.knobs.items()}
        self.level = {k: knob.level for k, knob in self.knobs.items()}
        self.level_row = tuple(self.level[k] for k in self.knob_names)
        self.limits = {k: (knob.min_hz, knob.max_hz) for k, knob in self.knobs.items()}
        self.accounted_s = {k: self.now_s for k in self.knobs}
        self.governor: dict[str, tuple[str, object | None]] = {}
        self.cpu_governors: list = []
        self.walt_feeds: list = []
        self.gpu_governor = None
        self.mem_governors: list = []
        self.gov_due = {k: 0.0 for k in self.knobs}  # simulated time of each governor's next evaluation
        self.gov_last = {k: self.now_s for k in self.knobs}  # and of its last one (window length)
        self.gov_busy_s = 0.0
        self.gov_total_s = 0.0
        self.gov_bytes = {k: 0.0 for k in self.knobs}
        self.util_busy_s = self.util_total_s = 0.0
        self.mem_floor_hz = 0
        self.load = LoadTracker(self.n_cpus)
        self.foreground: Workload | None = None
        self.background: list[BackgroundLoad] = []
        self.work = StepWork()
        self.rows: list[tuple] = []
        self.row_units: list[tuple] = []  # (row, stream, units): the GPU events of each row
        self.row_levels: list[tuple] = []  # OPP index of every knob, per row
        self.row_background: list[tuple] = []  # (row, policy index, core-seconds) of background threads
        self.policy_index = {p: i for i, p in enumerate(self.policies)}
        self.block_start_s = self.now_s
        self.phase_names: list[str] = ["idle"]
        self.phase_codes: dict[str, int] = {"idle": 0}
        self.ipc = {p: self.physics.cpu[p].ipc_relative for p in self.policies}
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
        self.counting = CountingModel(ph.gpu_variation)  # the events as the GPU's counters count them
        rng_gpu = np.random.default_rng(seeds[3])
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
        workload.start(
            self.now_s,
            lambda s: s.bind(ph.gpu, ph.memory, ph.driver, self.queue_depth) if not hasattr(s, "_core_cycles") else s,
            self.rng_work,
            ph.kernel_jitter,
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
    def advance(self, dt_s: float) -> None:
        """Move simulated time by dt_s (the caller holds phone.lock)."""
        end = self.now_s + dt_s
        self._sync_knobs()
        now = self.now_s
        while now < end - 1e-12:
            now = self._step(now, min(self.tick_s, end - now))
            if len(self.rows) >= FLUSH_ROWS:
                self._flush(now)
        self.now_s = end if abs(now - end) < 1e-9 else now
        self._flush(self.now_s)
        for name in self.knob_names:
            self._account(name, self.now_s)
        self.phone.state.now_s = self.now_s

    def _step(self, now: float, dt: float) -> float:
        work = self.work
        work.reset()
        fg = self.foreground
        phase = "idle"
        fg_cpu = -1
        if fg is not None and not fg.done:
            fg_cpu = fg.cpu
            policy = self.cpu_policy[fg_cpu]
            share = 1.0
            for bg in self.background:
                if bg.cpu == fg_cpu:
                    share *= bg.share_left()
            cpu_hz = self.cur_hz[policy] * self.ipc[policy] * share
            gpu_hz, mem_hz = self.cur_hz["gpu"], self.cur_hz["mem"]
            phase = fg.phase
            used = fg.step(now, dt, cpu_hz, gpu_hz, mem_hz, work)
            if used <= 0.0 and not fg.done:  # a phase began exactly here
                phase = fg.phase
                used = fg.step(now, dt, cpu_hz, gpu_hz, mem_hz, work)
            if used > 0.0:
                dt = used
            else:
                phase = "idle"
        new_now = now + dt
        cur, max_hz = self.cur_hz, self.max_hz
        invariant: dict[int, float] = {}
        dram = work.gpu_dram_bytes + work.cpu_dram_bytes
        cpu_bytes = work.cpu_dram_bytes
        fg_policy = -1
        run, spin = work.cpu_run_s, work.spin_s
        if fg_cpu >= 0:
            policy = self.cpu_policy[fg_cpu]
            fg_policy = self.policy_index[policy]
            busy = (run + spin) / dt
            invariant[fg_cpu] = (busy if busy < 1.0 else 1.0) * cur[policy] / max_hz[policy]
        if self.background:
            row = len(self.rows)
            for bg in self.background:
                policy = self.cpu_policy[bg.cpu]
                other = (run + spin) / dt if bg.cpu == fg_cpu else 0.0
                bg_run = bg.duty * dt * (1.0 - 0.5 * (other if other < 1.0 else 1.0))
                self.row_background.append((row, self.policy_index[policy], bg_run))
                invariant[bg.cpu] = invariant.get(bg.cpu, 0.0) + bg_run / dt * cur[policy] / max_hz[policy]
                dram += bg.mem_bytes_per_s * bg_run
                cpu_bytes += bg.mem_bytes_per_s * bg_run
        self.load.update(dt, invariant)
        self._run_governors(new_now, dt, work.gpu_busy_s, dram, work.gpu_dram_bytes, cpu_bytes, fg_cpu, invariant)
        code = self.phase_codes.get(phase)
        if code is None:
            code = self.phase_codes[phase] = len(self.phase_names)
            self.phase_names.append(phase)
        if work.units:
            row = len(self.rows)
            self.row_units.extend((row, stream, units) for stream, units in work.units)
        self.rows.append((new_now, dt, code, work.gpu_busy_s, dram, fg_policy, run, spin))
        self.row_levels.append(self.level_row)
        return new_now

    # --- governors ----------------------------------------------------------------------------
    def _run_governors(
        self,
        now: float,
        dt: float,
        gpu_busy: float,
        dram: float,
        gpu_bytes: float,
        cpu_bytes: float,
        fg_cpu: int,
        invariant: dict[int, float],
    ) -> None:
        """Run every governor whose period has elapsed (each keeps its own due time)."""
        due, last = self.gov_due, self.gov_last
        self.util_busy_s += gpu_busy
        self.util_total_s += dt
        for gov, cpus in self.walt_feeds:  # WALT sums busy time into its windows every tick
            tick = max([invariant.get(c, 0.0) for c in cpus])
            if tick > 0.0 or gov.demand > 0.0 or gov.acc_util_s > 0.0:  # an idle, settled policy has nothing to add
                gov.feed(tick, dt)
        for name, gov, kernel_name, cpus in self.cpu_governors:
            if now < due[name]:
                continue
            due[name] = now + gov.period_s - 1e-12
            util = self.load.util
            load = max([util[c] for c in cpus])
            if load < 1e-4 and self.knobs[name].target_hz == self.tables[name][0]:
                continue  # an idle policy already at its floor: nothing to decide
            if kernel_name == "sched_pixel":
                target = gov.update(now, load, self.cur_hz[name], self.max_hz[name], foreground=fg_cpu in cpus)
            else:
                target = gov.update(now, load, self.cur_hz[name], self.max_hz[name])
            if target is not None:
                self._set_target(name, target, now)
        gpu_gov = self.gpu_governor
        if gpu_gov is not None:
            self.gov_busy_s += gpu_busy
            self.gov_total_s += dt
            if now >= due["gpu"]:
                due["gpu"] = now + gpu_gov.period_s - 1e-12
                table = self.tables["gpu"]
                level = gpu_gov.update(self.gov_busy_s, self.gov_total_s, self.level["gpu"], len(table))
                self._publish_gpu_load(self.gov_busy_s, self.gov_total_s)
                self.gov_busy_s = self.gov_total_s = 0.0
                self._set_target("gpu", table[level], now)
                self.mem_floor_hz = gpu_gov.mem_floor_hz(self.level["gpu"])
        elif self.util_total_s >= DEFAULT_GPU_WINDOW_S:
            self._publish_gpu_load(self.util_busy_s, self.util_total_s)
        gov_bytes = self.gov_bytes
        for name, gov, kernel_name, source in self.mem_governors:
            if source == "all":
                gov_bytes[name] += dram
            elif source == "gpu":
                gov_bytes[name] += gpu_bytes
            elif source == "cpu":
                gov_bytes[name] += cpu_bytes
            if now < due[name]:
                continue
            due[name] = now + gov.period_s - 1e-12
            window, last[name] = now - last[name], now
            if kernel_name == "mem_latency":
                self._set_target(name, gov.update(self._memlat_votes(name)), now)
                continue
            traffic, gov_bytes[name] = gov_bytes[name], 0.0
            floor = self.mem_floor_hz if name == "mem" else 0
            if traffic == 0.0 and floor == 0 and self.knobs[name].target_hz == self.tables[name][0] and gov.settled():
                continue  # no traffic, nothing voted, already at the floor
            if kernel_name == "interactive":
                target = gov.update(traffic, window, self.cur_hz[name], floor, self.max_hz[name])
            else:
                target = gov.update(traffic, window, self.cur_hz[name], floor)
            self._set_target(name, target, now)

    def _publish_gpu_load(self, busy: float, total: float) -> None:
        self.phone.state.gpu_load.busy_s = busy
        self.phone.state.gpu_load.total_s = total
        self.util_busy_s = self.util_total_s = 0.0

    def _memlat_votes(self, name: str) -> list[tuple[float, float, int]]:
        """memlat devices are named after the first CPU they watch (cpu3-llcc-ddr-lat -> policy of CPU 3)."""
        digits = "".join(ch for ch in name.split("cpu", 1)[-1][:2] if ch.isdigit())
        policy = self.cpu_policy.get(int(digits)) if digits else None
        if policy is None:
            return []
        work, fg = self.work, self.foreground
        if fg is None or fg.done or self.cpu_policy[fg.cpu] != policy or work.cpu_run_s <= 0:
            return []
        accesses = max(work.cpu_dram_bytes / 64.0, 1.0)
        bw = self.mem_bytes_per_hz * self.cur_hz["mem"] * self.physics.memory.cpu_efficiency
        stall_pct = 100.0 * min(work.cpu_dram_bytes / bw / work.cpu_run_s, 1.0)
        return [(work.cpu_cycles / accesses, stall_pct, self.cur_hz[policy])]

    def _set_target(self, name: str, target_hz: int, now: float) -> None:
        """Resolve a governor's request to a table entry (as cpufreq_driver_resolve_freq and devfreq do)
        and hand it to the knob, which applies the limits."""
        table = self.tables[name]
        i = bisect_left(table, target_hz)
        resolved = table[i] if i < len(table) else table[-1]
        knob = self.knobs[name]
        old = knob.target_hz
        if old == resolved:
            return
        low, high = self.limits[name]
        if (old >= high and resolved >= high) or (old <= low and resolved <= low):
            knob.target_hz = resolved  # clamped by the limits either way: the clock does not move
            return
        self._account(name, now)
        knob.target_hz = resolved
        self._refresh(name)

    def _refresh(self, name: str) -> None:
        knob = self.knobs[name]
        cur = knob.cur_hz
        self.cur_hz[name] = cur
        self.level[name] = self.tables[name].index(cur)
        self.level_row = tuple(self.level[k] for k in self.knob_names)
        self.limits[name] = (knob.min_hz, knob.max_hz)

    def _account(self, name: str, now: float) -> None:
        dt = now - self.accounted_s[name]
        if dt > 0:
            self.knobs[name].account(dt)
            self.accounted_s[name] = now

    def _sync_knobs(self) -> None:
        """Pick up what users changed through sysfs since the last advance (limits, governors)."""
        ph = self.physics
        changed = False
        for name, knob in self.knobs.items():
            current = self.governor.get(name)
            if current is None or current[0] != knob.governor:
                self.governor[name] = (knob.governor, make_governor(knob.governor, ph.governors, self.mem_bytes_per_hz))
                self.gov_due[name] = self.now_s
                self.gov_last[name] = self.now_s
                changed = True
                if name == "gpu":
                    self.mem_floor_hz = 0
            self._refresh(name)
        if changed:
            self.cpu_governors = [
                (n, g, k, self.policy_cpus[n])
                for n, (k, g) in self.governor.items()
                if g is not None and g.kind == "cpu"
            ]
            self.walt_feeds = [(g, self.policy_cpus[n]) for n, (k, g) in self.governor.items() if k == "walt"]
            self.gpu_governor = self.governor["gpu"][1]
            self.mem_governors = [
                (n, g, k, self._traffic_source(n, k))
                for n, (k, g) in self.governor.items()
                if g is not None and g.kind in ("mem", "memlat")
            ]

    @staticmethod
    def _traffic_source(name: str, kernel_name: str) -> str:
        """Which traffic a bandwidth governor watches: the DRAM bus all of it, GPU bus monitors the GPU's,
        CPU interconnect monitors the CPU's."""
        if kernel_name == "mem_latency":
            return "none"
        if name == "mem":
            return "all"
        return "gpu" if kernel_name in ("gpubw_mon", "bw_vbif") or "gpu" in name else "cpu"

    # --- blocks -------------------------------------------------------------------------------
    def _flush(self, now: float) -> None:
        if not self.rows:
            return
        arr = np.array(self.rows, dtype=float)
        level_arr = np.array(self.row_levels, dtype=int)
        self.rows.clear()
        self.row_levels.clear()
        n = len(arr)
        t_end, dt, codes, busy, dram = arr[:, 0], arr[:, 1], arr[:, 2].astype(int), arr[:, 3], arr[:, 4]
        fg_policy = arr[:, 5].astype(int)
        run_m = np.zeros((n, len(self.policies)))
        spin_m = np.zeros((n, len(self.policies)))
        has_fg = fg_policy >= 0
        run_m[has_fg, fg_policy[has_fg]] = arr[has_fg, 6]
        spin_m[has_fg, fg_policy[has_fg]] = arr[has_fg, 7]
        if self.row_background:
            bg = np.array(self.row_background)
            np.add.at(run_m, (bg[:, 0].astype(int), bg[:, 1].astype(int)), bg[:, 2])
            self.row_background.clear()
        both = np.zeros((n, 2 * N_EVENTS))  # the GPU's events, then the same work as its counters count it
        if self.row_units:
            streams = {id(s): s for _, s, _ in self.row_units}
            index = {sid: i for i, sid in enumerate(streams)}
            per_stream = np.array(
                [np.concatenate([s.total_events, self.counting.counted(s)]) for s in streams.values()]
            )
            rows = np.array([r for r, _, _ in self.row_units])  # nondecreasing: rows are appended in order
            which = np.array([index[id(s)] for _, s, _ in self.row_units])
            units = np.array([u for _, _, u in self.row_units])
            starts = np.flatnonzero(np.diff(rows, prepend=-1))
            both[rows[starts]] = np.add.reduceat(units[:, None] * per_stream[which], starts, axis=0)
            self.row_units.clear()
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
        )
        power = self.power.compute(inputs, self.thermal.die_c)
        component_w = np.column_stack([power[c] for c in self.power.components])
        total = component_w.sum(axis=1)
        rail_w = component_w @ self.rail_shares
        state = self.phone.state
        self.sensors.ingest(self.block_start_s, t_end, dt, rail_w, total, state)
        for name, cap in self.thermal.advance(t_end, dt, component_w, power):  # caps decided by polls in the block
            self._account(name, now)
            self.knobs[name].thermal_cap_hz = cap
            self._refresh(name)
        state.zone_temp_c.update(self.thermal.zone_c)
        gpu_table = self.knobs["gpu"].table_hz
        gpu_freq = gpu_table[levels["gpu"]].astype(float)
        self.pmc.accumulate(GpuActivity(dt, gpu_freq, np.minimum(busy, dt), *counted.T))
        if self.observers:
            freq = {k: self.knobs[k].table_hz[levels[k]].astype(float) for k in self.knob_names}
            block = Block(
                t_end_s=t_end,
                dt_s=dt,
                phase=np.array(self.phase_names, dtype=object)[codes],
                freq_hz=freq,
                power_w=power,
                rail_w=rail_w,
                total_w=total,
                gpu_busy_s=busy,
                gpu_events=events,
                cpu_run_s=run,
            )
            for observer in list(self.observers):
                observer(block)
        self.block_start_s = now

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
