"""Power of every component, vectorised over simulation steps.

CPU cluster: the device-tree energy model (dynamic-power-coefficient uW/MHz/V^2 x MHz x V^2) times the
cores' running share (polling counts at a reduced activity), plus leakage, plus the cluster's idle floor.
GPU: energy per event class scaled by V^2 (ALU, special function, load/store, texture, L2, DRAM
interface, kernel launch, thread), plus clock-tree power C V^2 f while active (a fraction while idle),
plus leakage, plus the idle floor; so ALU-, memory- and texture-heavy work draw different power at one
utilisation and frequency. Each shader-core unit's share of the clock tree (`gpu.clock_gated_share`) is
gated while the unit has nothing to issue: a unit that issued stays ungated for `clock_gate_hold_cycles`,
so with issue density d (its issue cycles per busy cycle) its tree runs 1 - exp(-hold d) of the time. A
GPU busy but stalled on memory draws little more than its front end's clock; one whose ALUs issue every
cycle draws all of it: power depends on the mix at one utilisation, and not linearly on any counter. Memory: controller/PHY clocking C V^2 f, energy per byte moved, leakage,
idle floor. Leakage grows with voltage (a power law) and temperature (doubling every few degrees).
Static components (SoC fabric, modem, TPU, display) draw a steady floor; `unmetered` is what no rail sees.

What no GPU counter sees (profile `physics.gpu_variation`): the energy of each event depends on the data
it switches (operand and bus toggling, the sparsity of the token or image in flight), and the clock tree
and SRAMs draw power not tied one-to-one to any event. Two stationary log-normal processes with mean
exactly 1 (ActivityWander) scale the event energy and the busy part of the clock power; they add
variance, never bias: over any long run the mean GPU power is that of the nominal energies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from android.emulator.profile import Profile
from android.emulator.sim.activity import EVENT_FIELDS
from android.emulator.sim.physics import GATED_UNITS
from android.emulator.sim.scan import DecayScan


@dataclass
class PowerInputs:
    """Per-step arrays (n steps) the engine gathers."""

    dt_s: np.ndarray
    levels: dict[str, np.ndarray]  # knob -> OPP index per step
    cpu_run_s: dict[str, np.ndarray]  # policy -> core-seconds of work in the step
    cpu_spin_s: dict[str, np.ndarray]  # policy -> core-seconds of polling
    gpu_busy_s: np.ndarray
    gpu_events: np.ndarray  # (n, len(EVENT_FIELDS))
    dram_bytes: np.ndarray
    switching: np.ndarray | float = 1.0  # data-dependent switching factor of the GPU's event energy
    clock_activity: np.ndarray | float = 1.0  # clock-tree/SRAM activity factor while the GPU is busy
    # optional: the CPU inputs above as (n, clusters) matrices in the profile's cluster order (the engine has
    # them so; cpu_run_s and cpu_spin_s hold their columns)
    cpu_levels: np.ndarray | None = None
    cpu_run_m: np.ndarray | None = None
    cpu_spin_m: np.ndarray | None = None


class ActivityWander:
    """Stationary log-normal processes with mean exactly 1, one per column: exp(x - s^2 / 2) with x an
    Ornstein-Uhlenbeck process of standard deviation s (s^2 = log(1 + cv^2), so the factor's coefficient
    of variation is cv) and correlation time tau_s, sampled per simulation step (exact discretisation,
    all steps of a block and all processes at once)."""

    def __init__(self, cv: list[float], tau_s: list[float], rng: np.random.Generator):
        self.sigma = np.sqrt(np.log1p(np.square(cv)))
        self.scan = DecayScan(1.0 / np.asarray(tau_s, dtype=float))
        self.double = DecayScan(2.0 / np.asarray(tau_s, dtype=float))  # for the shocks' variance 1 - e^(-2 dt/tau)
        self.rng = rng
        self.x = self.sigma * rng.standard_normal(len(self.sigma))
        self.mean_shift = 0.5 * self.sigma * self.sigma  # s^2 / 2: what makes the mean of exp(x) 1

    def sample(self, dt_s: np.ndarray) -> np.ndarray:
        """(steps, processes) factors for steps of lengths dt_s (each process at each step's end)."""
        shocks = (
            self.sigma * np.sqrt(self.double.settling(dt_s)) * self.rng.standard_normal((len(dt_s), len(self.sigma)))
        )
        x = self.scan.run(self.x, dt_s, shocks)
        self.x = x[-1]
        return np.exp(x - self.mean_shift)


class PowerModel:
    def __init__(self, profile: Profile):
        self.profile = profile
        self.physics = ph = profile.physics
        self.freq_hz: dict[str, np.ndarray] = {}
        self.volt_v: dict[str, np.ndarray] = {}
        for c in profile.clusters:
            self._table(c.policy, c.opps)
        self._table("gpu", profile.gpu.opps)
        mem = next(d for d in profile.devfreq if d.knob == "mem")
        self._table("mem", mem.opps)
        self.event_energy_j = np.array([ph.gpu.event_energy_pj[e] for e in EVENT_FIELDS]) * 1e-12
        self.coefficient = {c.policy: c.dynamic_power_coefficient for c in profile.clusters}
        self.components = [c.policy for c in profile.clusters] + ["gpu", "mem", *ph.power.static_w, "unmetered"]
        self.static_w = np.array([*ph.power.static_w.values(), ph.power.unmetered_w], dtype=float)
        # per-OPP tables, so a block costs a few gathers: W per busy core, V^2, C V^2 f, leakage at ref temp
        self.core_w = {p: k * 1e-6 * self.freq_hz[p] / 1e6 * self.volt_v[p] ** 2 for p, k in self.coefficient.items()}
        self.leak_w = {p: self._leakage_at_ref(p, ph.cpu[p].leakage_w) for p in self.coefficient}
        # the same for all clusters at once: each policy's table at its offset (one gather per block)
        policies = list(self.coefficient)
        sizes = [len(self.core_w[p]) for p in policies]
        self.cpu_offsets = np.cumsum([0] + sizes[:-1])
        self.cpu_core_w = np.concatenate([self.core_w[p] for p in policies])
        self.cpu_leak_w = np.concatenate([self.leak_w[p] for p in policies])
        self.cpu_idle_w = np.array([ph.cpu[p].idle_w for p in policies])
        self.leak_w["gpu"] = self._leakage_at_ref("gpu", ph.gpu.leakage_w)
        self.leak_w["mem"] = self._leakage_at_ref("mem", ph.memory.leakage_w)
        self.gpu_v2 = self.volt_v["gpu"] ** 2
        self.gpu_clock_w = ph.gpu.clock_capacitance_nf * 1e-9 * self.gpu_v2 * self.freq_hz["gpu"]
        units = [u for u in GATED_UNITS if ph.gpu.clock_gated_share.get(u, 0.0) > 0]
        self.gated_events = [EVENT_FIELDS.index(u) for u in units]
        self.gated_share = np.array([ph.gpu.clock_gated_share[u] for u in units])
        self.ungated_share = 1.0 - self.gated_share.sum()  # the tree that runs whenever the GPU is busy
        # exponent of a unit's open time per event per busy cycle: hold / (events it issues per cycle)
        self.gate_rate = np.array([ph.gpu.clock_gate_hold_cycles / getattr(ph.gpu, GATED_UNITS[u]) for u in units])
        self.mem_clock_w = ph.memory.clock_capacitance_nf * 1e-9 * self.volt_v["mem"] ** 2 * self.freq_hz["mem"]

    def _table(self, knob: str, opps) -> None:
        self.freq_hz[knob] = np.array([o.freq_hz for o in opps], dtype=float)
        self.volt_v[knob] = np.array([o.volt_uv for o in opps], dtype=float) / 1e6

    def _leakage_at_ref(self, knob: str, base_w: float) -> np.ndarray:
        """Leakage per OPP at the reference temperature: it grows with voltage as a power law."""
        volt = self.volt_v[knob]
        return base_w * (volt / volt[-1]) ** self.physics.leakage.volt_exponent

    def _open_share(self, inp: PowerInputs, idx: np.ndarray) -> np.ndarray | float:
        """Share of the busy clock tree running per step: the ungated part plus each gated unit's share
        times the time it is open, 1 - exp(-hold * issue density)."""
        if not len(self.gated_share):
            return 1.0
        active_cycles = self.freq_hz["gpu"][idx] * inp.gpu_busy_s
        per_cycle = np.divide(1.0, active_cycles, out=np.zeros(len(active_cycles)), where=active_cycles > 0)
        exponent = inp.gpu_events[:, self.gated_events] * self.gate_rate * per_cycle[:, None]
        return self.ungated_share + (1.0 - np.exp(-exponent)) @ self.gated_share

    def compute(self, inp: PowerInputs, temp_c: float) -> dict[str, np.ndarray]:
        """Watts per component per step."""
        return dict(zip(self.components, self.compute_matrix(inp, temp_c).T))

    def compute_matrix(self, inp: PowerInputs, temp_c: float) -> np.ndarray:
        """Watts per step (rows) and component (columns, in `components` order), filled in place: the
        engine's path, which needs the matrix (rails, heat) and would otherwise stack the columns."""
        ph = self.physics
        lk = ph.leakage
        hot = 2.0 ** ((temp_c - lk.ref_temp_c) / lk.temp_doubling_c)  # leakage doubles every temp_doubling_c
        dt = inp.dt_s
        out = np.empty((len(dt), len(self.components)))
        # every cluster at once, one column each (the same arithmetic per element as one cluster at a time)
        policies = list(self.coefficient)
        clusters = len(policies)
        run, spin, levels = inp.cpu_run_m, inp.cpu_spin_m, inp.cpu_levels
        if run is None or spin is None or levels is None:
            run = np.column_stack([inp.cpu_run_s[p] for p in policies])
            spin = np.column_stack([inp.cpu_spin_s[p] for p in policies])
            levels = np.column_stack([inp.levels[p] for p in policies])
        idx = levels + self.cpu_offsets
        per_step = dt[:, None]
        share_on = np.minimum(1.0, (run + spin) / per_step)
        leak = self.cpu_leak_w[idx] * hot * (0.25 + 0.75 * share_on)
        out[:, :clusters] = (
            self.cpu_core_w[idx] * (run + ph.driver.spin_activity * spin) / per_step + leak + self.cpu_idle_w
        )
        g = ph.gpu
        idx = inp.levels["gpu"]
        busy = np.minimum(inp.gpu_busy_s / dt, 1.0)
        events_w = (inp.gpu_events @ self.event_energy_j) * inp.switching * self.gpu_v2[idx] / dt
        activity = busy * inp.clock_activity * self._open_share(inp, idx) + g.idle_clock_fraction * (1.0 - busy)
        powered = np.where(busy > 0, 1.0, 0.2)  # shader cores power down when a step saw no work
        out[:, clusters] = (
            events_w + (self.gpu_clock_w[idx] * activity + self.leak_w["gpu"][idx] * hot) * powered + g.idle_w
        )
        m = ph.memory
        idx = inp.levels["mem"]
        traffic_w = m.energy_per_byte_pj * 1e-12 * inp.dram_bytes / dt
        out[:, clusters + 1] = self.mem_clock_w[idx] + traffic_w + self.leak_w["mem"][idx] * hot + m.idle_w
        out[:, clusters + 2 :] = self.static_w  # the static components, then what no rail sees
        return out
