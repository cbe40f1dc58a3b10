"""What the GPU did, step by step: the common currency between workloads, power and counters.

Workloads produce a GpuActivity for a run of simulation steps; the power model turns it into watts
(energy per event scaled by V^2, plus clock and leakage terms) and the counter catalogues turn it into
PMC values. Because both derive from the same events, counters can explain power where utilisation and
frequency cannot (ALU-, memory- and texture-heavy work draw different power at the same utilisation).
All arrays have shape (n_steps,); counts are per step, not rates.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

EVENT_FIELDS = (
    "alu_ops",  # arithmetic operations (an FMA counts 2)
    "sfu_ops",  # special-function (EFU) operations: exp, rsqrt, ...
    "load_store_bytes",  # shader load/store traffic through L1
    "texture_fetches",  # texels fetched by texture units
    "l2_bytes",  # L2 traffic (reads + writes)
    "dram_read_bytes",
    "dram_write_bytes",
    "kernels",  # jobs / kernels started
    "threads",  # invocations (work items) executed
)


@dataclass
class GpuActivity:
    dt_s: np.ndarray  # step length
    freq_hz: np.ndarray  # GPU clock during the step
    busy_s: np.ndarray  # time the GPU had work (utilisation = busy_s / dt_s)
    alu_ops: np.ndarray
    sfu_ops: np.ndarray
    load_store_bytes: np.ndarray
    texture_fetches: np.ndarray
    l2_bytes: np.ndarray
    dram_read_bytes: np.ndarray
    dram_write_bytes: np.ndarray
    kernels: np.ndarray
    threads: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.dt_s)
        for name in self.__dataclass_fields__:  # (fields() in order, without building its tuple per block)
            value = np.asarray(getattr(self, name), dtype=float)
            if value.shape != (n,):
                raise ValueError(f"GpuActivity.{name} has shape {value.shape}, expected ({n},)")
            setattr(self, name, value)

    @property
    def n_steps(self) -> int:
        return len(self.dt_s)

    @property
    def cycles(self) -> np.ndarray:
        return self.freq_hz * self.dt_s

    @property
    def active_cycles(self) -> np.ndarray:
        return self.freq_hz * self.busy_s

    @classmethod
    def idle(cls, dt_s: np.ndarray, freq_hz: np.ndarray) -> GpuActivity:
        zeros = np.zeros(len(dt_s))
        return cls(dt_s, freq_hz, zeros, *(zeros for _ in EVENT_FIELDS))

    @classmethod
    def concat(cls, parts: list[GpuActivity]) -> GpuActivity:
        return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)})
