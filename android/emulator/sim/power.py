"""Power of every component, vectorised over simulation steps.

CPU cluster: the device-tree energy model (dynamic-power-coefficient uW/MHz/V^2 x MHz x V^2) times the
cores' running share (polling counts at a reduced activity), plus leakage, plus the cluster's idle floor.
GPU: energy per event class scaled by V^2 (ALU, special function, load/store, texture, L2, DRAM
interface, kernel launch, thread), plus clock-tree power C V^2 f while active (a fraction while idle),
plus leakage, plus the idle floor; so ALU-, memory- and texture-heavy work draw different power at one
utilisation and frequency. Memory: controller/PHY clocking C V^2 f, energy per byte moved, leakage,
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
from android.emulator.sim.scan import decay_scan


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


class ActivityWander:
    """Stationary log-normal processes with mean exactly 1, one per column: exp(x - s^2 / 2) with x an
    Ornstein-Uhlenbeck process of standard deviation s (s^2 = log(1 + cv^2), so the factor's coefficient
    of variation is cv) and correlation time tau_s, sampled per simulation step (exact discretisation,
    all steps of a block and all processes at once)."""

    def __init__(self, cv: list[float], tau_s: list[float], rng: np.random.Generator):
        self.sigma = np.sqrt(np.log1p(np.square(cv)))
        self.rate = 1.0 / np.asarray(tau_s, dtype=float)
        self.rng = rng
        self.x = self.sigma * rng.standard_normal(len(self.sigma))

    def sample(self, dt_s: np.ndarray) -> np.ndarray:
        """(steps, processes) factors for steps of lengths dt_s (each process at each step's end)."""
        keep = np.sqrt(-np.expm1(-2.0 * dt_s[:, None] * self.rate[None, :]))
        shocks = self.sigma * keep * self.rng.standard_normal((len(dt_s), len(self.sigma)))
        x = decay_scan(self.x, dt_s, self.rate, shocks)
        self.x = x[-1]
        return np.exp(x - 0.5 * self.sigma * self.sigma)


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

    def _table(self, knob: str, opps) -> None:
        self.freq_hz[knob] = np.array([o.freq_hz for o in opps], dtype=float)
        self.volt_v[knob] = np.array([o.volt_uv for o in opps], dtype=float) / 1e6

    def _leakage(self, knob: str, volt: np.ndarray, base_w: float, temp_c: float) -> np.ndarray:
        lk = self.physics.leakage
        top = self.volt_v[knob][-1]
        return base_w * (volt / top) ** lk.volt_exponent * 2.0 ** ((temp_c - lk.ref_temp_c) / lk.temp_doubling_c)

    def compute(self, inp: PowerInputs, temp_c: float) -> dict[str, np.ndarray]:
        """Watts per component per step."""
        ph = self.physics
        dt = inp.dt_s
        out: dict[str, np.ndarray] = {}
        spin_activity = ph.driver.spin_activity
        for policy, coeff in self.coefficient.items():
            idx = inp.levels[policy]
            f_mhz, volt = self.freq_hz[policy][idx] / 1e6, self.volt_v[policy][idx]
            active = inp.cpu_run_s[policy] + spin_activity * inp.cpu_spin_s[policy]
            dynamic = coeff * 1e-6 * f_mhz * volt * volt * active / dt
            share_on = np.minimum(1.0, (inp.cpu_run_s[policy] + inp.cpu_spin_s[policy]) / dt)
            cluster = ph.cpu[policy]
            leak = self._leakage(policy, volt, cluster.leakage_w, temp_c) * (0.25 + 0.75 * share_on)
            out[policy] = dynamic + leak + cluster.idle_w
        g = ph.gpu
        idx = inp.levels["gpu"]
        f, volt = self.freq_hz["gpu"][idx], self.volt_v["gpu"][idx]
        v2 = volt * volt
        busy = np.minimum(inp.gpu_busy_s / dt, 1.0)
        events_w = (inp.gpu_events @ self.event_energy_j) * inp.switching * v2 / dt
        activity = busy * inp.clock_activity + g.idle_clock_fraction * (1.0 - busy)
        clock_w = g.clock_capacitance_nf * 1e-9 * v2 * f * activity
        powered = np.where(busy > 0, 1.0, 0.2)  # shader cores power down when a step saw no work
        out["gpu"] = events_w + clock_w * powered + self._leakage("gpu", volt, g.leakage_w, temp_c) * powered + g.idle_w
        m = ph.memory
        idx = inp.levels["mem"]
        f, volt = self.freq_hz["mem"][idx], self.volt_v["mem"][idx]
        out["mem"] = (
            m.clock_capacitance_nf * 1e-9 * volt * volt * f
            + m.energy_per_byte_pj * 1e-12 * inp.dram_bytes / dt
            + self._leakage("mem", volt, m.leakage_w, temp_c)
            + m.idle_w
        )
        ones = np.ones_like(dt)
        for name, watts in ph.power.static_w.items():
            out[name] = watts * ones
        out["unmetered"] = ph.power.unmetered_w * ones
        return out
