"""Power sensors with their real behaviour: ODPM rails, the battery fuel gauge, an external monitor.

ODPM: each rail's meter samples the rail's power at its sampling rate (500 Hz on Pixel), turns each
sample into an ADC code of `odpm_power_lsb_w` watts (truncated, as a converter does) and accumulates the
codes; the energy read is codes x LSB x sampling period up to the last sampling instant, in whole uWs
(the sysfs layer adds the driver's 50 ms read cache). So a reader sees energy that lags the present by
up to a sampling period, steps at the cache's refreshes and undercounts by up to one LSB per sample. A
component's power splits over its rails by the profile's shares. The fuel gauge refreshes current and voltage every
update period from the mean power over that period, through the battery's internal resistance, and
quantises them to its LSBs. The external monitor (a Monsoon-like 5 kHz stream) samples whole-phone power
with measurement noise, from a bounded history of the simulation's steps.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from android.emulator.profile import Profile

MONITOR_HISTORY_S = 600.0


class Sensors:
    def __init__(self, profile: Profile, rng: np.random.Generator):
        self.profile = profile
        self.sp = profile.physics.sensors
        self.rng = rng
        self.rail_keys: list[tuple[str, int]] = []
        self.rail_names: list[str] = []
        self.rail_component: list[str] = []
        self.rail_share: list[float] = []
        self.rail_rate_hz: list[float] = []
        explicit = profile.physics.power.rail_share
        by_component: dict[str, list] = {}
        for odpm in profile.odpm:
            for rail in odpm.rails:
                by_component.setdefault(rail.component, []).append((odpm, rail))
        for component, rails in by_component.items():
            fixed = sum(explicit.get(r.name, 0.0) for _, r in rails)
            free = [r for _, r in rails if r.name not in explicit]
            for odpm, rail in rails:
                share = explicit.get(rail.name, (1.0 - fixed) / len(free) if free else 0.0)
                self.rail_keys.append((odpm.iio_name, rail.channel))
                self.rail_names.append(rail.name)
                self.rail_component.append(component)
                self.rail_share.append(share)
                self.rail_rate_hz.append(odpm.sampling_rate_hz)
        self.rail_true_j = np.zeros(len(self.rail_keys))  # exact energy up to `now`
        self.rail_sampled_j = np.zeros(len(self.rail_keys))  # what the meter accumulated (quantised samples)
        rates = np.array(self.rail_rate_hz)
        groups = [(float(r), np.flatnonzero(rates == r)) for r in np.unique(rates)]
        self.rate_groups = [(r, None if len(cols) == len(rates) else cols) for r, cols in groups]
        self.total_j = 0.0
        self.ocv_v = profile.battery.voltage_uv / 1e6
        self.next_battery_s = self.sp.battery_update_s
        self.battery_mark = (0.0, 0.0)  # (time, total energy) at the last gauge refresh
        self.history: deque[tuple[np.ndarray, np.ndarray]] = deque()  # (t_end_s, total_w) per block

    def share_matrix(self, components: list[str]) -> np.ndarray:
        """(components, rails): the share of each component's power that each rail carries."""
        out = np.zeros((len(components), len(self.rail_keys)))
        row = {name: i for i, name in enumerate(components)}
        for j, (component, share) in enumerate(zip(self.rail_component, self.rail_share)):
            if component in row:
                out[row[component], j] = share
        return out

    def ingest(
        self, t_start_s: float, t_end_s: np.ndarray, dt_s: np.ndarray, rail_w: np.ndarray, total_w: np.ndarray, state
    ) -> None:
        """Account one block of steps; update the readable state (ODPM accumulators, battery)."""
        now = float(t_end_s[-1])
        if len(self.rail_keys):
            self._meter(t_start_s, t_end_s, rail_w, state)
            self.rail_true_j += rail_w.T @ dt_s
        if self.next_battery_s <= now + 1e-12:  # the gauge refreshes within this block
            times = np.concatenate([[t_start_s], t_end_s])
            total_cum = self.total_j + np.concatenate([[0.0], np.cumsum(total_w * dt_s)])
            period = self.sp.battery_update_s
            while self.next_battery_s <= now + 1e-12:
                energy = float(np.interp(self.next_battery_s, times, total_cum))
                mark_t, mark_j = self.battery_mark
                mean_w = (energy - mark_j) / (self.next_battery_s - mark_t) if self.next_battery_s > mark_t else 0.0
                self._gauge(mean_w, state)
                self.battery_mark = (self.next_battery_s, energy)
                self.next_battery_s += period
        self.total_j += float(total_w @ dt_s)
        self.history.append((t_end_s.copy(), total_w.copy()))
        while self.history and now - self.history[0][0][-1] > MONITOR_HISTORY_S:
            self.history.popleft()

    def _meter(self, t_start_s: float, t_end_s: np.ndarray, rail_w: np.ndarray, state) -> None:
        """ODPM sampling instants within the block: quantised instantaneous power, accumulated."""
        lsb = self.sp.odpm_power_lsb_w
        for rate, columns in self.rate_groups:
            first, last = np.floor(t_start_s * rate + 1e-9) + 1, np.floor(t_end_s[-1] * rate + 1e-9)
            if last < first:
                continue
            instants = np.arange(first, last + 1) / rate
            step = np.minimum(np.searchsorted(t_end_s, instants - 1e-12), len(t_end_s) - 1)
            codes = rail_w[step] if columns is None else rail_w[np.ix_(step, columns)]  # watts, a new array
            if lsb:  # floor(watts / lsb + 1e-9) * lsb, in place
                codes /= lsb
                codes += 1e-9
                np.floor(codes, out=codes)
                codes *= lsb
            energy = codes.sum(axis=0) / rate
            keys = self.rail_keys if columns is None else [self.rail_keys[j] for j in columns]
            self.rail_sampled_j[slice(None) if columns is None else columns] += energy
            accumulated = state.rail_energy_j
            for key, joules in zip(keys, energy.tolist()):
                accumulated[key] += joules

    def _gauge(self, mean_w: float, state) -> None:
        r = self.sp.battery_resistance_ohm
        # P = I (V_ocv - I R): the physical root of I^2 R - I V_ocv + P = 0
        disc = max(self.ocv_v * self.ocv_v - 4.0 * r * mean_w, 0.0)
        current = (self.ocv_v - disc**0.5) / (2.0 * r) if r > 0 else mean_w / self.ocv_v
        volt = self.ocv_v - current * r
        lsb_i, lsb_v = self.sp.battery_current_lsb_a, self.sp.battery_voltage_lsb_v
        state.battery_current_a = round(current / lsb_i) * lsb_i if lsb_i else current
        state.battery_voltage_v = round(volt / lsb_v) * lsb_v if lsb_v else volt

    def monitor_samples(self, t0_s: float, t1_s: float) -> dict[str, np.ndarray]:
        """The external monitor's stream between t0 and t1 (simulated seconds): time, current (A) at the
        monitor's fixed output voltage, and that voltage. Only the last MONITOR_HISTORY_S are kept."""
        if not self.history:
            raise ValueError("the monitor has recorded nothing yet")
        ends = np.concatenate([h[0] for h in self.history])
        watts = np.concatenate([h[1] for h in self.history])
        first = ends[0] - (ends[1] - ends[0] if len(ends) > 1 else 0.0)
        if t0_s < first - 1e-9 or t1_s > ends[-1] + 1e-9:
            raise ValueError(f"monitor history covers {first:.3f}..{ends[-1]:.3f} s, asked {t0_s:.3f}..{t1_s:.3f} s")
        rate = self.sp.monitor_rate_hz
        t = np.arange(np.ceil(t0_s * rate), np.floor(t1_s * rate) + 1) / rate
        idx = np.minimum(np.searchsorted(ends, t, side="left"), len(ends) - 1)
        volt = self.sp.monitor_voltage_v
        current = watts[idx] / volt + self.rng.normal(0.0, self.sp.monitor_current_noise_a, len(t))
        return {"t_s": t, "main_current_a": current, "main_voltage_v": np.full(len(t), volt)}
