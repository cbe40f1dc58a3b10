"""State of one DVFS knob (a cpufreq policy, the GPU, a devfreq device) with the kernel's limit rules.

Users write *requests* (min/max, governor); the knob derives the *effective* limits the way the kernel
does: the max request is clamped to the hardware and thermal caps, and when a min request exceeds the
max the effective min is pulled down to the max (the request is kept, so raising max restores it).
Governors inside the virtual phone choose `target_hz`; `cur_hz` is that target snapped into the limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from android.emulator.profile import Opp


@dataclass
class KnobState:
    name: str
    kind: str  # "cpufreq" | "mali" | "kgsl" | "devfreq"
    opps: tuple[Opp, ...]
    governor: str
    available_governors: tuple[str, ...]
    min_request_hz: int = 0
    max_request_hz: int = 0
    thermal_cap_hz: int = 0  # 0: no thermal cap
    target_hz: int = 0
    snap_limits: bool = True  # cpufreq snaps min/max into the table; devfreq keeps the raw clamp
    transitions: int = 0
    time_in_state_s: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self.table_hz = np.array([o.freq_hz for o in self.opps], dtype=np.int64)
        self.volt_uv = np.array([o.volt_uv for o in self.opps], dtype=np.int64)
        self.min_request_hz = self.min_request_hz or int(self.table_hz[0])
        self.max_request_hz = self.max_request_hz or int(self.table_hz[-1])
        self.target_hz = self.target_hz or int(self.table_hz[-1])
        self._cur_hz = self.cur_hz
        if self.time_in_state_s is None:
            self.time_in_state_s = np.zeros(len(self.table_hz))

    # --- effective limits -------------------------------------------------------------------
    @property
    def hw_min_hz(self) -> int:
        return int(self.table_hz[0])

    @property
    def hw_max_hz(self) -> int:
        return int(self.table_hz[-1])

    def floor_hz(self, value_hz: int) -> int:
        """Highest table frequency <= value (the lowest one if none)."""
        idx = int(np.searchsorted(self.table_hz, value_hz, side="right")) - 1
        return int(self.table_hz[max(idx, 0)])

    def ceil_hz(self, value_hz: int) -> int:
        """Lowest table frequency >= value (the highest one if none)."""
        idx = int(np.searchsorted(self.table_hz, value_hz, side="left"))
        return int(self.table_hz[min(idx, len(self.table_hz) - 1)])

    def nearest_hz(self, value_hz: int) -> int:
        return int(self.table_hz[int(np.argmin(np.abs(self.table_hz - value_hz)))])

    def _clamp(self, value_hz: int) -> int:
        return min(max(value_hz, self.hw_min_hz), self.hw_max_hz)

    @property
    def max_hz(self) -> int:
        cap = self.max_request_hz
        if self.thermal_cap_hz:
            cap = min(cap, self.thermal_cap_hz)
        cap = self._clamp(cap)
        return self.floor_hz(cap) if self.snap_limits else cap

    @property
    def min_hz(self) -> int:
        low = self._clamp(self.min_request_hz)
        if self.snap_limits:
            low = self.ceil_hz(low)
        return min(low, self.max_hz)

    @property
    def cur_hz(self) -> int:
        """The running frequency: the governor's target kept within the limits, on a table entry.

        As devfreq_update_target does: a target above max takes the highest entry <= max, otherwise
        the lowest entry >= max(target, min)."""
        if self.governor == "performance":
            target = self.max_hz
        elif self.governor == "powersave":
            target = self.min_hz
        else:
            target = self.target_hz
        ceiling = self.floor_hz(self.max_hz)
        if target >= self.max_hz:
            return ceiling
        return min(self.ceil_hz(max(target, self.min_hz)), ceiling)

    @property
    def level(self) -> int:
        """Index of cur_hz in the ascending table."""
        return int(np.searchsorted(self.table_hz, self.cur_hz))

    @property
    def cur_volt_uv(self) -> int:
        return int(self.volt_uv[self.level])

    # --- requests -----------------------------------------------------------------------------
    def set_governor(self, name: str) -> None:
        if name not in self.available_governors:
            raise ValueError(name)
        self.governor = name

    def account(self, dt_s: float) -> None:
        """Charge dt to the current level; count a transition when the level changed."""
        cur = self.cur_hz
        if cur != self._cur_hz:
            self.transitions += 1
            self._cur_hz = cur
        self.time_in_state_s[self.level] += dt_s
