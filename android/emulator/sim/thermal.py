"""Lumped thermal model and step-wise throttling.

Two nodes: the SoC die (small heat capacity, heated by CPU, GPU, memory and SoC power) and the phone's
case (large capacity, heated through the die and by everything else, cooled to ambient). A zone on the
die reads the die plus a hot-spot rise proportional to its component's power; battery and skin zones
read the case. Throttling follows the kernel's step_wise policy: every poll, a zone above its trip caps
its knobs one OPP lower; once it is below trip - hysteresis the cap rises one OPP at a time, then lifts.
"""

from __future__ import annotations

import math

import numpy as np

from android.emulator.knob import KnobState
from android.emulator.profile import Profile

CASE_COMPONENTS = ("battery", "skin")
DIE_COMPONENTS_EXTRA = ("gpu", "mem", "soc")


class ThermalModel:
    def __init__(self, profile: Profile, idle_die_w: float, idle_total_w: float):
        th = profile.physics.thermal
        self.th = th
        self.zones = [(z.type, z.component) for z in profile.thermal_zones]
        self.die_components = tuple(c.policy for c in profile.clusters) + DIE_COMPONENTS_EXTRA
        # start at the idle steady state
        self.case_c = th.ambient_c + idle_total_w * th.case_to_ambient_k_per_w
        self.die_c = self.case_c + idle_die_w * th.die_to_case_k_per_w

    def step(self, dt_s: np.ndarray, power_w: dict[str, np.ndarray], total_w: np.ndarray) -> None:
        """Integrate over the steps (power constant within a step)."""
        th = self.th
        die_w = sum(power_w[c] for c in self.die_components if c in power_w)
        r_dc, r_ca = th.die_to_case_k_per_w, th.case_to_ambient_k_per_w
        tau_die = th.die_heat_capacity_j_per_k * r_dc
        die, case = self.die_c, self.case_c
        for dt, p_die, p_total in zip(dt_s.tolist(), np.broadcast_to(die_w, dt_s.shape).tolist(), total_w.tolist()):
            # the die relaxes exactly (it is fast) towards case + P_die R_dc; the case integrates explicitly
            target = case + p_die * r_dc
            die = target + (die - target) * math.exp(-dt / tau_die)
            case += (
                dt
                * ((p_total - p_die) + (die - case) / r_dc - (case - th.ambient_c) / r_ca)
                / th.case_heat_capacity_j_per_k
            )
        self.die_c, self.case_c = die, case

    def zone_temps(self, last_power_w: dict[str, float]) -> dict[str, float]:
        out = {}
        for ztype, component in self.zones:
            if component in CASE_COMPONENTS:
                out[ztype] = self.case_c
            else:
                out[ztype] = self.die_c + self.th.zone_k_per_w.get(ztype, 0.0) * last_power_w.get(component, 0.0)
        return out


class Throttler:
    """step_wise over the profile's throttle rules; sets KnobState.thermal_cap_hz."""

    def __init__(self, profile: Profile):
        self.rules = profile.physics.thermal.throttle

    def poll(self, temps: dict[str, float], knobs: dict[str, KnobState]) -> list[tuple[str, int]]:
        """New caps (knob, cap_hz with 0 = none) for knobs whose cap changes."""
        wanted: dict[str, int] = {}
        for rule in self.rules:
            temp = temps.get(rule.zone)
            if temp is None:
                continue
            for name in rule.knobs:
                knob = knobs[name]
                cap = knob.thermal_cap_hz or knob.hw_max_hz
                level = int(np.searchsorted(knob.table_hz, cap))
                if temp > rule.trip_c:
                    new = int(knob.table_hz[max(level - 1, 0)])
                elif temp < rule.trip_c - rule.hysteresis_c and knob.thermal_cap_hz:
                    new = int(knob.table_hz[min(level + 1, len(knob.table_hz) - 1)])
                    new = 0 if new >= knob.hw_max_hz else new
                else:
                    new = knob.thermal_cap_hz
                # several rules on one knob: the tightest cap wins
                if name in wanted and wanted[name] and (not new or new > wanted[name]):
                    continue
                wanted[name] = new
        return [(name, cap) for name, cap in wanted.items() if cap != knobs[name].thermal_cap_hz]
